"""The one base class of the integration's entities."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import DEFAULT_API_URL
from .const import (
    ACCOUNT_DEVICE_NAME,
    CONF_API_URL,
    DOMAIN,
    MANUFACTURER,
    MODEL_SINGLE_PHASE,
    MODEL_THREE_PHASE,
)
from .coordinator import (
    IammeterConfigEntry,
    IammeterCoordinator,
    IammeterMeterCoordinator,
)


class IammeterEntity[C: IammeterCoordinator](CoordinatorEntity[C]):
    """An entity of a meter's device, or of the account's service device.

    Its unique id is `{SN}_{key}` (a meter's), or `{account}_{key}` (the
    account's), the key being its description's.
    """

    _attr_has_entity_name = True

    def __init__(self, coordinator: C, description: EntityDescription) -> None:
        """Attach to the device of the coordinator's meter (or account)."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        sn = coordinator.sn
        if sn is None:
            self._attr_unique_id = f"{entry.unique_id}_{description.key}"
            self._attr_device_info = account_device_info(entry)
            return
        self._attr_unique_id = f"{sn}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, sn)})
        if isinstance(coordinator, IammeterMeterCoordinator):
            self._attr_device_info = meter_device_info(coordinator)


def meter_device_info(coordinator: IammeterMeterCoordinator) -> DeviceInfo:
    """A meter's device."""
    three_phase = len(coordinator.data.reading.phases) == 3
    return DeviceInfo(
        identifiers={(DOMAIN, coordinator.sn)},
        serial_number=coordinator.sn,
        manufacturer=MANUFACTURER,
        model=MODEL_THREE_PHASE if three_phase else MODEL_SINGLE_PHASE,
        name=coordinator.meter_name,
        configuration_url=coordinator.config_entry.data.get(
            CONF_API_URL, DEFAULT_API_URL
        ),
    )


def account_device_info(entry: IammeterConfigEntry) -> DeviceInfo:
    """The account's service device (for account-wide entities).

    Named ACCOUNT_DEVICE_NAME, never after the entry's title (the user's e-mail
    address): the device's name starts its entities' ids.
    """
    return DeviceInfo(
        identifiers={(DOMAIN, account_identifier(entry))},
        entry_type=DeviceEntryType.SERVICE,
        manufacturer=MANUFACTURER,
        model="Cloud account",
        name=ACCOUNT_DEVICE_NAME,
        configuration_url=entry.data.get(CONF_API_URL, DEFAULT_API_URL),
    )


def account_identifier(entry: IammeterConfigEntry) -> str:
    """The device identifier of the account."""
    return f"account_{entry.unique_id}"
