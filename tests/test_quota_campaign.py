"""The quota holds over a simulated day and through restarts (counted by the cloud)."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.common import advance, advance_in_steps, restart
from tests.conftest import SN1, SN3
from tests.simulator import CloudSimulator

HOUR = timedelta(hours=1)
LATEST = ("meterdata", "meterdata2")


async def test_a_day_stays_within_the_quota(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    await advance_in_steps(hass, freezer, timedelta(hours=24))
    for sn in (SN1, SN3):
        assert simulator.max_in_window(LATEST, sn, HOUR) <= 12
        assert simulator.count(LATEST, sn) >= 24 * 11  # and uses it well
    assert simulator.count("login") == 0
    assert not [e for e in simulator.log if e.outcome == "quota"]


async def test_ten_restarts_in_an_hour_stay_within_the_quota(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    for _ in range(10):
        await advance(hass, freezer, timedelta(minutes=5, seconds=30))
        await restart(hass, init_integration)
        assert init_integration.state is ConfigEntryState.LOADED
    await advance_in_steps(hass, freezer, 2 * HOUR)
    for sn in (SN1, SN3):
        assert simulator.max_in_window(LATEST, sn, HOUR) <= 12
    assert simulator.count("login") <= 1
    assert not [e for e in simulator.log if e.outcome == "quota"]
    assert hass.states.get("sensor.house_power").state != "unavailable"


async def test_restarts_faster_than_the_interval_reuse_the_stored_reading(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    calls = simulator.count(LATEST)
    energy = hass.states.get("sensor.house_energy_import").state
    for _ in range(4):
        await advance(hass, freezer, timedelta(minutes=1))
        await restart(hass, init_integration)
        assert init_integration.state is ConfigEntryState.LOADED
    assert simulator.count(LATEST) == calls
    assert hass.states.get("sensor.house_energy_import").state == energy
    # The next reading comes one interval after the last real fetch.
    await advance(hass, freezer, timedelta(minutes=1, seconds=2))
    assert simulator.count(LATEST) == calls + 2


async def test_restarts_during_an_outage_never_exceed_the_quota(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Every failed call counts at the cloud; the saved ledger keeps the count."""
    simulator.faults.set("http_500", "meterdata2")
    for _ in range(45):  # a restart every two minutes for 90 minutes
        await advance(hass, freezer, timedelta(minutes=2))
        await restart(hass, init_integration)
    # Failing calls (setup retry) or, once the budget is spent, the stored
    # readings with stale live values (loaded): never calls beyond the quota.
    if init_integration.state is ConfigEntryState.LOADED:
        assert hass.states.get("sensor.house_power").state == "unavailable"
    else:
        assert init_integration.state is ConfigEntryState.SETUP_RETRY
    # The first meter failing stops setup, so only it kept trying ...
    assert simulator.count(LATEST, SN1) > 12
    for sn in (SN1, SN3):
        assert simulator.max_in_window(LATEST, sn, HOUR) <= 12  # ... within quota
    simulator.faults.clear()
    await advance_in_steps(hass, freezer, HOUR)
    assert init_integration.state is ConfigEntryState.LOADED
