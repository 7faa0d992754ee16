"""Daily analytics: values, persistence, the daily call budget and path spelling."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.common import advance, advance_in_steps, restart
from tests.conftest import SN1, SN3, USERNAME
from tests.simulator import CloudSimulator

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
    # Yesterday (local) from 10:00 to 12:30 the meter was offline.
    today = dt_util.start_of_local_day()
    house = simulator.accounts[USERNAME].meter(SN3)
    assert house is not None
    start = today - timedelta(hours=14)
    house.set_offline(start, start + timedelta(minutes=150))
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(value(hass, "sensor.house_offline_minutes_yesterday")) == 150.0
    availability = hass.states.get("sensor.house_cloud_availability_7_days")
    assert availability is not None
    assert float(availability.state) == round(100 * (10080 - 150) / 10080, 2)
    [outage] = availability.attributes["outages"]
    assert outage["minutes"] == 150


async def test_a_week_with_daily_restarts_stays_within_two_calls_a_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    failures = 0
    for day in range(7):
        if day == 2:  # a bad day: the first tries fail
            simulator.faults.set("http_500", "power_analysis", count=1)
            failures += 1
        await advance_in_steps(
            hass, freezer, timedelta(hours=23), timedelta(minutes=10)
        )
        await restart(hass, init_integration)
        await advance_in_steps(hass, freezer, timedelta(hours=1), timedelta(minutes=10))
    for sn in (SN1, SN3):
        for analysis in ANALYSES:
            per_day: dict[date, int] = {}
            for entry in simulator.log:
                if entry.endpoint == analysis and entry.scope == sn:
                    local_day = dt_util.as_local(entry.time).date()
                    per_day[local_day] = per_day.get(local_day, 0) + 1
            assert max(per_day.values()) <= 2, (sn, analysis, per_day)
            assert len(per_day) >= 7  # fetched every day
    assert value(hass, "sensor.house_average_power_yesterday") != "unavailable"
    assert failures == 1


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
