"""Readings dated by a clock that is wrong: judged against our own clock.

Red team: one reading dated a day in the future (or a meter clock 2 h ahead,
later corrected) froze the meter: every later, correct reading was "not newer",
energy stood still for a day (also after a restart, since it was stored), and
power showed as fresh although it was old.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.common import NEXT_UPDATE, advance, advance_in_steps, restart
from tests.conftest import SN1, USERNAME
from tests.simulator import CloudSimulator, SimMeter, to_minute

POWER = "sensor.garage_power"
ENERGY = "sensor.garage_energy_import"
LAST = "sensor.garage_last_reading"
CONNECTION = "binary_sensor.garage_cloud_connection"


def garage(sim: CloudSimulator) -> SimMeter:
    found = sim.accounts[USERNAME].meter(SN1)
    assert found is not None
    return found


def state(hass: HomeAssistant, entity_id: str) -> str:
    found = hass.states.get(entity_id)
    assert found is not None
    return found.state


def cloud_import(sim: CloudSimulator) -> float:
    meter = garage(sim)
    minute = meter.reported_minute(to_minute(dt_util.utcnow()))
    return round(meter.readings(minute)[0].import_kwh, 3)


@pytest.mark.parametrize("lead", [timedelta(days=1), timedelta(hours=2)])
async def test_a_clock_ahead_never_freezes_the_meter(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    lead: timedelta,
) -> None:
    """Readings dated ahead (for 20 minutes), then the clock is corrected."""
    start = dt_util.utcnow()
    garage(simulator).set_clock_lead(
        start + timedelta(minutes=1), start + timedelta(minutes=21), lead
    )
    await advance(hass, freezer, NEXT_UPDATE)
    # Dated ahead: counts as taken when received, never in the future.
    shown = dt_util.parse_datetime(state(hass, LAST))
    assert shown is not None
    assert shown <= dt_util.utcnow()
    assert float(state(hass, ENERGY)) == cloud_import(simulator)
    assert sum("ahead of this clock" in r.getMessage() for r in caplog.records) == 1
    await advance_in_steps(hass, freezer, NEXT_UPDATE * 4, NEXT_UPDATE)
    assert sum("ahead of this clock" in r.getMessage() for r in caplog.records) == 1
    # Corrected: the next reading, dated before the last one, is taken at once.
    assert dt_util.utcnow() > start + timedelta(minutes=21)
    energy = float(state(hass, ENERGY))
    assert energy == cloud_import(simulator)
    await advance(hass, freezer, NEXT_UPDATE)
    assert float(state(hass, ENERGY)) == cloud_import(simulator) > energy
    assert any("clock is right again" in r.getMessage() for r in caplog.records)
    assert state(hass, POWER) != STATE_UNAVAILABLE


async def test_a_future_reading_turns_stale_like_any_other(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A reading dated a day ahead, then the meter goes offline: the live
    values turn unavailable 15 minutes after it was received, not a day on."""
    now = dt_util.utcnow()
    meter = garage(simulator)
    meter.set_clock_lead(now + timedelta(minutes=1), None, timedelta(days=1))
    await advance(hass, freezer, NEXT_UPDATE)
    received = dt_util.utcnow()
    meter.set_offline(received)
    await advance_in_steps(hass, freezer, timedelta(minutes=14))
    assert state(hass, CONNECTION) == STATE_ON
    assert state(hass, POWER) != STATE_UNAVAILABLE
    await advance_in_steps(hass, freezer, timedelta(minutes=2))
    assert state(hass, CONNECTION) == STATE_OFF
    assert state(hass, POWER) == STATE_UNAVAILABLE


async def test_a_future_time_in_the_store_does_not_freeze_after_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A reading dated a day ahead is stored; after a restart the meter goes on."""
    now = dt_util.utcnow()
    garage(simulator).set_clock_lead(
        now + timedelta(minutes=1), now + timedelta(minutes=6), timedelta(days=1)
    )
    await advance(hass, freezer, NEXT_UPDATE)
    await restart(hass, init_integration)
    energy = float(state(hass, ENERGY))
    await advance_in_steps(hass, freezer, NEXT_UPDATE * 2, NEXT_UPDATE)
    assert float(state(hass, ENERGY)) == cloud_import(simulator) > energy
    assert state(hass, POWER) != STATE_UNAVAILABLE


async def test_a_store_with_future_times_from_0_1_is_repaired(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """What 0.1 stored (guards and reading dated a day ahead) is brought back
    to our clock at start: the next reading is taken."""
    coordinator = init_integration.runtime_data.coordinators[SN1]
    ahead = dt_util.utcnow() + timedelta(days=1)
    saved = coordinator.saved
    assert saved.reading is not None
    saved.reading = replace(saved.reading, time=ahead)
    for counter in saved.counters.values():
        counter["time"] = ahead.isoformat()
    coordinator.store.async_schedule_save()
    await restart(hass, init_integration)
    energy = float(state(hass, ENERGY))
    await advance_in_steps(hass, freezer, NEXT_UPDATE * 2, NEXT_UPDATE)
    assert float(state(hass, ENERGY)) == cloud_import(simulator) > energy
