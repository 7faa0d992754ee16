"""The Energy dashboard in one step: a meter's grid, solar, battery and devices.

What to add follows the phase roles: the grid from the totals (which count the
grid phases), solar, battery and devices from their roles' sensors. A kind the
dashboard has already (a grid, a solar panel, a battery) is left alone: a user's
choice is never overwritten; a device is added when it is not listed yet.

The preferences' format differs between releases (a grid of flow lists up to
2026.1, one grid connection per meter after it; power where the release has
it): it is read from the running release's own types, not from its version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from homeassistant.components.energy import data as energy_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN, PHASES, Role
from .energy import role_sensor_key

GRID: Final = "grid"
SOLAR: Final = "solar"
BATTERY: Final = "battery"
DEVICE: Final = "device"
KINDS: Final = (GRID, SOLAR, BATTERY, DEVICE)


@dataclass(frozen=True, slots=True)
class Wiring:
    """One meter: its name, its number of phases and each phase's role."""

    sn: str
    name: str
    phases: int
    roles: Mapping[str, Role]


@dataclass(frozen=True, slots=True)
class Source:
    """A source (or device) one meter gives the dashboard, by unique ids."""

    kind: str
    meter: str
    """The meter's name."""
    phase: str | None
    """`B` for a phase of a three-phase meter; None for the meter's totals or a
    single-phase meter."""
    energy: str
    """Grid: import; solar: production; battery: discharge (out of it);
    device: consumption."""
    energy_to: str | None
    """Grid: export; battery: charge (into it)."""
    power: str

    @property
    def label(self) -> str:
        """`House`, `House phase B`."""
        return self.meter if self.phase is None else f"{self.meter} {self.phase}"


def _unique_ids(meter: Wiring, row: str) -> Callable[[str], str]:
    """The unique id of a role's sensor of phase `row`, by its key."""
    return lambda key: f"{meter.sn}_{role_sensor_key(row, key, meter.phases)}"


def wanted(meters: Iterable[Wiring]) -> list[Source]:
    """Everything the meters' roles give the dashboard."""
    found: list[Source] = []
    for meter in meters:
        rows = PHASES[: meter.phases]
        roles = {row: meter.roles.get(row, Role.GRID) for row in rows}
        if Role.GRID in roles.values():
            sn = meter.sn
            found.append(
                Source(
                    GRID,
                    meter.name,
                    None,
                    f"{sn}_energy_import",
                    f"{sn}_energy_export",
                    f"{sn}_power",
                )
            )
        for row, role in roles.items():
            uid = _unique_ids(meter, row)
            phase = row.upper() if meter.phases > 1 else None
            if role is Role.SOLAR:
                found.append(
                    Source(
                        SOLAR,
                        meter.name,
                        phase,
                        uid("solar_energy"),
                        None,
                        uid("solar_power"),
                    )
                )
            elif role is Role.BATTERY:
                found.append(
                    Source(
                        BATTERY,
                        meter.name,
                        phase,
                        uid("battery_discharge_energy"),
                        uid("battery_charge_energy"),
                        uid("battery_power"),
                    )
                )
            elif role is Role.DEVICE:
                found.append(
                    Source(
                        DEVICE,
                        meter.name,
                        phase,
                        uid("device_energy"),
                        None,
                        uid("device_power"),
                    )
                )
    return found


@dataclass(slots=True)
class Plan:
    """What the dashboard gets, and what it keeps."""

    add: list[Source] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)
    """Kinds the dashboard has already (grid, solar, battery), left alone: the
    statistics it has for them."""
    listed: list[Source] = field(default_factory=list)
    """Devices the dashboard lists already."""
    missing: list[Source] = field(default_factory=list)
    """Sources whose sensors do not exist (yet): not added."""

    def by_kind(self, kind: str) -> list[Source]:
        """The sources of one kind to add."""
        return [s for s in self.add if s.kind == kind]


type EntityIds = Callable[[str], str | None]


