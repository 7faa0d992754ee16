"""Phase roles against the real `MeterEnergy`: sums that never step.

A model of a three-phase meter whose counters grow each reading, and whose
phases change roles between readings (as an options change does: the entry
reloads, the guards and sums come back from the store under the new roles).
After every step, for every sum Home Assistant has ever shown:

- it never falls;
- it grew by exactly the growth of the counters it followed in that step (a
  role change adds nothing: a counter newly followed starts where it is);
- a sum that is not shown keeps its value, and continues from it when shown
  again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.iammeter_cloud.const import CONF_ROLES, PHASES, Role
from custom_components.iammeter_cloud.energy import (
    KINDS,
    MeterEnergy,
    Tally,
    counter_key,
    energy_sensors,
    role_sensor_key,
    role_sums,
    roles_of,
)

T0 = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
KEYS = [counter_key(row, kind) for row in PHASES for kind in KINDS]

roles_st = st.fixed_dictionaries({row: st.sampled_from(list(Role)) for row in PHASES})
growth_st = st.fixed_dictionaries(
    {key: st.integers(min_value=0, max_value=400) for key in KEYS}
)  # Wh per 5 minutes: at most 4.8 kW, well within a phase's maximum
step_st = st.one_of(
    st.tuples(st.just("read"), growth_st), st.tuples(st.just("roles"), roles_st)
)


def reload(energy: MeterEnergy, roles: dict[str, Role], now: datetime) -> MeterEnergy:
    """What an options change does: the entry reloads from the store."""
    stored_guards, stored_sums = energy.export(), energy.export_sums()
    again = MeterEnergy("SN", lambda: None, roles)
    again.restore(stored_guards, now, stored_sums)
    return again


def run(first: dict[str, Role], steps: list[tuple[str, dict]]) -> list[dict]:
    """Replays `steps`; checks the invariants after each; returns the sums seen."""
    energy = MeterEnergy("SN", lambda: None, first)
    registers = {key: 1000.0 + 10 * index for index, key in enumerate(KEYS)}
    now = T0
    energy.offer(registers, now)
    seen: dict[str, float] = dict(energy.energy)
    history = [dict(seen)]
    for kind, value in steps:
        if kind == "roles":
            energy = reload(energy, value, now)
            shown = energy.energy
            for key, sum_ in shown.items():
                if key in seen and key not in registers:
                    assert sum_ == pytest.approx(seen[key], abs=1e-9), key
        else:
            now += STEP
            for key, wh in value.items():
                registers[key] += wh / 1000
            followed = role_sums(energy.roles)
            energy.offer(registers, now)
            shown = energy.energy
            for key, sum_ in shown.items():
                if key in registers:
                    continue
                grew = sum(value[counter] for counter in followed[key]) / 1000
                if key in seen:
                    assert sum_ - seen[key] == pytest.approx(grew, abs=0.0015), key
        for key, sum_ in shown.items():
            assert sum_ >= seen.get(key, sum_) - 1e-9, key
            seen[key] = sum_
        history.append(dict(shown))
    return history


@settings(max_examples=150, deadline=None)
@given(first=roles_st, steps=st.lists(step_st, max_size=30))
def test_sums_never_step_across_role_changes(
    first: dict[str, Role], steps: list[tuple[str, dict]]
) -> None:
    """The invariants hold for every sequence of readings and role changes."""
    run(first, steps)


def test_solar_phase_leaves_the_totals_and_comes_back() -> None:
    """Phase B as solar for one reading, then grid again: the totals never
    count its export while it was solar, the solar energy keeps its value."""
    grid = dict.fromkeys(PHASES, Role.GRID)
    solar = {**grid, "b": Role.SOLAR}
    growth = dict.fromkeys(KEYS, 100)
    history = run(
        grid,
        [
            ("read", growth),
            ("roles", solar),
            ("read", growth),
            ("roles", grid),
            ("read", growth),
            ("roles", solar),
            ("read", growth),
        ],
    )
    totals = [round(h["total_export"] - history[0]["total_export"], 3) for h in history]
    # 3 phases x 0.1, then 2 while B is solar, 3 back as grid, 2 again.
    assert totals == [0.0, 0.3, 0.3, 0.5, 0.5, 0.8, 0.8, 1.0]
    solar_energy = [h.get("b_solar_energy") for h in history]
    assert solar_energy == [None, None, 1030.1, 1030.2, None, None, 1030.2, 1030.3]


def test_a_new_sum_starts_at_its_counters() -> None:
    """Totals of a store written before roles existed start at the sum of the
    phases (no step at the upgrade); a new role's energy at its counter."""
    old = MeterEnergy("SN", lambda: None)
    old.offer({"a_import": 1.0, "b_import": 2.0, "c_import": 3.0}, T0)
    guards = old.export()
    again = MeterEnergy("SN", lambda: None, {"c": Role.DEVICE})
    again.restore(guards, T0, None)
    assert again.energy["total_import"] == 3.0
    assert again.energy["c_device_energy"] == 3.0


