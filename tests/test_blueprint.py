"""The automation blueprint: its schema, whom its selector offers, how it fires.

And the development instance's configuration, which loads the automations made
from it in the UI.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config import load_yaml_config_file
from homeassistant.core import HomeAssistant, ServiceCall, State
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import entity_sources
from homeassistant.helpers.selector import selector
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.iammeter_cloud.const import DOMAIN
from custom_components.iammeter_cloud.sensor import (
    ANALYTICS_SENSORS,
    METER_SENSORS,
    ROLE_SENSORS,
)

ROOT = Path(__file__).parents[1]
BLUEPRINT = ROOT / "blueprints" / "automation" / DOMAIN / "power_threshold.yaml"


def _blueprint() -> Blueprint:
    data = load_yaml_dict(str(BLUEPRINT))
    return Blueprint(data, expected_domain="automation", schema=BLUEPRINT_SCHEMA)


def test_blueprint_is_valid() -> None:
    """The blueprint schema, inputs used and declared, and our entity filter."""
    blueprint = _blueprint()
    assert blueprint.metadata["source_url"].endswith(
        "/blueprints/automation/iammeter_cloud/power_threshold.yaml"
    )
    assert blueprint.validate() is None, blueprint.validate()
    for spec in blueprint.inputs.values():
        selector(spec["selector"])  # each selector valid on this release
    entity = blueprint.inputs["power_sensor"]["selector"]["entity"]
    assert entity["filter"] == [
        {"integration": DOMAIN, "domain": ["sensor"], "device_class": ["power"]}
    ]


def _offered(
    entity_filter: list[dict[str, Any]], state: State, sources: dict[str, Any]
) -> bool:
    """Whether the entity picker offers the entity: the frontend's
    `filterSelectorEntities` (src/data/selector.ts), one filter matching is enough.

    A key this function does not know fails the test: the filter must stay
    within what Home Assistant 2025.12 (the floor) supports.
    """

    def matches(one: dict[str, Any]) -> bool:
        assert set(one) <= {"integration", "domain", "device_class"}, one
        return (
            (
                "integration" not in one
                or sources.get(state.entity_id, {}).get("domain") == one["integration"]
            )
            and ("domain" not in one or state.domain in one["domain"])
            and (
                "device_class" not in one
                or state.attributes.get("device_class") in one["device_class"]
            )
        )

    return any(matches(one) for one in entity_filter)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_blueprint_offers_the_live_power_sensors_only(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Every entity of both meters enabled: the picker offers a meter's power and
    the power of each phase, never yesterday's power statistics (also in W)."""
    blueprint = _blueprint()
    entity_filter = blueprint.inputs["power_sensor"]["selector"]["entity"]["filter"]
    sources = entity_sources(hass)
    ours = er.async_entries_for_config_entry(entity_registry, init_integration.entry_id)
    offered = set()
    for entry in ours:
        state = hass.states.get(entry.entity_id)
        assert state is not None, entry.entity_id
        if _offered(entity_filter, state, sources):
            offered.add(entry.entity_id)
    assert offered == {
        "sensor.garage_power",
        "sensor.house_power",
        "sensor.house_power_phase_a",
        "sensor.house_power_phase_b",
        "sensor.house_power_phase_c",
    }
    # The rule behind it: power in W is live (a reading's) or yesterday's.
    yesterday = {
        e.entity_id
        for e in ours
        if e.unique_id.endswith(tuple(d.key for d in ANALYTICS_SENSORS))
        and (state := hass.states.get(e.entity_id)) is not None
        and state.attributes.get("unit_of_measurement") == "W"
    }
    assert len(yesterday) == 8, yesterday  # 4 a meter
    assert not offered & yesterday
    live_power = {
        d.key
        for d in METER_SENSORS
        if d.device_class == SensorDeviceClass.POWER and d.live
    }
    roles = {d.key for d in ROLE_SENSORS if d.device_class == SensorDeviceClass.POWER}
    assert roles == {
        f"{row}{key}_power"
        for row in ("", "a_", "b_", "c_")
        for key in ("solar", "battery", "device")
    }
    # The roles' power (solar, battery, device) is live too: offered where a
    # phase has a role.
    assert live_power == {"power", "a_power", "b_power", "c_power", "net_power"} | roles
    assert not any(d.device_class == SensorDeviceClass.POWER for d in ANALYTICS_SENSORS)


