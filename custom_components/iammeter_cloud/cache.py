"""The reading cache in Home Assistant's store: a reading as JSON and back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
import math
from typing import Any, Final

from .api import (
    V1_ROW,
    V2_ROW,
    IammeterResponseError,
    PhaseValues,
    Reading,
    parse_row,
    parse_rows,
    parse_utc_offset,
)

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
        "phases": [_row(p) for p in reading.phases],
        "net": None if reading.net is None else _row(reading.net),
    }


def reading_from_dict(data: object) -> Reading:
    """The inverse of `reading_to_dict`; raises IammeterResponseError if malformed.

    Also reads what earlier versions stored: `local_time` (the meter's local
    time as the cloud wrote it) instead of `utc_offset`, from which the offset
    is derived as the API's parsers do.
    """
    if not isinstance(data, Mapping):
        raise _fail("not an object")
    try:
        time = datetime.fromisoformat(_text(_field(data, "time"), "time"))
    except ValueError:
        raise _fail("time") from None
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    if "utc_offset" in data:
        offset = _offset(data["utc_offset"])
    else:
        offset = parse_utc_offset(_text(_field(data, "local_time"), "local_time"), time)
    phases, _ = parse_rows(_field(data, "phases"), CACHE, CACHE_ROWS)
    net = _field(data, "net")
    return Reading(
        time=time,
        utc_offset=offset,
        phases=phases,
        net=None if net is None else parse_row(net, CACHE, CACHE_ROWS),
    )


def _fail(what: str) -> IammeterResponseError:
    return IammeterResponseError(CACHE, f"unreadable cached reading: {what}")


def _field(data: Mapping[Any, Any], key: str) -> Any:
    if key not in data:
        raise _fail(f"{key!r} is missing")
    return data[key]


def _text(value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _fail(f"{what} is not text")


def _offset(value: object) -> timedelta | None:
    """A stored UTC offset: seconds, or null for unknown."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail("utc_offset is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail("utc_offset is not finite")
    if abs(value) >= _MAX_OFFSET.total_seconds():
        raise _fail("utc_offset is out of range")
    return timedelta(seconds=value)


def _row(values: PhaseValues) -> list[float | None]:
    """A V2 row (see CACHE_ROWS): null where a value is unknown."""
    return [
        values.voltage,
        values.current,
        values.power,
        values.power_factor,
        values.energy_import,
        values.energy_export,
    ]
