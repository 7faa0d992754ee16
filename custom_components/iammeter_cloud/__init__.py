"""The IAMMETER Cloud integration: IAMMETER energy meters read through the cloud."""

from __future__ import annotations

from homeassistant.const import CONF_TOKEN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.typing import ConfigType

from .analytics import IammeterAnalyticsCoordinator
from .backfill import async_setup_backfill_service, async_start_backfill
from .const import (
    CONF_API_URL,
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    DEFAULT_API_URL,
    DOMAIN,
)
from .coordinator import (
    IammeterAccount,
    IammeterConfigEntry,
    IammeterMeterCoordinator,
    IammeterRuntimeData,
)
from .entity import account_identifier
from .issues import async_check_meter_added
from .meters import IammeterMeterWatch
from .services import async_setup_services
from .storage import async_create_client, async_get_storage

PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Load the state shared by all entries (quota ledger, last readings)."""
    await async_get_storage(hass)
    async_setup_services(hass)
    async_setup_backfill_service(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: IammeterConfigEntry) -> bool:
    """Set up one IAMMETER account: one coordinator and device per meter."""
    storage = await async_get_storage(hass)
    client = await async_create_client(
        hass, entry.data.get(CONF_API_URL, DEFAULT_API_URL), entry.data.get(CONF_TOKEN)
    )
    account = IammeterAccount(hass, entry, client, storage)
    names: dict[str, str] = entry.data.get(CONF_METER_NAMES, {})
    coordinators = {
        sn: IammeterMeterCoordinator(
            hass, entry, account, storage, sn, names.get(sn, sn)
        )
        for sn in entry.options.get(CONF_METERS, [])
    }
    for coordinator in coordinators.values():
        await coordinator.async_config_entry_first_refresh()
    analytics = {
        sn: IammeterAnalyticsCoordinator(hass, entry, account, storage, sn)
        for sn in coordinators
    }
    entry.runtime_data = IammeterRuntimeData(account, coordinators, analytics)
    _remove_stale_devices(hass, entry)
    for sn in set(entry.data.get(CONF_KNOWN_METERS, [])) - set(coordinators):
        if sn in storage.meters:  # removed again: its "added" notice goes too
            async_check_meter_added(hass, storage.meters[sn], sn, configured=False)
    for daily in analytics.values():
        daily.prime()  # the stored analyses, shown at once
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    async_start_backfill(hass, entry)  # fills gaps in the background
    IammeterMeterWatch(hass, entry, account, storage).async_start()
    for daily in analytics.values():
        # Fetching (when due) must not delay setup.
        entry.async_create_background_task(
            hass, daily.async_refresh(), f"{daily.name} first refresh"
        )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: IammeterConfigEntry) -> bool:
    """Unload the entry; the coordinators stop with it."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IammeterConfigEntry, device: DeviceEntry
) -> bool:
    """Allow removing a device only when its meter is no longer configured."""
    keep = {*entry.options.get(CONF_METERS, []), account_identifier(entry)}
    return not any(
        domain == DOMAIN and identifier in keep
        for domain, identifier in device.identifiers
    )


def _remove_stale_devices(hass: HomeAssistant, entry: IammeterConfigEntry) -> None:
    """Devices of meters that were removed from the options go with them."""
    registry = dr.async_get(hass)
    keep = {*entry.options.get(CONF_METERS, []), account_identifier(entry)}
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        sns = {i[1] for i in device.identifiers if i[0] == DOMAIN}
        if sns and not sns & keep:
            registry.async_remove_device(device.id)
