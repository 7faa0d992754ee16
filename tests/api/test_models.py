"""Parsers of the IAMMETER cloud answers: examples, then arbitrary JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
import json
import logging
import math
import os
from typing import Any
from zoneinfo import ZoneInfo

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
    parse_local_time,
    parse_login,
    parse_offline_analysis,
    parse_power_analysis,
    parse_reading,
    parse_row,
    parse_sites,
    parse_time,
    parse_utc_offset,
)

settings.register_profile(
    "iammeter-models",
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    database=None,  # write nothing into the repository
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile("iammeter-models")

E = "meterdata2"  # V, I, P, PF, import, export, then extra values
V1 = "meterdata"  # V, I, P, import, export, then frequency, PF, extra values
LIST2 = "meterdatalist2"
LIST1 = "meterdatalist"
ENDPOINTS = (E, V1, LIST2, LIST1)
T = datetime(2020, 8, 28, 5, 27, 33, tzinfo=UTC)
TWO_HOURS = timedelta(hours=2)  # "2020/8/28 7:27:33" local at T
WARSAW = ZoneInfo("Europe/Warsaw")
ROW6 = [233.41, 0.718, 111, 0.66, 5724.85, 0]
PV6 = PhaseValues(233.41, 0.718, 111, 0.66, 5724.85, 0)


def fails(parse: Callable[[], object], endpoint: str = E) -> IammeterResponseError:
    with pytest.raises(IammeterResponseError) as info:
        parse()
    assert info.value.endpoint == endpoint
    return info.value


# --- rows ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "row", "expected"),
    [
        (E, ROW6, PV6),
        (LIST2, ROW6, PV6),
        (V1, [230, 1.5, -300, 120.5, 80], PhaseValues(230, 1.5, -300, None, 120.5, 80)),
        (
            V1,
            [230, 1.5, -300, 120.5, 80, 50.0, -0.9],
            PhaseValues(230, 1.5, -300, -0.9, 120.5, 80),
        ),
        (E, ["233.41", " 0.718", "111", "0.66", "5724.85", "0"], PV6),
        (E, [230, 0, 0, 1, 0, 0], PhaseValues(230, 0, 0, 1, 0, 0)),
        (E, [230, 0, 0, -1, 0, 0], PhaseValues(230, 0, 0, -1, 0, 0)),
        (LIST1, [230, 1, -100, 10, 0], PhaseValues(230, 1, -100, None, 10, 0)),
    ],
)
def test_rows_by_endpoint(endpoint: str, row: list[Any], expected: PhaseValues) -> None:
    parsed = parse_row(row, endpoint)
    assert parsed == expected
    assert all(isinstance(v, float) for v in astuple(parsed) if v is not None)


@pytest.mark.parametrize(
    ("endpoint", "row", "expected"),
    [
        # meterdata2: frequency, reactive power... after the 6 documented values
        (E, [*ROW6, 49.99], PV6),
        (E, [*ROW6, 49.99, 83], PV6),
        (E, [*ROW6, 49.99, 83, 0, 1, "x", [1], {"a": 1}, None, float("nan")], PV6),
        (LIST2, [*ROW6, 50.01, -12], PV6),
        # meterdata: the vendor's 7-value row (+ frequency, PF), and more
        (
            V1,
            [234.7, 9.99, 1068, 21.063, 20.667, 49.99],
            PhaseValues(234.7, 9.99, 1068, None, 21.063, 20.667),
        ),
        (
            V1,
            [234.7, 9.99, 1068, 21.063, 20.667, 49.99, 1, 250, "x"],
            PhaseValues(234.7, 9.99, 1068, 1, 21.063, 20.667),
        ),
    ],
)
def test_extra_values_never_move_the_counters(
    endpoint: str, row: list[Any], expected: PhaseValues
) -> None:
    """The vendor's own clients read more values than the API page documents."""
    assert parse_row(row, endpoint) == expected


