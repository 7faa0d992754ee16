"""Sensors: per-phase and total power, energy and quality of supply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .api import PhaseValues
from .const import PHASES
from .coordinator import IammeterConfigEntry, IammeterMeterCoordinator, MeterData
from .entity import IammeterEntity

PARALLEL_UPDATES = 0

type ValueFn = Callable[[MeterData], float | datetime | None]


@dataclass(frozen=True, kw_only=True)
class IammeterSensorEntityDescription(SensorEntityDescription):
    """How a sensor reads its value from a meter's data."""

    value_fn: ValueFn
    live: bool = True
    """Live values turn unavailable when the newest reading is stale."""
    phase: str | None = None
    """`A`, `B` or `C` for per-phase sensors of three-phase meters."""


def _row(index: int, attr: str) -> ValueFn:
    def value(data: MeterData) -> float | None:
        rows = data.reading.phases
        if index >= len(rows):
            return None
        result: float | None = getattr(rows[index], attr)
        return result

    return value


def _net(attr: str) -> ValueFn:
    def value(data: MeterData) -> float | None:
        net: PhaseValues | None = data.reading.net
        return None if net is None else float(getattr(net, attr))

    return value


def _energy(key: str) -> ValueFn:
    return lambda data: data.energy.get(key)


def _quality(
    key: str, index: int, phase: str | None
) -> list[IammeterSensorEntityDescription]:
    """Voltage, current, power and power factor of row `index`."""
    suffix = "phase_" if phase else ""
    return [
        IammeterSensorEntityDescription(
            key=f"{key}voltage",
            translation_key=f"{suffix}voltage",
            device_class=SensorDeviceClass.VOLTAGE,
            native_unit_of_measurement=UnitOfElectricPotential.VOLT,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=1,
            value_fn=_row(index, "voltage"),
            phase=phase,
        ),
        IammeterSensorEntityDescription(
            key=f"{key}current",
            translation_key=f"{suffix}current",
            device_class=SensorDeviceClass.CURRENT,
            native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=2,
            value_fn=_row(index, "current"),
            phase=phase,
        ),
        IammeterSensorEntityDescription(
            key=f"{key}power",
            translation_key=f"{suffix}power",
            device_class=SensorDeviceClass.POWER,
            native_unit_of_measurement=UnitOfPower.WATT,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=0,
            value_fn=_row(index, "power"),
            phase=phase,
        ),
        IammeterSensorEntityDescription(
            key=f"{key}power_factor",
            translation_key=f"{suffix}power_factor",
            device_class=SensorDeviceClass.POWER_FACTOR,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=2,
            value_fn=_row(index, "power_factor"),
            phase=phase,
        ),
    ]


def _energies(
    key: str, counter: str, phase: str | None, *, enabled: bool = True
) -> list[IammeterSensorEntityDescription]:
    """Import and export energy from the guarded counters `{counter}_import/export`."""
    suffix = "phase_" if phase else ""
    net = "net_" if counter == "net" else ""
    return [
        IammeterSensorEntityDescription(
            key=f"{key}energy_{kind}",
            translation_key=f"{suffix}{net}energy_{kind}",
            device_class=SensorDeviceClass.ENERGY,
            native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
            state_class=SensorStateClass.TOTAL_INCREASING,
            suggested_display_precision=2,
            entity_registry_enabled_default=enabled,
            value_fn=_energy(f"{counter}_{kind}"),
            live=False,
            phase=phase,
        )
        for kind in ("import", "export")
    ]


LAST_READING = IammeterSensorEntityDescription(
    key="last_reading",
    translation_key="last_reading",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    value_fn=lambda data: data.reading.time,
    live=False,
)

NET_POWER = IammeterSensorEntityDescription(
    key="net_power",
    translation_key="net_power",
    device_class=SensorDeviceClass.POWER,
    native_unit_of_measurement=UnitOfPower.WATT,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=0,
    entity_registry_enabled_default=False,
    value_fn=_net("power"),
)

TOTAL_POWER = IammeterSensorEntityDescription(
    key="power",
    translation_key="power",
    device_class=SensorDeviceClass.POWER,
    native_unit_of_measurement=UnitOfPower.WATT,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=0,
    value_fn=lambda data: data.reading.power,
)


def descriptions(data: MeterData) -> list[IammeterSensorEntityDescription]:
    """The sensors of a meter, by its kind (single- or three-phase)."""
    if len(data.reading.phases) == 1:
        return [*_quality("", 0, None), *_energies("", "a", None), LAST_READING]
    result = [TOTAL_POWER, *_energies("", "total", None), LAST_READING]
    for index, phase in enumerate(PHASES):
        result += _quality(f"{phase}_", index, phase.upper())
        result += _energies(f"{phase}_", phase, phase.upper())
    if data.reading.net is not None:
        result += [NET_POWER, *_energies("net_", "net", None, enabled=False)]
    return result


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IammeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of every meter of the entry."""
    async_add_entities(
        IammeterSensor(coordinator, description)
        for coordinator in entry.runtime_data.coordinators.values()
        for description in descriptions(coordinator.data)
    )


class IammeterSensor(IammeterEntity, SensorEntity):
    """A sensor of one meter."""

    entity_description: IammeterSensorEntityDescription

    def __init__(
        self,
        coordinator: IammeterMeterCoordinator,
        description: IammeterSensorEntityDescription,
    ) -> None:
        """Set up from its description."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        if description.phase:
            self._attr_translation_placeholders = {"phase": description.phase}

    @property
    def available(self) -> bool:
        """Live values need a fresh reading; energy keeps its last accepted value."""
        if not self.entity_description.live:
            return self.native_value is not None
        return super().available and self.coordinator.data.is_fresh(dt_util.utcnow())

    @property
    def native_value(self) -> float | datetime | None:
        """The value from the newest data."""
        return self.entity_description.value_fn(self.coordinator.data)
