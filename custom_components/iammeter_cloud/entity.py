"""The base class of the integration's entities."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import (
    CONF_API_URL,
    DEFAULT_API_URL,
    DOMAIN,
    MANUFACTURER,
    MODEL_SINGLE_PHASE,
    MODEL_THREE_PHASE,
)
from .coordinator import IammeterConfigEntry, IammeterMeterCoordinator


class IammeterEntity(CoordinatorEntity[IammeterMeterCoordinator]):
    """An entity of one meter, which is one device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: IammeterMeterCoordinator, key: str) -> None:
        """`key` makes the unique id: `{SN}_{key}`."""
        super().__init__(coordinator)
        sn = coordinator.sn
        self._attr_unique_id = f"{sn}_{key}"
        three_phase = len(coordinator.data.reading.phases) == 3
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, sn)},
            serial_number=sn,
            manufacturer=MANUFACTURER,
            model=MODEL_THREE_PHASE if three_phase else MODEL_SINGLE_PHASE,
            name=coordinator.meter_name,
            configuration_url=coordinator.config_entry.data.get(
                CONF_API_URL, DEFAULT_API_URL
            ),
        )


def account_device_info(entry: IammeterConfigEntry) -> DeviceInfo:
    """The account's service device (for account-wide entities)."""
    return DeviceInfo(
        identifiers={(DOMAIN, account_identifier(entry))},
        entry_type=DeviceEntryType.SERVICE,
        manufacturer=MANUFACTURER,
        model="Cloud account",
        name=f"IAMMETER {entry.title}",
        configuration_url=entry.data.get(CONF_API_URL, DEFAULT_API_URL),
    )


def account_identifier(entry: IammeterConfigEntry) -> str:
    """The device identifier of the account."""
    return f"account_{entry.unique_id}"
