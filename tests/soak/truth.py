"""What the entities must show, from the simulator's model (its "truth")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from tests.simulator import CloudSimulator, SimMeter
from tests.simulator.server import _midnight

LIVE = {"voltage": 0, "current": 1, "power": 2, "power_factor": 3}
ENERGY = {"energy_import": 4, "energy_export": 5}
ANALYTICS = (
    "power_average",
    "power_daytime_average",
    "power_minimum",
    "power_maximum",
    "offline_minutes",
    "cloud_availability",
)
_POWER_KEYS = {
    "power_average": "average",
    "power_daytime_average": "dayTimeAverage",
    "power_minimum": "minimum",
    "power_maximum": "maximum",
}


@dataclass(frozen=True, slots=True)
class Spec:
    """One entity of a meter and where its value comes from."""

    entity_id: str
    sn: str
    key: str
    kind: str
    """live, energy, total_power, total_energy, last_reading, connection, analytics"""
    row: int = 0
    col: int = 0


# The kind of the entities checked the same way on every meter, by key.
_BY_KEY = {
    "api_calls_last_hour": "api_calls",
    "last_reading": "last_reading",
    "cloud_connection": "connection",
} | dict.fromkeys(ANALYTICS, "analytics")


def spec(entity_id: str, sn: str, key: str, phases: int) -> Spec | None:
    """How to check the entity `{sn}_{key}`; None for those not checked."""
    if key in _BY_KEY:
        return Spec(entity_id, sn, key, _BY_KEY[key])
    row, _, name = key.partition("_") if phases == 3 else ("", "", key)
    if phases == 3 and row not in ("a", "b", "c"):
        return _total(entity_id, sn, key)
    index = "abc".index(row) if phases == 3 else 0
    if name in LIVE:
        return Spec(entity_id, sn, key, "live", index, LIVE[name])
    if name in ENERGY:
        return Spec(entity_id, sn, key, "energy", index, ENERGY[name])
    return None


def _total(entity_id: str, sn: str, key: str) -> Spec | None:
    """A three-phase meter's entity of all phases together."""
    if key == "power":
        return Spec(entity_id, sn, key, "total_power")
    if key in ENERGY:
        return Spec(entity_id, sn, key, "total_energy", col=ENERGY[key])
    return None  # net values: disabled by default, not sent by the demo meters


class Truth:
    """Rounded rows like the cloud sends them, and the daily analyses."""

    def __init__(self, meters: dict[str, SimMeter]) -> None:
        """Cache per meter and minute / day."""
        self.meters = meters
        self.rows = cache(self._rows)
        self.analytics = cache(self._analytics)

    def _rows(self, sn: str, minute: int) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(r.row6()) for r in self.meters[sn].readings(minute))

    def _analytics(self, sn: str, day: date) -> dict[str, float | None]:
        """The values of the analytics sensors for the local day `day`."""
        meter = self.meters[sn]
        lo, hi = _midnight(day, meter.tz), _midnight(day + timedelta(days=1), meter.tz)
        power = CloudSimulator._power(meter, lo, hi)
        first = _midnight(day - timedelta(days=6), meter.tz)
        offline = CloudSimulator._offline(meter, first, hi, hi, "5")
        minutes = sum(
            max(0, min(end, hi) - max(start, lo))
            for start, end in meter.offline_spans(first, hi)
            if end - start >= 5
        )
        total, down = offline["totalCount"], offline["offlineCount"]
        result: dict[str, float | None] = {
            key: None if power[name] is None else float(power[name])
            for key, name in _POWER_KEYS.items()
        }
        result["offline_minutes"] = float(minutes)
        result["cloud_availability"] = round(100 * (total - down) / total, 2)
        return result
