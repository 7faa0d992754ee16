"""Parsers of the IAMMETER cloud answers: examples, then arbitrary JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime, timedelta, timezone
import json
import math
import os
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.iammeter_cloud.api import IammeterResponseError
from custom_components.iammeter_cloud.api.models import (
    LoginResult,
    Meter,
    OfflineAnalysis,
    Outage,
    PhaseValues,
    PowerAnalysis,
    Reading,
    parse_flat_history,
    parse_history,
    parse_login,
    parse_offline_analysis,
    parse_power_analysis,
    parse_reading,
    parse_row,
    parse_sites,
    parse_time,
    reading_from_dict,
    reading_to_dict,
)

settings.register_profile(
    "iammeter-models",
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    database=None,  # write nothing into the repository
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile("iammeter-models")

E = "ep"
T = datetime(2020, 8, 28, 5, 27, 33, tzinfo=UTC)
ROW6 = [233.41, 0.718, 111, 0.66, 5724.85, 0]
PV6 = PhaseValues(233.41, 0.718, 111, 0.66, 5724.85, 0)


def fails(parse: Callable[[], object]) -> IammeterResponseError:
    with pytest.raises(IammeterResponseError) as info:
        parse()
    assert info.value.endpoint == E
    return info.value


# --- rows ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (ROW6, PV6),
        ([230, 1.5, -300, 120.5, 80], PhaseValues(230, 1.5, -300, None, 120.5, 80)),
        (
            [230, 1.5, -300, 120.5, 80, 50.0, -0.9],
            PhaseValues(230, 1.5, -300, -0.9, 120.5, 80),
        ),
        (["233.41", " 0.718", "111", "0.66", "5724.85", "0"], PV6),
        ([230, 0, 0, 1, 0, 0], PhaseValues(230, 0, 0, 1, 0, 0)),
        ([230, 0, 0, -1, 0, 0], PhaseValues(230, 0, 0, -1, 0, 0)),
    ],
)
def test_rows_by_length(row: list[Any], expected: PhaseValues) -> None:
    parsed = parse_row(row, E)
    assert parsed == expected
    assert all(isinstance(v, float) for v in astuple(parsed) if v is not None)


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ([], "0 values"),
        ([1, 2, 3, 4], "4 values"),
        ([1, 2, 3, 4, 5, 6, 7, 8], "8 values"),
        ([230, 1, 100, float("nan"), 1, 0], "not finite"),
        ([230, 1, float("inf"), 0.5, 1, 0], "not finite"),
        ([230, 1, 100, 0.5, "Infinity", 0], "not finite"),
        (["nan", 1, 100, 0.5, 1, 0], "not finite"),
        ([230, 1, 100, 0.5, -0.001, 0], "negative energy"),
        ([230, 1, 100, 0.5, 1, "-5"], "negative energy"),
        ([230, 1, 100, 1.01, 1, 0], "power factor"),
        ([230, 1, 100, -1.5, 1, 0], "power factor"),
        ([230, 1, 100, 1, 0, 50, 2], "power factor"),
        ([230, 1, 100, True, 1, 0], "not a number"),
        ([230, None, 100, 0.5, 1, 0], "not a number"),
        ([230, "1,5", 100, 0.5, 1, 0], "not a number"),
        ([230, [1], 100, 0.5, 1, 0], "not a number"),
        ({"v": 230}, "not a list"),
        ("230,1,100,0.5,1,0", "not a list"),
    ],
)
def test_bad_rows(row: Any, why: str) -> None:
    assert why in str(fails(lambda: parse_row(row, E)))


def reading_data(rows: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "values": rows,
        "gmtTime": "2020/8/28 5:27:33",
        "localTime": "2020/8/28 7:27:33",
    } | extra


def test_reading_single_phase() -> None:
    reading = parse_reading(reading_data([ROW6]), E)
    assert reading == Reading(T, "2020/8/28 7:27:33", (PV6,), None)
    assert (reading.power, reading.energy_import, reading.energy_export) == (
        111,
        5724.85,
        0,
    )


def test_reading_keys_match_case_insensitively_and_numbers_as_strings() -> None:
    data = {
        "VALUES": [[str(v) for v in ROW6]],
        "GmtTime": "2020/8/28 5:27:33",
        "localtime": 20200828,
        "message": None,
    }
    assert parse_reading(data, E) == Reading(T, "20200828", (PV6,), None)


def test_reading_three_phases_and_the_net_row() -> None:
    a, b, c = (
        [230, 1, 100, 0.5, 10, 0],
        [231, 2, -500, 1, 20, 5],
        [229, 3, 50, 0.9, 30, 0],
    )
    net = [230, 6, -350, 0.7, 40, 6]
    three = parse_reading(reading_data([a, b, c]), E)
    assert three.phases == tuple(parse_row(r, E) for r in (a, b, c))
    assert three.net is None
    assert (three.power, three.energy_import, three.energy_export) == (-350, 60, 5)
    four = parse_reading(reading_data([a, b, c, net]), E)
    assert four.phases == three.phases  # the net row is not a phase
    assert four.net == PhaseValues(230, 6, -350, 0.7, 40, 6)
    assert four.power == -350


@pytest.mark.parametrize("count", [0, 2, 5])
def test_reading_with_another_number_of_rows(count: int) -> None:
    assert f"{count} rows" in str(
        fails(lambda: parse_reading(reading_data([ROW6] * count), E))
    )


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"values": [ROW6], "localTime": "x"},
        {"values": [ROW6], "gmtTime": "2020/8/28 5:27:33"},
        reading_data(None),  # type: ignore[arg-type]
        reading_data([ROW6], gmtTime="yesterday"),
        reading_data([ROW6], localTime=None),
    ],
)
def test_reading_without_its_parts(data: Any) -> None:
    fails(lambda: parse_reading(data, E))


# --- times --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020/8/28 5:27:33", T),
        ("2020/08/28 05:27:33", T),
        ("2020-8-28T5:27:33", T),
        (" 2020/8/28 5:27", T.replace(second=0)),
        ("2026/12/31 23:59:59", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2024/2/29 0:00:00", datetime(2024, 2, 29, tzinfo=UTC)),
    ],
)
def test_times(text: str, expected: datetime) -> None:
    parsed = parse_time(text, E)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "28/8/2020 5:27:33",
        "2020/13/1 0:00:00",
        "2023/2/29 0:00:00",
        "2020/8/28 24:00:00",
        "2020/8/28 5:60:00",
        "2020/8/28 5:27:60",
        "0000/1/1 0:00:00",
        "2020/8/28",
        None,
        20200828,
        ["2020/8/28 5:27:33"],
    ],
)
def test_bad_times(value: Any) -> None:
    fails(lambda: parse_time(value, E))


# --- history --------------------------------------------------------------------


def point(minute: int, rows: list[Any]) -> dict[str, Any]:
    return {
        "rtcTime": f"2020/8/28 7:{minute:02d}:00",
        "gmtTime": f"2020/8/28 5:{minute:02d}:00",
        "values": rows,
    }


def test_history_is_sorted_by_time() -> None:
    points = parse_history([point(10, [ROW6]), point(5, [ROW6]), point(0, [ROW6])], E)
    assert [p.time.minute for p in points] == [0, 5, 10]
    assert [p.local_time for p in points] == [
        "2020/8/28 7:00:00",
        "2020/8/28 7:05:00",
        "2020/8/28 7:10:00",
    ]
    assert parse_history([], E) == []
    assert parse_history(None, E) == []


@pytest.mark.parametrize(
    "data",
    [
        {"values": []},
        [point(0, [])],
        [point(0, [ROW6]) | {"gmtTime": None}],
        ["x"],
        [None],
    ],
)
def test_bad_history(data: Any) -> None:
    fails(lambda: parse_history(data, E))


def test_flat_history() -> None:
    three = [230, 1, 100, 10, 0, 231, 2, -500, 20, 5, 229, 3, 50, 30, 0]
    data = [
        [*three, "2020/8/28 7:05:00", "2020/8/28 5:05:00"],
        [230, 1, 100, 10, 0, 240, 2, 3, 4, 5, "2020/8/28 7:00:00", "2020/8/28 5:00:00"],
    ]
    fails(lambda: parse_flat_history(data, E))  # a point of 2 phases
    single = [["230", "1", "-100", "10", "0", "2020/8/28 7:27:33", "2020/8/28 5:27:33"]]
    (reading,) = parse_flat_history(single, E)
    assert reading == Reading(
        T, "2020/8/28 7:27:33", (PhaseValues(230, 1, -100, None, 10, 0),)
    )
    (reading,) = parse_flat_history(data[:1], E)
    assert reading.time == datetime(2020, 8, 28, 5, 5, tzinfo=UTC)
    assert [p.power for p in reading.phases] == [100, -500, 50]
    (local_first,) = parse_flat_history(single, E, utc_index=0)
    assert local_first.time == datetime(2020, 8, 28, 7, 27, 33, tzinfo=UTC)
    assert local_first.local_time == "2020/8/28 5:27:33"
    assert parse_flat_history(None, E) == []


@pytest.mark.parametrize(
    "data",
    [
        [[230, 1, 100, 10, "2020/8/28 7:00:00", "2020/8/28 5:00:00"]],
        [["2020/8/28 5:00:00"]],
        [["2020/8/28 7:00:00", "2020/8/28 5:00:00"]],
        [[230, 1, 100, 10, 0, "2020/8/28 7:00:00", None]],
        [{"values": [230, 1, 100, 10, 0]}],
        {"a": 1},
    ],
)
def test_bad_flat_history(data: Any) -> None:
    fails(lambda: parse_flat_history(data, E))


# --- login, sites, analyses -------------------------------------------------------


def test_login() -> None:
    result = parse_login({"id": 1001, "token": "abc123", "refreshToken": "r"}, E)
    assert result == LoginResult(1001, "abc123")
    assert "abc123" not in repr(result)
    assert parse_login({"ID": "1001", "Token": "t"}, E) == LoginResult(1001, "t")
    assert parse_login({"id": 7.0, "token": "t"}, E).account_id == 7


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"id": 1001},
        {"token": "t"},
        {"id": 1.5, "token": "t"},
        {"id": "x", "token": "t"},
        {"id": 1, "token": ""},
        {"id": 1, "token": 42},
        {"id": True, "token": "t"},
    ],
)
def test_bad_login(data: Any) -> None:
    fails(lambda: parse_login(data, E))


def test_sites() -> None:
    data = [
        {
            "id": 1,
            "name": "Home",
            "meters": [{"name": "Garage", "sn": " SN1 "}, {"sn": 12345, "name": None}],
        },
        {"ID": 2, "NAME": "Cottage", "Meters": []},
        {"id": 3, "name": 7, "meters": [{"Name": "Pump", "SN": "SN3"}]},
    ]
    assert parse_sites(data, E) == [
        Meter("SN1", "Garage", "Home"),
        Meter("12345", "12345", "Home"),
        Meter("SN3", "Pump", "7"),
    ]
    assert parse_sites([], E) == []


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"name": "Home", "meters": []},
        [{"name": "Home"}],
        [{"name": "Home", "meters": [{"sn": "  ", "name": "x"}]}],
        [{"name": "Home", "meters": [{"name": "x"}]}],
        [{"name": None, "meters": []}],
    ],
)
def test_bad_sites(data: Any) -> None:
    fails(lambda: parse_sites(data, E))


POWER = {
    "startTime": "2026/11/14 0:00:00",
    "endTime": "2026/11/20 23:59:59",
    "average": 350,
    "dayTimeAverage": "420.5",
    "minimum": -2500,
    "maximum": 4100,
}


def test_power_analysis() -> None:
    assert parse_power_analysis(POWER, E) == PowerAnalysis(
        "2026/11/14 0:00:00", "2026/11/20 23:59:59", 350, 420.5, -2500, 4100
    )
    upper = {k.upper(): v for k, v in POWER.items()}
    assert parse_power_analysis(upper, E) == parse_power_analysis(POWER, E)


@pytest.mark.parametrize("key", ["average", "dayTimeAverage", "minimum", "maximum"])
@pytest.mark.parametrize("value", [None, "n/a", float("nan"), "-inf", True, [1]])
def test_bad_power_analysis_numbers(key: str, value: Any) -> None:
    fails(lambda: parse_power_analysis(POWER | {key: value}, E))


@pytest.mark.parametrize("key", list(POWER))
def test_power_analysis_without_a_key(key: str) -> None:
    fails(lambda: parse_power_analysis({k: v for k, v in POWER.items() if k != key}, E))
    if key.endswith("Time"):
        fails(lambda: parse_power_analysis(POWER | {key: [1]}, E))


OFFLINE = {
    "startTime": "2026/11/14 0:00:00",
    "endTime": "2026/11/20 23:59:59",
    "offlineCount": 30,
    "totalCount": 10080,
    "list": [
        {
            "startTime": "2026/11/15 9:00:00",
            "endTime": "2026/11/15 9:10:00",
            "duration": 10,
        },
        {
            "StartTime": "2026/11/16 1:00:00",
            "ENDTIME": "2026/11/16 1:20:00",
            "Duration": "20",
        },
    ],
}


def test_offline_analysis() -> None:
    result = parse_offline_analysis(OFFLINE, E)
    assert result == OfflineAnalysis(
        "2026/11/14 0:00:00",
        "2026/11/20 23:59:59",
        30,
        10080,
        (
            Outage("2026/11/15 9:00:00", "2026/11/15 9:10:00", 10),
            Outage("2026/11/16 1:00:00", "2026/11/16 1:20:00", 20),
        ),
    )
    assert result.availability == 99.7
    assert parse_offline_analysis(OFFLINE | {"list": []}, E).outages == ()


@pytest.mark.parametrize(
    ("offline", "total", "availability"),
    [
        (0, 1440, 100.0),
        (1440, 1440, 0.0),
        (2000, 1440, 0.0),
        (0, 0, None),
        (1, 3, 66.67),
    ],
)
def test_availability(offline: float, total: float, availability: float | None) -> None:
    data = OFFLINE | {"offlineCount": offline, "totalCount": total}
    assert parse_offline_analysis(data, E).availability == availability


@pytest.mark.parametrize(
    "change",
    [
        {"offlineCount": -1},
        {"totalCount": -10},
        {"totalCount": "inf"},
        {"list": None},
        {"list": [{"startTime": "a", "endTime": "b"}]},
        {"list": [None]},
    ],
)
def test_bad_offline_analysis(change: dict[str, Any]) -> None:
    fails(lambda: parse_offline_analysis(OFFLINE | change, E))


# --- the reading cache ------------------------------------------------------------

READINGS = [
    Reading(T, "2020/8/28 7:27:33", (PV6,)),
    Reading(T, "local", (PhaseValues(230, 1, -100, None, 10, 0),)),
    Reading(
        T,
        "local",
        tuple(PhaseValues(230 + i, i, -100 * i, 0.5, 10 * i, i) for i in range(3)),
        PhaseValues(230, 3, -300, 0.9, 30, 3),
    ),
    Reading(
        datetime(2026, 3, 29, 1, 0, tzinfo=timezone(timedelta(hours=2))), "x", (PV6,)
    ),
]


@pytest.mark.parametrize("reading", READINGS)
def test_reading_dict_round_trip(reading: Reading) -> None:
    data = json.loads(json.dumps(reading_to_dict(reading)))
    assert reading_from_dict(data) == reading


def test_reading_dict_shape_and_naive_time() -> None:
    data = reading_to_dict(READINGS[0])
    assert data == {
        "time": "2020-08-28T05:27:33+00:00",
        "local_time": "2020/8/28 7:27:33",
        "phases": [ROW6],
        "net": None,
    }
    naive = reading_from_dict(data | {"time": "2020-08-28T05:27:33"})
    assert naive.time == T
    assert naive.time.tzinfo is UTC


@pytest.mark.parametrize(
    "change",
    [
        {"time": "yesterday"},
        {"time": None},
        {"time": 5},
        {"phases": []},
        {"net": [1]},
        {"local_time": None},
    ],
)
def test_bad_cached_readings(change: dict[str, Any]) -> None:
    with pytest.raises(IammeterResponseError):
        reading_from_dict(reading_to_dict(READINGS[0]) | change)


# --- a known bug ------------------------------------------------------------------

HUGE = 10**400  # a JSON integer literal of 401 digits: json.loads makes it an int


@pytest.mark.parametrize(
    "parse",
    [
        lambda: parse_row([230, 1, HUGE, 0.5, 1, 0], E),
        lambda: parse_login({"id": HUGE, "token": "t"}, E),
        lambda: parse_power_analysis(POWER | {"maximum": HUGE}, E),
        lambda: parse_reading(
            json.loads(
                '{"values": [[230, 1, 1'
                + "0" * 400
                + ', 1, 0]], "gmtTime": "2020/8/28 5:27:33", "localTime": "x"}'
            ),
            E,
        ),
    ],
)
def test_a_huge_integer_is_a_response_error(parse: Callable[[], object]) -> None:
    fails(parse)


# --- arbitrary JSON -----------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=25,
)
NUMBERS = st.one_of(
    st.floats(-1e6, 1e6),
    st.floats(-1.5, 1.5),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-1000, 10**6).map(str),
    st.sampled_from(
        ["", " 1 ", "1_000", "0x10", "NaN", "-inf", "1e999", "\uff11\uff12", "\u00bd"]
    ),
    SCALARS,
)
TIMES = st.one_of(
    st.builds(
        "{}/{}/{} {}:{:02d}:{:02d}".format,
        st.integers(0, 10000),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
    ),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda t: t.isoformat()),
    st.text(alphabet="0123456789/-: T٣", max_size=20),
    SCALARS,
)
ROWS = st.lists(NUMBERS, min_size=4, max_size=8) | JSON
VALUES = st.lists(ROWS, min_size=0, max_size=5) | JSON


@st.composite
def objects(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> Any:
    """A JSON object with the given fields, sometimes missing, in any case."""
    result: dict[str, Any] = {}
    for key, value in fields.items():
        if draw(st.integers(0, 19)) == 0:
            continue
        spelled = draw(
            st.sampled_from([key, key.upper(), key.lower(), key.capitalize()])
        )
        result[spelled] = draw(value)
    result.update(draw(st.dictionaries(st.text(max_size=8), JSON, max_size=2)))
    return result if draw(st.integers(0, 29)) else draw(JSON)


READING = objects({"values": VALUES, "gmtTime": TIMES, "localTime": TIMES})
POINT = objects({"values": VALUES, "gmtTime": TIMES, "rtcTime": TIMES})
FLAT = st.builds(
    lambda n, t: [*n, *t], st.lists(NUMBERS, max_size=21), st.lists(TIMES, max_size=3)
)
OUTAGE = objects({"startTime": TIMES, "endTime": TIMES, "duration": NUMBERS})
RANGE = {"startTime": TIMES, "endTime": TIMES}
POWER_DATA = objects(
    RANGE | dict.fromkeys(("average", "dayTimeAverage", "minimum", "maximum"), NUMBERS)
)
OFFLINE_DATA = objects(
    RANGE
    | {
        "offlineCount": NUMBERS,
        "totalCount": NUMBERS,
        "list": st.lists(OUTAGE, max_size=3) | JSON,
    }
)
SITES = st.lists(
    objects(
        {
            "name": TIMES,
            "meters": st.lists(objects({"sn": NUMBERS, "name": SCALARS}), max_size=3)
            | JSON,
        }
    ),
    max_size=3,
)
CACHED = objects(
    {
        "time": TIMES,
        "local_time": TIMES,
        "phases": VALUES,
        "net": st.none() | ROWS,
    }
)


def finite(values: PhaseValues) -> bool:
    numbers = [v for v in astuple(values) if v is not None]
    return all(isinstance(v, float) and math.isfinite(v) for v in numbers) and (
        values.energy_import >= 0
        and values.energy_export >= 0
        and (values.power_factor is None or -1 <= values.power_factor <= 1)
    )


def sound(reading: object, *, utc: bool = True) -> bool:
    """A Reading as the parsers promise it."""
    return (
        isinstance(reading, Reading)
        and reading.time.tzinfo is not None
        and (not utc or reading.time.utcoffset() == timedelta(0))
        and isinstance(reading.local_time, str)
        and len(reading.phases) in (1, 3)
        and all(finite(p) for p in reading.phases)
        and (reading.net is None or finite(reading.net))
    )


def attempt(parse: Callable[[], object]) -> object | None:
    """The result, or None when the parser refused with IammeterResponseError."""
    try:
        return parse()
    except IammeterResponseError as err:
        endpoint = err.endpoint
    assert endpoint in (E, "cache")
    return None


@PROFILE
@given(st.one_of(JSON, ROWS))
def test_any_row(data: Any) -> None:
    result = attempt(lambda: parse_row(data, E))
    assert result is None or (isinstance(result, PhaseValues) and finite(result))


@PROFILE
@given(st.one_of(JSON, TIMES))
def test_any_time(data: Any) -> None:
    result = attempt(lambda: parse_time(data, E))
    assert result is None or (isinstance(result, datetime) and result.tzinfo is UTC)


@PROFILE
@given(st.one_of(JSON, READING))
def test_any_reading(data: Any) -> None:
    result = attempt(lambda: parse_reading(data, E))
    assert result is None or sound(result)
    if isinstance(result, Reading):  # and what the cache keeps comes back the same
        assert (
            reading_from_dict(json.loads(json.dumps(reading_to_dict(result)))) == result
        )


@PROFILE
@given(st.one_of(JSON, st.lists(POINT, max_size=4)))
def test_any_history(data: Any) -> None:
    result = attempt(lambda: parse_history(data, E))
    assert result is None or (
        isinstance(result, list) and all(sound(r) for r in result)
    )
    if result:
        assert [r.time for r in result] == sorted(r.time for r in result)


@PROFILE
@given(st.one_of(JSON, st.lists(FLAT, max_size=4)), st.sampled_from([0, 1]))
def test_any_flat_history(data: Any, utc_index: int) -> None:
    result = attempt(lambda: parse_flat_history(data, E, utc_index))
    assert result is None or (
        isinstance(result, list) and all(sound(r) for r in result)
    )


@PROFILE
@given(st.one_of(JSON, objects({"id": NUMBERS, "token": SCALARS})))
def test_any_login(data: Any) -> None:
    result = attempt(lambda: parse_login(data, E))
    if result is not None:
        assert isinstance(result, LoginResult)
        assert isinstance(result.account_id, int)
        assert isinstance(result.token, str)
        assert result.token


@PROFILE
@given(st.one_of(JSON, SITES))
def test_any_sites(data: Any) -> None:
    result = attempt(lambda: parse_sites(data, E))
    if result is not None:
        assert isinstance(result, list)
        for meter in result:
            assert isinstance(meter, Meter)
            assert all(
                isinstance(v, str) for v in (meter.sn, meter.name, meter.site_name)
            )
            assert meter.sn == meter.sn.strip() != ""


@PROFILE
@given(st.one_of(JSON, POWER_DATA))
def test_any_power_analysis(data: Any) -> None:
    result = attempt(lambda: parse_power_analysis(data, E))
    if result is not None:
        assert isinstance(result, PowerAnalysis)
        assert isinstance(result.start, str)
        assert isinstance(result.end, str)
        numbers = (
            result.average,
            result.daytime_average,
            result.minimum,
            result.maximum,
        )
        assert all(isinstance(v, float) and math.isfinite(v) for v in numbers)


@PROFILE
@given(st.one_of(JSON, OFFLINE_DATA))
def test_any_offline_analysis(data: Any) -> None:
    result = attempt(lambda: parse_offline_analysis(data, E))
    if result is not None:
        assert isinstance(result, OfflineAnalysis)
        assert result.offline_minutes >= 0
        assert result.total_minutes >= 0
        assert all(
            isinstance(o, Outage) and math.isfinite(o.minutes) for o in result.outages
        )
        availability = result.availability
        assert availability is None or 0 <= availability <= 100


@PROFILE
@given(st.one_of(JSON, CACHED))
def test_any_cached_reading(data: Any) -> None:
    result = attempt(lambda: reading_from_dict(data))
    assert result is None or sound(result, utc=False)
