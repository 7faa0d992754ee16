"""The `fetch_analytics` and `refresh` actions, and the actions' device fields."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_SCAN_INTERVAL, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, selector
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.const import DOMAIN
from custom_components.iammeter_cloud.entity import account_identifier
from custom_components.iammeter_cloud.helpers import format_local_time
from tests.common import (
    NEXT_UPDATE,
    advance,
    advance_in_steps,
    day_minutes,
    find_device,
)
from tests.conftest import SN1, SN3, USERNAME
from tests.simulator import CloudSimulator

STEP = timedelta(seconds=10)
SERVICES_YAML = (
    Path(__file__).parents[1] / "custom_components" / DOMAIN / "services.yaml"
)


def device_id(hass: HomeAssistant, entry: MockConfigEntry, sn: str) -> str:
    device = find_device(hass, entry.entry_id, sn)
    assert device is not None
    return device.id


async def fetch(
    hass: HomeAssistant, device: str, days_back: int, days: int
) -> dict[str, Any]:
    end = dt_util.now().date() - timedelta(days=days_back)
    start = end - timedelta(days=days - 1)
    response = await hass.services.async_call(
        DOMAIN,
        "fetch_analytics",
        {"device_id": device, "start_date": str(start), "end_date": str(end)},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    return response


async def test_fetch_analytics(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Aware ISO times, and every quantity with its unit."""
    device = device_id(hass, init_integration, SN3)
    response = await fetch(hass, device, 1, 7)
    assert set(response) == {"power", "offline"}
    power, offline = response["power"], response["offline"]
    assert set(power) == {
        "start",
        "end",
        "average",
        "daytime_average",
        "minimum",
        "maximum",
    }
    for key in ("average", "daytime_average", "minimum", "maximum"):
        assert power[key]["unit"] == "W"
        assert isinstance(power[key]["value"], float)
    assert power["minimum"]["value"] <= power["average"]["value"]
    assert power["average"]["value"] <= power["maximum"]["value"]
    # 7 days of the meter's time zone; one of them may have 23 or 25 hours
    end = dt_util.now().date() - timedelta(days=1)
    house = simulator.accounts[USERNAME].meter(SN3)
    assert house is not None
    first = end - timedelta(days=6)
    for part in (power, offline):
        start, stop = (datetime.fromisoformat(part[k]) for k in ("start", "end"))
        assert start.tzinfo is not None
        assert stop.tzinfo is not None
        assert (start.date(), stop.date()) == (first, end)
    minutes = day_minutes(first, end, house.tz)
    assert offline["total"] == {"value": minutes, "unit": "min"}
    assert offline["offline"] == {"value": 0, "unit": "min"}
    assert offline["availability"] == {"value": 100.0, "unit": "%"}
    assert offline["outages"] == []
    assert simulator.count("power_analysis", SN3) == 2  # the daily one and this
    json.dumps(response)  # plain JSON: usable as is in templates and scripts


