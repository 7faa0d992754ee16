"""What the entities show: a meter's data and its daily analyses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from homeassistant.util import dt as dt_util

from .api import IammeterError, OfflineAnalysis, Outage, PowerAnalysis, Reading
from .api.models import parse_time
from .const import STALE_AFTER

AVAILABILITY_DAYS: Final = 7
"""The availability is that of the last 7 days."""
MAX_OUTAGES: Final = 20


@dataclass(frozen=True, slots=True)
class MeterData:
    """What the entities of one meter show."""

    reading: Reading
    energy: Mapping[str, float] = field(default_factory=dict)
    """Guarded counters: `a_import`, `b_export`, `net_import`, `total_import`..."""
    received: datetime | None = None
    """When this integration received the reading (by its own clock)."""

    @property
    def time(self) -> datetime:
        """When the reading was taken, as far as our clock can tell.

        The reading's own time (`gmtTime`), unless that lies after the moment
        it was received: a meter or cloud clock that runs ahead must not make a
        reading look fresh for longer, block the readings after it, or give a
        negative age. Such a reading counts as taken when it was received.
        """
        if self.received is None:
            return self.reading.time
        return min(self.reading.time, self.received)

    def is_fresh(self, now: datetime) -> bool:
        """Whether live values (power, voltage...) may be shown."""
        return now - self.time <= STALE_AFTER

    def is_newer(self, reading: Reading, now: datetime) -> bool:
        """Whether `reading` (received `now`) is newer than the one shown.

        Dated after the shown one; or, where the shown one was dated in the
        future (and so counts as taken when it was received), dated by a clock
        that is right again and after that: a meter clock corrected back
        resumes at once.
        """
        return reading.time > self.reading.time or self.time < reading.time <= now


def is_all_zero(reading: Reading) -> bool:
    """A reading of only zeros (a meter that is not measuring)."""
    rows = [*reading.phases, *([reading.net] if reading.net else [])]
    return all(
        not (r.voltage or r.current or r.power or r.energy_import or r.energy_export)
        for r in rows
    )


@dataclass(frozen=True, slots=True)
class AnalyticsData:
    """The newest analyses of a meter, for the local day `day` (yesterday)."""

    day: date
    power: PowerAnalysis | None = None
    offline: OfflineAnalysis | None = None

    @property
    def offline_minutes(self) -> float | None:
        """Minutes the meter was offline on `day` (from the 7-day outage list)."""
        if self.offline is None:
            return None
        start = datetime.combine(
            self.day, datetime.min.time(), dt_util.get_default_time_zone()
        )
        end = start + timedelta(days=1)
        total = 0.0
        for outage in self.offline.outages:
            try:
                begin, finish = _local(outage.start), _local(outage.end)
            except IammeterError:
                continue
            overlap = (min(finish, end) - max(begin, start)).total_seconds() / 60
            total += max(0.0, overlap)
        return round(total, 1)

    def outages(self) -> list[dict[str, Any]]:
        """The newest outages (start, end, minutes), at most 20."""
        if self.offline is None:
            return []
        newest = sorted(self.offline.outages, key=_start, reverse=True)
        return [asdict(o) for o in newest[:MAX_OUTAGES]]

    def export(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return {
            "day": self.day.isoformat(),
            "power": None if self.power is None else asdict(self.power),
            "offline": None if self.offline is None else asdict(self.offline),
        }

    @classmethod
    def restore(cls, data: object) -> AnalyticsData | None:
        """Rebuild from `export`; None when malformed."""
        if not isinstance(data, dict):
            return None
        try:
            day = date.fromisoformat(str(data.get("day")))
            power = data.get("power")
            offline = data.get("offline")
            return cls(
                day,
                PowerAnalysis(**power) if isinstance(power, dict) else None,
                None
                if not isinstance(offline, dict)
                else OfflineAnalysis(
                    **(
                        offline
                        | {"outages": tuple(Outage(**o) for o in offline["outages"])}
                    )
                ),
            )
        except (TypeError, ValueError, KeyError):
            return None


def _start(outage: Outage) -> datetime:
    """When an outage began (the cloud's "2026/6/9 5:00:00" does not sort as text);
    one with an unreadable time sorts as the oldest."""
    try:
        return _local(outage.start)
    except IammeterError:
        return datetime.min.replace(tzinfo=UTC)


def _local(text: str) -> datetime:
    """The cloud's local time strings, in Home Assistant's time zone."""
    naive = parse_time(text, "offline_analysis").replace(tzinfo=None)
    return naive.replace(tzinfo=dt_util.get_default_time_zone())
