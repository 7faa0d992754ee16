"""What the entities show: a meter's data and its daily analyses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from homeassistant.util import dt as dt_util

from .api import (
    IammeterError,
    OfflineAnalysis,
    Outage,
    PowerAnalysis,
    Reading,
    parse_local_time,
)
from .const import PHASES, STALE_AFTER, Role

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
    roles: Mapping[str, Role] = field(default_factory=dict)
    """Each phase's role (`grid` where not given)."""

    def role(self, row: str) -> Role:
        """A phase's role."""
        return self.roles.get(row, Role.GRID)

    @property
    def power(self) -> float | None:
        """The grid's power: the reading's, or the sum of the grid phases where
        a phase has another role (None: no grid phase, or one unknown)."""
        phases = self.reading.phases
        rows = PHASES[: len(phases)]
        if all(self.role(row) is Role.GRID for row in rows):
            return self.reading.power
        powers = [
            p.power
            for row, p in zip(rows, phases, strict=True)
            if self.role(row) is Role.GRID
        ]
        if not powers or None in powers:
            return None
        return round(sum(p for p in powers if p is not None), 1)

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
        # In UTC: a day on which the clock changes is 23 or 25 hours long, and
        # times of one zone subtract as wall clock times.
        zone = dt_util.get_default_time_zone()
        start, end = (
            datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
            for day in (self.day, self.day + timedelta(days=1))
        )
        total = 0.0
        for outage in self.offline.outages:
            begin, finish = outage.start.astimezone(UTC), outage.end.astimezone(UTC)
            overlap = (min(finish, end) - max(begin, start)).total_seconds() / 60
            total += max(0.0, overlap)
        return round(total, 1)

    def outages(self) -> list[dict[str, Any]]:
        """The newest outages (start, end as ISO text, minutes), at most 20."""
        if self.offline is None:
            return []
        newest = sorted(self.offline.outages, key=lambda o: o.start, reverse=True)
        return [_times_as_text(asdict(o)) for o in newest[:MAX_OUTAGES]]

    def export(self) -> dict[str, Any]:
        """A JSON-serialisable copy (times as ISO text)."""
        offline = None
        if self.offline is not None:
            offline = _times_as_text(asdict(self.offline))
            offline["outages"] = [_times_as_text(o) for o in offline["outages"]]
        return {
            "day": self.day.isoformat(),
            "power": None if self.power is None else _times_as_text(asdict(self.power)),
            "offline": offline,
        }

    @classmethod
    def restore(cls, data: object) -> AnalyticsData | None:
        """Rebuild from `export`; None when malformed. Times stored by earlier
        versions as the cloud's text ("2026/6/9 5:00:00") are read in Home
        Assistant's time zone; an outage whose times are unreadable is left out."""
        if not isinstance(data, dict):
            return None
        try:
            day = date.fromisoformat(str(data.get("day")))
            power = data.get("power")
            offline = data.get("offline")
            return cls(
                day,
                PowerAnalysis(**_times_restored(power))
                if isinstance(power, dict)
                else None,
                None
                if not isinstance(offline, dict)
                else OfflineAnalysis(
                    **(
                        _times_restored(offline)
                        | {"outages": _outages_restored(offline["outages"])}
                    )
                ),
            )
        except (TypeError, ValueError, KeyError):
            return None


def _times_as_text(values: dict[str, Any]) -> dict[str, Any]:
    """`start` and `end` as ISO text (None stays None)."""
    for key in ("start", "end"):
        if isinstance(values.get(key), datetime):
            values[key] = values[key].isoformat()
    return values


def _times_restored(values: dict[str, Any]) -> dict[str, Any]:
    """`start` and `end` read back (None when unreadable)."""
    return values | {key: _stored_time(values.get(key)) for key in ("start", "end")}


def _outages_restored(items: list[Any]) -> tuple[Outage, ...]:
    outages = []
    for item in items:
        start, end = _stored_time(item["start"]), _stored_time(item["end"])
        if start is not None and end is not None:
            outages.append(Outage(start, end, item["minutes"]))
    return tuple(outages)


def _stored_time(value: object) -> datetime | None:
    """A stored time: ISO text (this version), or the cloud's local time text
    (earlier versions), in Home Assistant's time zone; None when unreadable."""
    time_zone = dt_util.get_default_time_zone()
    try:
        return parse_local_time(value, time_zone, "analytics")
    except IammeterError:
        return None


# The states of a meter's history import (its diagnostic sensor's options).
IMPORT_IMPORTING: Final = "importing"
"""To do: waiting for the recorder's first statistics, or the call is under way."""
IMPORT_WAITING: Final = "waiting"
"""The history was refused (quota, error): tried again at `retry_at`."""
IMPORT_DONE: Final = "imported"
IMPORT_OFF: Final = "off"
"""The option was off when the meter was first set up."""
IMPORT_NOT_NEEDED: Final = "not_needed"
"""The meter had statistics (or was set up before this version): nothing to do."""
IMPORT_STATES: Final = (
    IMPORT_IMPORTING,
    IMPORT_WAITING,
    IMPORT_DONE,
    IMPORT_OFF,
    IMPORT_NOT_NEEDED,
)


@dataclass(frozen=True, slots=True)
class HistoryImport:
    """Where the import of a meter's history on its first setup stands."""

    state: str | None = None
    """One of IMPORT_STATES; None until the meter's first start decided."""
    hours: int = 0
    """Hours imported (the most of any statistic)."""
    start: datetime | None = None
    """Start of the first hour imported."""
    end: datetime | None = None
    """End of the last hour imported (where the live statistics begin)."""
    retry_at: datetime | None = None
    """While waiting: when the history is asked for again."""

    @property
    def days(self) -> float:
        """The days imported, to a tenth."""
        return round(self.hours / 24, 1)

    def attributes(self) -> dict[str, Any]:
        """The sensor's attributes: what was imported, or when it is retried."""
        return {
            "days": self.days,
            "hours": self.hours,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "retry_at": None if self.retry_at is None else self.retry_at.isoformat(),
        }
