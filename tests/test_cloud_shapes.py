"""The real cloud's answers, as the vendor's own clients read them (issue 10.6):
extra row values, nulls, and what the entities show for them."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.api import PhaseValues, Reading
from custom_components.iammeter_cloud.data import MeterData
from custom_components.iammeter_cloud.energy import counters
from custom_components.iammeter_cloud.sensor import NET_POWER, TOTAL_POWER, descriptions
from tests.common import NEXT_UPDATE, advance, restart
from tests.conftest import SN1, SN3, USERNAME
from tests.simulator import CloudSimulator, SimMeter, to_minute

# Every column of every phase is read, also those disabled by default.
pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")

FROZEN = "2026-06-15 10:00:30+00:00"  # daytime: phase B of the house exports
COLUMNS = ("voltage", "current", "power", "power_factor", "energy_import")
HOUSE = {
    "voltage": "voltage_phase_{}",
    "current": "current_phase_{}",
    "power": "power_phase_{}",
    "power_factor": "power_factor_phase_{}",
    "energy_import": "energy_import_phase_{}",
    "energy_export": "energy_export_phase_{}",
}


def model_rows(sim: CloudSimulator, sn: str) -> list[list[float]]:
    found = sim.accounts[USERNAME].meter(sn)
    assert found is not None
    return [r.row6() for r in found.readings(to_minute(dt_util.utcnow()))]


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.parametrize("extra", [1, 2, 5])
async def test_extra_row_values_do_not_move_the_counters(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    extra: int,
) -> None:
    """7-, 8- and 11-value `meterdata2` rows show the same as 6-value rows."""
    simulator.shapes.extra_values = extra
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    rows = model_rows(simulator, SN3)
    for phase, row in zip("abc", rows, strict=True):
        for index, key in enumerate(HOUSE.values()):
            shown = state(hass, f"sensor.house_{key.format(phase)}")
            assert float(shown) == row[index], key.format(phase)
    single = model_rows(simulator, SN1)[0]
    assert float(state(hass, "sensor.garage_energy_import")) == single[4]
    assert float(state(hass, "sensor.garage_energy_export")) == single[5]
    assert float(state(hass, "sensor.garage_power_factor")) == single[3]


@pytest.mark.freeze_time(FROZEN)
async def test_null_values_show_unknown(
    hass: HomeAssistant, simulator: CloudSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """Nulls in V, I, P and PF: those sensors are unknown, the others shown."""
    simulator.shapes.nulls = frozenset(COLUMNS[:4])
    simulator.shapes.null_rows = frozenset({0})  # phase A, and the garage's row
    simulator.shapes.extra_values = 2
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    rows = model_rows(simulator, SN3)
    for column in COLUMNS[:4]:
        key = HOUSE[column]
        assert state(hass, f"sensor.house_{key.format('a')}") == STATE_UNKNOWN
        assert state(hass, f"sensor.garage_{column}") == STATE_UNKNOWN
        index = COLUMNS.index(column)
        assert float(state(hass, f"sensor.house_{key.format('b')}")) == rows[1][index]
    # The total of the phases' power is unknown while one phase's is.
    assert state(hass, "sensor.house_power") == STATE_UNKNOWN
    # The counters came: energy is shown.
    assert float(state(hass, "sensor.house_energy_import_phase_a")) == rows[0][4]
    assert float(state(hass, "sensor.garage_energy_import")) > 0
    # Restarted: the cached reading (with its nulls) shows the same.
    shown = {s.entity_id: s.state for s in hass.states.async_all("sensor")}
    await restart(hass, mock_config_entry)
    again = {s.entity_id: s.state for s in hass.states.async_all("sensor")}
    assert {k: again[k] for k in shown} == shown


async def test_a_null_counter_keeps_its_last_value(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A null counter skips that counter only; the others move on."""
    before_a = state(hass, "sensor.house_energy_import_phase_a")
    before_garage = state(hass, "sensor.garage_energy_import")
    simulator.shapes.nulls = frozenset({"energy_import"})
    simulator.shapes.null_rows = frozenset({0})
    await advance(hass, freezer, NEXT_UPDATE)
    rows = model_rows(simulator, SN3)
    assert state(hass, "sensor.house_energy_import_phase_a") == before_a
    assert state(hass, "sensor.garage_energy_import") == before_garage
    assert float(state(hass, "sensor.house_energy_import_phase_b")) == rows[1][4]
    assert float(state(hass, "sensor.house_energy_export_phase_a")) == rows[0][5]
    assert float(state(hass, "sensor.house_power_phase_a")) == rows[0][2]
    total = sum(
        float(state(hass, f"sensor.house_energy_import_phase_{p}")) for p in "abc"
    )
    assert float(state(hass, "sensor.house_energy_import")) == pytest.approx(total)
    simulator.shapes.nulls = frozenset()
    await advance(hass, freezer, NEXT_UPDATE)
    rows = model_rows(simulator, SN3)
    assert float(state(hass, "sensor.house_energy_import_phase_a")) == rows[0][4]
    single = model_rows(simulator, SN1)[0]
    assert float(state(hass, "sensor.garage_energy_import")) == single[4]


T = datetime(2026, 1, 1, tzinfo=UTC)
KNOWN = PhaseValues(230.0, 1.0, 230.0, 1.0, 10.0, 2.0)
UNKNOWN = PhaseValues(None, None, None, None, None, None)


def test_unknown_values_of_the_net_row_and_the_totals() -> None:
    net = PhaseValues(230.0, 3.0, None, 0.9, None, 5.0)
    data = MeterData(Reading(T, None, (KNOWN, UNKNOWN, KNOWN), net))
    assert NET_POWER.value_fn(data) is None
    assert TOTAL_POWER.value_fn(data) is None
    by_key = {d.key: d for d in descriptions(data)}
    assert by_key["a_voltage"].value_fn(data) == 230.0
    assert by_key["b_voltage"].value_fn(data) is None
    assert by_key["b_power_factor"].value_fn(data) is None
    known = MeterData(Reading(T, None, (KNOWN, KNOWN, KNOWN), KNOWN))
    assert NET_POWER.value_fn(known) == 230.0
    assert TOTAL_POWER.value_fn(known) == 690.0


def test_history_points_leave_a_null_counter_out() -> None:
    """Backfill: a history point without a counter's value, not a 0."""
    row = PhaseValues(230.0, 1.0, 230.0, 1.0, None, 2.0)
    net = PhaseValues(230.0, 3.0, 690.0, 1.0, 30.0, None)
    assert counters(Reading(T, None, (row, KNOWN, UNKNOWN), net)) == {
        "a_export": 2.0,
        "b_import": 10.0,
        "b_export": 2.0,
        "net_import": 30.0,
    }
    assert counters(Reading(T, None, (KNOWN,))) == {"a_import": 10.0, "a_export": 2.0}


def test_a_nem_meter_with_nulls_in_the_simulator() -> None:
    """The net row takes the nulls like the phases (the simulator's switch)."""
    sim = CloudSimulator(lambda: T)
    meter = SimMeter("SIMNEM000001", 3, "Net", 5, nem_row=True)
    sim.add_account(USERNAME, "pw", 1, [meter])
    sim.shapes.nulls = frozenset({"power"})
    sim.shapes.null_rows = frozenset({3})
    rows = sim._rows(meter, to_minute(T), "meterdata2", zero=False)
    assert [r[2] is None for r in rows] == [False, False, False, True]
