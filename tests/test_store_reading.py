"""The reading cache: a reading as JSON in Home Assistant's store and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import json
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.iammeter_cloud.api import (
    IammeterResponseError,
    PhaseValues,
    Reading,
    parse_reading,
    parse_row,
    parse_utc_offset,
)
from custom_components.iammeter_cloud.store import reading_from_dict, reading_to_dict
from tests.api.test_models import (
    JSON,
    NUMBERS,
    PROFILE,
    PV6,
    READING,
    ROW6,
    ROWS,
    TIMES,
    TWO_HOURS,
    V1,
    VALUES,
    E,
    T,
    attempt,
    objects,
    sound,
)

READINGS = [
    Reading(T, TWO_HOURS, (PV6,)),
    Reading(T, None, (PhaseValues(230, 1, -100, None, 10, 0),)),
    Reading(T, -TWO_HOURS, (PhaseValues(None, 1, None, 0.5, None, 0),)),
    Reading(
        T,
        timedelta(hours=5, minutes=45),
        (PV6, PhaseValues(None, None, None, None, None, None), PV6),
        PhaseValues(230, 3, None, 0.9, 30, None),
    ),
    Reading(
        T,
        timedelta(hours=-3, minutes=-30),
        tuple(PhaseValues(230 + i, i, -100 * i, 0.5, 10 * i, i) for i in range(3)),
        PhaseValues(230, 3, -300, 0.9, 30, 3),
    ),
    Reading(
        datetime(2026, 3, 29, 1, 0, tzinfo=timezone(timedelta(hours=2))), None, (PV6,)
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
        "utc_offset": 7200,
        "phases": [ROW6],
        "net": None,
    }
    assert reading_to_dict(READINGS[1])["utc_offset"] is None
    assert reading_to_dict(READINGS[4])["utc_offset"] == -12600
    naive = reading_from_dict(data | {"time": "2020-08-28T05:27:33"})
    assert naive.time == T
    assert naive.time.tzinfo is UTC


@pytest.mark.parametrize(
    ("local_time", "offset"),
    [
        ("2026/06/15 11:00:00", timedelta(hours=1)),
        ("2026/6/15 12:00:00", TWO_HOURS),
        ("2026/6/15 15:29:58", timedelta(hours=5, minutes=30)),
        ("2026/6/15 2:00:00", timedelta(hours=-8)),
        ("2026/6/14 10:00:00", None),
        ("x", None),
        ("", None),
        (20260615, None),
    ],
)
def test_the_cache_reads_the_local_time_earlier_versions_stored(
    local_time: object, offset: timedelta | None
) -> None:
    """Stores written before hold the meter's local time as the cloud wrote it:
    the offset is derived from it as the API's parsers derive it."""
    stored = {
        "time": "2026-06-15T10:00:00+00:00",
        "local_time": local_time,
        "phases": [ROW6],
        "net": None,
    }
    reading = reading_from_dict(stored)
    assert reading.utc_offset == offset
    assert offset == parse_utc_offset(local_time, reading.time)
    if isinstance(local_time, str):
        cloud = {"gmtTime": "2026/6/15 10:00:00", "localTime": local_time}
        assert parse_reading(cloud | {"values": [ROW6]}, E) == reading
    assert reading_from_dict(reading_to_dict(reading)) == reading


@pytest.mark.parametrize(
    ("phases", "net", "expected"),
    [
        ([ROW6], None, (PV6,)),
        ([[230, 1, -100, 10, 0]], None, (PhaseValues(230, 1, -100, None, 10, 0),)),
        (
            [[230, 1, 100, 0.5, 1, 0], [231, 2, -500, 20, 5], ROW6],
            [230, 3, -400, 0.9, 30, 5],
            (
                PhaseValues(230, 1, 100, 0.5, 1, 0),
                PhaseValues(231, 2, -500, None, 20, 5),
                PV6,
            ),
        ),
    ],
)
def test_the_cache_reads_what_earlier_versions_stored(
    phases: list[Any], net: list[Any] | None, expected: tuple[PhaseValues, ...]
) -> None:
    """Existing stores hold 6-value rows, and 5-value rows without a PF."""
    stored = {"time": "2020-08-28T05:27:33+00:00", "local_time": "x"}
    reading = reading_from_dict(stored | {"phases": phases, "net": net})
    assert reading.phases == expected
    assert reading.net == (None if net is None else parse_row(net, E))
    assert reading.utc_offset is None


@pytest.mark.parametrize(
    "change",
    [
        {"time": "yesterday"},
        {"time": None},
        {"time": 5},
        {"phases": []},
        {"net": [1]},
        {"utc_offset": "7200"},
        {"utc_offset": True},
        {"utc_offset": float("nan")},
        {"utc_offset": 86400},
        {"utc_offset": -(10**400)},
    ],
)
def test_bad_cached_readings(change: dict[str, Any]) -> None:
    with pytest.raises(IammeterResponseError) as info:
        reading_from_dict(reading_to_dict(READINGS[0]) | change)
    assert info.value.endpoint == "cache"


@pytest.mark.parametrize("local_time", [None, [1], {"a": 1}])
def test_bad_local_times_earlier_versions_stored(local_time: object) -> None:
    stored = reading_to_dict(READINGS[0])
    del stored["utc_offset"]
    with pytest.raises(IammeterResponseError):
        reading_from_dict(stored | {"local_time": local_time})
    with pytest.raises(IammeterResponseError):
        reading_from_dict(stored)  # neither `utc_offset` nor `local_time`


@pytest.mark.parametrize("data", [None, [], "x", 5])
def test_a_cached_reading_is_an_object(data: object) -> None:
    with pytest.raises(IammeterResponseError):
        reading_from_dict(data)


# --- arbitrary JSON -----------------------------------------------------------------

CACHED = objects(
    {
        "time": TIMES,
        "local_time": TIMES,
        "utc_offset": st.none() | NUMBERS,
        "phases": VALUES,
        "net": st.none() | ROWS,
    }
)


def cache_attempt(data: object) -> Reading | None:
    """The reading, or None when the cache refused it with IammeterResponseError."""
    try:
        return reading_from_dict(data)
    except IammeterResponseError as err:
        endpoint = err.endpoint
    assert endpoint == "cache"
    return None


@PROFILE
@given(st.one_of(JSON, READING), st.sampled_from([E, V1]))
def test_any_reading_comes_back_the_same_from_the_cache(
    data: Any, endpoint: str
) -> None:
    result = attempt(lambda: parse_reading(data, endpoint))
    if isinstance(result, Reading):
        assert (
            reading_from_dict(json.loads(json.dumps(reading_to_dict(result)))) == result
        )


@PROFILE
@given(st.one_of(JSON, CACHED))
def test_any_cached_reading(data: Any) -> None:
    result = cache_attempt(data)
    assert result is None or sound(result, utc=False)
