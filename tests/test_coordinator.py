"""Edge cases of the data updates: bad caches, zeros and quota at setup, net rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_TOKEN,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.api import (
    PhaseValues,
    Reading,
)
from custom_components.iammeter_cloud.const import CONF_METERS, DOMAIN
from custom_components.iammeter_cloud.data import MeterData
from custom_components.iammeter_cloud.sensor import descriptions
from tests.common import NEXT_UPDATE, advance, advance_in_steps
from tests.conftest import PASSWORD, SN1, SN3, USERNAME
from tests.simulator import CloudSimulator, SimMeter

STORAGE_KEY = f"{DOMAIN}.state"


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    "meters",
    [
        "not a dict",
        {SN1: {"reading": {"time": "garbage"}, "counters": ["x"]}},
        {SN1: {"reading": {"phases": "x"}, "counters": {"a_import": "x"}}},
        {SN1: "not a dict"},
        {SN1: {"analytics": {"data": {"day": "not a day"}, "attempts": "x"}}},
        {SN1: {"analytics": {"data": {"day": "2026-01-01", "offline": {"x": 1}}}}},
        {SN1: {"analytics": "not a dict"}},
    ],
)
async def test_a_damaged_store_is_ignored(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    meters: Any,
) -> None:
    hass_storage[STORAGE_KEY] = {
        "version": 1,
        "key": STORAGE_KEY,
        "data": {"ledger": {"sent": "bad"}, "meters": meters},
    }
    await setup(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.garage_energy_import").state != STATE_UNAVAILABLE


@pytest.mark.parametrize("fault", ["zero_rows", "empty_body", "null_data"])
async def test_no_usable_first_reading_retries_setup(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    fault: str,
) -> None:
    simulator.faults.set(fault, "meterdata2")
    await setup(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_quota_with_stale_data_fails_until_the_budget_frees(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    coordinator = init_integration.runtime_data.coordinators[SN3]
    simulator.faults.set("http_500", "meterdata2")
    await advance_in_steps(hass, freezer, timedelta(minutes=16))
    simulator.faults.set("empty_body", "meterdata2")
    await advance_in_steps(hass, freezer, timedelta(minutes=6))
    assert not coordinator.last_update_success
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == "quota_exceeded"
    assert hass.states.get("sensor.house_power").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.house_energy_import").state != STATE_UNAVAILABLE
    simulator.faults.clear()
    calls = simulator.count("meterdata2", SN3)
    await advance_in_steps(hass, freezer, timedelta(minutes=50))
    assert simulator.count("meterdata2", SN3) == calls  # waits for the budget
    await advance_in_steps(hass, freezer, timedelta(minutes=15))
    assert coordinator.last_update_success
    assert hass.states.get("sensor.house_power").state != STATE_UNAVAILABLE


async def test_a_brief_counter_drop_is_rejected_and_recovers(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    garage = simulator.accounts[USERNAME].meter(SN1)
    assert garage is not None
    energy = hass.states.get("sensor.garage_energy_import").state
    garage.reset_counters(dt_util.utcnow())
    await advance(hass, freezer, NEXT_UPDATE)
    assert hass.states.get("sensor.garage_energy_import").state == energy
    assert "rejected (rejected_lower" in caplog.text
    garage.resets.clear()  # the cloud corrects itself
    await advance(hass, freezer, NEXT_UPDATE)
    assert float(hass.states.get("sensor.garage_energy_import").state) >= float(energy)
    assert "is plausible again" in caplog.text


async def test_net_row_entities_exist_disabled(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.add_account(
        USERNAME, "unused", 1001, [SimMeter("SIMNEM000001", 3, "Net", 5, nem_row=True)]
    )
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={**mock_config_entry.options, CONF_METERS: ["SIMNEM000001"]},
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    for key in ("net_power", "net_energy_import", "net_energy_export"):
        entity_id = entity_registry.async_get_entity_id(
            "sensor", DOMAIN, f"SIMNEM000001_{key}"
        )
        assert entity_id is not None, key
        entry = entity_registry.async_get(entity_id)
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    coordinator = mock_config_entry.runtime_data.coordinators["SIMNEM000001"]
    assert coordinator.data.energy["net_import"] > 0


def test_values_of_missing_rows_are_none() -> None:
    """A meter that turns single-phase leaves its phase B and C sensors empty."""
    phase = PhaseValues(230.0, 1.0, 230.0, 1.0, 10.0, 0.0)
    three = Reading(datetime(2026, 1, 1, tzinfo=UTC), None, (phase, phase, phase))
    single = MeterData(Reading(three.time, None, (phase,)))
    by_key = {d.key: d for d in descriptions(MeterData(three))}
    assert by_key["b_voltage"].value_fn(single) is None
    assert by_key["a_voltage"].value_fn(single) == 230.0
    assert by_key["power"].value_fn(single) == 230.0


# --- issue 10: a refused token is not a refused password -------------------------


def logins(simulator: CloudSimulator) -> int:
    return simulator.count("login")


def fresh(hass: HomeAssistant, name: str) -> bool:
    """Whether the meter's live values show (its reading is fresh)."""
    state = hass.states.get(f"sensor.{name}_power")
    return state is not None and state.state != STATE_UNAVAILABLE


