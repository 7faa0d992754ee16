"""Sensors: per-phase and total power, energy and quality of supply."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

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
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .api import PhaseValues
from .const import PHASES, Role
from .coordinator import ApiUsage, IammeterConfigEntry, IammeterCoordinator
from .data import (
    AVAILABILITY_DAYS,
    IMPORT_STATES,
    AnalyticsData,
    HistoryImport,
    MeterData,
)
from .energy import (
    KINDS,
    NET,
    ROLE_ENERGY,
    ROLE_POWER,
    TOTAL,
    counter_key,
    role_sensor_key,
    sensor_key,
)
from .entity import IammeterEntity
from .meters import signal_new_meter

PARALLEL_UPDATES = 0

type Value = float | int | str | datetime | None
type ValueFn = Callable[[MeterData], Value]


@dataclass(frozen=True, kw_only=True)
class IammeterSensorEntityDescription[D](SensorEntityDescription):
    """How a sensor reads its value from its coordinator's data `D`."""

    value_fn: Callable[[D], Value]
    available_fn: Callable[[D], bool] | None = None
    """None: available while there is a value (energy keeps its last one)."""
    live: bool = False
    """Also unavailable while the updates fail (live values)."""
    attributes_fn: Callable[[D], dict[str, Any]] | None = None
    exists_fn: Callable[[D], bool] = lambda _: True
    """Whether a meter has it (by its kind: single-, three-phase, net row)."""
    phase: str | None = None
    """`A`, `B` or `C` for per-phase sensors of three-phase meters."""


type MeterSensor = IammeterSensorEntityDescription[MeterData]
type AnalyticsSensor = IammeterSensorEntityDescription[AnalyticsData]
type UsageSensor = IammeterSensorEntityDescription[ApiUsage]
type HistorySensor = IammeterSensorEntityDescription[HistoryImport]


def _fresh(data: MeterData) -> bool:
    return data.is_fresh(dt_util.utcnow())


def _single(data: MeterData) -> bool:
    return len(data.reading.phases) == 1


def _three(data: MeterData) -> bool:
    return len(data.reading.phases) == 3


def _with_net(data: MeterData) -> bool:
    return _three(data) and data.reading.net is not None


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
    key: str, index: int, phase: str | None, exists: Callable[[MeterData], bool]
) -> list[MeterSensor]:
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
            available_fn=_fresh,
            live=True,
            exists_fn=exists,
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
            available_fn=_fresh,
            live=True,
            exists_fn=exists,
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
            available_fn=_fresh,
            live=True,
            exists_fn=exists,
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
            available_fn=_fresh,
            live=True,
            exists_fn=exists,
            phase=phase,
        ),
    ]


def _energies(
    row: str | None,
    shown: str,
    exists: Callable[[MeterData], bool],
    *,
    phase: str | None = None,
    enabled: bool = True,
) -> list[MeterSensor]:
    """Import and export energy: the published counters `{shown}_import/export`."""
    suffix = "phase_" if phase else ""
    net = "net_" if shown == NET else ""
    return [
        IammeterSensorEntityDescription(
            key=sensor_key(row, kind),
            translation_key=f"{suffix}{net}energy_{kind}",
            device_class=SensorDeviceClass.ENERGY,
            native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
            state_class=SensorStateClass.TOTAL_INCREASING,
            suggested_display_precision=2,
            entity_registry_enabled_default=enabled,
            value_fn=_energy(counter_key(shown, kind)),
            exists_fn=exists,
            phase=phase,
        )
        for kind in KINDS
    ]


LAST_READING: MeterSensor = IammeterSensorEntityDescription(
    key="last_reading",
    translation_key="last_reading",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    value_fn=lambda data: data.time,
)

NET_POWER: MeterSensor = IammeterSensorEntityDescription(
    key="net_power",
    translation_key="net_power",
    device_class=SensorDeviceClass.POWER,
    native_unit_of_measurement=UnitOfPower.WATT,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=0,
    entity_registry_enabled_default=False,
    value_fn=_net("power"),
    available_fn=_fresh,
    live=True,
    exists_fn=_with_net,
)

TOTAL_POWER: MeterSensor = IammeterSensorEntityDescription(
    key="power",
    translation_key="power",
    device_class=SensorDeviceClass.POWER,
    native_unit_of_measurement=UnitOfPower.WATT,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=0,
    value_fn=lambda data: data.power,
    available_fn=_fresh,
    live=True,
    exists_fn=_three,
)