@pytest.mark.parametrize(
    ("endpoint", "row", "expected"),
    [
        (
            E,
            [233.41, 0.718, 111, None, 5724.85, 0],
            (233.41, 0.718, 111, None, 5724.85, 0),
        ),
        (E, [None, None, None, 0.66, 5724.85, 0], (None, None, None, 0.66, 5724.85, 0)),
        (E, [233.41, 0.718, 111, 0.66, None, 0], (233.41, 0.718, 111, 0.66, None, 0)),
        (E, [233.41, 0.718, 111, 0.66, 5724.85, None, None, None], (*ROW6[:5], None)),
        (E, [None] * 6, (None,) * 6),
        (LIST2, [233.41, None, 111, 0.66, None, 0], (233.41, None, 111, 0.66, None, 0)),
        (V1, [230, None, 100, None, 2, None, 0.5], (230, None, 100, 0.5, None, 2)),
        (V1, [230, 1, 100, 1, 2, 50, None], (230, 1, 100, None, 1, 2)),
        (LIST1, [230, 1, None, 1, None], (230, 1, None, None, 1, None)),
    ],
)
def test_null_values_are_unknown(
    endpoint: str, row: list[Any], expected: tuple[float | None, ...]
) -> None:
    """`decimal?` in the vendor's server code: a null is unknown, not a bad row."""
    assert astuple(parse_row(row, endpoint)) == expected


@pytest.mark.parametrize(
    ("endpoint", "row", "why"),
    [
        (E, [], "0 values"),
        (E, [1, 2, 3, 4], "4 values"),
        (E, [230, 1, 100, 10, 0], "5 values"),  # a V1 row is no meterdata2 row
        (LIST2, [230, 1, 100, 10, 0], "5 values"),
        (V1, [230, 1, 100, 10], "4 values"),
        (E, [230, 1, 100, float("nan"), 1, 0], "not finite"),
        (E, [230, 1, float("inf"), 0.5, 1, 0], "not finite"),
        (E, [230, 1, 100, 0.5, "Infinity", 0], "not finite"),
        (E, ["nan", 1, 100, 0.5, 1, 0], "not finite"),
        (E, [230, 1, 100, 0.5, -0.001, 0], "negative energy"),
        (E, [230, 1, 100, 0.5, 1, "-5"], "negative energy"),
        (V1, [230, 1, 100, -1, 0], "negative energy"),
        (E, [230, 1, 100, 1.01, 1, 0], "power factor"),
        (E, [230, 1, 100, -1.5, 1, 0], "power factor"),
        (E, [1, 2, 3, 4, 5, 6, 7, 8], "power factor"),
        (V1, [230, 1, 100, 1, 0, 50, 2], "power factor"),
        (E, [230, 1, 100, True, 1, 0], "not a number"),
        (E, [230, "1,5", 100, 0.5, 1, 0], "not a number"),
        (E, [230, [1], 100, 0.5, 1, 0], "not a number"),
        (E, [230, 1, 100, 0.5, "", 0], "not a number"),
        (E, {"v": 230}, "not a list"),
        (E, "230,1,100,0.5,1,0", "not a list"),
        (E, None, "not a list"),
    ],
)
def test_bad_rows(endpoint: str, row: Any, why: str) -> None:
    assert why in str(fails(lambda: parse_row(row, endpoint), endpoint))


V2_VALUES = st.floats(-1e6, 1e6) | st.integers(-(10**6), 10**6) | st.none()
COUNTERS = st.floats(0, 1e9) | st.integers(0, 10**9) | st.none()
FACTORS = st.floats(-1, 1) | st.none()
EXTRAS = st.lists(
    st.floats(allow_nan=True) | st.none() | st.text(max_size=3), max_size=4
)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


@PROFILE
@given(st.tuples(V2_VALUES, V2_VALUES, V2_VALUES, FACTORS, COUNTERS, COUNTERS), EXTRAS)
def test_v2_counters_are_always_positions_4_and_5(
    head: tuple[float | None, ...], extras: list[Any]
) -> None:
    """Any meterdata2 row of 6 to 10 numbers or nulls: import and export are
    positions 4 and 5, whatever follows them."""
    row = [*head, *extras]
    expected = tuple(_number(v) for v in head)
    assert astuple(parse_row(row, E)) == expected
    point = {"gmtTime": "2020/8/28 5:27:33", "rtcTime": "x", "values": [row]}
    (reading,) = parse_history([point], LIST2)
    assert astuple(reading.phases[0]) == expected


@PROFILE
@given(
    st.tuples(V2_VALUES, V2_VALUES, V2_VALUES, COUNTERS, COUNTERS),
    st.none() | st.floats(40, 70),
    st.lists(FACTORS, max_size=1),
    EXTRAS,
)
def test_v1_counters_are_always_positions_3_and_4(
    head: tuple[float | None, ...],
    frequency: float | None,
    factor: list[float | None],
    extras: list[Any],
) -> None:
    """Any meterdata row of 5 or more: import and export are positions 3 and
    4; the power factor, if any, position 6 (the vendor's 7-value row)."""
    row = [*head, frequency, *factor, *(extras if factor else [])]
    volt, amp, watt, imp, exp = (_number(v) for v in head)
    pf = _number(factor[0]) if factor else None
    assert astuple(parse_row(row, V1)) == (volt, amp, watt, pf, imp, exp)