async def test_dev_configuration_loads_automations_from_the_ui(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """config/configuration.yaml includes automations.yaml, where the UI saves an
    automation made from the blueprint (scripts/develop creates it empty)."""
    shutil.copy(ROOT / "config" / "configuration.yaml", tmp_path)
    (tmp_path / "packages").mkdir()
    for name in ("automations.yaml", "scripts.yaml"):
        (tmp_path / name).write_text("")
    empty = await hass.async_add_executor_job(
        load_yaml_config_file, str(tmp_path / "configuration.yaml")
    )
    assert empty["automation"] in ([], {}, None)
    (tmp_path / "automations.yaml").write_text(
        f"""- id: '1700000000000'
  alias: House above 3 kW
  use_blueprint:
    path: {DOMAIN}/{BLUEPRINT.name}
    input:
      power_sensor: sensor.house_power
      actions: []
"""
    )
    conf = await hass.async_add_executor_job(
        load_yaml_config_file, str(tmp_path / "configuration.yaml")
    )
    await _install_blueprint(hass, tmp_path)
    assert await async_setup_component(
        hass, "automation", {"automation": conf["automation"]}
    )
    await hass.async_block_till_done()
    state = hass.states.get("automation.house_above_3_kw")
    assert state is not None
    assert state.state == "on"
    assert state.attributes["id"] == "1700000000000"


async def _install_blueprint(hass: HomeAssistant, config_dir: Path) -> None:
    """The blueprint in the configuration folder, as the import puts it."""
    hass.config.config_dir = str(config_dir)
    target = config_dir / "blueprints" / "automation" / DOMAIN / BLUEPRINT.name
    target.parent.mkdir(parents=True)
    shutil.copy(BLUEPRINT, target)


async def _power_automation(
    hass: HomeAssistant, tmp_path: Path, direction: str, threshold: float
) -> list[ServiceCall]:
    """The blueprint, set up for sensor.house_power; the calls of its action."""
    await _install_blueprint(hass, tmp_path)
    calls = async_mock_service(hass, "test", "automation")
    inputs = {
        "power_sensor": "sensor.house_power",
        "direction": direction,
        "threshold": threshold,
        "duration": {"minutes": 10},
        "actions": [{"action": "test.automation", "data": {"direction": direction}}],
    }
    path = f"{DOMAIN}/{BLUEPRINT.name}"
    config = {"automation": [{"use_blueprint": {"path": path, "input": inputs}}]}
    assert await async_setup_component(hass, "automation", config)
    await hass.async_block_till_done()
    return calls


def _power(hass: HomeAssistant, watts: float | str) -> None:
    attributes = {"unit_of_measurement": "W", "device_class": "power"}
    hass.states.async_set("sensor.house_power", str(watts), attributes)


async def _wait(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, minutes: float
) -> None:
    """Let the minutes pass, one at a time, as they would."""
    for _ in range(int(minutes)):
        freezer.tick(timedelta(minutes=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()


async def test_blueprint_fires_above_after_the_duration(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, tmp_path: Path
) -> None:
    _power(hass, 1000)
    calls = await _power_automation(hass, tmp_path, "above", 3000)
    _power(hass, 3500)
    await _wait(hass, freezer, 5)
    assert not calls, "not before the duration"
    _power(hass, 2000)  # dropped below: the timer restarts
    await _wait(hass, freezer, 6)
    _power(hass, 3600)
    await _wait(hass, freezer, 9)
    assert not calls
    await _wait(hass, freezer, 11)
    assert [c.data for c in calls] == [{"direction": "above"}]
    _power(hass, "unavailable")  # a stale reading never triggers
    _power(hass, 4000)
    await _wait(hass, freezer, 22)
    assert len(calls) == 2, "again after unavailable → above for 10 minutes"


async def test_blueprint_fires_below_for_export(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, tmp_path: Path
) -> None:
    _power(hass, 200)
    calls = await _power_automation(hass, tmp_path, "below", -1500)
    _power(hass, -1800)
    await _wait(hass, freezer, 11)
    assert [c.data for c in calls] == [{"direction": "below"}]
