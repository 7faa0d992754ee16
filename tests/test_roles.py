"""Phase roles in Home Assistant: the sensors they add, what the totals count,
and statistics across a role change (with the recorder)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.const import (
    CONF_ROLES,
    DOMAIN,
)
from tests.common import advance, without_history_import
from tests.conftest import SN1, SN3
from tests.simulator import to_minute
from tests.test_backfill import (
    BACK as BACKFILL_BACK,
    CHECKED,
    END as BACKFILL_END,
    FILLED,
    HOUR,
    START as BACKFILL_START,
    STATS,
    STOP as BACKFILL_STOP,
    Scenario,
    counter,
    enable_statistics,  # noqa: F401  (a fixture)
    print_table,
    recorder_config,  # noqa: F401  (a fixture)
    scenario,  # noqa: F401  (a fixture)
    sim_meter,
    utc,
)

pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")


@pytest.fixture
def mock_config_entry(mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The demo entry without the day-one history import: the statistics
    begin with the readings (as in tests/test_backfill.py)."""
    return without_history_import(mock_config_entry)


MIDDAY = "2026-06-15 10:40:30+00:00"  # 12:40 in the simulator's zone: PV produces


def entity_id(hass: HomeAssistant, unique_id: str) -> str | None:
    return er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id)


def value(hass: HomeAssistant, unique_id: str) -> float:
    found = entity_id(hass, unique_id)
    assert found is not None, unique_id
    state = hass.states.get(found)
    assert state is not None
    return float(state.state)


async def set_up(
    hass: HomeAssistant, entry: MockConfigEntry, roles: dict[str, Any]
) -> dict[str, Any]:
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_ROLES: roles}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry.runtime_data.coordinators


ROLE_IDS = {
    "solar": ["solar_energy", "solar_power"],
    "battery": ["battery_charge_energy", "battery_discharge_energy", "battery_power"],
    "device": ["device_energy", "device_power"],
}


def check_role(
    hass: HomeAssistant, role: str, prefix: str, phase: Any, *, producing: bool
) -> None:
    """A phase's role sensors show its values, signed as the Energy dashboard
    reads them (`producing`: the simulator's PV phase, at midday)."""
    power = phase.power
    assert power is not None
    if role == "solar":
        assert value(hass, f"{prefix}solar_power") == pytest.approx(-power)
        if producing:
            assert value(hass, f"{prefix}solar_power") > 0
        assert value(hass, f"{prefix}solar_energy") == pytest.approx(
            phase.energy_export, abs=0.001
        )
    elif role == "battery":
        assert value(hass, f"{prefix}battery_power") == pytest.approx(-power)
        assert value(hass, f"{prefix}battery_charge_energy") == pytest.approx(
            phase.energy_import, abs=0.001
        )
        assert value(hass, f"{prefix}battery_discharge_energy") == pytest.approx(
            phase.energy_export, abs=0.001
        )
    elif role == "device":
        assert value(hass, f"{prefix}device_power") == pytest.approx(power)
        assert value(hass, f"{prefix}device_energy") == pytest.approx(
            phase.energy_import, abs=0.001
        )