def test_totals_are_unknown_when_a_phase_value_is_unknown() -> None:
    known = PhaseValues(230, 1, 100, 0.5, 10, 1)
    reading = Reading(T, None, (known, PhaseValues(230, 1, None, None, None, 2), known))
    assert (reading.power, reading.energy_import, reading.energy_export) == (
        None,
        None,
        4,
    )
    single = Reading(T, None, (PhaseValues(None, None, -5, None, 3, None),))
    assert (single.power, single.energy_import, single.energy_export) == (-5, 3, None)


def reading_data(rows: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "values": rows,
        "gmtTime": "2020/8/28 5:27:33",
        "localTime": "2020/8/28 7:27:33",
    } | extra


def test_reading_single_phase() -> None:
    reading = parse_reading(reading_data([ROW6]), E)
    assert reading == Reading(T, TWO_HOURS, (PV6,), None)
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
    # "20200828" is text (as always), but no time: the offset is unknown.
    assert parse_reading(data, E) == Reading(T, None, (PV6,), None)


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


@pytest.mark.parametrize(
    ("local", "offset"),
    [
        ("2020/8/28 7:27:33", TWO_HOURS),
        ("2020/8/28 5:27:33", timedelta(0)),
        # the meter's clock a little off: to the quarter hour
        ("2020/8/28 7:29:58", TWO_HOURS),
        ("2020/8/28 7:34:00", TWO_HOURS),
        ("2020/8/28 7:37:00", TWO_HOURS + timedelta(minutes=15)),
        ("2020/8/28 10:57:33", timedelta(hours=5, minutes=30)),  # India
        ("2020/8/28 11:12:33", timedelta(hours=5, minutes=45)),  # Nepal
        # negative offsets, across the date line too
        ("2020/8/27 21:27:33", timedelta(hours=-8)),
        ("2020/8/28 1:57:33", timedelta(hours=-3, minutes=-30)),  # Newfoundland
        ("2020/8/27 19:27:00", timedelta(hours=-10)),
        ("2020/8/29 7:27:33", None),  # a day or more: no time zone
        ("2020/8/27 5:27:33", None),
        # unreadable: never an error
        ("x", None),
        ("", None),
        ("20200828", None),
        ("2020/13/1 0:00:00", None),
        (None, None),
        (20200828, None),
    ],
)
def test_utc_offsets(local: object, offset: timedelta | None) -> None:
    assert parse_utc_offset(local, T) == offset
    data = reading_data([ROW6], localTime=local)
    if isinstance(local, str):
        assert parse_reading(data, E).utc_offset == offset


