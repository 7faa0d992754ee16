"""The hours of a gap: each statistic's hourly (state, sum) from the history.

Free of Home Assistant. Each statistic continues from its last hourly row
before the gap (`Anchor`, never rewritten). A copy of the energy guard replays
the history (no negative steps; a register change continues by its size, a
reset counts the new counter from 0). Every sensor's hours are anchored
backwards from the value the sensor shows now (the guard's published series,
which never falls), so that they end exactly where the recorder continues.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..energy import CounterGuard, EnergySensor, Verdict, max_power
from .gaps import HOUR, Gap

type Point = tuple[datetime, Mapping[str, float]]
type Rows = dict[str, dict[datetime, tuple[float, float]]]
"""Hourly (state, sum) in kWh, by hour, by statistic id."""


@dataclass(frozen=True, slots=True)
class Target:
    """An energy sensor whose statistics are backfilled."""

    entity_id: str
    sensor: EnergySensor


@dataclass(slots=True)
class Snapshot:
    """The history of one meter, and the sensors' values it ends at."""

    points: list[Point]
    reference: datetime
    """Time of the reading the sensors show; points end there."""
    live: Mapping[str, float]
    """The guarded counters and totals shown, after the guards caught up."""
    fed: set[str]
    """Counters whose guard took values from the history."""
    first: datetime | None = field(init=False)

    def __post_init__(self) -> None:
        self.first = self.points[0][0] if self.points else None


@dataclass(frozen=True, slots=True)
class Anchor:
    """The last hourly row of a statistic before the hours to write (kWh)."""

    start: datetime
    state: float
    sum: float


@dataclass(frozen=True, slots=True)
class LiveStart:
    """Where a statistic's record begins: the hour, and its sum less its state
    (kWh; constant while the sensor's value never falls)."""

    hour: datetime
    offset: float


def replay(
    points: Sequence[Point],
    key: str,
    since: datetime,
    ends: Sequence[datetime],
) -> list[tuple[float, float] | None]:
    """`(value, published)` of a new guard after the points up to each end.

    The guard starts with the first point from `since` on. With hindsight:
    lower values that turn out to be a new register count as such from the
    first of them on (the live guard confirms them only 15 minutes on).
    """
    guard = CounterGuard(max_power(key))
    timeline: list[tuple[datetime, float, float]] = []
    for moment, values in points:
        if moment < since or key not in values:
            continue
        value = values[key]
        pending = list(guard.pending)
        if guard.offer(value, moment) is Verdict.RESET:
            confirmed = dict(pending)
            timeline = [
                (t, confirmed[t], confirmed[t] + guard.offset)
                if t in confirmed
                else (t, shown, total)
                for t, shown, total in timeline
            ]
        shown = guard.value if guard.value is not None else value
        timeline.append((moment, shown, shown + guard.offset))
    result: list[tuple[float, float] | None] = []
    index = 0
    last: tuple[float, float] | None = None
    for end in ends:
        while index < len(timeline) and timeline[index][0] <= end:
            last = timeline[index][1:]
            index += 1
        result.append(last)
    return result


def series(
    target: Target, anchor: Anchor, gap: Gap, end: datetime, snapshot: Snapshot
) -> dict[datetime, tuple[float, float]]:
    """(state, sum) in kWh of each hour after the anchor up to `end`.

    Hours that end before the history's first point are left out. No hour ends
    below what the recorder counted up to the gap, nor above where it continues.
    """
    since = anchor.start + HOUR
    hours = _hours(since, end)
    first = snapshot.first
    if not hours or first is None:
        return {}
    ends = [gap.start, *(h + HOUR for h in hours), snapshot.reference]
    energy = _energy(target, anchor, since, ends, snapshot)
    counted = _rising([max(energy[0], e) for e in energy[1:-1]])
    rows = {}
    for index, hour in enumerate(hours):
        if hour + HOUR < first:
            continue
        state = anchor.state + counted[index]
        rows[hour] = (round(state, 3), anchor.sum + counted[index])
    return rows


def _energy(
    target: Target,
    anchor: Anchor,
    since: datetime,
    ends: Sequence[datetime],
    snapshot: Snapshot,
) -> list[float]:
    """Energy of a sensor (a counter, or a three-phase total) since its anchor,
    at each end.

    The sensors show the guards' published series, which never falls, so the
    recorder's sum continues from what the sensor shows at the reference
    reading. The energy is counted backwards from there (with the guard's rules
    over the history), so that the hours meet it exactly, whatever register
    changes the guards took. At the gap's start, at least what the history
    counts from the anchor's hour on.
    """
    totals = [0.0] * len(ends)
    for key in target.sensor.counters:
        replayed = replay(snapshot.points, key, since, ends)
        for index, values in enumerate(replayed):
            totals[index] += 0.0 if values is None else values[1]
    shown = snapshot.live.get(target.sensor.shown, anchor.state)
    energy = [shown - anchor.state - (totals[-1] - t) for t in totals]
    forward = totals[0] - _first_sum(snapshot.points, target.sensor.counters, since)
    energy[0] = max(energy[0], forward)
    return energy


def _first_sum(points: Sequence[Point], keys: Sequence[str], since: datetime) -> float:
    """The sum of the counters' first values from `since` on."""
    return sum(
        next((values[key] for t, values in points if t >= since and key in values), 0.0)
        for key in keys
    )


def _hours(first: datetime, end: datetime) -> list[datetime]:
    """The starts of the hours from `first` on that begin before `end`."""
    hours = []
    hour = first
    while hour < end:
        hours.append(hour)
        hour += HOUR
    return hours


def _rising(energy: Sequence[float]) -> list[float]:
    """Never below 0, never falling."""
    result: list[float] = []
    top = 0.0
    for value in energy:
        top = max(top, value)
        result.append(top)
    return result


def history_series(
    target: Target, first_hour: datetime, end: datetime, snapshot: Snapshot
) -> tuple[dict[datetime, tuple[float, float]], float]:
    """(state, sum) in kWh of each hour from `first_hour` up to `end`, for a
    statistic without a record before `end`, and the sensor's value at the
    history's first point (the sums' zero).

    The sums count from 0 at the history's first point on (the hour holding it
    counts from there); hours that end before it are left out. The states are
    the values the sensor shows, anchored backwards from its value now, like
    a gap's.
    """
    hours = _hours(first_hour, end)
    first = snapshot.first
    keys = target.sensor.counters
    if first is None:  # never: the reading shown ends the points
        return {}, 0.0
    ends = [*(h + HOUR for h in hours), snapshot.reference]
    totals = [0.0] * len(ends)
    for key in keys:
        for index, values in enumerate(replay(snapshot.points, key, first_hour, ends)):
            totals[index] += 0.0 if values is None else values[1]
    start = _first_sum(snapshot.points, keys, first_hour)
    shown = snapshot.live.get(target.sensor.shown, totals[-1])
    zero = shown - (totals[-1] - start)
    counted = _rising([t - start for t in totals[:-1]])
    rows = {
        hour: (round(zero + counted[index], 3), counted[index])
        for index, hour in enumerate(hours)
        if hour + HOUR > first
    }
    return rows, zero
