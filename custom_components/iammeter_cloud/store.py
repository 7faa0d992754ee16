"""The persisted state: one typed owner of one file, shared by every entry.

The quotas are per IP and per meter, so the state is per Home Assistant
instance: the quota ledger; per meter its last reading, energy guards, daily
analyses, backfill record and notices; per API host the analysis paths that
worked; the refusals counted towards a repair; when each account's site list
was read. Nothing else reads or writes the file, and nothing outside this
module sees its JSON: a damaged or older file loads as far as it is readable.

Versions: 1 (integration 0.1-0.2) kept the per-host and per-account sections in
`extra`; 2 keeps them at the top level. A file of version 1 is migrated on load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
import math
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .api import (
    V1_ROW,
    V2_ROW,
    IammeterError,
    IammeterResponseError,
    PhaseValues,
    QuotaLedger,
    Reading,
    parse_row,
    parse_rows,
    parse_utc_offset,
)
from .const import BUDGETS, DOMAIN
from .data import IMPORT_STATES, AnalyticsData, HistoryImport

STORAGE_KEY: Final = f"{DOMAIN}.state"
STORAGE_VERSION: Final = 2
SAVE_DELAY: Final = 10
DATA_STORE: HassKey[IammeterStore] = HassKey(f"{DOMAIN}_store")
_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_store_lock")
_SECTIONS: Final = ("analysis_paths", "refusals", "meters_checked")
"""The sections that version 1 kept in `extra`."""


@dataclass(slots=True)
class AnalysisAttempts:
    """The tries of one day's analyses."""

    day: date | None = None
    power: int = 0
    offline: int = 0


@dataclass(slots=True)
class MeterRecord:
    """What is kept of one meter."""

    reading: Reading | None = None
    """The newest reading shown (or seeded by the config flow)."""
    fetched: datetime | None = None
    """When the last reading was fetched."""
    counters: dict[str, Any] = field(default_factory=dict)
    """The energy guards, as `MeterEnergy.export` writes them."""
    sums: dict[str, Any] = field(default_factory=dict)
    """The totals and the roles' energy, as `MeterEnergy.export_sums` writes
    them (none before 0.4.0: the totals start at the sum of the phases)."""
    analytics: AnalyticsData | None = None
    """The newest analyses."""
    attempts: AnalysisAttempts = field(default_factory=AnalysisAttempts)
    seen: datetime | None = None
    """The newest reading's time the backfill noted."""
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)
    """Gaps the backfill has still to fill: (last reading before, first after)."""
    reset_at: datetime | None = None
    """When a counter last went on with a new register (its notice)."""
    added_at: datetime | None = None
    """When the meter was added by itself (its notice)."""
    history: HistoryImport = field(default_factory=HistoryImport)
    """The import of the cloud's history on the meter's first setup."""


