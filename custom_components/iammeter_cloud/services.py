"""Actions, each for one meter: `fetch_analytics`, `refresh` and `backfill`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import PERCENTAGE, UnitOfPower, UnitOfTime
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonObjectType
import voluptuous as vol

from .api import IammeterError, IammeterQuotaError, OfflineAnalysis, PowerAnalysis
from .backfill import async_backfill
from .const import DOMAIN, HISTORY, HISTORY_DAYS
from .coordinator import IammeterConfigEntry
from .errors import (
    analysis_reserved,
    analytics_failed,
    backfill_failed,
    backfill_start,
    invalid_range,
    over_budget,
    refresh_failed,
    refresh_over_budget,
    unknown_device,
)

SERVICE_FETCH_ANALYTICS: Final = "fetch_analytics"
SERVICE_REFRESH: Final = "refresh"
SERVICE_BACKFILL: Final = "backfill"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_START_DATE: Final = "start_date"
ATTR_END_DATE: Final = "end_date"
MAX_RANGE_DAYS: Final = 7
ANALYSES: Final = ("power_analysis", "offline_analysis")
"""The quota buckets of `fetch_analytics`."""

FETCH_ANALYTICS_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_START_DATE): cv.date,
        vol.Required(ATTR_END_DATE): cv.date,
    }
)
REFRESH_SCHEMA = vol.Schema({vol.Required(ATTR_DEVICE_ID): cv.string})
BACKFILL_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_START_DATE): cv.date,
    }
)


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, from `async_setup`)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_FETCH_ANALYTICS,
        _async_fetch_analytics,
        schema=FETCH_ANALYTICS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_REFRESH, _async_refresh, schema=REFRESH_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_BACKFILL,
        _async_backfill,
        schema=BACKFILL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def meter_of(hass: HomeAssistant, device_id: str) -> tuple[IammeterConfigEntry, str]:
    """The loaded entry and serial number of a meter's device."""
    device = dr.async_get(hass).async_get(device_id)
    if device is not None:
        sns = [i for d, i in device.identifiers if d == DOMAIN]
        for entry_id in device.config_entries:
            entry = hass.config_entries.async_get_entry(entry_id)
            if (
                entry is not None
                and entry.domain == DOMAIN
                and entry.state is ConfigEntryState.LOADED
                and sns
                and sns[0] in entry.runtime_data.coordinators
            ):
                return entry, sns[0]
    raise unknown_device(device_id)


def over_budget_error(
    entry: IammeterConfigEntry, buckets: tuple[str, ...], sn: str
) -> ServiceValidationError | None:
    """An error naming the remaining calls and when they free, if any is 0."""
    ledger = entry.runtime_data.account.client.ledger
    now = dt_util.utcnow()
    for bucket in buckets:
        if (remaining := ledger.remaining(bucket, sn, now)) < 1:
            return over_budget(bucket, remaining, ledger.next_free(bucket, sn, now))
    return None


async def _async_fetch_analytics(call: ServiceCall) -> ServiceResponse:
    """Both analyses of a meter for a date range (at most 7 days, last month):
    ISO times, quantities with their units. Never a call that the automatic
    daily analysis needs (`reserved_error`)."""
    entry, sn = meter_of(call.hass, call.data[ATTR_DEVICE_ID])
    start: date = call.data[ATTR_START_DATE]
    end: date = call.data[ATTR_END_DATE]
    today = dt_util.now().date()
    if not (
        _oldest_day(today) <= start <= end <= today
        and (end - start).days < MAX_RANGE_DAYS
    ):
        raise invalid_range(MAX_RANGE_DAYS)
    if error := over_budget_error(entry, ANALYSES, sn) or reserved_error(entry, sn):
        raise error
    account = entry.runtime_data.account
    try:
        power = await account.call(
            lambda: account.client.power_analysis(sn, start, end)
        )
        offline = await account.call(
            lambda: account.client.offline_analysis(sn, start, end)
        )
    except IammeterError as err:
        raise analytics_failed(err) from err
    return analytics_response(power, offline)


