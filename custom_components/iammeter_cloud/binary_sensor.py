"""Binary sensors: whether a meter still reports to the cloud."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import IammeterConfigEntry, IammeterMeterCoordinator
from .entity import IammeterEntity
from .meters import signal_new_meter

PARALLEL_UPDATES = 0

CLOUD_CONNECTION = BinarySensorEntityDescription(
    key="cloud_connection",
    translation_key="cloud_connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IammeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one connectivity sensor per meter (and per meter added later)."""
    coordinators = entry.runtime_data.coordinators
    async_add_entities(IammeterCloudConnection(c) for c in coordinators.values())

    @callback
    def add_meter(sn: str) -> None:
        async_add_entities([IammeterCloudConnection(coordinators[sn])])

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_meter(entry), add_meter)
    )


class IammeterCloudConnection(IammeterEntity, BinarySensorEntity):
    """On while the meter has reported to the cloud within the last 15 minutes."""

    entity_description = CLOUD_CONNECTION

    def __init__(self, coordinator: IammeterMeterCoordinator) -> None:
        """One per meter."""
        super().__init__(coordinator, CLOUD_CONNECTION.key)

    @property
    def is_on(self) -> bool:
        """Whether the newest reading is recent."""
        return self.coordinator.data.is_fresh(dt_util.utcnow())