def test_no_grid_phase_keeps_the_totals() -> None:
    """All phases solar: the totals keep their value and grow no more."""
    energy = MeterEnergy("SN", lambda: None)
    energy.offer({"a_import": 1.0, "b_import": 2.0}, T0)
    energy = reload(energy, dict.fromkeys(PHASES, Role.SOLAR), T0)
    energy.offer({"a_import": 1.5, "b_import": 2.5}, T0 + STEP)
    assert energy.energy["total_import"] == 3.0


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"a": "grid", "b": "grid", "c": "grid"}),
        (
            {CONF_ROLES: {"SN": {"b": "solar"}}},
            {"a": "grid", "b": "solar", "c": "grid"},
        ),
        (
            {CONF_ROLES: {"SN": {"a": "battery", "c": "none"}}},
            {"a": "battery", "b": "grid", "c": "none"},
        ),
        (
            {CONF_ROLES: {"OTHER": {"a": "solar"}}},
            {"a": "grid", "b": "grid", "c": "grid"},
        ),
        (
            {CONF_ROLES: {"SN": {"a": "wind", "b": 3}}},
            {"a": "grid", "b": "grid", "c": "grid"},
        ),
        ({CONF_ROLES: ["SN"]}, {"a": "grid", "b": "grid", "c": "grid"}),
        ({CONF_ROLES: {"SN": "solar"}}, {"a": "grid", "b": "grid", "c": "grid"}),
    ],
)
def test_roles_from_options(options: dict, expected: dict[str, str]) -> None:
    """The contract: a meter or phase left out, or unreadable, is grid."""
    assert roles_of(options, "SN") == expected


def test_energy_sensors_of_roles() -> None:
    """The sensors the backfill fills: the totals follow the grid phases, each
    role's energy its phase's counter; unique ids by the contract."""
    three = energy_sensors(3, net=False, roles={"b": Role.SOLAR, "c": Role.BATTERY})
    by_key = {sensor.key: sensor for sensor in three}
    assert by_key["energy_import"].counters == ("a_import",)
    assert by_key["energy_export"].counters == ("a_export",)
    assert by_key["b_solar_energy"].counters == ("b_export",)
    assert by_key["c_battery_charge_energy"].counters == ("c_import",)
    assert by_key["c_battery_discharge_energy"].counters == ("c_export",)
    single = energy_sensors(1, net=False, roles={"a": Role.SOLAR})
    assert [s.key for s in single] == ["energy_import", "energy_export", "solar_energy"]
    assert single[-1].shown == "a_solar_energy"
    assert role_sensor_key("b", "solar_power", 3) == "b_solar_power"
    assert role_sensor_key("a", "solar_power", 1) == "solar_power"


def test_unreadable_stored_sums_start_anew() -> None:
    """A damaged store loses no counter: the sum starts at its counters."""
    assert Tally.restore("junk") == Tally()
    assert Tally.restore({"value": "x", "follows": {"a_import": "y", "b": 1}}) == Tally(
        None, {"b": 1.0}
    )
