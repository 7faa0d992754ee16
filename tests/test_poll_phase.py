"""Polls a few seconds after each meter's upload, within the quota (issue 14).

The simulator's meters upload at a second of their own (the readings' `gmtTime`);
the coordinator learns it and polls POLL_AFTER_UPLOAD later. The clock is frozen
and moved by hand: nothing here depends on the date, the time zone or speed.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from hypothesis import HealthCheck, example, given, settings, strategies as st
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.api import IammeterError
from custom_components.iammeter_cloud.const import (
    CONF_API_URL,
    CONF_METERS,
    DOMAIN,
    POLL_AFTER_UPLOAD,
)
from custom_components.iammeter_cloud.coordinator import (
    IammeterMeterCoordinator,
    UploadPhase,
)
from custom_components.iammeter_cloud.store import DATA_STORE
from tests.common import advance, restart
from tests.conftest import SN1, SN3, USERNAME
from tests.simulator import CloudSimulator, SimMeter

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
LATEST = ("meterdata", "meterdata2")
AFTER = POLL_AFTER_UPLOAD.total_seconds()


def _at(second: float) -> datetime:
    """A moment `second` seconds after 2026-01-01 00:00 UTC."""
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=second)


async def _run(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, total: timedelta
) -> None:
    """Let `total` pass second by second near updates, so each runs when due."""
    end = dt_util.utcnow() + total
    while (now := dt_util.utcnow()) < end:
        coordinators: list[IammeterMeterCoordinator] = [
            c
            for entry in hass.config_entries.async_entries(DOMAIN)
            if entry.state is ConfigEntryState.LOADED
            for c in entry.runtime_data.coordinators.values()
        ]
        due = min(
            [
                now + timedelta(minutes=1),
                *(c.next_due for c in coordinators if c.next_due),
            ]
        )
        step = max(due - now - 2 * SECOND, SECOND)
        await advance(hass, freezer, min(step, end - now))


def _calls(sim: CloudSimulator, sn: str) -> list[datetime]:
    return [e.time for e in sim.log if e.endpoint in LATEST and e.scope == sn]


def _meter(sim: CloudSimulator, sn: str) -> SimMeter:
    meter = sim.accounts[USERNAME].meter(sn)
    assert meter is not None
    return meter


# --- the planner alone --------------------------------------------------------------


def test_the_phase_is_the_readings_second() -> None:
    phase = UploadPhase()
    assert phase.next_poll(_at(100)) == _at(100)  # nothing known yet
    phase.learn(_at(100), _at(37))
    assert phase.phase == 37
    # Due 23 s after an upload: moved to 5 s after it, if the quota allows ...
    assert phase.next_poll(_at(397 + 23)) == _at(397 + AFTER)

    def quota(moment: datetime) -> datetime:
        return max(moment, _at(430))

    # ... else to 5 s after the next one, as when it is due 40 s after one.
    assert phase.next_poll(_at(397 + 23), quota) == _at(457 + AFTER)
    assert phase.next_poll(_at(397 + 23), sooner=False) == _at(457 + AFTER)
    assert phase.next_poll(_at(397 + 40)) == _at(397 + AFTER)
    assert phase.next_poll(_at(397 + 40), sooner=False) == _at(457 + AFTER)
    # Due within the window after an upload: left alone.
    assert phase.next_poll(_at(397 + 7)) == _at(404)


def test_a_poll_before_the_upload_moves_later() -> None:
    phase = UploadPhase()
    phase.learn(_at(60), _at(60))
    # Polled 1 s after the upload second, but got the minute before: that
    # upload was not in the cloud yet.
    phase.learn(_at(361), _at(300))
    assert phase.after == 2 * AFTER
    assert phase.next_poll(_at(661), sooner=False) == _at(660 + 2 * AFTER)
    # Not as early as before, either.
    assert phase.next_poll(_at(962), sooner=False) == _at(960 + 2 * AFTER)
    # A reading minutes old is a meter that did not upload: nothing learned.
    phase.learn(_at(1270), _at(960))
    assert phase.after == 2 * AFTER


def test_a_drifted_phase_moves_the_next_poll() -> None:
    phase = UploadPhase()
    phase.learn(_at(65), _at(60))
    assert phase.next_poll(_at(367)) == _at(367)  # in the window
    phase.learn(_at(365), _at(310))  # the meter now uploads at second 10
    assert phase.phase == 10
    assert phase.next_poll(_at(665), sooner=False) == _at(670 + AFTER)


# --- against the simulator -----------------------------------------------------------


async def test_the_poll_lands_a_few_seconds_after_the_upload(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    _meter(simulator, SN1).upload_second = 37
    _meter(simulator, SN3).upload_second = 12
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _run(hass, freezer, 2 * HOUR)
    for sn, second in ((SN1, 37), (SN3, 12)):
        calls = _calls(simulator, sn)
        assert len(calls) >= 23
        # After the first (at setup), every poll is 5 s after the upload ...
        assert {t.second for t in calls[1:]} == {second + AFTER}
        # ... one interval apart once aligned.
        gaps = {(b - a).total_seconds() for a, b in pairwise(calls[1:])}
        assert gaps == {300}
        assert simulator.max_in_window(LATEST, sn, HOUR) <= 12
        coordinator = mock_config_entry.runtime_data.coordinators[sn]
        assert dt_util.utcnow() - coordinator.data.time <= timedelta(seconds=310)


async def test_the_phase_is_relearned_after_drift(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    garage = _meter(simulator, SN1)
    garage.upload_second = 20
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _run(hass, freezer, HOUR)
    assert _calls(simulator, SN1)[-1].second == 25
    # The meter now uploads later: the poll at :25 gets the minute before.
    garage.upload_second = 50
    await _run(hass, freezer, HOUR)
    later = _calls(simulator, SN1)[-6:]
    assert {t.second for t in later} == {55}
    # ... and then earlier.
    garage.upload_second = 3
    await _run(hass, freezer, HOUR)
    assert {t.second for t in _calls(simulator, SN1)[-6:]} == {8}
    assert simulator.max_in_window(LATEST, SN1, HOUR) <= 12
    assert not [e for e in simulator.log if e.outcome == "quota"]


# --- the quota, whatever happens -----------------------------------------------------

EVENTS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=150),  # minutes into the run
        st.sampled_from(["restart", "refresh", "drift"]),
        st.integers(min_value=0, max_value=59),  # a new upload second (drift)
    ),
    max_size=8,
).map(sorted)


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    seconds=st.tuples(
        st.integers(min_value=0, max_value=59), st.integers(min_value=0, max_value=59)
    ),
    events=EVENTS,
)
@example(seconds=(59, 0), events=[(0, "refresh", 0), (1, "restart", 0)])
async def test_no_sliding_hour_has_more_than_12_calls(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
    hass_storage: dict[str, object],
    seconds: tuple[int, int],
    events: list[tuple[int, str, int]],
) -> None:
    """Random upload seconds, restarts, refresh presses and drifts: the cloud
    never counts more than 12 readings of a meter in any sliding hour."""
    sim = CloudSimulator.demo(dt_util.utcnow)
    for sn, second in zip((SN1, SN3), seconds, strict=True):
        _meter(sim, sn).upload_second = second
    await sim.start()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="1001",
        data={
            "username": USERNAME,
            "password": "demo-password",
            CONF_API_URL: sim.base_url,
            "token": sim.issue_token(USERNAME),
        },
        options={CONF_METERS: [SN1, SN3], "scan_interval": 300},
    )
    entry.add_to_hass(hass)
    try:
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        start = dt_util.utcnow()
        for minute, kind, second in events:
            await _run(
                hass, freezer, start + timedelta(minutes=minute) - dt_util.utcnow()
            )
            if kind == "restart":
                await restart(hass, entry)
            elif kind == "drift":
                _meter(sim, SN1).upload_second = second
            elif entry.state is ConfigEntryState.LOADED:
                for coordinator in entry.runtime_data.coordinators.values():
                    with contextlib.suppress(IammeterError):
                        await coordinator.async_read_now()
        await _run(hass, freezer, start + timedelta(minutes=180) - dt_util.utcnow())
        for sn in (SN1, SN3):
            assert sim.max_in_window(LATEST, sn, HOUR) <= 12, (sn, _calls(sim, sn))
            # ... and uses it: a moved poll costs one reading at most.
            last = [t for t in _calls(sim, sn) if t > dt_util.utcnow() - HOUR]
            assert len(last) >= 10, (sn, _calls(sim, sn))
        assert not [e for e in sim.log if e.outcome == "quota"]
    finally:
        await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
        hass.data.pop(DATA_STORE, None)
        hass_storage.clear()  # the next example starts afresh
        await sim.stop()
