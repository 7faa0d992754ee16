"""Binary sensors: whether a meter still reports to the cloud."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
from .data import MeterData
from .entity import IammeterEntity
from .meters import signal_new_meter

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class IammeterBinarySensorEntityDescription(BinarySensorEntityDescription):
    """How a binary sensor reads its state from a meter's data."""

    is_on_fn: Callable[[MeterData], bool]


CLOUD_CONNECTION = IammeterBinarySensorEntityDescription(
    key="cloud_connection",
    translation_key="cloud_connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
    # On while the meter has reported to the cloud within the last 15 minutes.
    is_on_fn=lambda data: data.is_fresh(dt_util.utcnow()),
)

BINARY_SENSORS: tuple[IammeterBinarySensorEntityDescription, ...] = (CLOUD_CONNECTION,)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IammeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors of every meter (and of each meter added later)."""
    coordinators = entry.runtime_data.coordinators

    def meter_sensors(
        coordinator: IammeterMeterCoordinator,
    ) -> list[IammeterBinarySensor]:
        return [IammeterBinarySensor(coordinator, d) for d in BINARY_SENSORS]

    async_add_entities(e for c in coordinators.values() for e in meter_sensors(c))

    @callback
    def add_meter(sn: str) -> None:
        async_add_entities(meter_sensors(coordinators[sn]))

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_meter(entry), add_meter)
    )


class IammeterBinarySensor(
    IammeterEntity[IammeterMeterCoordinator], BinarySensorEntity
):
    """A binary sensor of one meter."""

    entity_description: IammeterBinarySensorEntityDescription

    @property
    def is_on(self) -> bool:
        """The state from the newest data."""
        return self.entity_description.is_on_fn(self.coordinator.data)