def _configured(prefs: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The kinds of energy source the preferences have, with their energy
    statistics (a grid with no flow in the format of flow lists is none)."""
    found: dict[str, list[str]] = {}
    for source in (prefs or {}).get("energy_sources", []):
        kind = source.get("type")
        if kind == GRID and "flow_from" in source:
            flows = [*source.get("flow_from", []), *source.get("flow_to", [])]
            stats = [
                f.get("stat_energy_from") or f.get("stat_energy_to") for f in flows
            ]
            if flows or source.get("power"):
                found.setdefault(GRID, []).extend(s for s in stats if s)
        elif kind in (GRID, SOLAR, BATTERY):
            stats = [source.get("stat_energy_from"), source.get("stat_energy_to")]
            found.setdefault(kind, []).extend(s for s in stats if s)
    return found


def plan(
    prefs: Mapping[str, Any] | None, sources: Iterable[Source], entity_id: EntityIds
) -> Plan:
    """What to add to the preferences `prefs` (None: never saved)."""
    result = Plan()
    configured = _configured(prefs)
    listed = {
        d.get("stat_consumption") for d in (prefs or {}).get("device_consumption", [])
    }
    kinds = set()
    for source in sources:
        kinds.add(source.kind)
        if source.kind in configured:
            continue
        if source.kind == DEVICE and entity_id(source.energy) in listed - {None}:
            result.listed.append(source)
            continue
        result.add.append(source)
    result.kept = {
        kind: configured[kind] for kind in KINDS if kind in kinds and kind in configured
    }
    return result


def registry_ids(hass: HomeAssistant) -> EntityIds:
    """Our sensors' entity ids, by unique id."""
    registry = er.async_get(hass)
    return lambda unique_id: registry.async_get_entity_id("sensor", DOMAIN, unique_id)


async def async_plan(hass: HomeAssistant, meters: Iterable[Wiring]) -> Plan:
    """What adding `meters` would add to the dashboard now."""
    manager = await energy_data.async_get_manager(hass)
    return plan(
        cast("Mapping[str, Any] | None", manager.data),
        wanted(meters),
        registry_ids(hass),
    )


async def async_add(hass: HomeAssistant, meters: Iterable[Wiring]) -> Plan:
    """Add `meters` to the dashboard; what was added (sensors that do not exist
    are left out: `missing`)."""
    manager = await energy_data.async_get_manager(hass)
    prefs = cast("Mapping[str, Any] | None", manager.data)
    entity_id = registry_ids(hass)
    result = plan(prefs, wanted(meters), entity_id)
    ids: dict[str, str] = {}
    ready: list[Source] = []
    for source in result.add:
        found = {
            uid: entity_id(uid)
            for uid in (source.energy, source.energy_to, source.power)
            if uid is not None
        }
        if None in found.values():
            result.missing.append(source)
            continue
        ids.update({uid: eid for uid, eid in found.items() if eid is not None})
        ready.append(source)
    result.add = ready
    if ready:
        update = _update(prefs, ready, ids, Format.of_release())
        await manager.async_update(cast("energy_data.EnergyPreferencesUpdate", update))
    return result


# --- the release's format --------------------------------------------------------


def _keys(name: str) -> frozenset[str]:
    """The keys a TypedDict of the release's preferences has (none if it has no
    such type)."""
    typed = getattr(energy_data, name, None)
    return frozenset(
        getattr(typed, "__required_keys__", frozenset())
        | getattr(typed, "__optional_keys__", frozenset())
    )


@dataclass(frozen=True, slots=True)
class Format:
    """What the running release's preferences hold."""

    flows: bool
    """A single grid with `flow_from`/`flow_to` lists (up to 2026.1)."""
    grid: frozenset[str]
    solar: frozenset[str]
    battery: frozenset[str]
    device: frozenset[str]

    @classmethod
    def of_release(cls) -> Format:
        """Read from the release's own types."""
        grid = _keys("GridSourceType")
        return cls(
            flows="flow_from" in grid,
            grid=grid,
            solar=_keys("SolarSourceType"),
            battery=_keys("BatterySourceType"),
            device=_keys("DeviceConsumption"),
        )


def _power(keys: frozenset[str], power: str) -> dict[str, Any]:
    """A power sensor as the release takes it (none if it takes none)."""
    if "power_config" in keys:
        return {"power_config": {"stat_rate": power}}
    if "stat_rate" in keys:
        return {"stat_rate": power}
    return {}


def _update(
    prefs: Mapping[str, Any] | None,
    sources: list[Source],
    ids: Mapping[str, str],
    fmt: Format,
) -> dict[str, Any]:
    """The preferences with `sources` added; `ids`: their sensors' entity ids
    by unique id."""
    existing: list[dict[str, Any]] = [
        dict(s) for s in (prefs or {}).get("energy_sources", [])
    ]
    devices: list[dict[str, Any]] = [
        dict(d) for d in (prefs or {}).get("device_consumption", [])
    ]
    added: list[dict[str, Any]] = []
    grids = [s for s in sources if s.kind == GRID]
    if grids and fmt.flows:
        added.append(_flows_grid(existing, grids, ids, fmt))
    for source in sources:
        if source.kind == DEVICE:
            devices.append(_device(source, ids, fmt))
        elif source.kind != GRID or not fmt.flows:
            added.append(_source(source, ids, fmt))
    update: dict[str, Any] = {"device_consumption": devices}
    if added:
        update["energy_sources"] = existing + added
    return update


def _source(source: Source, ids: Mapping[str, str], fmt: Format) -> dict[str, Any]:
    """A grid connection (one of several), a solar panel or a battery."""
    power = ids[source.power]
    if source.kind == SOLAR:
        solar: dict[str, Any] = {
            "type": SOLAR,
            "stat_energy_from": ids[source.energy],
            "config_entry_solar_forecast": None,
        }
        if "stat_rate" in fmt.solar:
            solar["stat_rate"] = power
        return solar
    energy_to = ids[source.energy_to or ""]
    if source.kind == BATTERY:
        return {
            "type": BATTERY,
            "stat_energy_from": ids[source.energy],
            "stat_energy_to": energy_to,
            **_power(fmt.battery, power),
        }
    return {
        "type": GRID,
        "stat_energy_from": ids[source.energy],
        "stat_energy_to": energy_to,
        "stat_cost": None,
        "entity_energy_price": None,
        "number_energy_price": None,
        "stat_compensation": None,
        "entity_energy_price_export": None,
        "number_energy_price_export": None,
        "cost_adjustment_day": 0.0,
        **_power(fmt.grid, power),
    }


def _device(source: Source, ids: Mapping[str, str], fmt: Format) -> dict[str, Any]:
    """An individual device, named after its meter (and phase)."""
    device: dict[str, Any] = {"stat_consumption": ids[source.energy]}
    if "stat_rate" in fmt.device:
        device["stat_rate"] = ids[source.power]
    if "name" in fmt.device:
        device["name"] = source.label
    return device


def _flows_grid(
    existing: list[dict[str, Any]],
    grids: list[Source],
    ids: Mapping[str, str],
    fmt: Format,
) -> dict[str, Any]:
    """The one grid of flow lists, with a flow of each meter (an empty grid the
    preferences hold is replaced, keeping its cost adjustment)."""
    empty = next((s for s in existing if s.get("type") == GRID), None)
    if empty is not None:
        existing.remove(empty)
    grid: dict[str, Any] = {
        "type": GRID,
        "flow_from": [
            {
                "stat_energy_from": ids[s.energy],
                "stat_cost": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
            for s in grids
        ],
        "flow_to": [
            {
                "stat_energy_to": ids[s.energy_to or ""],
                "stat_compensation": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
            for s in grids
        ],
        "cost_adjustment_day": (empty or {}).get("cost_adjustment_day", 0.0),
    }
    if "power" in fmt.grid:
        grid["power"] = [{"stat_rate": ids[s.power]} for s in grids]
    return grid


# --- what the flow shows -------------------------------------------------------------


NOTHING: Final = "—"


def summary(result: Plan) -> dict[str, str]:
    """The flow's placeholders: each kind's sources to add (`House`, `House
    B`), and the statistics the dashboard has for the kinds it keeps."""
    kept = [stat for stats in result.kept.values() for stat in stats]
    return {
        kind: ", ".join(s.label for s in result.by_kind(kind)) or NOTHING
        for kind in KINDS
    } | {"kept": ", ".join(dict.fromkeys(kept)) or NOTHING}
