"""Gaps in a meter's readings, and the one history request that covers them.

Free of Home Assistant: times in, times out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from ..const import HISTORY_DAYS

HOUR: Final = timedelta(hours=1)
MAX_POINTS: Final = 1900  # the cloud answers at most 2000 points
# Intervals (s) the history is asked at: each divides an hour, so that points fall
# on hour boundaries; the shortest that covers the range in one answer is used.
INTERVALS: Final = (60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800, 3600)
START_GAP: Final = timedelta(minutes=15)
"""At start, readings further apart than this are a gap ..."""
RUNNING_GAP: Final = timedelta(hours=1)
"""... and while running, further apart than this (or two update intervals)."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Readings missing between two readings the integration received."""

    start: datetime
    """The last reading before the gap."""
    end: datetime
    """The first reading after it."""


def hour(moment: datetime) -> datetime:
    """The start of the hour of `moment`."""
    return moment.replace(minute=0, second=0, microsecond=0)


def is_gap(
    seen: datetime, now: datetime, interval: timedelta, *, starting: bool
) -> bool:
    """Whether readings at `seen` and then at `now` leave hours to fill.

    Further apart than START_GAP (at start) or RUNNING_GAP (while running), at
    least two update intervals, and with an hour boundary between them.
    """
    threshold = max(START_GAP if starting else RUNNING_GAP, 2 * interval)
    return now - seen > threshold and hour(seen) < hour(now)


def merge(gaps: Sequence[Gap]) -> list[Gap]:
    """Gaps by start; those that share an hour are one (the hours in between had
    no readings)."""
    merged: list[Gap] = []
    for gap in sorted(gaps, key=lambda gap: gap.start):
        if merged and hour(gap.start) <= hour(merged[-1].end):
            merged[-1] = Gap(merged[-1].start, max(merged[-1].end, gap.end))
        else:
            merged.append(gap)
    return merged


def history_request(
    first: datetime, now: datetime, offset: timedelta
) -> tuple[date, date, int]:
    """Local start and end dates and the interval of one answer from `first` on.

    The cloud answers from local midnight of the start date, at most 2000
    points, at most HISTORY_DAYS days back.
    """
    today = (now + offset).date()
    oldest = today - timedelta(days=HISTORY_DAYS - 1)
    start = max((first + offset - HOUR).date(), oldest)
    midnight = datetime.combine(start, time(), UTC) - offset
    span = (now - midnight).total_seconds()
    interval = next((i for i in INTERVALS if span / i <= MAX_POINTS), INTERVALS[-1])
    return start, today, interval