def _has_role(index: int, role: Role, phases: int) -> Callable[[MeterData], bool]:
    row = PHASES[index]
    return lambda data: len(data.reading.phases) == phases and data.role(row) is role


def _signed(index: int, sign: float) -> ValueFn:
    def value(data: MeterData) -> float | None:
        rows = data.reading.phases
        watts = rows[index].power if index < len(rows) else None
        return None if watts is None else sign * watts + 0.0  # no -0.0

    return value


def _role_sensors(index: int, phases: int) -> list[MeterSensor]:
    """The sensors the roles add to phase `index` of a `phases`-phase meter."""
    row = PHASES[index]
    phase = row.upper() if phases == 3 else None
    prefix = "phase_" if phase else ""
    found: list[MeterSensor] = []
    for role, energies in ROLE_ENERGY.items():
        exists = _has_role(index, role, phases)
        found += [
            IammeterSensorEntityDescription(
                key=role_sensor_key(row, energy.key, phases),
                translation_key=f"{prefix}{energy.key}",
                device_class=SensorDeviceClass.ENERGY,
                native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
                state_class=SensorStateClass.TOTAL_INCREASING,
                suggested_display_precision=2,
                value_fn=_energy(f"{row}_{energy.key}"),
                exists_fn=exists,
                phase=phase,
            )
            for energy in energies
        ]
        key, sign = ROLE_POWER[role]
        found.append(
            IammeterSensorEntityDescription(
                key=role_sensor_key(row, key, phases),
                translation_key=f"{prefix}{key}",
                device_class=SensorDeviceClass.POWER,
                native_unit_of_measurement=UnitOfPower.WATT,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=0,
                value_fn=_signed(index, sign),
                available_fn=_fresh,
                live=True,
                exists_fn=exists,
                phase=phase,
            )
        )
    return found


ROLE_SENSORS: tuple[MeterSensor, ...] = (
    *_role_sensors(0, 1),
    *(d for index in range(len(PHASES)) for d in _role_sensors(index, 3)),
)
"""What a phase's role (solar, battery, device) adds to its own sensors."""

METER_SENSORS: tuple[MeterSensor, ...] = (
    *_quality("", 0, None, _single),
    *_energies(None, PHASES[0], _single),
    TOTAL_POWER,
    *_energies(None, TOTAL, _three),
    LAST_READING,
    *(
        description
        for index, phase in enumerate(PHASES)
        for description in (
            *_quality(f"{phase}_", index, phase.upper(), _three),
            # The Energy dashboard takes the totals; the phases are for detail.
            *_energies(phase, phase, _three, phase=phase.upper(), enabled=False),
        )
    ),
    NET_POWER,
    *_energies(NET, NET, _with_net, enabled=False),
    *ROLE_SENSORS,
)
"""The sensors of a meter's readings (those its kind has: `exists_fn`)."""


def descriptions(data: MeterData) -> list[MeterSensor]:
    """The sensors of a meter, by its kind (single- or three-phase)."""
    return [d for d in METER_SENSORS if d.exists_fn(data)]


def _power(attr: str) -> Callable[[AnalyticsData], float | None]:
    return lambda data: None if data.power is None else getattr(data.power, attr)


def _period(days: int) -> Callable[[AnalyticsData], dict[str, Any]]:
    """The period the value covers."""

    def attributes(data: AnalyticsData) -> dict[str, Any]:
        first = data.day - timedelta(days=days - 1)
        return {"period_start": first.isoformat(), "period_end": data.day.isoformat()}

    return attributes


def _availability_period(data: AnalyticsData) -> dict[str, Any]:
    """The period of the availability, and its outages."""
    return _period(AVAILABILITY_DAYS)(data) | {"outages": data.outages()}