@pytest.mark.freeze_time(MIDDAY)
@pytest.mark.parametrize(
    "roles",
    [
        {SN3: {"b": "solar"}},  # grid on A and C, PV on B
        {SN3: {"b": "battery", "c": "none"}},  # grid on A, a battery on B
        {SN3: {"a": "device", "b": "solar", "c": "grid"}, SN1: {"a": "solar"}},
    ],
    ids=["grid+pv", "grid+battery", "device+pv+grid,single-phase-pv"],
)
async def test_role_sensors(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    roles: dict[str, dict[str, str]],
) -> None:
    """Each role adds its sensors (unique ids by the contract), signed as the
    Energy dashboard reads them; the totals count the grid phases only."""
    coordinators = await set_up(hass, mock_config_entry, roles)
    registry = er.async_get(hass)
    ours = {
        e.unique_id
        for e in er.async_entries_for_config_entry(registry, mock_config_entry.entry_id)
    }
    for sn, coordinator in coordinators.items():
        data = coordinator.data
        phases = data.reading.phases
        meter_roles = roles.get(sn, {})
        grid_rows = []
        for index, row in enumerate("abc"[: len(phases)]):
            role = meter_roles.get(row, "grid")
            prefix = f"{sn}_{row}_" if len(phases) == 3 else f"{sn}_"
            for role_name, keys in ROLE_IDS.items():
                for key in keys:
                    assert (f"{prefix}{key}" in ours) is (role == role_name), key
            if role == "grid":
                grid_rows.append(index)
            check_role(
                hass, role, prefix, phases[index], producing=(sn, row) == (SN3, "b")
            )
            # Every phase keeps its own sensors, whatever its role.
            own = f"{sn}_{row}_power" if len(phases) == 3 else f"{sn}_power"
            assert own in ours
        if len(phases) == 3:
            powers = [phases[i].power or 0.0 for i in grid_rows]
            assert value(hass, f"{sn}_power") == pytest.approx(sum(powers), abs=0.1)
            imports = [phases[i].energy_import or 0.0 for i in grid_rows]
            assert value(hass, f"{sn}_energy_import") == pytest.approx(
                sum(imports), abs=0.002
            )
    # A reading later the role sensors follow their phases.
    await advance(hass, freezer, timedelta(seconds=301))
    assert hass.states.get(entity_id(hass, f"{SN3}_energy_import") or "") is not None


