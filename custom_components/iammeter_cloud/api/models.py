"""Typed results of the IAMMETER cloud API, and their parsers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
import math
import re
from typing import Any

from .exceptions import IammeterResponseError

_TIME = re.compile(
    r"\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?"
)


@dataclass(frozen=True, slots=True)
class PhaseValues:
    """One row of a reading: a phase, or the net (NEM) total."""

    voltage: float
    current: float
    power: float
    """Signed active power in W: positive = import from the grid."""
    power_factor: float | None
    """None where the endpoint does not send it (`meterdata`)."""
    energy_import: float
    energy_export: float


@dataclass(frozen=True, slots=True)
class Reading:
    """The latest upload of a meter, or one point of its history."""

    time: datetime
    """UTC time of the reading (`gmtTime`)."""
    local_time: str
    phases: tuple[PhaseValues, ...]
    """1 row for a single-phase meter, 3 (A, B, C) for a three-phase meter."""
    net: PhaseValues | None = None
    """The 4th (NEM / net) row some three-phase meters send."""

    @property
    def power(self) -> float:
        """Sum of the signed phase powers."""
        return sum(p.power for p in self.phases)

    @property
    def energy_import(self) -> float:
        """Sum of the phases' import counters."""
        return sum(p.energy_import for p in self.phases)

    @property
    def energy_export(self) -> float:
        """Sum of the phases' export counters."""
        return sum(p.energy_export for p in self.phases)


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter listed on the account."""

    sn: str
    name: str
    site_name: str


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What a login returns. The token never shows in `repr`."""

    account_id: int
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PowerAnalysis:
    """Power statistics of a meter over a date range (W)."""

    start: str
    end: str
    average: float
    daytime_average: float
    minimum: float
    maximum: float


@dataclass(frozen=True, slots=True)
class Outage:
    """One offline period."""

    start: str
    end: str
    minutes: float


@dataclass(frozen=True, slots=True)
class OfflineAnalysis:
    """How long a meter was offline over a date range (minutes)."""

    start: str
    end: str
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
    except ValueError, OverflowError:
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


def parse_row(row: object, endpoint: str) -> PhaseValues:
    """One phase row, recognised by its length.

    6 values: `meterdata2` (V, I, P, PF, import, export); 5: `meterdata`
    (V, I, P, import, export); 7: `meterdata` as some vendor code reads it
    (V, I, P, import, export, frequency, PF).
    """
    values = [_num(v, endpoint, "a row value") for v in _list(row, endpoint, "a row")]
    if len(values) == 6:
        volt, amp, watt, pf, imp, exp = values
    elif len(values) == 5:
        (volt, amp, watt, imp, exp), pf = values, None
    elif len(values) == 7:
        volt, amp, watt, imp, exp, _hz, pf = values
    else:
        raise _fail(endpoint, f"a row of {len(values)} values")
    if imp < 0 or exp < 0:
        raise _fail(endpoint, "a negative energy counter")
    if pf is not None and not -1.0 <= pf <= 1.0:
        raise _fail(endpoint, "a power factor outside -1..1")
    return PhaseValues(volt, amp, watt, pf, imp, exp)


def parse_rows(
    rows: object, endpoint: str
) -> tuple[tuple[PhaseValues, ...], PhaseValues | None]:
    """Rows of one reading: 1 phase, 3 phases, or 3 phases and the net row."""
    parsed = [parse_row(r, endpoint) for r in _list(rows, endpoint, "values")]
    if len(parsed) == 1 or len(parsed) == 3:
        return tuple(parsed), None
    if len(parsed) == 4:
        return tuple(parsed[:3]), parsed[3]
    raise _fail(endpoint, f"{len(parsed)} rows")


def parse_reading(data: object, endpoint: str) -> Reading:
    """`data` of `meterdata2` / `meterdata`."""
    phases, net = parse_rows(_get(data, "values", endpoint), endpoint)
    return Reading(
        time=parse_time(_get(data, "gmtTime", endpoint), endpoint),
        local_time=_str(_get(data, "localTime", endpoint), endpoint, "localTime"),
        phases=phases,
        net=net,
    )