class IammeterStore:
    """The state kept across restarts (one per Home Assistant instance)."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Empty state; `async_get_store` loads it."""
        self._store = _Store(hass, STORAGE_VERSION, STORAGE_KEY, private=True)
        self.ledger = ledger = QuotaLedger(BUDGETS)
        self.meters: dict[str, MeterRecord] = {}
        self.analysis_paths: dict[str, dict[str, str]] = {}
        """By API host: the analysis paths that answered, by kind."""
        self.refusals: dict[str, list[datetime]] = {}
        """By `endpoint|scope`: recent refusals of the cloud (repairs)."""
        self.meters_checked: dict[str, datetime] = {}
        """By account: when its site list was last read."""
        ledger.add_listener(self.async_schedule_save)

    def meter(self, sn: str) -> MeterRecord:
        """The record of a meter (a new one if there is none)."""
        return self.meters.setdefault(sn, MeterRecord())

    async def async_load(self) -> None:
        """Read the file (migrated to the current version)."""
        data = await self._store.async_load()
        if not isinstance(data, dict):
            return
        self.ledger.restore(data.get("ledger"))
        meters = data.get("meters")
        for sn, meter in (meters if isinstance(meters, dict) else {}).items():
            if isinstance(meter, dict):
                self.meters[str(sn)] = _load_meter(meter)
        self.analysis_paths = {
            str(host): {str(k): str(v) for k, v in paths.items()}
            for host, paths in _dict(data.get("analysis_paths")).items()
            if isinstance(paths, dict)
        }
        self.refusals = {
            str(key): [t for t in map(_time, times) if t is not None]
            for key, times in _dict(data.get("refusals")).items()
            if isinstance(times, list)
        }
        self.meters_checked = {
            str(key): when
            for key, value in _dict(data.get("meters_checked")).items()
            if (when := _time(value)) is not None
        }

    def async_schedule_save(self) -> None:
        """Write soon (and at shutdown), batching changes."""
        self._store.async_delay_save(self.as_dict, SAVE_DELAY)

    async def async_save(self) -> None:
        """Write now."""
        await self._store.async_save(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (the file's, and the diagnostics')."""
        return {
            "ledger": self.ledger.export(),
            "meters": {sn: dump_meter(meter) for sn, meter in self.meters.items()},
            "analysis_paths": self.analysis_paths,
            "refusals": {
                key: [t.isoformat() for t in times]
                for key, times in self.refusals.items()
            },
            "meters_checked": {
                key: when.isoformat() for key, when in self.meters_checked.items()
            },
        }


class _Store(Store[dict[str, Any]]):
    """The file, with the migration from older versions."""

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: Any
    ) -> dict[str, Any]:
        return migrate(old_major_version, old_data)


def migrate(version: int, data: object) -> dict[str, Any]:
    """The data of a file of `version`, in the current version's form."""
    result = dict(_dict(data))
    if version < 2:  # version 2 moved the sections out of `extra`
        extra = _dict(result.pop("extra", None))
        for name in _SECTIONS:
            result[name] = extra.get(name)
    return result


async def async_get_store(hass: HomeAssistant) -> IammeterStore:
    """The state, loaded on first use."""
    lock = hass.data.setdefault(_LOCK, asyncio.Lock())
    async with lock:
        if DATA_STORE not in hass.data:
            store = IammeterStore(hass)
            await store.async_load()
            hass.data[DATA_STORE] = store
    return hass.data[DATA_STORE]


# --- one meter's record, in JSON -------------------------------------------------


def dump_meter(meter: MeterRecord) -> dict[str, Any]:
    """The JSON form of a meter's record (only what is known)."""
    attempts = meter.attempts
    result: dict[str, Any] = {
        "reading": None if meter.reading is None else reading_to_dict(meter.reading),
        "fetched": _iso(meter.fetched),
        "counters": meter.counters,
        "sums": meter.sums or None,
        "analytics": {
            "data": None if meter.analytics is None else meter.analytics.export(),
            "attempts": {
                "day": None if attempts.day is None else attempts.day.isoformat(),
                "power": attempts.power,
                "offline": attempts.offline,
            },
        },
        "backfill": {
            "seen": _iso(meter.seen),
            "gaps": [[start.isoformat(), end.isoformat()] for start, end in meter.gaps],
        },
        "reset_at": _iso(meter.reset_at),
        "added_at": _iso(meter.added_at),
        "history_import": _dump_history(meter.history),
    }
    return {key: value for key, value in result.items() if value is not None}


def _load_meter(data: Mapping[str, Any]) -> MeterRecord:
    """A meter's record from its JSON form; what is unreadable is left out."""
    try:
        reading: Reading | None = reading_from_dict(data.get("reading"))
    except IammeterError:
        reading = None
    analytics = _dict(data.get("analytics"))
    backfill = _dict(data.get("backfill"))
    return MeterRecord(
        reading=reading,
        fetched=_time(data.get("fetched")),
        counters={str(k): v for k, v in _dict(data.get("counters")).items()},
        sums={str(k): v for k, v in _dict(data.get("sums")).items()},
        analytics=AnalyticsData.restore(analytics.get("data")),
        attempts=_attempts(analytics.get("attempts")),
        seen=_time(backfill.get("seen")),
        gaps=_gaps(backfill.get("gaps")),
        reset_at=_time(data.get("reset_at")),
        added_at=_time(data.get("added_at")),
        history=_history(data.get("history_import")),
    )


def _dump_history(history: HistoryImport) -> dict[str, Any] | None:
    if history.state is None:
        return None
    return {
        "state": history.state,
        "hours": history.hours,
        "start": _iso(history.start),
        "end": _iso(history.end),
        "retry_at": _iso(history.retry_at),
    }


def _history(data: object) -> HistoryImport:
    found = _dict(data)
    state = found.get("state")
    if state not in IMPORT_STATES:
        return HistoryImport()
    hours = found.get("hours")
    return HistoryImport(
        state=str(state),
        hours=hours if isinstance(hours, int) and hours >= 0 else 0,
        start=_time(found.get("start")),
        end=_time(found.get("end")),
        retry_at=_time(found.get("retry_at")),
    )


def _attempts(data: object) -> AnalysisAttempts:
    found = _dict(data)
    try:
        day = date.fromisoformat(str(found.get("day")))
    except ValueError:
        return AnalysisAttempts()
    counts = [found.get(kind) for kind in ("power", "offline")]
    power, offline = (c if isinstance(c, int) and c >= 0 else 0 for c in counts)
    return AnalysisAttempts(day, power, offline)


def _gaps(data: object) -> list[tuple[datetime, datetime]]:
    gaps = []
    for item in data if isinstance(data, list) else []:
        match item:
            case [first, last]:
                start, end = _time(first), _time(last)
                if start and end and start < end:
                    gaps.append((start, end))
    return gaps


def _time(value: object) -> datetime | None:
    """A stored time: ISO text with its zone (one without is not trusted)."""
    try:
        moment = dt_util.parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # looks like a time, but is none (month 13)
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


# --- a reading, in JSON -----------------------------------------------------------


CACHE: Final = "cache"
# `reading_to_dict` writes V2 rows (nulls for unknown values); stores written
# before hold 6-value rows, or 5-value V1 rows where the PF was unknown.
CACHE_ROWS: Final = (V2_ROW, V1_ROW)
_MAX_OFFSET: Final = timedelta(days=1)


def reading_to_dict(reading: Reading) -> dict[str, Any]:
    """A JSON-serialisable copy of a reading; `utc_offset` in seconds (or null)."""
    offset: float | None = None
    if reading.utc_offset is not None:
        offset = reading.utc_offset.total_seconds()
        if offset.is_integer():
            offset = int(offset)
    return {
        "time": reading.time.isoformat(),
        "utc_offset": offset,
        "phases": [_reading_row(p) for p in reading.phases],
        "net": None if reading.net is None else _reading_row(reading.net),
    }


def reading_from_dict(data: object) -> Reading:
    """The inverse of `reading_to_dict`; raises IammeterResponseError if malformed.

    Also reads what earlier versions stored: `local_time` (the meter's local
    time as the cloud wrote it) instead of `utc_offset`, from which the offset
    is derived as the API's parsers do.
    """
    if not isinstance(data, Mapping):
        raise _reading_error("not an object")
    try:
        time = datetime.fromisoformat(
            _reading_text(_reading_field(data, "time"), "time")
        )
    except ValueError:
        raise _reading_error("time") from None
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    if "utc_offset" in data:
        offset = _reading_offset(data["utc_offset"])
    else:
        offset = parse_utc_offset(
            _reading_text(_reading_field(data, "local_time"), "local_time"), time
        )
    phases, _ = parse_rows(_reading_field(data, "phases"), CACHE, CACHE_ROWS)
    net = _reading_field(data, "net")
    return Reading(
        time=time,
        utc_offset=offset,
        phases=phases,
        net=None if net is None else parse_row(net, CACHE, CACHE_ROWS),
    )


def _reading_error(what: str) -> IammeterResponseError:
    return IammeterResponseError(CACHE, f"unreadable cached reading: {what}")


def _reading_field(data: Mapping[Any, Any], key: str) -> Any:
    if key not in data:
        raise _reading_error(f"{key!r} is missing")
    return data[key]


def _reading_text(value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _reading_error(f"{what} is not text")


def _reading_offset(value: object) -> timedelta | None:
    """A stored UTC offset: seconds, or null for unknown."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _reading_error("utc_offset is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _reading_error("utc_offset is not finite")
    if abs(value) >= _MAX_OFFSET.total_seconds():
        raise _reading_error("utc_offset is out of range")
    return timedelta(seconds=value)


def _reading_row(values: PhaseValues) -> list[float | None]:
    """A V2 row (see CACHE_ROWS): null where a value is unknown."""
    return [
        values.voltage,
        values.current,
        values.power,
        values.power_factor,
        values.energy_import,
        values.energy_export,
    ]
