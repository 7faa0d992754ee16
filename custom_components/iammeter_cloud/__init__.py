"""The IAMMETER Cloud integration: IAMMETER energy meters read through the cloud."""

from __future__ import annotations

from homeassistant.const import CONF_TOKEN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.typing import ConfigType

from .account import IammeterAccount
from .api import DEFAULT_API_URL
from .backfill import async_start_backfill
from .const import (
    CONF_API_URL,
    CONF_ENERGY_DASHBOARD,
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    DOMAIN,
    LOGGER,
)
from .coordinator import (
    IammeterConfigEntry,
    IammeterRuntimeData,
    IammeterUsageCoordinator,
    MeterCoordinators,
)
from .energy import roles_of
from .energy_dashboard import Wiring, async_add
from .entity import account_identifier
from .helpers import async_create_client
from .issues import async_check_meter_added
from .meters import IammeterMeterWatch
from .services import async_setup_services
from .store import async_get_store

PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Load the state shared by all entries; register the actions."""
    await async_get_store(hass)
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: IammeterConfigEntry) -> bool:
    """Set up one IAMMETER account: one coordinator and device per meter."""
    store = await async_get_store(hass)
    client = await async_create_client(
        hass, entry.data.get(CONF_API_URL, DEFAULT_API_URL), entry.data.get(CONF_TOKEN)
    )
    account = IammeterAccount(hass, entry, client, store)
    runtime = IammeterRuntimeData(
        account, IammeterUsageCoordinator(hass, entry, account)
    )
    names: dict[str, str] = entry.data.get(CONF_METER_NAMES, {})
    meters = [
        MeterCoordinators.create(hass, entry, account, sn, names.get(sn, sn))
        for sn in entry.options.get(CONF_METERS, [])
    ]
    for meter in meters:
        await meter.meter.async_config_entry_first_refresh()
    await runtime.usage.async_config_entry_first_refresh()
    for meter in meters:
        runtime.add_meter(meter)
    entry.runtime_data = runtime
    _remove_stale_devices(hass, entry)
    for sn in set(entry.data.get(CONF_KNOWN_METERS, [])) - set(runtime.coordinators):
        if (saved := store.meters.get(sn)) is not None:  # removed: its notice goes
            async_check_meter_added(hass, saved, sn, configured=False)
    for meter in meters:
        await meter.async_start(entry)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if entry.options.get(CONF_ENERGY_DASHBOARD):
        await _async_energy_dashboard(hass, entry)
    async_start_backfill(hass, entry)  # fills gaps in the background
    IammeterMeterWatch(hass, entry, account).async_start()
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


async def _async_energy_dashboard(
    hass: HomeAssistant, entry: IammeterConfigEntry
) -> None:
    """The one-shot request of the flow: the meters' sensors exist now, add
    them to the Energy dashboard (never over what it has), then forget it.

    Changing the options here reloads nothing: the options flow reloads only
    when it saves changed options itself.
    """
    names: dict[str, str] = entry.data.get(CONF_METER_NAMES, {})
    wirings = [
        Wiring(
            sn,
            names.get(sn, sn),
            len(meter.data.reading.phases),
            roles_of(entry.options, sn),
        )
        for sn, meter in entry.runtime_data.coordinators.items()
    ]
    result = await async_add(hass, wirings)
    LOGGER.info(
        "Energy dashboard: added %s; kept what it had for %s; sensors missing: %s",
        ", ".join(f"{s.kind} {s.label}" for s in result.add) or "nothing",
        ", ".join(result.kept) or "nothing",
        ", ".join(f"{s.kind} {s.label}" for s in result.missing) or "none",
    )
    options = {k: v for k, v in entry.options.items() if k != CONF_ENERGY_DASHBOARD}
    hass.config_entries.async_update_entry(entry, options=options)


def _remove_stale_devices(hass: HomeAssistant, entry: IammeterConfigEntry) -> None:
    """Devices of meters that were removed from the options go with them."""
    registry = dr.async_get(hass)
    keep = {*entry.options.get(CONF_METERS, []), account_identifier(entry)}
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        sns = {i[1] for i in device.identifiers if i[0] == DOMAIN}
        if sns and not sns & keep:
            registry.async_remove_device(device.id)