def reserved_error(
    entry: IammeterConfigEntry, sn: str
) -> ServiceValidationError | None:
    """An error naming when, if a manual analysis now would take calls that the
    automatic analysis needs (today's, and the next night's)."""
    analytics = entry.runtime_data.analytics.get(sn)
    if analytics is None:
        return None
    ledger = entry.runtime_data.account.client.ledger
    now = dt_util.utcnow()
    for bucket in ANALYSES:
        reserved = analytics.reserved(bucket.removesuffix("_analysis"))
        if (remaining := ledger.remaining(bucket, sn, now)) - 1 < reserved:
            retry_at = ledger.next_free(bucket, sn, now, keep=reserved)
            return analysis_reserved(bucket, remaining, reserved, retry_at)
    return None


def analytics_response(
    power: PowerAnalysis, offline: OfflineAnalysis
) -> JsonObjectType:
    """The action's answer: times as ISO text, every quantity with its unit."""
    return {
        "power": {
            "start": _iso(power.start),
            "end": _iso(power.end),
            "average": _quantity(power.average, UnitOfPower.WATT),
            "daytime_average": _quantity(power.daytime_average, UnitOfPower.WATT),
            "minimum": _quantity(power.minimum, UnitOfPower.WATT),
            "maximum": _quantity(power.maximum, UnitOfPower.WATT),
        },
        "offline": {
            "start": _iso(offline.start),
            "end": _iso(offline.end),
            "offline": _quantity(offline.offline_minutes, UnitOfTime.MINUTES),
            "total": _quantity(offline.total_minutes, UnitOfTime.MINUTES),
            "availability": _quantity(offline.availability, PERCENTAGE),
            "outages": [
                {
                    "start": outage.start.isoformat(),
                    "end": outage.end.isoformat(),
                    "duration": _quantity(outage.minutes, UnitOfTime.MINUTES),
                }
                for outage in offline.outages
            ],
        },
    }


def _quantity(value: float | None, unit: str) -> JsonObjectType:
    return {"value": value, "unit": unit}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


async def _async_refresh(call: ServiceCall) -> None:
    """An immediate reading of a meter, in place of its next scheduled one.

    Concurrent calls are taken one at a time; each one reads the meter (one
    request) or fails. It is refused, with the time, when the meter's hourly
    budget is used up or what is left of it is needed by the scheduled updates
    (they must keep the live values fresh).
    """
    entry, sn = meter_of(call.hass, call.data[ATTR_DEVICE_ID])
    coordinator = entry.runtime_data.coordinators[sn]
    try:
        await coordinator.async_read_now()
    except IammeterQuotaError as err:
        raise refresh_over_budget(err.retry_at) from err
    except IammeterError as err:
        raise refresh_failed(err) from err


async def _async_backfill(call: ServiceCall) -> ServiceResponse:
    """Re-import every hour from a local date on (within the cloud's history).

    A range with nothing to fill costs no call (the response's `reason` says
    why); the budget is checked only before a call is sent."""
    entry, sn = meter_of(call.hass, call.data[ATTR_DEVICE_ID])
    coordinator = entry.runtime_data.coordinators[sn]
    day: date = call.data[ATTR_START_DATE]
    today = dt_util.now().date()
    if not _oldest_day(today) <= day <= today:
        raise backfill_start(HISTORY_DAYS - 1)

    def check_budget() -> None:
        if error := over_budget_error(entry, (HISTORY,), sn):
            raise error

    try:
        result = await async_backfill(
            call.hass,
            coordinator,
            dt_util.as_utc(dt_util.start_of_local_day(day)),
            before_call=check_budget,
        )
    except IammeterError as err:
        raise backfill_failed(err) from err
    return result.as_dict() if call.return_response else None


def _oldest_day(today: date) -> date:
    """The oldest local day the cloud still keeps (history and analyses)."""
    return today - timedelta(days=HISTORY_DAYS - 1)
