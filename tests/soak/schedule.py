"""A seeded timetable of bad days: faults, outages, restarts and changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    ("empty_body", 3, (0, 0), 150),  # a one-off empty answer
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
    # The meter's register and clock (energy you can trust): a register
    # restored lower after a power cut, float noise in the cloud's counters
    # (persistent or wobbling), one reading dated a day ahead, a meter clock
    # hours ahead for a while and then corrected.
    ("restored_register", 3, (0, 0), 90),
    ("float_noise", 2, (60, 8 * 60), 90),
    ("future_reading", 2, (1, 1), 90),
    ("clock_ahead", 2, (20, 120), 120),
    # The real cloud's shapes (from the vendor's own clients): longer rows,
    # nulls, and a login answer whose account id is not an int.
    ("extra_values", 3, (60, 6 * 60), 90),
    ("nulls", 4, (20, 180), 90),
    ("login_id", 2, (0, 0), 150),
    # Issue 10: every token refused (HTTP 401) while logins work; tokens expired
    # and refused with HTTP 200 "token invalid"; HTTP 429 with Retry-After.
    ("token_glitch", 3, (5, 10), 90),
    ("token_invalid_200", 2, (10, 60), 90),
    ("http_429", 3, (0, 0), 90),
)
# kWh a restored register is lower by (a power cut lost that much counting).
RESTORED_KWH = (0.05, 0.3, 2.0)
# Columns sent as null in a "nulls" episode (in one row, or in every row).
NULLS: tuple[tuple[str, ...], ...] = (
    ("power_factor",),
    ("voltage", "current"),
    ("power",),
    ("energy_import",),
    ("energy_export", "power_factor", "extra"),
    ("voltage", "current", "power", "power_factor", "energy_import", "energy_export"),
)
LOGIN_IDS = ("numeric_string", "text", "missing", "null")
# Independent of the episodes (they may fall inside one): (kind, how many).
CHANGES: tuple[tuple[str, int], ...] = (
    ("restart", 4),
    ("restart_mid_update", 2),
    ("reload", 4),
    ("options", 3),
    # What users do: read a meter now, ask for analyses, backfill statistics.
    ("refresh", 8),
    ("concurrent_refresh", 3),  # 20 refresh actions at once
    ("fetch_analytics", 5),
    ("backfill", 3),
)
INTERVALS = (600, 900, 300)  # successive option changes; back to the default
# A meter that appears on the account mid-campaign must get its entities by the
# integration's next daily look at the site list, or the one after it (a look
# that falls into a fault is tried again a day later): within ADD_WITHIN.
NEW_METER = ("SIMSHED00001", "Shed")
# A value the cloud rounded up, then the register restored a little lower (the
# guard must judge the change against the register as last seen): the
# three-phase meter's export counter of its solar phase, at night (it does not
# count, so the true value after the rounded one is held as the same value).
# (how many in 30 days, minutes rounded up, minutes until the restore, minutes
# the episode keeps others away). The campaign starts at local midnight: NIGHT
# are minutes of its days the episode may start in.
ROUNDED_RESTORE = (2, 20, 60, 180)
NIGHT = (60, 150)
ROUNDED_KWH = (0.02, 0.05, 0.3)
# The server's port closed (connection refused) while the token has expired:
# the setups, reconfigurations and the entry's own attempts of that time never
# reach the server and must cost no login. (how many in 30 days, minutes it
# lasts (lo, hi), minutes to recover; drawn from its own random stream, clear
# of the other episodes, so that they stay those of the seed. A short campaign
# has no time clear of them: there it falls into one, which it suspends.)
REFUSED = (3, (10, 45), 120)
ADD_WITHIN = 2 * DAY + 60


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
    busy_spans: list[tuple[int, int]] = []
    t = start
    for (kind, duration, recovery), gap in zip(episodes, gaps, strict=True):
        t += gap
        events += _episode(rng, t, kind, duration)
        busy_spans.append((t, t + duration + recovery))
        t += duration + recovery
    intervals = iter(INTERVALS * days)
    for change, count in CHANGES:
        for _ in range(max(1, round(count * scale))):
            minute = rng.randint(start, end - 60)
            events.append(_change(rng, minute, change, intervals))
    # Its own random stream: the other events stay those of the same seed.
    added = random.Random(f"{seed}|meter_added")
    if end - ADD_WITHIN > start:
        sn, name = NEW_METER
        minute = added.randint(start, end - ADD_WITHIN)
        events.append(Event(minute, "meter_added", {"sn": sn, "name": name}))
    events += _rounded_restores(seed, days, (start, end), busy_spans)
    events += _refusals(seed, days, (start, end), busy_spans)
    return sorted(events)


def _change(
    rng: random.Random, minute: int, change: str, intervals: Iterator[int]
) -> Event:
    """One of the CHANGES at `minute`: the user's actions as `action_<name>`."""
    if change == "options":
        return Event(minute, change, {"interval": next(intervals)})
    if change == "concurrent_refresh":
        return Event(minute, change, {"sn": rng.choice((SN1, SN3)), "calls": 20})
    if change in ("refresh", "fetch_analytics", "backfill"):
        # Analyses: 1-7 days within the last 3 weeks (the cloud keeps 31).
        back, days_long = (
            rng.randint(0, min(20, minute // DAY)),
            rng.randint(1, 7),
        )
        args = {"sn": rng.choice((SN1, SN3)), "back": back, "days": days_long}
        return Event(minute, f"action_{change}", args)
    return Event(minute, change)


def _rounded_restores(
    seed: int, days: int, bounds: tuple[int, int], busy: list[tuple[int, int]]
) -> list[Event]:
    """`rounded_restore` episodes at night, clear of the other episodes (drawn
    from their own random stream: the other events stay those of the seed)."""
    rng = random.Random(f"{seed}|rounded_restore")
    count, rounded, restore_after, length = ROUNDED_RESTORE
    start, end = bounds
    slots = [
        day * DAY + minute
        for day in range(days)
        for minute in range(*NIGHT)
        if start <= day * DAY + minute <= end - length
    ]
    events: list[Event] = []
    for _ in range(max(1, round(count * days / 30))):
        free = [t for t in slots if all(t + length <= a or b <= t for a, b in busy)]
        if not free:
            break
        t = rng.choice(free)
        busy.append((t, t + length))
        args = {
            "sn": SN3,
            "minutes": rounded,
            "restore_after": restore_after,
            "kwh": rng.choice(ROUNDED_KWH),
        }
        events.append(Event(t, "rounded_restore", args))
    return events


def _refusals(
    seed: int, days: int, bounds: tuple[int, int], busy: list[tuple[int, int]]
) -> list[Event]:
    """`connection_refused` episodes (REFUSED), clear of the others."""
    rng = random.Random(f"{seed}|connection_refused")
    count, (shortest, longest), recovery = REFUSED
    start, end = bounds
    events: list[Event] = []
    for _ in range(max(1, round(count * days / 30))):
        duration = rng.randint(shortest, longest)
        length = duration + recovery
        free = [
            t
            for t in range(start, end - length, 5)
            if all(t + length <= a or b <= t for a, b in busy)
        ]
        if not free:
            free = list(range(start, max(start + 1, end - length)))
        t = rng.choice(free)
        busy.append((t, t + length))
        events += [
            Event(t, "connection_refused", {"minutes": duration}),
            Event(t + duration, "connection_refused_end"),
        ]
    return events


def _episode(rng: random.Random, t: int, kind: str, duration: int) -> list[Event]:
    """The events of an episode of `kind` (one of EPISODES) from minute `t`."""
    sn = rng.choice((SN1, SN3))
    return EPISODE_EVENTS[kind](Slot(rng, t, kind, duration, sn))


@dataclass(frozen=True)
class Slot:
    """Where an episode goes: from minute `t`, `duration` minutes, meter `sn`
    (drawn for every episode; used by those of one meter)."""

    rng: random.Random
    t: int
    kind: str
    duration: int
    sn: str


def _fault_span(e: Slot) -> list[Event]:
    """The fault on the readings for the episode's duration."""
    return _fault_from_to(e.t, e.t + e.duration, e.kind, "meterdata2")


def _fault_from_to(start: int, end: int, fault: str, endpoint: str) -> list[Event]:
    return [
        Event(start, "fault", {"fault": fault, "endpoint": endpoint}),
        Event(end, "fault_end", {"fault": fault, "endpoint": endpoint}),
    ]


def _one_off_fault(e: Slot) -> list[Event]:
    """The next reading (or the next two: a timeout) answered with the fault."""
    count = e.rng.randint(1, 2) if e.kind == "timeout" else 1
    return [
        Event(e.t, "fault", {"fault": e.kind, "endpoint": "meterdata2", "count": count})
    ]


def _analysis_fault(e: Slot) -> list[Event]:
    endpoint = e.rng.choice(("power_analysis", "offline_analysis"))
    fault = e.rng.choice(("http_500", "non_json", "unsuccessful"))
    return [Event(e.t, "fault", {"fault": fault, "endpoint": endpoint, "count": 1})]


def _other_client_readings(e: Slot) -> list[Event]:
    return [Event(e.t, e.kind, {"sn": e.sn, "count": 12})]


def _other_client_logins(e: Slot) -> list[Event]:
    return [Event(e.t, e.kind, {"count": 5}), Event(e.t + 1, "token_expiry")]


def _token_expiry(e: Slot) -> list[Event]:
    return [Event(e.t, e.kind)]


def _token_glitch(e: Slot) -> list[Event]:
    return _fault_from_to(e.t, e.t + e.duration, e.kind, "*")


def _token_invalid_200(e: Slot) -> list[Event]:
    return [Event(e.t, e.kind), Event(e.t + e.duration, f"{e.kind}_end")]


def _http_429(e: Slot) -> list[Event]:
    seconds = e.rng.choice((60, 120, 300, 600))
    args = {"fault": e.kind, "endpoint": "meterdata2", "count": 1}
    return [Event(e.t, "fault", args | {"retry_after": str(seconds)})]


def _token_expiry_login_down(e: Slot) -> list[Event]:
    start, end = _fault_from_to(e.t, e.t + e.duration, "http_500", "login")
    return [start, Event(e.t, "token_expiry"), end]


def _offline(e: Slot) -> list[Event]:
    return [
        Event(e.t, e.kind, {"sn": e.sn, "minutes": e.duration}),
        Event(e.t + e.duration, "offline_end", {"sn": e.sn}),
    ]


def _row_shape(e: Slot) -> list[Event]:
    """Longer rows ("extra_values") or nulls in them ("nulls")."""
    shape: dict[str, Any] = {"extra_values": e.rng.randint(1, 4)}
    if e.kind == "nulls":
        rows = e.rng.choice((None, [0], [1], [2]))
        shape = {"nulls": list(e.rng.choice(NULLS)), "null_rows": rows}
    return [
        Event(e.t, "shape", {"shape": e.kind} | shape),
        Event(e.t + e.duration, "shape_end", {"shape": e.kind}),
    ]


def _login_id(e: Slot) -> list[Event]:
    """The token expires: the next login has such an id."""
    shape = {"login_id": e.rng.choice(LOGIN_IDS)}
    return [
        Event(e.t, "shape", {"shape": e.kind} | shape),
        Event(e.t, "token_expiry"),
        Event(e.t + 60, "shape_end", {"shape": e.kind}),
    ]


def _restored_register(e: Slot) -> list[Event]:
    rows = 3 if e.sn == SN3 else 1
    args = {
        "sn": e.sn,
        "row": e.rng.randrange(rows),
        "kwh": e.rng.choice(RESTORED_KWH),
    }
    return [Event(e.t, e.kind, args)]


def _float_noise(e: Slot) -> list[Event]:
    args = {"sn": e.sn, "minutes": e.duration, "every": e.rng.choice((1, 2))}
    return [Event(e.t, e.kind, args)]


def _clock_ahead(e: Slot) -> list[Event]:
    """A reading dated a day ahead ("future_reading"), or the meter's clock
    ahead for the episode's duration ("clock_ahead")."""
    lead = DAY if e.kind == "future_reading" else e.rng.choice((60, 120, 180))
    args = {"sn": e.sn, "minutes": e.duration, "lead": lead}
    return [Event(e.t, "clock_ahead", args)]


def _counter_reset(e: Slot) -> list[Event]:
    return [Event(e.t, e.kind, {"sn": e.sn})]


# The events of each kind of EPISODES.
EPISODE_EVENTS: dict[str, Callable[[Slot], list[Event]]] = {
    "http_500": _fault_span,
    "non_json": _fault_span,
    "unsuccessful": _fault_span,
    "null_data": _fault_span,
    "zero_rows": _fault_span,
    "timeout": _one_off_fault,
    "empty_body": _one_off_fault,
    "analysis_fault": _analysis_fault,
    "other_client_readings": _other_client_readings,
    "other_client_logins": _other_client_logins,
    "token_expiry": _token_expiry,
    "token_expiry_login_down": _token_expiry_login_down,
    "token_glitch": _token_glitch,
    "token_invalid_200": _token_invalid_200,
    "http_429": _http_429,
    "offline": _offline,
    "extra_values": _row_shape,
    "nulls": _row_shape,
    "login_id": _login_id,
    "restored_register": _restored_register,
    "float_noise": _float_noise,
    "future_reading": _clock_ahead,
    "clock_ahead": _clock_ahead,
    "counter_reset": _counter_reset,
}
