"""A seeded timetable of bad days: faults, outages, restarts and changes."""

from __future__ import annotations

from dataclasses import dataclass, field
import random
from typing import Any

from tests.conftest import SN1, SN3

DAY = 1440  # minutes

# Episodes do not overlap each other: each is followed by time to recover, so
# that "fresh data within two update intervals of the end" means something.
# (kind, how many in 30 days, minutes it lasts (lo, hi), minutes to recover)
EPISODES: tuple[tuple[str, int, tuple[int, int], int], ...] = (
    ("http_500", 8, (10, 120), 90),
    ("timeout", 3, (0, 0), 90),
    ("non_json", 4, (5, 60), 90),
    ("empty_body", 3, (0, 0), 150),
    ("unsuccessful", 4, (5, 60), 90),
    ("null_data", 3, (5, 60), 90),
    ("zero_rows", 4, (10, 60), 90),
    ("other_client_readings", 3, (0, 0), 150),
    ("other_client_logins", 1, (0, 0), 150),
    ("token_expiry", 5, (0, 0), 90),
    ("token_expiry_login_down", 1, (10, 40), 150),
    ("analysis_fault", 2, (0, 0), 120),
    ("offline", 1, (120, 120), 90),
    ("offline", 1, (2 * DAY, 2 * DAY), 120),
    ("counter_reset", 1, (0, 0), 90),
)
# Independent of the episodes (they may fall inside one): (kind, how many).
CHANGES: tuple[tuple[str, int], ...] = (
    ("restart", 4),
    ("restart_mid_update", 2),
    ("reload", 4),
    ("options", 3),
    # What users do: read a meter now, ask for analyses, backfill statistics.
    ("refresh", 8),
    ("fetch_analytics", 5),
    ("backfill", 3),
)
INTERVALS = (600, 900, 300)  # successive option changes; back to the default


@dataclass(order=True)
class Event:
    """Something that happens at the start of minute `minute` of the campaign."""

    minute: int
    kind: str = field(compare=False)
    args: dict[str, Any] = field(compare=False, default_factory=dict)


def build(seed: int, days: int) -> list[Event]:
    """The campaign's events, sorted; the same for the same seed and days."""
    rng = random.Random(seed)
    horizon = days * DAY
    scale = days / 30
    episodes: list[tuple[str, int, int]] = []  # kind, duration, recovery
    for kind, count, (shortest, longest), recovery in EPISODES:
        lo, hi = shortest, longest
        if kind == "offline" and lo > horizon / 4:
            lo = hi = max(120, horizon // 8)  # a short campaign: shorter outages
        for _ in range(max(1, round(count * scale))):
            episodes.append((kind, rng.randint(lo, hi), recovery))
    rng.shuffle(episodes)
    busy = sum(d + r for _, d, r in episodes)
    start, end = 60, horizon - 180  # quiet at the start; time to settle at the end
    free = max(0, end - start - busy)
    cuts = sorted(rng.randint(0, free) for _ in episodes)
    gaps = [b - a for a, b in zip([0, *cuts], cuts, strict=False)]
    events: list[Event] = []
    t = start
    for (kind, duration, recovery), gap in zip(episodes, gaps, strict=True):
        t += gap
        events += _episode(rng, t, kind, duration)
        t += duration + recovery
    interval = iter(INTERVALS * days)
    for change, count in CHANGES:
        for _ in range(max(1, round(count * scale))):
            minute = rng.randint(start, end - 60)
            args: dict[str, Any] = {}
            kind = change
            if change == "options":
                args = {"interval": next(interval)}
            elif change in ("refresh", "fetch_analytics", "backfill"):
                # Analyses: 1-7 days within the last 3 weeks (the cloud keeps 31).
                back, days_long = (
                    rng.randint(0, min(20, minute // DAY)),
                    rng.randint(1, 7),
                )
                args = {"sn": rng.choice((SN1, SN3)), "back": back, "days": days_long}
                kind = f"action_{change}"
            events.append(Event(minute, kind, args))
    return sorted(events)


def _episode(rng: random.Random, t: int, kind: str, duration: int) -> list[Event]:
    sn = rng.choice((SN1, SN3))
    if kind in ("http_500", "non_json", "unsuccessful", "null_data", "zero_rows"):
        return [
            Event(t, "fault", {"fault": kind, "endpoint": "meterdata2"}),
            Event(t + duration, "fault_end", {"fault": kind, "endpoint": "meterdata2"}),
        ]
    if kind in ("timeout", "empty_body"):
        count = rng.randint(1, 2) if kind == "timeout" else 1
        return [
            Event(t, "fault", {"fault": kind, "endpoint": "meterdata2", "count": count})
        ]
    if kind == "analysis_fault":
        endpoint = rng.choice(("power_analysis", "offline_analysis"))
        fault = rng.choice(("http_500", "non_json", "unsuccessful"))
        return [Event(t, "fault", {"fault": fault, "endpoint": endpoint, "count": 1})]
    if kind == "other_client_readings":
        return [Event(t, kind, {"sn": sn, "count": 12})]
    if kind == "other_client_logins":
        return [Event(t, kind, {"count": 5}), Event(t + 1, "token_expiry")]
    if kind == "token_expiry":
        return [Event(t, kind)]
    if kind == "token_expiry_login_down":
        return [
            Event(t, "fault", {"fault": "http_500", "endpoint": "login"}),
            Event(t, "token_expiry"),
            Event(
                t + duration, "fault_end", {"fault": "http_500", "endpoint": "login"}
            ),
        ]
    if kind == "offline":
        return [
            Event(t, kind, {"sn": sn, "minutes": duration}),
            Event(t + duration, "offline_end", {"sn": sn}),
        ]
    assert kind == "counter_reset"
    return [Event(t, kind, {"sn": sn})]