def test_the_offset_of_each_history_point() -> None:
    points = [
        {
            "rtcTime": "2026/3/29 1:55:00",
            "gmtTime": "2026/3/29 0:55:00",
            "values": [ROW6],
        },
        {
            "rtcTime": "2026/3/29 3:00:00",
            "gmtTime": "2026/3/29 1:00:00",
            "values": [ROW6],
        },
        {"rtcTime": "soon", "gmtTime": "2026/3/29 1:05:00", "values": [ROW6]},
    ]
    offsets = [p.utc_offset for p in parse_history(points, LIST2)]
    assert offsets == [timedelta(hours=1), timedelta(hours=2), None]  # DST began


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026/6/9 5:00:00", datetime(2026, 6, 9, 5, tzinfo=WARSAW)),
        ("2026/06/09 05:00", datetime(2026, 6, 9, 5, tzinfo=WARSAW)),
        ("2026-6-9T5:00:00", datetime(2026, 6, 9, 5, tzinfo=WARSAW)),
        ("2026/6/9", datetime(2026, 6, 9, tzinfo=WARSAW)),
        (" 2026-06-09 ", datetime(2026, 6, 9, tzinfo=WARSAW)),
        ("2026-06-09T05:00:00", datetime(2026, 6, 9, 5, tzinfo=WARSAW)),
        # its own offset: that moment, in the time zone
        ("2026-06-09T05:00:00+00:00", datetime(2026, 6, 9, 7, tzinfo=WARSAW)),
        ("2026-12-09T05:00:00Z", datetime(2026, 12, 9, 6, tzinfo=WARSAW)),
    ],
)
def test_local_times(text: str, expected: datetime) -> None:
    parsed = parse_local_time(text, WARSAW, E)
    assert parsed == expected
    assert parsed.tzinfo is WARSAW
    assert (parsed.year, parsed.hour) == (expected.year, expected.hour)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x",
        "2026/6/9 5",
        "9/6/2026 5:00:00",
        "2026/2/30",
        "2026/6/9 25:00:00",
        None,
        5,
    ],
)
def test_bad_local_times(value: Any) -> None:
    fails(lambda: parse_local_time(value, WARSAW, E))


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
    assert [p.utc_offset for p in points] == [TWO_HOURS] * 3
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
    fails(lambda: parse_flat_history(data, LIST1), LIST1)  # a point of 2 phases
    single = [["230", "1", "-100", "10", "0", "2020/8/28 7:27:33", "2020/8/28 5:27:33"]]
    (reading,) = parse_flat_history(single, LIST1)
    assert reading == Reading(T, TWO_HOURS, (PhaseValues(230, 1, -100, None, 10, 0),))
    (reading,) = parse_flat_history(data[:1], LIST1)
    assert reading.time == datetime(2020, 8, 28, 5, 5, tzinfo=UTC)
    assert [p.power for p in reading.phases] == [100, -500, 50]
    (local_first,) = parse_flat_history(single, LIST1, utc_index=0)
    assert local_first.time == datetime(2020, 8, 28, 7, 27, 33, tzinfo=UTC)
    assert local_first.utc_offset == -TWO_HOURS
    assert parse_flat_history(None, LIST1) == []
    nulls = [[230, None, 100, None, 0, "2020/8/28 7:27:33", "2020/8/28 5:27:33"]]
    (reading,) = parse_flat_history(nulls, LIST1)
    assert reading.phases == (PhaseValues(230, None, 100, None, None, 0),)


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
    fails(lambda: parse_flat_history(data, LIST1), LIST1)


# --- login, sites, analyses -------------------------------------------------------


def test_login() -> None:
    result = parse_login({"id": 1001, "token": "abc123", "refreshToken": "r"}, E)
    assert result == LoginResult(1001, "abc123")
    assert "abc123" not in repr(result)
    assert parse_login({"ID": "1001", "Token": "t"}, E) == LoginResult(1001, "t")
    assert parse_login({"id": 7.0, "token": "t"}, E).account_id == 7


@pytest.mark.parametrize(
    ("value", "account_id"),
    [
        ("2025", 2025),  # the same unique id as an int id: existing entries match
        (" 2025 ", 2025),
        ("2025.0", 2025),
        ("acct-2025", "acct-2025"),
        (" u_77 ", "u_77"),
        ("1.5", "1.5"),
        ("NaN", "NaN"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_login_with_an_account_id_that_is_not_an_int(
    value: Any, account_id: int | str | None
) -> None:
    result = parse_login({"id": value, "token": "t"}, E)
    assert result == LoginResult(account_id, "t")
    assert type(result.account_id) is type(account_id)


def test_login_without_an_account_id() -> None:
    assert parse_login({"token": "t", "refreshToken": "r"}, E) == LoginResult(None, "t")


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"id": 1001},
        {"id": 1.5, "token": "t"},
        {"id": 1, "token": ""},
        {"id": 1, "token": 42},
        {"id": True, "token": "t"},
        {"id": [1], "token": "t"},
        {"id": {"id": 1}, "token": "t"},
        {"id": "x" * 101, "token": "t"},
        {"id": "a\nb", "token": "t"},
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


GOOD_SITE = {"id": 1, "name": "Home", "meters": [{"name": "Garage", "sn": "SN1"}]}
GARAGE = Meter("SN1", "Garage", "Home")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([{"name": "Home"}, GOOD_SITE], [GARAGE]),
        (
            [
                GOOD_SITE,
                {"name": None, "meters": [{"sn": "SN2"}, None]},
                {"meters": []},
            ],
            [GARAGE, Meter("SN2", "SN2", "")],
        ),
        (["site", None, 7, [], GOOD_SITE], [GARAGE]),
        ([{"name": "Home", "meters": {"sn": "SN2"}}, GOOD_SITE], [GARAGE]),
        (
            [
                {
                    "name": "Home",
                    "meters": [
                        None,
                        {"name": "x"},
                        {"sn": "  ", "name": "x"},
                        {"sn": None},
                        {"sn": ["SN2"]},
                        {"name": "Garage", "sn": "SN1"},
                        {"SN": "SN3"},
                    ],
                }
            ],
            [GARAGE, Meter("SN3", "SN3", "Home")],
        ),
        ([{"name": "Home"}, {"name": "Cottage", "meters": [None]}], []),
        ([{"name": "Home", "meters": None}, {"meters": "SN1"}], []),
    ],
)
def test_one_bad_site_or_meter_is_skipped(
    data: Any, expected: list[Meter], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert parse_sites(data, E) == expected
    assert "skipped" in caplog.text
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


@pytest.mark.parametrize("data", [None, {"name": "Home", "meters": []}, "x", 5])
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


RANGE_START = datetime(2026, 11, 14, tzinfo=UTC)
RANGE_END = datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)


