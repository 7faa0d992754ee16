"""Actions: `fetch_analytics` and `refresh` for one meter."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .api import IammeterError, IammeterQuotaError
from .const import DOMAIN
from .coordinator import IammeterConfigEntry, format_local_time

ATTR_DEVICE_ID = "device_id"
ATTR_START_DATE = "start_date"
ATTR_END_DATE = "end_date"
MAX_RANGE_DAYS = 7
HISTORY_DAYS = 31

FETCH_ANALYTICS_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_START_DATE): cv.date,
        vol.Required(ATTR_END_DATE): cv.date,
    }
)
REFRESH_SCHEMA = vol.Schema({vol.Required(ATTR_DEVICE_ID): cv.string})


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, from `async_setup`)."""
    hass.services.async_register(
        DOMAIN,
        "fetch_analytics",
        _async_fetch_analytics,
        schema=FETCH_ANALYTICS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN, "refresh", _async_refresh, schema=REFRESH_SCHEMA
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
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_device",
        translation_placeholders={"device_id": device_id},
    )


def over_budget_error(
    entry: IammeterConfigEntry, buckets: tuple[str, ...], sn: str
) -> ServiceValidationError | None:
    """An error naming the remaining calls and when they free, if any is 0."""
    ledger = entry.runtime_data.account.client.ledger
    now = dt_util.utcnow()
    for bucket in buckets:
        if (remaining := ledger.remaining(bucket, sn, now)) < 1:
            return ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="over_budget",
                translation_placeholders={
                    "endpoint": bucket,
                    "remaining": str(max(remaining, 0)),
                    "retry_at": format_local_time(ledger.next_free(bucket, sn, now)),
                },
            )
    return None


async def _async_fetch_analytics(call: ServiceCall) -> ServiceResponse:
    """Both analyses of a meter for a date range (at most 7 days, last month)."""
    entry, sn = meter_of(call.hass, call.data[ATTR_DEVICE_ID])
    start: date = call.data[ATTR_START_DATE]
    end: date = call.data[ATTR_END_DATE]
    today = dt_util.now().date()
    if not (
        today - timedelta(days=HISTORY_DAYS) <= start <= end <= today
        and (end - start).days < MAX_RANGE_DAYS
    ):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_range",
            translation_placeholders={"days": str(MAX_RANGE_DAYS)},
        )
    if error := over_budget_error(entry, ("power_analysis", "offline_analysis"), sn):
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
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="analytics_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    return {
        "power": asdict(power),
        "offline": asdict(offline) | {"availability": offline.availability},
    }


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
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="refresh_over_budget",
            translation_placeholders={"retry_at": format_local_time(err.retry_at)},
        ) from err
    except IammeterError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="refresh_failed",
            translation_placeholders={"error": str(err)},
        ) from err