def parse_history(data: object, endpoint: str) -> list[Reading]:
    """`data` of `meterdatalist2`: points of `{rtcTime, gmtTime, values}`."""
    points = [] if data is None else _list(data, endpoint, "data")
    readings = []
    for point in points:
        phases, net = parse_rows(_get(point, "values", endpoint), endpoint)
        readings.append(
            Reading(
                time=parse_time(_get(point, "gmtTime", endpoint), endpoint),
                local_time=_str(_get(point, "rtcTime", endpoint), endpoint, "rtcTime"),
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
        readings.append(
            Reading(
                time=parse_time(times[utc_index], endpoint),
                local_time=_str(times[1 - utc_index], endpoint, "local time"),
                phases=phases,
                net=net,
            )
        )
    return sorted(readings, key=lambda r: r.time)


def parse_login(data: object, endpoint: str) -> LoginResult:
    """`data` of `user/login`."""
    account = _num(_get(data, "id", endpoint), endpoint, "id")
    token = _get(data, "token", endpoint)
    if not account.is_integer() or not isinstance(token, str) or not token:
        raise _fail(endpoint, "no account id or token")
    return LoginResult(int(account), token)


def parse_sites(data: object, endpoint: str) -> list[Meter]:
    """`data` of `user/sitelist`: the meters of every site on the account."""
    meters: list[Meter] = []
    for site in _list(data, endpoint, "data"):
        site_name = _str(_get(site, "name", endpoint), endpoint, "site name")
        for meter in _list(_get(site, "meters", endpoint), endpoint, "meters"):
            sn = _str(_get(meter, "sn", endpoint), endpoint, "sn").strip()
            name = _get(meter, "name", endpoint)
            if not sn:
                raise _fail(endpoint, "a meter without a serial number")
            meters.append(Meter(sn, name if isinstance(name, str) else sn, site_name))
    return meters


def parse_power_analysis(data: object, endpoint: str) -> PowerAnalysis:
    """`data` of the power analysis."""

    def num(key: str) -> float:
        return _num(_get(data, key, endpoint), endpoint, key)

    return PowerAnalysis(
        start=_str(_get(data, "startTime", endpoint), endpoint, "startTime"),
        end=_str(_get(data, "endTime", endpoint), endpoint, "endTime"),
        average=num("average"),
        daytime_average=num("dayTimeAverage"),
        minimum=num("minimum"),
        maximum=num("maximum"),
    )


def parse_offline_analysis(data: object, endpoint: str) -> OfflineAnalysis:
    """`data` of the offline analysis."""
    outages = []
    for item in _list(_get(data, "list", endpoint), endpoint, "list"):
        outages.append(
            Outage(
                start=_str(_get(item, "startTime", endpoint), endpoint, "startTime"),
                end=_str(_get(item, "endTime", endpoint), endpoint, "endTime"),
                minutes=_num(_get(item, "duration", endpoint), endpoint, "duration"),
            )
        )
    offline = _num(_get(data, "offlineCount", endpoint), endpoint, "offlineCount")
    total = _num(_get(data, "totalCount", endpoint), endpoint, "totalCount")
    if offline < 0 or total < 0:
        raise _fail(endpoint, "a negative count")
    return OfflineAnalysis(
        start=_str(_get(data, "startTime", endpoint), endpoint, "startTime"),
        end=_str(_get(data, "endTime", endpoint), endpoint, "endTime"),
        offline_minutes=offline,
        total_minutes=total,
        outages=tuple(outages),
    )


def format_date(day: date) -> str:
    """Dates in queries: `YYYY-MM-DD`."""
    return day.isoformat()


def reading_to_dict(reading: Reading) -> dict[str, Any]:
    """A JSON-serialisable copy of a reading (for caches)."""
    return {
        "time": reading.time.isoformat(),
        "local_time": reading.local_time,
        "phases": [_row(p) for p in reading.phases],
        "net": None if reading.net is None else _row(reading.net),
    }


def reading_from_dict(data: object) -> Reading:
    """The inverse of `reading_to_dict`; raises IammeterResponseError if malformed."""
    where = "cache"
    try:
        time = datetime.fromisoformat(_str(_get(data, "time", where), where, "time"))
    except ValueError:
        raise _fail(where, "time") from None
    phases, _ = parse_rows(_get(data, "phases", where), where)
    net = _get(data, "net", where)
    return Reading(
        time=time if time.tzinfo else time.replace(tzinfo=UTC),
        local_time=_str(_get(data, "local_time", where), where, "local_time"),
        phases=phases,
        net=None if net is None else parse_row(net, where),
    )


def _row(values: PhaseValues) -> list[float]:
    head = [values.voltage, values.current, values.power]
    pf = [] if values.power_factor is None else [values.power_factor]
    return [*head, *pf, values.energy_import, values.energy_export]