def _availability_lines(caplog: pytest.LogCaptureFixture, sn: str) -> list[str]:
    return [
        f"{r.levelname} {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("custom_components")
        and "live values" in r.getMessage()
        and sn in r.getMessage()
    ]


async def test_unavailable_and_back_are_logged_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "custom_components.iammeter_cloud")
    garage = simulator.accounts[USERNAME].meter(SN1)
    assert garage is not None
    start = dt_util.utcnow()
    garage.set_offline(start, start + timedelta(hours=2))
    await advance_in_steps(hass, freezer, timedelta(minutes=20))
    assert hass.states.get("sensor.garage_power").state == "unavailable"
    lines = _availability_lines(caplog, SN1)
    assert len(lines) == 1
    assert lines[0].startswith(f"INFO Meter Garage ({SN1}): live values unavailable")
    # Nothing more while it stays so (many updates, a stale timer each).
    await advance_in_steps(hass, freezer, timedelta(minutes=95))
    assert _availability_lines(caplog, SN1) == lines
    await advance_in_steps(hass, freezer, timedelta(minutes=10))
    assert hass.states.get("sensor.garage_power").state != "unavailable"
    lines = _availability_lines(caplog, SN1)
    assert len(lines) == 2
    assert lines[1].startswith(f"INFO Meter Garage ({SN1}): live values available")
    await advance_in_steps(hass, freezer, timedelta(minutes=30))
    assert len(_availability_lines(caplog, SN1)) == 2
    assert _availability_lines(caplog, SN3) == []  # the House kept reporting
    secrets = [PASSWORD, init_integration.data[CONF_TOKEN], USERNAME]
    assert not [s for s in secrets for r in caplog.records if s in r.getMessage()]


async def test_a_failing_cloud_is_logged_by_the_coordinator_alone(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An update failure is logged once by the coordinator (and its recovery):
    the live values' age adds no second line while it fails."""
    caplog.set_level(logging.INFO, "custom_components.iammeter_cloud")
    simulator.faults.set("http_500", "meterdata2")
    await advance_in_steps(hass, freezer, timedelta(minutes=40))
    assert hass.states.get("sensor.garage_power").state == "unavailable"
    simulator.faults.clear()
    await advance_in_steps(hass, freezer, timedelta(minutes=10))
    assert hass.states.get("sensor.garage_power").state != "unavailable"
    ours = [r for r in caplog.records if SN1 in r.getMessage()]
    assert [r.levelname for r in ours if "Error fetching" in r.getMessage()] == [
        "ERROR"
    ]
    assert [r.levelname for r in ours if "recovered" in r.getMessage()] == ["INFO"]
    assert _availability_lines(caplog, SN1) == []
