"""Fixtures: the cloud simulator on 127.0.0.1 and a configured entry against it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from datetime import UTC, datetime
import logging
import os
import time
from typing import Any
from unittest.mock import PropertyMock, patch
from zoneinfo import ZoneInfo

import freezegun
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.iammeter_cloud.const import (
    CONF_API_URL,
    CONF_METER_NAMES,
    CONF_METERS,
    DOMAIN,
)
from tests.simulator import CloudSimulator

USERNAME = "demo@example.com"
PASSWORD = "demo-password"
ACCOUNT_ID = 1001
SN1 = "SIM1PHASE001"
SN3 = "SIM3PHASE001"

# --- the clock -------------------------------------------------------------
# No test sees the real date: each runs at TEST_NOW (local time in TEST_TZ, the
# time zone of Home Assistant) unless it freezes the clock itself. Both come
# from the environment, so that the suite can run at any date (scripts/date-sweep):
#   IAMMETER_TEST_NOW=2026-12-02T02:02:00 IAMMETER_TEST_TZ=Europe/Warsaw pytest
TEST_TZ = os.environ.get("IAMMETER_TEST_TZ") or "US/Pacific"  # the harness default
TEST_NOW = os.environ.get("IAMMETER_TEST_NOW") or "2026-06-15T05:00:00"


def _test_now() -> datetime:
    moment = datetime.fromisoformat(TEST_NOW)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(TEST_TZ))
    return moment.astimezone(UTC)


DEFAULT_NOW = _test_now()

if os.environ.get("IAMMETER_TEST_TZ"):  # the process's local time too
    os.environ["TZ"] = TEST_TZ
    time.tzset()


@pytest.fixture
def freezer(request: pytest.FixtureRequest) -> Generator[FrozenDateTimeFactory]:
    """pytest-freezer's `freezer`, at DEFAULT_NOW unless `freeze_time` says when."""
    marker = request.node.get_closest_marker("freeze_time")
    args = (marker.args if marker else ()) or (DEFAULT_NOW,)
    kwargs = marker.kwargs if marker else {}
    with freezegun.freeze_time(*args, **kwargs) as factory:
        yield factory


@pytest.fixture(autouse=True)
def frozen_clock(request: pytest.FixtureRequest) -> Generator[None]:
    """Every test runs at a known instant: `freezer`'s, or DEFAULT_NOW ticking.

    A test with `freezer` (or a `freeze_time` mark) moves the clock itself; the
    others see it run in real time from DEFAULT_NOW, so that real waits (the
    simulator's timeouts, the recorder's thread) still end. Either way the
    clock starts before Home Assistant does.
    """
    if "freezer" in request.fixturenames:
        request.getfixturevalue("freezer")
        yield
        return
    with freezegun.freeze_time(DEFAULT_NOW, tick=True):
        yield


@pytest.fixture
async def hass_time_zone(hass: HomeAssistant, request: pytest.FixtureRequest) -> str:
    """Home Assistant's time zone: TEST_TZ, or a test's `time_zone` mark.

    A test whose expected values are written for one zone (local midnight at a
    given UTC hour) says so with `@pytest.mark.time_zone("US/Pacific")`.
    """
    marker = request.node.get_closest_marker("time_zone")
    zone = marker.args[0] if marker else TEST_TZ
    await hass.config.async_set_time_zone(zone)
    return zone


def pytest_configure(config: pytest.Config) -> None:
    """The `time_zone` mark."""
    config.addinivalue_line(
        "markers", "time_zone(name): Home Assistant's time zone for this test"
    )


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Tests with `hass` load our integration from custom_components.

    It depends on the recorder: those tests run one (in memory, recording no
    entity unless the test overrides `recorder_config`). Tests without `hass`
    start neither.
    """
    if "hass" in request.fixturenames:
        request.getfixturevalue("recorder_mock")
        request.getfixturevalue("enable_custom_integrations")
        request.getfixturevalue("hass_time_zone")


# The harness logs every SQL statement of the recorder at INFO: slow and noisy.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


@pytest.fixture
def recorder_config() -> dict[str, Any] | None:
    """The recorder records no entity (faster); tests/test_backfill.py records."""
    return {"exclude": {"entity_globs": ["*"]}}


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Every entity enabled when it is first registered (as in core's tests).

    For tests that read entities disabled by default (per-phase energy, power
    factor, yesterday's power statistics, API usage).
    """
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots in tests/snapshots/, with Home Assistant's serializer."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def short_timeouts() -> Generator[None]:
    """Requests time out after 0.5 s, so timeout faults stay fast. Only for the
    tests that inject timeouts: elsewhere the client's own timeout holds, so
    that no test depends on how fast the machine answers."""
    with patch("custom_components.iammeter_cloud.helpers.REQUEST_TIMEOUT", 0.5):
        yield


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncGenerator[CloudSimulator]:
    """The demo account (a single- and a three-phase meter) over real HTTP.

    Its clock is Home Assistant's, so `freezer` moves both together.
    """
    sim = CloudSimulator.demo(dt_util.utcnow)
    sim.faults.timeout_delay = 5.0
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def mock_config_entry(simulator: CloudSimulator) -> MockConfigEntry:
    """An entry for the demo account, with a valid token (no login needed)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=USERNAME,
        unique_id=str(ACCOUNT_ID),
        data={
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
            CONF_API_URL: simulator.base_url,
            CONF_TOKEN: simulator.issue_token(USERNAME),
            CONF_METER_NAMES: {SN1: "Garage", SN3: "House"},
        },
        options={CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: 300},
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The demo entry, set up."""
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return mock_config_entry