@pytest.mark.freeze_time(MIDDAY)
async def test_role_change_leaves_the_sensors_it_no_longer_has(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Back to grid: the solar sensors stay in the registry, unavailable (the
    recorder still compiles their last readings, and the user decides whether
    to delete them); set again, they continue where they stopped."""
    await set_up(hass, mock_config_entry, {SN3: {"b": "solar"}})
    solar = entity_id(hass, f"{SN3}_b_solar_energy")
    assert solar is not None
    shown = value(hass, f"{SN3}_b_solar_energy")
    hass.config_entries.async_update_entry(
        mock_config_entry, options={**mock_config_entry.options, CONF_ROLES: {}}
    )
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(solar)
    assert state is not None
    assert state.state == "unavailable"
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={**mock_config_entry.options, CONF_ROLES: {SN3: {"b": "solar"}}},
    )
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entity_id(hass, f"{SN3}_b_solar_energy") == solar
    assert value(hass, f"{SN3}_b_solar_energy") == shown


# --- statistics across role changes (the recorder) ---------------------------

START = "2026-06-15 07:40:30+00:00"  # 09:40 in the simulator's zone
SOLAR_AT = "2026-06-15 09:20:00+00:00"  # phase B becomes solar ...
GRID_AT = "2026-06-15 11:20:00+00:00"  # ... and grid again
END = "2026-06-15 13:05:00+00:00"
TOTAL_IMPORT = "sensor.house_energy_import"  # recorded: sensor.*_energy_*
TOTAL_EXPORT = "sensor.house_energy_export"
SOLAR = "sensor.house_solar_energy_phase_b"


async def change_roles(
    sc: Scenario, roles: dict[str, Any], changes: list[tuple[int, str]]
) -> None:
    """Roles changed in the options: the entry reloads. The sums follow their
    new counters from the reading shown then (noted in `changes`: the minute of
    that reading, and the grid phases from then on)."""
    entry = sc.entry
    shown = entry.runtime_data.coordinators[SN3].data.reading.time
    grid = "".join(
        row for row in "abc" if roles.get(SN3, {}).get(row, "grid") == "grid"
    )
    changes.append((to_minute(shown), grid))
    sc.hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_ROLES: roles}
    )
    assert await sc.hass.config_entries.async_reload(entry.entry_id)
    await sc.hass.async_block_till_done(wait_background_tasks=True)


def truth(
    sc: Scenario,
    key: str,
    begin: datetime,
    end: datetime,
    counts: Callable[[int], bool],
) -> float:
    """Energy of House's counter `key` over the minutes after `begin` up to
    `end` in which `counts(minute)` (its growth then belongs to the sum)."""
    meter = sim_meter(sc.sim, SN3)
    total = 0.0
    previous = counter(meter, key, to_minute(begin))
    for minute in range(to_minute(begin) + 1, to_minute(end) + 1):
        now = counter(meter, key, minute)
        if counts(minute):
            total += now - previous if now >= previous else now
        previous = now
    return total


@pytest.mark.freeze_time(START)
async def test_statistics_across_a_role_change(
    scenario: Scenario,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hourly sums of the totals and of the solar energy as phase B turns solar
    and back: every hour's change is what the phases then counted (no spike,
    no drop), to 0.01 kWh."""
    changes: list[tuple[int, str]] = [(0, "abc")]

    def grid_at(minute: int) -> str:
        return [grid for first, grid in changes if first < minute][-1]

    await scenario.clock.run(SOLAR_AT)
    await change_roles(scenario, {SN3: {"b": "solar"}}, changes)
    await scenario.clock.run(GRID_AT)
    await change_roles(scenario, {}, changes)
    await scenario.clock.run(END)
    monkeypatch.setitem(STATS, SOLAR, (SN3, ("b_export",)))  # rows() reads STATS
    rows = await scenario.rows()
    shown = scenario.clock.shown
    table = []
    checks: list[tuple[str, str, Callable[[str, int], bool]]] = [
        (TOTAL_IMPORT, "import", lambda row, m: row in grid_at(m)),
        (TOTAL_EXPORT, "export", lambda row, m: row in grid_at(m)),
        (SOLAR, "export", lambda row, m: row == "b" and row not in grid_at(m)),
    ]
    for statistic_id, kind, counts in checks:
        known = sorted(rows[statistic_id])
        for hour in known[1:]:
            if hour + HOUR > utc(END):
                continue
            row = rows[statistic_id][hour]
            previous = known[known.index(hour) - 1]
            begin, end = shown[SN3, previous + HOUR], shown[SN3, hour + HOUR]
            expected = sum(
                truth(
                    scenario,
                    f"{phase}_{kind}",
                    begin,
                    end,
                    lambda m, phase=phase, counts=counts: counts(phase, m),
                )
                for phase in "abc"
            )
            table.append((statistic_id, hour, row.change, expected, row.sum))
            assert row.change == pytest.approx(expected, abs=0.01), (statistic_id, hour)
            assert row.change >= -1e-9
    assert any(s == SOLAR and change > 0.1 for s, _, change, _, _ in table)
    print("\nstatistic | hour (UTC) | change kWh | phases' truth kWh | sum kWh")
    for statistic_id, hour, change, expected, total in table:
        print(
            f"{statistic_id} | {hour:%H:%M} | {change:.3f} | {expected:.3f}",
            f"| {total:.3f}",
        )


@pytest.mark.freeze_time(BACKFILL_START)
async def test_backfill_fills_the_role_sensors(
    scenario: Scenario,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Home Assistant down for six hours with PV on phase B: the history fills
    the solar energy's hours and the totals' (without phase B), to 0.01 kWh."""
    await change_roles(scenario, {SN3: {"b": "solar"}}, [])
    for statistic_id, keys in (
        (TOTAL_IMPORT, ("a_import", "c_import")),
        (TOTAL_EXPORT, ("a_export", "c_export")),
        (SOLAR, ("b_export",)),
    ):
        monkeypatch.setitem(STATS, statistic_id, (SN3, keys))
    await scenario.clock.run(BACKFILL_STOP)
    await scenario.down(BACKFILL_BACK)
    await scenario.clock.run(BACKFILL_END)
    rows = await scenario.rows()
    table = scenario.compare(rows, CHECKED, FILLED, [TOTAL_IMPORT, TOTAL_EXPORT, SOLAR])
    print_table(table)
    assert (
        sum(change for s, hour, change, _, _ in table if s == SOLAR and hour in FILLED)
        > 1
    )
    assert scenario.sim.count("meterdatalist2", SN3) == 1