def test_power_analysis() -> None:
    assert parse_power_analysis(POWER, E) == PowerAnalysis(
        RANGE_START, RANGE_END, 350, 420.5, -2500, 4100
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
        RANGE_START,
        RANGE_END,
        30,
        10080,
        (
            Outage(
                datetime(2026, 11, 15, 9, tzinfo=UTC),
                datetime(2026, 11, 15, 9, 10, tzinfo=UTC),
                10,
            ),
            Outage(
                datetime(2026, 11, 16, 1, tzinfo=UTC),
                datetime(2026, 11, 16, 1, 20, tzinfo=UTC),
                20,
            ),
        ),
    )
    assert result.availability == 99.7
    assert parse_offline_analysis(OFFLINE | {"list": []}, E).outages == ()


def test_analysis_times_are_local_times_in_the_given_time_zone() -> None:
    power = parse_power_analysis(POWER, E, WARSAW)
    assert power.start == datetime(2026, 11, 14, tzinfo=WARSAW)
    assert power.end == datetime(2026, 11, 20, 23, 59, 59, tzinfo=WARSAW)
    assert power.start is not None
    assert power.start.utcoffset() == timedelta(hours=1)
    offline = parse_offline_analysis(OFFLINE, E, WARSAW)
    assert (offline.start, offline.end) == (power.start, power.end)
    assert [(o.start, o.end) for o in offline.outages] == [
        (
            datetime(2026, 11, 15, 9, tzinfo=WARSAW),
            datetime(2026, 11, 15, 9, 10, tzinfo=WARSAW),
        ),
        (
            datetime(2026, 11, 16, 1, tzinfo=WARSAW),
            datetime(2026, 11, 16, 1, 20, tzinfo=WARSAW),
        ),
    ]
    assert all(o.start.tzinfo is WARSAW for o in offline.outages)
    # as dates only (the form of the query)
    days = parse_power_analysis(
        POWER | {"startTime": "2026-11-14", "endTime": "2026/11/20"}, E, WARSAW
    )
    assert (days.start, days.end) == (
        datetime(2026, 11, 14, tzinfo=WARSAW),
        datetime(2026, 11, 20, tzinfo=WARSAW),
    )


def test_an_outage_with_unreadable_times_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    unreadable = [
        {"startTime": "soon", "endTime": "2026/11/15 9:10:00", "duration": 10},
        {"startTime": "2026/11/15 9:00:00", "endTime": "2026/2/30 0:00", "duration": 1},
        {"startTime": 20261115, "endTime": "", "duration": 5},
    ]
    data = OFFLINE | {"list": [*unreadable, *OFFLINE["list"]]}  # type: ignore[misc]
    result = parse_offline_analysis(data, E, WARSAW)
    assert result.outages == parse_offline_analysis(OFFLINE, E, WARSAW).outages
    assert result.offline_minutes == 30
    assert caplog.text.count("outage of the offline analysis skipped") == 3
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_an_unreadable_range_is_unknown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    changed = {"startTime": "last week", "endTime": 7}
    power = parse_power_analysis(POWER | changed, E, WARSAW)
    assert (power.start, power.end, power.average) == (None, None, 350)
    offline = parse_offline_analysis(OFFLINE | changed, E, WARSAW)
    assert (offline.start, offline.end, len(offline.outages)) == (None, None, 2)
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


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
ROWS = st.lists(NUMBERS, min_size=4, max_size=10) | JSON
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