# Yesterday's power statistics have no device class: a selector can tell them from
# the live power sensors only by it (the blueprint's power sensor filter on every
# supported release: integration, domain, device class), and an automation on
# yesterday's average would never fire when it means to.
ANALYTICS_SENSORS: tuple[AnalyticsSensor, ...] = (
    IammeterSensorEntityDescription(
        key="power_average",
        translation_key="power_average",
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_power("average"),
        attributes_fn=_period(1),
    ),
    IammeterSensorEntityDescription(
        key="power_daytime_average",
        translation_key="power_daytime_average",
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_power("daytime_average"),
        attributes_fn=_period(1),
    ),
    IammeterSensorEntityDescription(
        key="power_minimum",
        translation_key="power_minimum",
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_power("minimum"),
        attributes_fn=_period(1),
    ),
    IammeterSensorEntityDescription(
        key="power_maximum",
        translation_key="power_maximum",
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_power("maximum"),
        attributes_fn=_period(1),
    ),
    IammeterSensorEntityDescription(
        key="offline_minutes",
        translation_key="offline_minutes",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.offline_minutes,
        attributes_fn=_period(1),
    ),
    IammeterSensorEntityDescription(
        key="cloud_availability",
        translation_key="cloud_availability",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: (
            None if data.offline is None else data.offline.availability
        ),
        attributes_fn=_availability_period,
    ),
)

USAGE_SENSORS: tuple[UsageSensor, ...] = (
    IammeterSensorEntityDescription(
        key="api_calls_last_hour",
        translation_key="api_calls_last_hour",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda usage: usage.used,
        attributes_fn=lambda usage: {"budget": usage.limits[0]},
    ),
)
"""A meter's latest-reading calls in the sliding hour."""

HISTORY_SENSORS: tuple[HistorySensor, ...] = (
    IammeterSensorEntityDescription(
        key="history_import",
        translation_key="history_import",
        device_class=SensorDeviceClass.ENUM,
        options=list(IMPORT_STATES),
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda status: status.state,
        available_fn=lambda _: True,
        attributes_fn=lambda status: status.attributes(),
    ),
)
"""The import of the cloud's history on the meter's first setup: importing,
waiting (for the quota), imported (attribute `days`), off or not needed."""

ACCOUNT_SENSORS: tuple[UsageSensor, ...] = (
    IammeterSensorEntityDescription(
        key="logins_last_day",
        translation_key="logins_last_day",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda usage: usage.used,
        attributes_fn=lambda usage: {
            "budget_per_hour": usage.limits[0],
            "budget_per_day": usage.limits[1],
        },
    ),
)
"""The account's logins (to its API server) in the sliding day."""


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
    entities += _sensors(runtime.usage, ACCOUNT_SENSORS)
    async_add_entities(entities)

    @callback
    def add_meter(sn: str) -> None:
        async_add_entities(_meter_sensors(entry, sn))

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_meter(entry), add_meter)
    )


def _meter_sensors(entry: IammeterConfigEntry, sn: str) -> list[SensorEntity]:
    """The sensors of one meter: its readings, analyses and API usage."""
    runtime = entry.runtime_data
    meter = runtime.coordinators[sn]
    return [
        *_sensors(meter, descriptions(meter.data)),
        *_sensors(runtime.analytics[sn], ANALYTICS_SENSORS),
        *_sensors(runtime.calls[sn], USAGE_SENSORS),
        *_sensors(runtime.history[sn], HISTORY_SENSORS),
    ]


def _sensors[D](
    coordinator: IammeterCoordinator,
    descriptions: Iterable[IammeterSensorEntityDescription[D]],
) -> list[SensorEntity]:
    return [IammeterSensor(coordinator, d) for d in descriptions]


class IammeterSensor[D](IammeterEntity[IammeterCoordinator], SensorEntity):
    """A sensor: what its description reads from its coordinator's data."""

    entity_description: IammeterSensorEntityDescription[D]

    def __init__(
        self,
        coordinator: IammeterCoordinator,
        description: IammeterSensorEntityDescription[D],
    ) -> None:
        """Set up from its description."""
        super().__init__(coordinator, description)
        if description.phase:
            self._attr_translation_placeholders = {"phase": description.phase}

    @property
    def _data(self) -> D:
        # The description was chosen for this coordinator (`_sensors`).
        return cast("D", self.coordinator.data)

    @property
    def available(self) -> bool:
        """Live values need working updates and a fresh reading; the others
        a value (energy keeps its last accepted one)."""
        description = self.entity_description
        if description.live and not super().available:
            return False
        if description.available_fn is None:
            return self.native_value is not None
        return description.available_fn(self._data)

    @property
    def native_value(self) -> Value:
        """The value from the newest data."""
        return self.entity_description.value_fn(self._data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """What the description adds (the period of an analysis, budgets)."""
        attributes_fn = self.entity_description.attributes_fn
        return None if attributes_fn is None else attributes_fn(self._data)