async def test_fetch_analytics_outages_have_iso_times_and_units(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    house = simulator.accounts[USERNAME].meter(SN3)
    assert house is not None
    yesterday = dt_util.now().date() - timedelta(days=1)
    begin = datetime.combine(yesterday, time(10), house.tz)
    house.set_offline(begin, begin + timedelta(minutes=30))
    response = await fetch(hass, device_id(hass, init_integration, SN3), 1, 1)
    (outage,) = response["offline"]["outages"]
    # The cloud's local times, read in the client's (Home Assistant's) zone.
    times = [datetime.fromisoformat(outage[key]) for key in ("start", "end")]
    assert all(t.tzinfo is not None for t in times)
    assert [t.replace(tzinfo=None) for t in times] == [
        begin.replace(tzinfo=None),
        begin.replace(tzinfo=None) + timedelta(minutes=30),
    ]
    assert outage["duration"] == {"value": 30, "unit": "min"}
    assert response["offline"]["offline"] == {"value": 30, "unit": "min"}


async def test_fetch_analytics_keeps_the_automatic_analysis_its_calls(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """5 calls a day: today's automatic analysis was made (1); the next night's
    needs a try and a retry while the manual calls still count (2). Two manual
    calls fit; the third is refused, naming when one is possible, and the next
    night's analysis gets its calls."""
    device = device_id(hass, init_integration, SN1)
    for _ in range(2):
        await fetch(hass, device, 1, 1)
    sent = simulator.count("power_analysis", SN1)
    assert sent == 3
    with pytest.raises(ServiceValidationError) as err:
        await fetch(hass, device, 1, 1)
    assert err.value.translation_key == "analysis_reserved"
    first = min(
        e.time
        for e in simulator.log
        if e.endpoint == "power_analysis" and e.scope == SN1
    )
    assert err.value.translation_placeholders == {
        "endpoint": "power_analysis",
        "remaining": "2",
        "reserved": "2",
        "retry_at": format_local_time(first + timedelta(days=1)),
    }
    assert "needs 2 of the 2 power_analysis calls left" in str(err.value)
    assert simulator.count("power_analysis", SN1) == sent
    # The next night: the automatic analysis of today, with a retry to spare.
    midnight = dt_util.start_of_local_day() + timedelta(days=1)
    await advance_in_steps(
        hass,
        freezer,
        # In UTC: the wall clocks of a day that changes the clock differ by 1 h.
        dt_util.as_utc(midnight) - dt_util.utcnow() + timedelta(hours=1),
        timedelta(minutes=30),
    )
    coordinator = init_integration.runtime_data.analytics[SN1]
    assert coordinator.data.day == midnight.date() - timedelta(days=1)
    assert coordinator.data.power is not None
    assert coordinator.data.offline is not None
    ledger = init_integration.runtime_data.account.client.ledger
    for bucket in ("power_analysis", "offline_analysis"):
        assert ledger.remaining(bucket, SN1, dt_util.utcnow()) >= 1, bucket


async def test_fetch_analytics_waits_for_today_s_automatic_analysis(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Today's automatic analysis failed once: its retry is kept too."""
    coordinator = init_integration.runtime_data.analytics[SN1]
    saved = coordinator.saved
    assert saved.analytics is not None
    saved.analytics = None  # as if today's tries had failed once each
    assert coordinator.reserved("power") == 1 + 2
    device = device_id(hass, init_integration, SN1)
    await fetch(hass, device, 1, 1)  # 5 - 1 - 1 = 3 left: still enough
    with pytest.raises(ServiceValidationError) as err:
        await fetch(hass, device, 1, 1)
    assert err.value.translation_key == "analysis_reserved"
    assert (err.value.translation_placeholders or {})["reserved"] == "3"


async def test_fetch_analytics_over_budget_says_when(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The budget used up (by calls this integration sent): the time it frees."""
    ledger = init_integration.runtime_data.account.client.ledger
    now = dt_util.utcnow()
    while ledger.remaining("power_analysis", SN1, now) > 0:
        ledger.acquire("power_analysis", SN1, "power_analysis", now)
    first = min(
        e.time
        for e in simulator.log
        if e.endpoint == "power_analysis" and e.scope == SN1
    )
    sent = simulator.count("power_analysis", SN1)
    with pytest.raises(ServiceValidationError) as err:
        await fetch(hass, device_id(hass, init_integration, SN1), 1, 1)
    assert err.value.translation_key == "over_budget"
    assert err.value.translation_placeholders == {
        "endpoint": "power_analysis",
        "remaining": "0",
        "retry_at": format_local_time(first + timedelta(days=1)),
    }
    assert simulator.count("power_analysis", SN1) == sent


@pytest.mark.parametrize(
    ("days_back", "days"), [(1, 8), (40, 1), (-1, 1)], ids=["8 days", "old", "future"]
)
async def test_fetch_analytics_bad_range(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    days_back: int,
    days: int,
) -> None:
    device = device_id(hass, init_integration, SN1)
    with pytest.raises(ServiceValidationError) as err:
        await fetch(hass, device, days_back, days)
    assert err.value.translation_key == "invalid_range"


async def test_fetch_analytics_end_before_start(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    device = device_id(hass, init_integration, SN1)
    today = dt_util.now().date()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "fetch_analytics",
            {
                "device_id": device,
                "start_date": str(today - timedelta(days=1)),
                "end_date": str(today - timedelta(days=3)),
            },
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "invalid_range"


async def test_device_fields_offer_the_meters_not_the_account(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Each action's device selector filters on exactly the models of the meters
    the integration creates (the demo has both kinds), never the account's."""
    meters = {SN1, SN3}
    models = {}
    for device in dr.async_entries_for_config_entry(
        device_registry, init_integration.entry_id
    ):
        (identifier,) = (i for d, i in device.identifiers if d == DOMAIN)
        models[identifier] = device.model
    assert set(models) == meters | {account_identifier(init_integration)}
    meter_models = {models[sn] for sn in meters}
    assert meter_models == {"WEM3080", "WEM3080T"}
    services = load_yaml_dict(str(SERVICES_YAML))
    assert set(services) == set(hass.services.async_services_for_domain(DOMAIN))
    for action, spec in services.items():
        config = spec["fields"]["device_id"]["selector"]
        selector.validate_selector(config)  # a selector Home Assistant accepts
        device_filter = config["device"]
        assert set(device_filter) == {"filter"}, action  # no legacy keys
        assert all(f["integration"] == DOMAIN for f in device_filter["filter"])
        offered = {f["model"] for f in device_filter["filter"]}
        assert offered == meter_models, action
        assert models[account_identifier(init_integration)] not in offered


async def test_the_account_device_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Chosen anyway (YAML, an old automation): a translated validation error."""
    account = device_id(hass, init_integration, account_identifier(init_integration))
    today = str(dt_util.now().date())
    actions = {
        "refresh": {},
        "fetch_analytics": {"start_date": today, "end_date": today},
        "backfill": {"start_date": today},
    }
    for action, fields in actions.items():
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN,
                action,
                {"device_id": account, **fields},
                blocking=True,
                return_response=action != "refresh",
            )
        assert err.value.translation_domain == DOMAIN
        assert err.value.translation_key == "unknown_device", action
        assert err.value.translation_placeholders == {"device_id": account}
        message = f"Device {account} is not a loaded IAMMETER Cloud meter"
        assert str(err.value).rstrip(".") == message


async def test_unknown_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    other = device_registry.async_get_or_create(
        config_entry_id=init_integration.entry_id, identifiers={("other", "x")}
    )
    today = dt_util.now().date()
    actions = {
        "refresh": {},
        "fetch_analytics": {"start_date": str(today), "end_date": str(today)},
    }
    for action, fields in actions.items():
        for device in ("no-such-device", other.id):
            with pytest.raises(ServiceValidationError) as err:
                await hass.services.async_call(
                    DOMAIN,
                    action,
                    {"device_id": device, **fields},
                    blocking=True,
                    return_response=action == "fetch_analytics",
                )
            assert err.value.translation_key == "unknown_device"


async def test_fetch_analytics_failure(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    simulator.faults.set("http_500", "power_analysis", count=1)
    with pytest.raises(HomeAssistantError) as err:
        await fetch(hass, device_id(hass, init_integration, SN1), 1, 1)
    assert err.value.translation_key == "analytics_failed"


async def refresh_at_once(
    hass: HomeAssistant, device: str, calls: int
) -> tuple[int, list[BaseException]]:
    """`calls` refresh actions at the same time: how many succeeded, the errors."""
    results = await asyncio.gather(
        *(
            hass.services.async_call(
                DOMAIN, "refresh", {"device_id": device}, blocking=True
            )
            for _ in range(calls)
        ),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    return len(results) - len(errors), errors


def refused_until(errors: list[BaseException]) -> str:
    """The time all refusals name (they are the translated over-budget error)."""
    assert all(isinstance(e, ServiceValidationError) for e in errors), errors
    keys = {e.translation_key for e in errors if isinstance(e, ServiceValidationError)}
    assert keys == {"refresh_over_budget"}
    times = {
        (e.translation_placeholders or {}).get("retry_at")
        for e in errors
        if isinstance(e, ServiceValidationError)
    }
    assert len(times) == 1
    return str(times.pop())


async def test_twenty_refreshes_at_once_each_read_or_refuse(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Issue 10: 20 refreshes at once all reported success although only 11
    requests were sent, and the power was unavailable for 43 minutes after.

    At the default interval the schedule needs the whole budget: right after
    setup one refresh fits (it delays one update by 5 minutes); the others are
    refused, truthfully, and the scheduled updates keep the data fresh.
    """
    device = device_id(hass, init_integration, SN1)
    before = simulator.count("meterdata2", SN1)
    succeeded, errors = await refresh_at_once(hass, device, 20)
    sent = simulator.count("meterdata2", SN1) - before
    assert succeeded == sent == 1
    assert len(errors) == 19
    start = dt_util.utcnow()
    assert refused_until(errors) == format_local_time(start + timedelta(hours=1))
    # The scheduled update comes one interval after the refresh, and so on:
    # the live values never turn stale.
    await advance(hass, freezer, NEXT_UPDATE)
    assert simulator.count("meterdata2", SN1) == before + sent + 1
    for _ in range(60):
        await advance(hass, freezer, timedelta(minutes=1))
        assert hass.states.get("sensor.garage_power").state != STATE_UNAVAILABLE
    assert simulator.max_in_window("meterdata2", SN1, timedelta(hours=1)) == 12


@pytest.mark.parametrize("interval", [900])
async def test_refreshes_use_only_the_budget_the_schedule_leaves(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    interval: int,
) -> None:
    """At 15 minutes the schedule needs 4 calls an hour: with setup's, 8 are
    left for refreshes; each one read the meter, the 9th names the time."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={**mock_config_entry.options, CONF_SCAN_INTERVAL: interval},
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    device = device_id(hass, mock_config_entry, SN1)
    start = dt_util.utcnow()
    for _ in range(8):
        await hass.services.async_call(
            DOMAIN, "refresh", {"device_id": device}, blocking=True
        )
    assert simulator.count("meterdata2", SN1) == 9
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "refresh", {"device_id": device}, blocking=True
        )
    assert err.value.translation_key == "refresh_over_budget"
    assert err.value.translation_placeholders == {
        "retry_at": format_local_time(start + timedelta(hours=1))
    }
    assert simulator.count("meterdata2", SN1) == 9
    # The scheduled updates go on (at :15, :30, :45 and :60) ...
    await advance_in_steps(hass, freezer, timedelta(hours=1, minutes=1))
    assert simulator.count("meterdata2", SN1) == 13
    # ... and at the time named, a refresh reads the meter.
    await hass.services.async_call(
        DOMAIN, "refresh", {"device_id": device}, blocking=True
    )
    assert simulator.count("meterdata2", SN1) == 14
    assert simulator.max_in_window("meterdata2", SN1, timedelta(hours=1)) <= 12


async def test_refresh_failure(
    hass: HomeAssistant,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    simulator.faults.set("http_500", "meterdata2", count=1)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "refresh",
            {"device_id": device_id(hass, init_integration, SN3)},
            blocking=True,
        )
    assert err.value.translation_key == "refresh_failed"


LIVE = ("sensor.garage_power", "sensor.garage_voltage", "sensor.garage_current")


def assert_live(hass: HomeAssistant, when: str) -> None:
    """Power, voltage and current shown, and *Cloud connection* on."""
    for entity_id in LIVE:
        current = hass.states.get(entity_id)
        assert current is not None
        assert current.state != STATE_UNAVAILABLE, f"{entity_id} {when}"
    connection = hass.states.get("binary_sensor.garage_cloud_connection")
    assert connection is not None
    assert connection.state == STATE_ON, when


@pytest.mark.parametrize("interval", [300, 900])
async def test_pressing_refresh_again_and_again_keeps_the_meter_alive(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    mock_config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    interval: int,
) -> None:
    """As the user met it: ten presses of refresh over three minutes left power,
    voltage and current unavailable and *Cloud connection* off. A refresh takes
    the place of the next scheduled reading; one that would leave the schedule
    without its budget is refused. The live values stay available throughout,
    for the next 75 minutes too, within the 12 calls an hour."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={**mock_config_entry.options, CONF_SCAN_INTERVAL: interval},
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    device = device_id(hass, mock_config_entry, SN1)
    outcomes = []
    for press in range(10):
        succeeded, errors = await refresh_at_once(hass, device, 1)
        if errors:
            refused_until(errors)  # the translated refusal, with the time
        outcomes.append("read" if succeeded else "refused")
        assert_live(hass, f"after press {press + 1}")
        await advance_in_steps(hass, freezer, timedelta(seconds=20), STEP)
        assert_live(hass, f"20 s after press {press + 1}")
    # At 5 minutes the schedule needs nearly the whole budget (a press fits
    # right after setup, and where the schedule leaves a call); at 15 minutes
    # 8 are left for presses. Each press read the meter or was refused.
    assert outcomes[0] == "read"
    assert "refused" in outcomes
    if interval == 900:
        assert outcomes.count("read") == 8, outcomes
    for minute in range(75):
        await advance(hass, freezer, timedelta(minutes=1))
        assert_live(hass, f"{minute + 1} min after the presses")
    assert simulator.max_in_window("meterdata2", SN1, timedelta(hours=1)) <= 12
