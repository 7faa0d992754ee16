"""The canary's log check (scripts/canary_log.py) finds what names us, only that."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "canary_log.py"
# Real lines are long; a log is what it is.

LOG = """\
2026-12-02 10:00:00.001 WARNING (SyncWorker_0) [homeassistant.loader] We found a custom integration iammeter_cloud which has not been tested by Home Assistant. This component might cause stability problems, be sure to disable it if you experience issues with Home Assistant
2026-12-02 10:00:01.002 INFO (MainThread) [custom_components.iammeter_cloud.coordinator] Meter Garage (SIM1...): live values unavailable
2026-12-02 10:00:02.003 ERROR (MainThread) [homeassistant.components.radio_browser] Could not connect
2026-12-02 10:00:03.004+00:00 WARNING (MainThread) [homeassistant.helpers.frame] Detected that custom integration 'iammeter_cloud' calls `async_get_device`, which is deprecated, at custom_components/iammeter_cloud/services.py, line 56
2026-12-02 10:00:04.005+01:00 ERROR (MainThread) [homeassistant.config_entries] Error setting up entry demo@example.com
Traceback (most recent call last):
  File "/work/main/custom_components/iammeter_cloud/__init__.py", line 61, in async_setup_entry
KeyError: 'x'
2026-12-02 10:00:05.006 INFO (MainThread) [homeassistant.helpers.deprecation] iammeter_cloud uses a constant that is deprecated
2026-12-02 10:00:06.007 DEBUG (MainThread) [custom_components.iammeter_cloud] polled
"""  # noqa: E501


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest fixture: no `hass` here."""


@pytest.fixture(name="canary_log")
def fixture_canary_log() -> ModuleType:
    spec = importlib.util.spec_from_file_location("canary_log", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_finds_warnings_errors_and_deprecations_that_name_us(
    canary_log: ModuleType,
) -> None:
    found = canary_log.problems(LOG.splitlines(True))
    assert [text.split(" ", 3)[2] for text in found] == ["WARNING", "ERROR", "INFO"]
    assert "calls `async_get_device`, which is deprecated" in found[0]
    assert found[1].endswith("KeyError: 'x'")  # the traceback belongs to its record
    assert "uses a constant that is deprecated" in found[2]


def test_a_clean_log_passes(canary_log: ModuleType, tmp_path: Path) -> None:
    clean = "".join(
        line
        for line in LOG.splitlines(True)
        if "not been tested" in line or "radio_browser" in line or "polled" in line
    )
    (log := tmp_path / "home-assistant.log").write_text(clean)
    assert canary_log.main([str(log)]) == 0
    (log := tmp_path / "bad.log").write_text(LOG)
    assert canary_log.main([str(log)]) == 1
