"""Daily analytics: values, persistence, the daily call budget and path spelling."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
import json
from typing import Any

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.api import (
    OfflineAnalysis,
    Outage,
    PowerAnalysis,
    parse_local_time,
)
from custom_components.iammeter_cloud.data import MAX_OUTAGES, AnalyticsData
from tests.common import advance, advance_in_steps, day_minutes, restart
from tests.conftest import SN1, SN3, USERNAME
from tests.simulator import CloudSimulator

# Yesterday's power statistics are disabled by default; these tests read them.
pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")

ANALYSES = ("power_analysis", "offline_analysis")
FROZEN = "2026-06-15 10:00:30+00:00"


async def cloud_analysis(
    sim: CloudSimulator, path: str, sn: str, start: date, end: date
) -> dict[str, Any]:
    """Ask the simulator directly, as an independent reference."""
    async with aiohttp.ClientSession() as session:
        response = await session.get(
            f"{sim.base_url}/api/v1/site/{path}",
            params={
                "sn": sn,
                "startTime": start.isoformat(),
                "endTime": end.isoformat(),
            },
            headers={"token": sim.issue_token(USERNAME)},
        )
        data: dict[str, Any] = (await response.json())["data"]
        return data


def value(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


@pytest.mark.freeze_time(FROZEN)
async def test_values_are_yesterdays_analyses(
    hass: HomeAssistant, simulator: CloudSimulator, init_integration: MockConfigEntry
) -> None:
    # One call of each analysis per meter.
    for sn in (SN1, SN3):
        assert [simulator.count(a, sn) for a in ANALYSES] == [1, 1]
    yesterday = dt_util.now().date() - timedelta(days=1)
    power = await cloud_analysis(simulator, "powerAnalysis", SN3, yesterday, yesterday)
    assert (
        float(value(hass, "sensor.house_average_power_yesterday")) == power["average"]
    )
    assert (
        float(value(hass, "sensor.house_daytime_average_power_yesterday"))
        == power["dayTimeAverage"]
    )
    assert (
        float(value(hass, "sensor.house_minimum_power_yesterday")) == power["minimum"]
    )
    assert (
        float(value(hass, "sensor.house_maximum_power_yesterday")) == power["maximum"]
    )
    state = hass.states.get("sensor.house_average_power_yesterday")
    assert state is not None
    assert state.attributes["period_start"] == yesterday.isoformat()
    assert state.attributes["period_end"] == yesterday.isoformat()
    assert value(hass, "sensor.house_offline_minutes_yesterday") == "0.0"
    availability = hass.states.get("sensor.house_cloud_availability_7_days")
    assert availability is not None
    assert availability.state == "100.0"
    assert (
        availability.attributes["period_start"]
        == (yesterday - timedelta(days=6)).isoformat()
    )


async def test_outages_show_in_offline_minutes_and_availability(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    # Yesterday from 04:00 to 06:30 the meter was offline. The cloud counts the
    # meter's days (its time zone), which need not be Home Assistant's.
    house = simulator.accounts[USERNAME].meter(SN3)
    assert house is not None
    yesterday = dt_util.now().date() - timedelta(days=1)
    start = datetime.combine(yesterday, time(4), house.tz)
    house.set_offline(start, start + timedelta(minutes=150))
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(value(hass, "sensor.house_offline_minutes_yesterday")) == 150.0
    availability = hass.states.get("sensor.house_cloud_availability_7_days")
    assert availability is not None
    week = day_minutes(yesterday - timedelta(days=6), yesterday, house.tz)
    assert float(availability.state) == round(100 * (week - 150) / week, 2)
    [outage] = availability.attributes["outages"]
    assert outage["minutes"] == 150


@pytest.mark.freeze_time(FROZEN)
async def test_a_week_with_daily_restarts_stays_within_two_calls_a_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """One call a day per analysis and meter, restarts notwithstanding; the one
    that fails (day 2) is tried once more that day, and only that one."""
    for day in range(7):
        if day == 2:  # a bad day: the next power analysis fails
            simulator.faults.set("http_500", "power_analysis", count=1)
        await advance_in_steps(
            hass, freezer, timedelta(hours=23), timedelta(minutes=10)
        )
        await restart(hass, init_integration)
        await advance_in_steps(hass, freezer, timedelta(hours=1), timedelta(minutes=10))
    failed = [e for e in simulator.log if e.outcome == "fault:http_500"]
    assert len(failed) == 1
    per_day: dict[tuple[str, str], dict[date, int]] = {}
    for entry in simulator.log:
        if entry.endpoint in ANALYSES:
            days = per_day.setdefault((entry.scope, entry.endpoint), {})
            local_day = dt_util.as_local(entry.time).date()
            days[local_day] = days.get(local_day, 0) + 1
    assert set(per_day) == {(sn, a) for sn in (SN1, SN3) for a in ANALYSES}
    first = dt_util.as_local(failed[0].time).date()
    for (sn, analysis), days in per_day.items():
        assert len(days) == 8, (sn, analysis, days)  # every day: the start + 7
        retried = (sn, analysis) == (failed[0].scope, "power_analysis")
        expected = {d: 2 if retried and d == first else 1 for d in days}
        assert days == expected, (sn, analysis)
    assert value(hass, "sensor.house_average_power_yesterday") != "unavailable"


async def test_the_working_path_spelling_is_remembered_across_restarts(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    simulator.analysis_spelling = "powerAnalytics"
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    probes = simulator.count("not_found")
    # The first time, each meter tries one wrong spelling of each analysis.
    assert probes == 4
    assert value(hass, "sensor.house_average_power_yesterday") != "unavailable"
    await advance(hass, freezer, timedelta(days=1))
    await restart(hass, mock_config_entry)
    assert simulator.count("not_found") == probes
    assert simulator.count("power_analysis", SN3) == 2


async def test_the_outage_list_keeps_the_newest_by_time_not_by_text(
    hass: HomeAssistant,
) -> None:
    """The cloud writes "2026/6/9 5:00:00": as text, 6/9 sorts after 6/15."""
    zone = dt_util.get_default_time_zone()
    starts = [f"2026/6/{day} {hour}:00:00" for day in (9, 15) for hour in range(5, 17)]
    outages = tuple(
        Outage(
            parse_local_time(start, zone, "test"),
            parse_local_time(start.replace(":00:00", ":30:00"), zone, "test"),
            30,
        )
        for start in starts
    )
    offline = OfflineAnalysis(
        datetime(2026, 6, 9, tzinfo=zone),
        datetime(2026, 6, 15, tzinfo=zone),
        720,
        10080,
        outages,
    )
    shown = AnalyticsData(date(2026, 6, 15), None, offline).outages()
    assert len(shown) == MAX_OUTAGES
    assert shown[0]["start"] == datetime(2026, 6, 15, 16, tzinfo=zone).isoformat()
    assert shown[11]["start"] == datetime(2026, 6, 15, 5, tzinfo=zone).isoformat()
    assert shown[12]["start"] == datetime(2026, 6, 9, 16, tzinfo=zone).isoformat()
    assert shown[-1]["start"] == datetime(2026, 6, 9, 9, tzinfo=zone).isoformat()
    assert shown[0]["end"] == datetime(2026, 6, 15, 16, 30, tzinfo=zone).isoformat()
    # Stored by an earlier version (the cloud's text): an outage whose times
    # are unreadable is left out.
    stored = {
        "day": "2026-06-15",
        "power": None,
        "offline": {
            "start": "",
            "end": "",
            "offline_minutes": 30,
            "total_minutes": 10080,
            "outages": [
                {"start": "soon", "end": "later", "minutes": 30},
                {"start": starts[0], "end": "2026/6/9 5:30:00", "minutes": 30},
            ],
        },
    }
    broken = AnalyticsData.restore(stored)
    assert broken is not None
    assert broken.offline is not None
    assert (broken.offline.start, broken.offline.end) == (None, None)
    assert [o["start"] for o in broken.outages()] == [
        datetime(2026, 6, 9, 5, tzinfo=zone).isoformat()
    ]


async def test_stored_analyses_come_back_and_the_old_text_form_too(
    hass: HomeAssistant,
) -> None:
    zone = dt_util.get_default_time_zone()
    day = datetime(2026, 6, 14, tzinfo=zone)
    power = PowerAnalysis(day, day + timedelta(seconds=86399), 350, 420.5, -2, 41)
    outage = Outage(day + timedelta(hours=5), day + timedelta(hours=6), 60)
    offline = OfflineAnalysis(day, day, 60, 1440, (outage,))
    data = AnalyticsData(date(2026, 6, 14), power, offline)
    exported = json.loads(json.dumps(data.export()))
    assert exported["power"]["start"] == day.isoformat()
    assert exported["offline"]["outages"][0]["end"] == outage.end.isoformat()
    assert AnalyticsData.restore(exported) == data
    # as earlier versions stored them: the cloud's local time text
    old = json.loads(json.dumps(exported))
    old["power"] |= {"start": "2026/6/14 0:00:00", "end": "2026/6/14 23:59:59"}
    old["offline"] |= {"start": "2026/6/14 0:00:00", "end": "2026/6/14 0:00:00"}
    old["offline"]["outages"] = [
        {"start": "2026/6/14 5:00:00", "end": "2026/6/14 6:00:00", "minutes": 60}
    ]
    assert AnalyticsData.restore(old) == data
    assert AnalyticsData.restore(old | {"offline": {"outages": None}}) is None


@pytest.mark.freeze_time(FROZEN)
async def test_a_try_that_could_not_log_in_is_not_one_of_the_days_tries(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Soak (issue 10 schedule): the day's first try failed (a bad answer); at the
    second the token was refused and the login quota used up by another client
    -- that used up the day's tries, and yesterday's analyses never came."""
    simulator.faults.set("http_500", "power_analysis", count=2)  # both meters
    # To 00:10 local: the new day's first tries fail.
    midnight = dt_util.start_of_local_day() + timedelta(days=1)
    until = midnight + timedelta(minutes=10) - dt_util.utcnow()
    await advance_in_steps(hass, freezer, until, timedelta(minutes=10))
    assert len([e for e in simulator.log if e.outcome == "fault:http_500"]) == 2
    simulator.expire_tokens()
    simulator.faults.set("empty_body", "login", count=1)
    await advance_in_steps(hass, freezer, timedelta(hours=2), timedelta(minutes=10))
    day = dt_util.now().date() - timedelta(days=1)
    state = hass.states.get("sensor.house_average_power_yesterday")
    assert state is not None
    assert state.attributes["period_end"] == day.isoformat()
    assert state.state != "unavailable"
