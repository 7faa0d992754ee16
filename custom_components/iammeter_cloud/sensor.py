"""Sensors: per-phase and total power, energy and quality of supply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .analytics import AVAILABILITY_DAYS, AnalyticsData, IammeterAnalyticsCoordinator
from .api import PhaseValues
from .const import DOMAIN, PHASES
from .coordinator import (
    LATEST,
    IammeterConfigEntry,
    IammeterMeterCoordinator,
    MeterData,
)
from .entity import IammeterEntity, account_device_info
from .meters import signal_new_meter

PARALLEL_UPDATES = 0
SCAN_INTERVAL = timedelta(minutes=1)  # only the logins counter polls
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

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
        result: float | None = None if net is None else getattr(net, attr)
        return result  # None: unknown (a `null` the cloud sent)

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
            entity_registry_enabled_default=False,  # rarely used: power says more
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
    value_fn=lambda data: data.time,
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
        # The Energy dashboard takes the totals; the phases are for detail.
        result += _energies(f"{phase}_", phase, phase.upper(), enabled=False)
    if data.reading.net is not None:
        result += [NET_POWER, *_energies("net_", "net", None, enabled=False)]
    return result


@dataclass(frozen=True, kw_only=True)
class IammeterAnalyticsSensorEntityDescription(SensorEntityDescription):
    """How an analytics sensor reads its value."""

    value_fn: Callable[[AnalyticsData], float | None]
    period_days: int = 1


def _power(attr: str) -> Callable[[AnalyticsData], float | None]:
    return lambda data: None if data.power is None else getattr(data.power, attr)


ANALYTICS: tuple[IammeterAnalyticsSensorEntityDescription, ...] = (
    IammeterAnalyticsSensorEntityDescription(
        key="power_average",
        translation_key="power_average",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_power("average"),
    ),
    IammeterAnalyticsSensorEntityDescription(
        key="power_daytime_average",
        translation_key="power_daytime_average",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_power("daytime_average"),
    ),
    IammeterAnalyticsSensorEntityDescription(
        key="power_minimum",
        translation_key="power_minimum",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_power("minimum"),
    ),
    IammeterAnalyticsSensorEntityDescription(
        key="power_maximum",
        translation_key="power_maximum",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_power("maximum"),
    ),
    IammeterAnalyticsSensorEntityDescription(
        key="offline_minutes",
        translation_key="offline_minutes",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.offline_minutes,
    ),
    IammeterAnalyticsSensorEntityDescription(
        key="cloud_availability",
        translation_key="cloud_availability",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: (
            None if data.offline is None else data.offline.availability
        ),
        period_days=AVAILABILITY_DAYS,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IammeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of every meter of the entry, and the account's; later
    those of each meter added to the account."""
    runtime = entry.runtime_data
    entities = [
        entity for sn in runtime.coordinators for entity in _meter_sensors(entry, sn)
    ]
    entities.append(IammeterLoginsSensor(entry))
    async_add_entities(entities)

    @callback
    def add_meter(sn: str) -> None:
        async_add_entities(_meter_sensors(entry, sn))

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_meter(entry), add_meter)
    )


def _meter_sensors(entry: IammeterConfigEntry, sn: str) -> list[SensorEntity]:
    """The sensors of one meter: its readings, analyses and API usage."""
    coordinator = entry.runtime_data.coordinators[sn]
    analytics = entry.runtime_data.analytics[sn]
    return [
        *(IammeterSensor(coordinator, d) for d in descriptions(coordinator.data)),
        *(IammeterAnalyticsSensor(analytics, d) for d in ANALYTICS),
        IammeterApiCallsSensor(coordinator),
    ]


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


class IammeterAnalyticsSensor(
    CoordinatorEntity[IammeterAnalyticsCoordinator], SensorEntity
):
    """A daily analysis value of one meter (diagnostic)."""

    _attr_has_entity_name = True
    entity_description: IammeterAnalyticsSensorEntityDescription

    def __init__(
        self,
        coordinator: IammeterAnalyticsCoordinator,
        description: IammeterAnalyticsSensorEntityDescription,
    ) -> None:
        """Attach to the meter's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.sn}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, coordinator.sn)})

    @property
    def native_value(self) -> float | None:
        """The value for the newest analysed period."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def available(self) -> bool:
        """Unavailable until an analysis has arrived."""
        return self.native_value is not None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The period the value covers (and the outages, for availability)."""
        data = self.coordinator.data
        days = self.entity_description.period_days
        first = data.day - timedelta(days=days - 1)
        attributes: dict[str, Any] = {
            "period_start": first.isoformat(),
            "period_end": data.day.isoformat(),
        }
        if self.entity_description.key == "cloud_availability":
            attributes["outages"] = data.outages()
        return attributes


class IammeterApiCallsSensor(IammeterEntity, SensorEntity):
    """Latest-reading calls of a meter in the sliding hour (diagnostic)."""

    _attr_translation_key = "api_calls_last_hour"
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_entity_registry_enabled_default = False
    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, coordinator: IammeterMeterCoordinator) -> None:
        """One per meter."""
        super().__init__(coordinator, "api_calls_last_hour")
        budget = coordinator.storage.ledger.budgets[LATEST][0]
        self._attr_extra_state_attributes = {"budget": budget.limit}

    @property
    def native_value(self) -> int:
        """Calls recorded in the last hour."""
        ledger = self.coordinator.storage.ledger
        return ledger.used(LATEST, self.coordinator.sn, dt_util.utcnow(), HOUR)

    @property
    def available(self) -> bool:
        """Counting works whether or not the cloud answers."""
        return True


class IammeterLoginsSensor(SensorEntity):
    """Logins to the account's API server in the sliding day (diagnostic)."""

    _attr_has_entity_name = True
    _attr_translation_key = "logins_last_day"
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_entity_registry_enabled_default = False
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_should_poll = True

    def __init__(self, entry: IammeterConfigEntry) -> None:
        """One per account, on the account's service device."""
        self._account = entry.runtime_data.account
        self._attr_unique_id = f"{entry.unique_id}_logins_last_day"
        self._attr_device_info = account_device_info(entry)
        budgets = self._account.client.ledger.budgets["login"]
        self._attr_extra_state_attributes = {
            "budget_per_hour": budgets[0].limit,
            "budget_per_day": budgets[1].limit,
        }

    @property
    def native_value(self) -> int:
        """Logins recorded in the last 24 hours."""
        client = self._account.client
        return client.ledger.used("login", client.host, dt_util.utcnow(), DAY)
