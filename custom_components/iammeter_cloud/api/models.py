"""Typed results of the IAMMETER cloud API, and their parsers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
import logging
import math
import re
from typing import Any, Final

from .exceptions import IammeterResponseError

_LOGGER = logging.getLogger(__name__)

_TIME = re.compile(
    r"\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?"
)
# A local time of an analysis: the time of day may be left out (midnight).
_LOCAL_TIME = re.compile(
    r"\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?|\s*$)"
)
QUARTER_HOUR: Final = timedelta(minutes=15)
# A UTC offset is less than a day (as `datetime.timezone` requires).
_MAX_OFFSET: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PhaseValues:
    """One row of a reading: a phase, or the net (NEM) total.

    None is unknown: the cloud sent `null`, or the endpoint has no such value
    (the power factor of `meterdata`). Never read it as 0.
    """

    voltage: float | None
    current: float | None
    power: float | None
    """Signed active power in W: positive = import from the grid."""
    power_factor: float | None
    energy_import: float | None
    energy_export: float | None


@dataclass(frozen=True, slots=True)
class Reading:
    """The latest upload of a meter, or one point of its history."""

    time: datetime
    """UTC time of the reading (`gmtTime`)."""
    utc_offset: timedelta | None
    """The meter's UTC offset: its local time (`localTime`, `rtcTime`) minus
    `time`, rounded to the quarter hour; None when the local time is unreadable."""
    phases: tuple[PhaseValues, ...]
    """1 row for a single-phase meter, 3 (A, B, C) for a three-phase meter."""
    net: PhaseValues | None = None
    """The 4th (NEM / net) row some three-phase meters send."""

    # Totals are None as soon as one phase's value is unknown: a sum over the
    # known phases only would be a wrong total (for a counter, a drop that Home
    # Assistant takes for a meter reset).

    @property
    def power(self) -> float | None:
        """Sum of the signed phase powers (None if one is unknown)."""
        return _total(p.power for p in self.phases)

    @property
    def energy_import(self) -> float | None:
        """Sum of the phases' import counters (None if one is unknown)."""
        return _total(p.energy_import for p in self.phases)

    @property
    def energy_export(self) -> float | None:
        """Sum of the phases' export counters (None if one is unknown)."""
        return _total(p.energy_export for p in self.phases)


def _total(values: Iterable[float | None]) -> float | None:
    known = list(values)
    return None if None in known else sum(v for v in known if v is not None)


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter listed on the account."""

    sn: str
    name: str
    site_name: str


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What a login returns. The token never shows in `repr`."""

    account_id: int | str | None
    """An int as documented; a string id the cloud sends that is not a number
    is kept as it is; None when the answer has no id."""
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PowerAnalysis:
    """Power statistics of a meter over a date range (W).

    `start` and `end` are aware times in the client's `time_zone` (the account's
    local times); None when the cloud's text is unreadable.
    """

    start: datetime | None
    end: datetime | None
    average: float
    daytime_average: float
    minimum: float
    maximum: float


@dataclass(frozen=True, slots=True)
class Outage:
    """One offline period: aware times in the client's `time_zone`."""

    start: datetime
    end: datetime
    minutes: float


@dataclass(frozen=True, slots=True)
class OfflineAnalysis:
    """How long a meter was offline over a date range (minutes).

    `start` and `end` as in `PowerAnalysis`. An outage whose times are
    unreadable is left out of `outages` (its minutes still count).
    """

    start: datetime | None
    end: datetime | None
    offline_minutes: float
    total_minutes: float
    outages: tuple[Outage, ...]

    @property
    def availability(self) -> float | None:
        """Percentage of the range the meter was online."""
        if self.total_minutes <= 0:
            return None
        online = max(0.0, self.total_minutes - self.offline_minutes)
        return round(100 * online / self.total_minutes, 2)


# --- parsers ---------------------------------------------------------------------
# Strict about meaning, tolerant about form: anything that does not fit raises
# IammeterResponseError naming the endpoint, never KeyError/IndexError/TypeError.


def _fail(endpoint: str, what: str) -> IammeterResponseError:
    return IammeterResponseError(endpoint, f"unexpected answer: {what}")


def _get(data: object, key: str, endpoint: str) -> Any:
    """Look up `key` in a JSON object, matching the key case-insensitively."""
    if not isinstance(data, Mapping):
        raise _fail(endpoint, f"expected an object holding {key!r}")
    if key in data:
        return data[key]
    wanted = key.lower()
    for name, value in data.items():
        if isinstance(name, str) and name.lower() == wanted:
            return value
    raise _fail(endpoint, f"{key!r} is missing")