def finite(values: PhaseValues) -> bool:
    numbers = [v for v in astuple(values) if v is not None]
    return all(isinstance(v, float) and math.isfinite(v) for v in numbers) and (
        (values.energy_import is None or values.energy_import >= 0)
        and (values.energy_export is None or values.energy_export >= 0)
        and (values.power_factor is None or -1 <= values.power_factor <= 1)
    )


def offset_sound(offset: object) -> bool:
    """A UTC offset as the parsers promise it: None, or whole quarter hours of
    less than a day."""
    return offset is None or (
        isinstance(offset, timedelta)
        and abs(offset) < timedelta(days=1)
        and offset % timedelta(minutes=15) == timedelta(0)
    )


def sound(reading: object, *, utc: bool = True) -> bool:
    """A Reading as the parsers promise it."""
    return (
        isinstance(reading, Reading)
        and reading.time.tzinfo is not None
        and (not utc or reading.time.utcoffset() == timedelta(0))
        and offset_sound(reading.utc_offset)
        and len(reading.phases) in (1, 3)
        and all(finite(p) for p in reading.phases)
        and (reading.net is None or finite(reading.net))
    )


def aware_or_none(moment: object, time_zone: ZoneInfo) -> bool:
    """None, or an aware datetime in `time_zone`."""
    return moment is None or (
        isinstance(moment, datetime) and moment.tzinfo is time_zone
    )


def attempt(parse: Callable[[], object]) -> object | None:
    """The result, or None when the parser refused with IammeterResponseError."""
    try:
        return parse()
    except IammeterResponseError as err:
        endpoint = err.endpoint
    assert endpoint in ENDPOINTS
    return None


@PROFILE
@given(st.one_of(JSON, ROWS), st.sampled_from(ENDPOINTS))
def test_any_row(data: Any, endpoint: str) -> None:
    result = attempt(lambda: parse_row(data, endpoint))
    assert result is None or (isinstance(result, PhaseValues) and finite(result))


@PROFILE
@given(st.one_of(JSON, TIMES))
def test_any_time(data: Any) -> None:
    result = attempt(lambda: parse_time(data, E))
    assert result is None or (isinstance(result, datetime) and result.tzinfo is UTC)


@PROFILE
@given(st.one_of(JSON, READING), st.sampled_from([E, V1]))
def test_any_reading(data: Any, endpoint: str) -> None:
    result = attempt(lambda: parse_reading(data, endpoint))
    assert result is None or sound(result)


@PROFILE
@given(st.one_of(JSON, st.lists(POINT, max_size=4)))
def test_any_history(data: Any) -> None:
    result = attempt(lambda: parse_history(data, LIST2))
    assert result is None or (
        isinstance(result, list) and all(sound(r) for r in result)
    )
    if result:
        assert [r.time for r in result] == sorted(r.time for r in result)


@PROFILE
@given(st.one_of(JSON, st.lists(FLAT, max_size=4)), st.sampled_from([0, 1]))
def test_any_flat_history(data: Any, utc_index: int) -> None:
    result = attempt(lambda: parse_flat_history(data, LIST1, utc_index))
    assert result is None or (
        isinstance(result, list) and all(sound(r) for r in result)
    )


@PROFILE
@given(st.one_of(JSON, objects({"id": NUMBERS, "token": SCALARS})))
def test_any_login(data: Any) -> None:
    result = attempt(lambda: parse_login(data, E))
    if result is not None:
        assert isinstance(result, LoginResult)
        assert isinstance(result.account_id, int | str | None)
        assert result.account_id != ""
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
    result = attempt(lambda: parse_power_analysis(data, E, WARSAW))
    if result is not None:
        assert isinstance(result, PowerAnalysis)
        assert aware_or_none(result.start, WARSAW)
        assert aware_or_none(result.end, WARSAW)
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
    result = attempt(lambda: parse_offline_analysis(data, E, WARSAW))
    if result is not None:
        assert isinstance(result, OfflineAnalysis)
        assert result.offline_minutes >= 0
        assert result.total_minutes >= 0
        assert all(
            isinstance(o, Outage)
            and math.isfinite(o.minutes)
            and aware_or_none(o.start, WARSAW)
            and aware_or_none(o.end, WARSAW)
            for o in result.outages
        )
        assert aware_or_none(result.start, WARSAW)
        assert aware_or_none(result.end, WARSAW)
        availability = result.availability
        assert availability is None or 0 <= availability <= 100