def _num(value: object, endpoint: str, what: str) -> float:
    """A finite number, also when the service sends it as a string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(endpoint, f"{what} is not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise _fail(endpoint, f"{what} is not a number") from None
    if not math.isfinite(number):
        raise _fail(endpoint, f"{what} is not finite")
    return number


def _str(value: object, endpoint: str, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _fail(endpoint, f"{what} is not text")


def _list(value: object, endpoint: str, what: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise _fail(endpoint, f"{what} is not a list")
    return value


def parse_time(value: object, endpoint: str) -> datetime:
    """Parse `2020/8/28 5:27:33` (UTC) into an aware datetime."""
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise _fail(endpoint, "time is not of the form Y/M/D H:MM:SS")
    try:
        year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise _fail(endpoint, "time is out of range") from None


def parse_local_time(value: object, time_zone: tzinfo, endpoint: str) -> datetime:
    """Parse a local time of the account (`2026/6/9 5:00:00`) in `time_zone`.

    The time of day may be left out (midnight). A text with its own UTC offset
    (ISO 8601) is that moment, shown in `time_zone`.
    """
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
            if moment.tzinfo is not None:
                return moment.astimezone(time_zone)
        except (ValueError, OverflowError):
            pass
    match = _LOCAL_TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise _fail(endpoint, "local time is not of the form Y/M/D H:MM:SS")
    try:
        year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=time_zone)
    except ValueError:
        raise _fail(endpoint, "local time is out of range") from None


def parse_utc_offset(local: object, utc: datetime) -> timedelta | None:
    """A meter's UTC offset: its local time text minus the UTC time of the same
    reading, rounded to the quarter hour. None when the text is unreadable or
    the difference is a day or more (no time zone is that far off)."""
    try:
        naive = parse_time(local, "utc_offset").replace(tzinfo=None)
    except IammeterResponseError:
        return None
    difference = naive - utc.astimezone(UTC).replace(tzinfo=None)
    if abs(difference) >= _MAX_OFFSET:
        return None
    offset = round(difference / QUARTER_HOUR) * QUARTER_HOUR
    return offset if abs(offset) < _MAX_OFFSET else None


def _opt_num(value: object, endpoint: str, what: str) -> float | None:
    """`_num`, or None for `null` (an unknown value)."""
    return None if value is None else _num(value, endpoint, what)


@dataclass(frozen=True, slots=True)
class RowLayout:
    """Where the values of a row stand: positions, by endpoint.

    A row has at least `size` values; values after the ones read (frequency,
    reactive power... by device and firmware) are ignored, never shifted into
    the counters. A position at or past `size` is optional: read when the row
    is that long. Any value may be `null` (unknown).
    """

    size: int
    voltage: int
    current: int
    power: int
    power_factor: int
    energy_import: int
    energy_export: int


V2_ROW: Final = RowLayout(6, 0, 1, 2, 3, 4, 5)
"""`meterdata2`, `meterdatalist2`: V, I, P, PF, import, export, [extras]."""
V1_ROW: Final = RowLayout(5, 0, 1, 2, 6, 3, 4)
"""`meterdata`, `meterdatalist`: V, I, P, import, export, [frequency, PF as the
vendor's own code reads a 7-value row, extras]."""

ROW_LAYOUTS: Final[Mapping[str, tuple[RowLayout, ...]]] = {
    "meterdata2": (V2_ROW,),
    "meterdatalist2": (V2_ROW,),
    "meterdata": (V1_ROW,),
    "meterdatalist": (V1_ROW,),  # 5 values a phase, cut from the flat point
}
"""The row layouts of each endpoint, the longest first: a row takes the first
layout it is long enough for. Other endpoint names read V2 rows."""


def parse_row(
    row: object, endpoint: str, layouts: Sequence[RowLayout] | None = None
) -> PhaseValues:
    """One phase row, read with `layouts` (the longest first), by default the
    layouts of `endpoint` (see ROW_LAYOUTS)."""
    values = _list(row, endpoint, "a row")
    if layouts is None:
        layouts = ROW_LAYOUTS.get(endpoint, (V2_ROW,))
    layout = next((lay for lay in layouts if len(values) >= lay.size), None)
    if layout is None:
        raise _fail(endpoint, f"a row of {len(values)} values")

    def at(index: int) -> float | None:
        if index >= len(values):
            return None
        return _opt_num(values[index], endpoint, "a row value")

    imp, exp = at(layout.energy_import), at(layout.energy_export)
    pf = at(layout.power_factor)
    if (imp is not None and imp < 0) or (exp is not None and exp < 0):
        raise _fail(endpoint, "a negative energy counter")
    if pf is not None and not -1.0 <= pf <= 1.0:
        raise _fail(endpoint, "a power factor outside -1..1")
    return PhaseValues(
        at(layout.voltage), at(layout.current), at(layout.power), pf, imp, exp
    )


def parse_rows(
    rows: object, endpoint: str, layouts: Sequence[RowLayout] | None = None
) -> tuple[tuple[PhaseValues, ...], PhaseValues | None]:
    """Rows of one reading: 1 phase, 3 phases, or 3 phases and the net row."""
    parsed = [parse_row(r, endpoint, layouts) for r in _list(rows, endpoint, "values")]
    if len(parsed) == 1 or len(parsed) == 3:
        return tuple(parsed), None
    if len(parsed) == 4:
        return tuple(parsed[:3]), parsed[3]
    raise _fail(endpoint, f"{len(parsed)} rows")


def parse_reading(data: object, endpoint: str) -> Reading:
    """`data` of `meterdata2` / `meterdata`."""
    phases, net = parse_rows(_get(data, "values", endpoint), endpoint)
    time = parse_time(_get(data, "gmtTime", endpoint), endpoint)
    local = _str(_get(data, "localTime", endpoint), endpoint, "localTime")
    return Reading(
        time=time,
        utc_offset=parse_utc_offset(local, time),
        phases=phases,
        net=net,
    )


def parse_history(data: object, endpoint: str) -> list[Reading]:
    """`data` of `meterdatalist2`: points of `{rtcTime, gmtTime, values}`."""
    points = [] if data is None else _list(data, endpoint, "data")
    readings = []
    for point in points:
        phases, net = parse_rows(_get(point, "values", endpoint), endpoint)
        time = parse_time(_get(point, "gmtTime", endpoint), endpoint)
        local = _str(_get(point, "rtcTime", endpoint), endpoint, "rtcTime")
        readings.append(
            Reading(
                time=time,
                utc_offset=parse_utc_offset(local, time),
                phases=phases,
                net=net,
            )
        )
    return sorted(readings, key=lambda r: r.time)


def parse_flat_history(
    data: object, endpoint: str, utc_index: int = 1
) -> list[Reading]:
    """`data` of `meterdatalist`: flat points, 5 numbers a phase, then two times.

    The vendor labels the two times "UTC, local" but its examples look local
    first; `utc_index` says which of the two is UTC (default: the second).
    """
    points = [] if data is None else _list(data, endpoint, "data")
    readings = []
    for point in points:
        flat = _list(point, endpoint, "a point")
        numbers, times = flat[:-2], flat[-2:]
        if len(times) != 2 or len(numbers) % 5:
            raise _fail(endpoint, f"a point of {len(flat)} values")
        rows = [numbers[i : i + 5] for i in range(0, len(numbers), 5)]
        phases, net = parse_rows(rows, endpoint)
        time = parse_time(times[utc_index], endpoint)
        local = _str(times[1 - utc_index], endpoint, "local time")
        readings.append(
            Reading(
                time=time,
                utc_offset=parse_utc_offset(local, time),
                phases=phases,
                net=net,
            )
        )
    return sorted(readings, key=lambda r: r.time)


MAX_ACCOUNT_ID_LENGTH: Final = 100


def parse_login(data: object, endpoint: str) -> LoginResult:
    """`data` of `user/login`: the token, and the account id if there is one."""
    token = _get(data, "token", endpoint)
    if not isinstance(token, str) or not token:
        raise _fail(endpoint, "no token")
    try:
        value = _get(data, "id", endpoint)
    except IammeterResponseError:
        value = None  # no id: the token is what matters
    return LoginResult(_account_id(value, endpoint), token)


def _account_id(value: object, endpoint: str) -> int | str | None:
    """An int (also from a numeric string: "2025" is 2025, as it always was),
    another text as it is, None for none."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_ACCOUNT_ID_LENGTH or not text.isprintable():
            raise _fail(endpoint, "the account id is not a short text")
        try:
            number = _num(text, endpoint, "id")
        except IammeterResponseError:
            return text or None
        return int(number) if number.is_integer() else text
    if value is None:
        return None
    number = _num(value, endpoint, "id")
    if not number.is_integer():
        raise _fail(endpoint, "the account id is not a whole number")
    return int(number)


def parse_sites(data: object, endpoint: str) -> list[Meter]:
    """`data` of `user/sitelist`: the meters of every site on the account.

    One unusable site or meter item is skipped (logged at debug), the others
    kept; an answer that is not a list at all is an error. A site name is only
    a label: without one, the site's meters are kept.
    """
    meters: list[Meter] = []
    for index, site in enumerate(_list(data, endpoint, "data")):
        try:
            items = _list(_get(site, "meters", endpoint), endpoint, "meters")
        except IammeterResponseError as err:
            _LOGGER.debug("Site %s of the site list skipped: %s", index, err)
            continue
        try:
            site_name = _str(_get(site, "name", endpoint), endpoint, "site name")
        except IammeterResponseError:
            site_name = ""
        for number, meter in enumerate(items):
            try:
                meters.append(_meter(meter, site_name, endpoint))
            except IammeterResponseError as err:
                _LOGGER.debug(
                    "Meter %s of site %s of the site list skipped: %s",
                    number,
                    index,
                    err,
                )
    return meters


def _meter(item: object, site_name: str, endpoint: str) -> Meter:
    sn = _str(_get(item, "sn", endpoint), endpoint, "sn").strip()
    if not sn:
        raise _fail(endpoint, "a meter without a serial number")
    try:
        name = _get(item, "name", endpoint)
    except IammeterResponseError:
        name = None
    return Meter(sn, name if isinstance(name, str) else sn, site_name)


def _range_time(
    data: object, key: str, time_zone: tzinfo, endpoint: str
) -> datetime | None:
    """An analysis's `startTime`/`endTime`: text as always; None if unreadable."""
    text = _str(_get(data, key, endpoint), endpoint, key)
    try:
        return parse_local_time(text, time_zone, endpoint)
    except IammeterResponseError:
        _LOGGER.debug("The %s of an analysis is unreadable: %r", key, text[:40])
        return None


def parse_power_analysis(
    data: object, endpoint: str, time_zone: tzinfo = UTC
) -> PowerAnalysis:
    """`data` of the power analysis; its times are local times in `time_zone`."""

    def num(key: str) -> float:
        return _num(_get(data, key, endpoint), endpoint, key)

    return PowerAnalysis(
        start=_range_time(data, "startTime", time_zone, endpoint),
        end=_range_time(data, "endTime", time_zone, endpoint),
        average=num("average"),
        daytime_average=num("dayTimeAverage"),
        minimum=num("minimum"),
        maximum=num("maximum"),
    )


def _outage(item: object, time_zone: tzinfo, endpoint: str) -> Outage | None:
    """One item of the outage list; None (logged) when its times are unreadable."""
    start = _str(_get(item, "startTime", endpoint), endpoint, "startTime")
    end = _str(_get(item, "endTime", endpoint), endpoint, "endTime")
    minutes = _num(_get(item, "duration", endpoint), endpoint, "duration")
    try:
        return Outage(
            start=parse_local_time(start, time_zone, endpoint),
            end=parse_local_time(end, time_zone, endpoint),
            minutes=minutes,
        )
    except IammeterResponseError as err:
        _LOGGER.debug("An outage of the offline analysis skipped: %s", err)
        return None


def parse_offline_analysis(
    data: object, endpoint: str, time_zone: tzinfo = UTC
) -> OfflineAnalysis:
    """`data` of the offline analysis; its times are local times in `time_zone`.

    An outage whose times are unreadable is skipped (logged at debug).
    """
    items = _list(_get(data, "list", endpoint), endpoint, "list")
    outages = [_outage(item, time_zone, endpoint) for item in items]
    offline = _num(_get(data, "offlineCount", endpoint), endpoint, "offlineCount")
    total = _num(_get(data, "totalCount", endpoint), endpoint, "totalCount")
    if offline < 0 or total < 0:
        raise _fail(endpoint, "a negative count")
    return OfflineAnalysis(
        start=_range_time(data, "startTime", time_zone, endpoint),
        end=_range_time(data, "endTime", time_zone, endpoint),
        offline_minutes=offline,
        total_minutes=total,
        outages=tuple(o for o in outages if o is not None),
    )


def format_date(day: date) -> str:
    """Dates in queries: `YYYY-MM-DD`."""
    return day.isoformat()
