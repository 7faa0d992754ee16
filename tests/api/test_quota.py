"""The quota ledger over simulated hours and days, alone and in front of the cloud."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
import json
from typing import Any

import aiohttp
from hypothesis import given, settings, strategies as st
import pytest

from custom_components.iammeter_cloud.api import (
    DOCUMENTED_BUDGETS,
    EMPTY_RETRY,
    Budget,
    IammeterCloud,
    IammeterQuotaError,
    QuotaLedger,
)
from tests.simulator import CloudSimulator

T0 = datetime(2026, 11, 20, 11, 0, 30, tzinfo=UTC)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
# The documented budgets and one of a caller's own (the integration's history).
BUDGETS = {**DOCUMENTED_BUDGETS, "history": (Budget(6, DAY),)}
SN1, SN3 = "SIM1PHASE001", "SIM3PHASE001"
HOST = "www.iammeter.com"


def take(
    ledger: QuotaLedger, bucket: str, scope: str, now: datetime
) -> datetime | None:
    """Acquire one request: None when allowed, else the retry time it names."""
    try:
        ledger.acquire(bucket, scope, bucket, now)
    except IammeterQuotaError as err:
        refusal = err
    else:
        return None
    assert refusal.by_server is False
    assert refusal.endpoint == bucket
    return refusal.retry_at


def test_budgets_are_the_vendors() -> None:
    assert {
        "login": (Budget(5, HOUR), Budget(30, DAY)),
        "meterdata": (Budget(12, HOUR),),
        "power_analysis": (Budget(5, DAY),),
        "offline_analysis": (Budget(5, DAY),),
    } == DOCUMENTED_BUDGETS  # history: the vendor documents none


def test_budgets_and_empty_retry_are_read_only() -> None:
    budgets = {"meterdata": (Budget(2, HOUR),)}
    ledger = QuotaLedger(budgets, empty_retry={})
    budgets["login"] = (Budget(1, HOUR),)  # the ledger keeps its own copy
    assert dict(ledger.budgets) == {"meterdata": (Budget(2, HOUR),)}
    assert dict(ledger.empty_retry) == {}
    with pytest.raises(TypeError):
        ledger.budgets["login"] = (Budget(1, HOUR),)  # type: ignore[index]
    with pytest.raises(AttributeError):
        ledger.budgets = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        DOCUMENTED_BUDGETS["history"] = ()  # type: ignore[index]
    with pytest.raises(TypeError):
        EMPTY_RETRY["login"] = MINUTE  # type: ignore[index]
    assert QuotaLedger(DOCUMENTED_BUDGETS).empty_retry == EMPTY_RETRY


def test_empty_retry_is_the_callers_choice() -> None:
    """Without a retry for `meterdata`, its first empty answer waits the window."""
    ledger = QuotaLedger(BUDGETS, empty_retry={})
    assert take(ledger, "meterdata", SN1, T0) is None
    assert ledger.mark_empty("meterdata", SN1, T0) == T0 + HOUR
    quick = QuotaLedger(BUDGETS, empty_retry={"login": MINUTE})
    assert take(quick, "login", HOST, T0) is None
    assert quick.mark_empty("login", HOST, T0) == T0 + MINUTE


def test_twelve_meter_reads_per_sliding_hour() -> None:
    ledger = QuotaLedger(BUDGETS)
    for i in range(12):
        assert take(ledger, "meterdata", SN1, T0 + i * MINUTE) is None
    assert ledger.used("meterdata", SN1, T0 + 11 * MINUTE, HOUR) == 12
    assert ledger.remaining("meterdata", SN1, T0 + 11 * MINUTE) == 0
    assert take(ledger, "meterdata", SN1, T0 + 12 * MINUTE) == T0 + HOUR
    assert take(ledger, "meterdata", SN1, T0 + HOUR - timedelta(seconds=1)) == T0 + HOUR
    assert ledger.next_free("meterdata", SN1, T0 + 30 * MINUTE) == T0 + HOUR
    # refusals are not recorded: the oldest leaves the window at T0 + 1 h
    assert take(ledger, "meterdata", SN1, T0 + HOUR) is None
    assert take(ledger, "meterdata", SN1, T0 + HOUR) == T0 + MINUTE + HOUR
    assert ledger.next_free("meterdata", SN1, T0 + 2 * HOUR) == T0 + 2 * HOUR
    assert ledger.remaining("meterdata", SN1, T0 + 2 * HOUR) == 12


def test_next_free_keeping_requests_back() -> None:
    """`keep`: when one more request leaves that many in the budget."""
    ledger = QuotaLedger(BUDGETS)
    for i in range(3):  # 5 a day: 2 left
        assert take(ledger, "power_analysis", SN1, T0 + i * HOUR) is None
    now = T0 + 3 * HOUR
    assert ledger.next_free("power_analysis", SN1, now) == now
    assert ledger.next_free("power_analysis", SN1, now, keep=1) == now
    # keeping 2 back: the oldest request must leave the window first
    assert ledger.next_free("power_analysis", SN1, now, keep=2) == T0 + DAY
    assert ledger.next_free("power_analysis", SN1, now, keep=3) == T0 + HOUR + DAY
    # keeping the whole budget back: a day after the newest request
    assert ledger.next_free("power_analysis", SN1, now, keep=5) == T0 + 2 * HOUR + DAY


def test_meters_have_independent_budgets() -> None:
    ledger = QuotaLedger(BUDGETS)
    for _ in range(12):
        assert take(ledger, "meterdata", SN1, T0) is None
    assert take(ledger, "meterdata", SN1, T0) == T0 + HOUR
    assert ledger.remaining("meterdata", SN3, T0) == 12
    for _ in range(12):
        assert take(ledger, "meterdata", SN3, T0) is None
    assert take(ledger, "meterdata", SN3, T0) == T0 + HOUR
    assert take(ledger, "power_analysis", SN1, T0) is None


def test_buckets_without_a_budget_are_not_counted() -> None:
    ledger = QuotaLedger(BUDGETS)
    calls: list[None] = []
    ledger.add_listener(lambda: calls.append(None))
    for _ in range(100):
        assert take(ledger, "sitelist", SN1, T0) is None
    assert ledger.remaining("sitelist", SN1, T0) == 1_000_000
    assert ledger.export() == {"sent": [], "blocked": []}
    assert calls == []


def test_login_five_an_hour_and_thirty_a_day() -> None:
    ledger = QuotaLedger(BUDGETS)
    per_hour: list[int] = []
    for hour in range(30):
        now, done = T0 + hour * HOUR, 0
        while (retry := take(ledger, "login", HOST, now)) is None:
            done += 1
        per_hour.append(done)
        # the hourly budget, or from the 30th login of a day on, the daily one
        daily = T0 + (hour // 24 + 1) * DAY
        assert retry == (daily if hour % 24 >= 5 else now + HOUR), hour
        assert ledger.used("login", HOST, now, DAY) == min(30, 5 * (hour + 1))
    assert per_hour == [5] * 6 + [0] * 18 + [5] * 6


def test_analyses_five_a_day_per_meter_and_kind() -> None:
    ledger = QuotaLedger(BUDGETS)
    for i in range(5):
        assert take(ledger, "power_analysis", SN1, T0 + i * HOUR) is None
    assert take(ledger, "power_analysis", SN1, T0 + 5 * HOUR) == T0 + DAY
    assert take(ledger, "power_analysis", SN1, T0 + DAY - MINUTE) == T0 + DAY
    assert take(ledger, "offline_analysis", SN1, T0 + 5 * HOUR) is None
    assert take(ledger, "power_analysis", SN3, T0 + 5 * HOUR) is None
    assert take(ledger, "power_analysis", SN1, T0 + DAY) is None
    assert take(ledger, "power_analysis", SN1, T0 + DAY) == T0 + HOUR + DAY


@pytest.mark.parametrize(
    ("bucket", "window"),
    [
        ("meterdata", HOUR),
        ("login", HOUR),
        ("power_analysis", DAY),
        ("history", DAY),
        ("sitelist", HOUR),  # no budget of its own: an hour
    ],
)
def test_mark_exhausted_blocks_until_the_window_passed(
    bucket: str, window: timedelta
) -> None:
    ledger = QuotaLedger(BUDGETS)
    assert take(ledger, bucket, SN1, T0) is None
    assert ledger.mark_exhausted(bucket, SN1, T0) == T0 + window
    assert ledger.remaining(bucket, SN1, T0) == 0
    assert ledger.remaining(bucket, SN1, T0 + window - MINUTE) == 0
    assert take(ledger, bucket, SN1, T0 + window - MINUTE) == T0 + window
    assert take(ledger, bucket, SN3, T0) is None
    assert take(ledger, bucket, SN1, T0 + window) is None


def test_mark_exhausted_never_shortens_the_local_budget() -> None:
    ledger = QuotaLedger(BUDGETS)
    for i in range(5):
        assert take(ledger, "login", HOST, T0 + i * MINUTE) is None
    for i in range(25):  # 30 logins over the day: the daily budget is used up
        assert (
            take(ledger, "login", HOST, T0 + HOUR * (1 + i // 5) + i * MINUTE) is None
        )
    now = T0 + 10 * HOUR
    until = ledger.mark_exhausted("login", HOST, now)
    assert until == T0 + DAY
    assert take(ledger, "login", HOST, now + HOUR) == T0 + DAY


def test_export_and_restore_through_json_keep_the_budget() -> None:
    ledger = QuotaLedger(BUDGETS)
    for i in range(12):
        assert take(ledger, "meterdata", SN1, T0 + i * MINUTE) is None
    assert take(ledger, "login", HOST, T0) is None
    ledger.mark_exhausted("power_analysis", SN3, T0)
    state = json.loads(json.dumps(ledger.export()))
    restored = QuotaLedger(BUDGETS)
    restored.restore(state)
    assert restored.export() == ledger.export()
    assert take(restored, "meterdata", SN1, T0 + 20 * MINUTE) == T0 + HOUR
    assert take(restored, "power_analysis", SN3, T0 + HOUR) == T0 + DAY
    assert restored.used("login", HOST, T0, DAY) == 1
    assert take(restored, "meterdata", SN1, T0 + HOUR) is None


def test_restore_merges_with_what_is_there() -> None:
    old, new = QuotaLedger(BUDGETS), QuotaLedger(BUDGETS)
    for i in range(6):
        assert take(old, "meterdata", SN1, T0 + i * MINUTE) is None
        assert take(new, "meterdata", SN1, T0 + (i + 6) * MINUTE) is None
    state = old.export()
    new.restore(state)
    new.restore(state)  # twice: no duplicate
    assert new.used("meterdata", SN1, T0 + 11 * MINUTE, HOUR) == 12
    assert take(new, "meterdata", SN1, T0 + 12 * MINUTE) == T0 + HOUR


def test_restore_keeps_requests_sent_in_the_same_instant() -> None:
    ledger = QuotaLedger(BUDGETS)
    for _ in range(2):
        assert take(ledger, "meterdata", SN1, T0) is None
    restored = QuotaLedger(BUDGETS)
    restored.restore(json.loads(json.dumps(ledger.export())))
    restored.restore(ledger.export())
    assert restored.used("meterdata", SN1, T0, HOUR) == 2


def test_old_requests_are_dropped_from_the_export() -> None:
    ledger = QuotaLedger(BUDGETS)
    assert take(ledger, "meterdata", SN1, T0) is None
    assert take(ledger, "meterdata", SN1, T0 + 2 * DAY) is None
    assert ledger.export()["sent"] == [["meterdata", SN1, [(T0 + 2 * DAY).timestamp()]]]


MALFORMED: list[Any] = [
    None,
    "state",
    42,
    [],
    {},
    {"sent": None, "blocked": None},
    {"sent": [], "blocked": []},
    {"sent": "meterdata"},
    {"sent": {"meterdata": [1.0]}},
    {"sent": [1, 2, None]},
    {"sent": [["meterdata", SN1]]},
    {"sent": [["meterdata", SN1, "1700000000"]]},
    {"sent": [[1, SN1, [1.0]], ["meterdata", None, [1.0]]]},
    {"sent": [["meterdata", SN1, ["x", None, True, [1.0], {}]]]},
    {"blocked": [["meterdata", SN1]]},
    {"blocked": [["meterdata", SN1, "tomorrow"]]},
    {"blocked": [["meterdata", SN1, None], [None, SN1, 1e10]]},
]


@pytest.mark.parametrize("state", MALFORMED)
def test_restore_ignores_malformed_states(state: Any) -> None:
    ledger = QuotaLedger(BUDGETS)
    ledger.restore(state)
    assert ledger.export() == {"sent": [], "blocked": []}
    for _ in range(12):
        assert take(ledger, "meterdata", SN1, T0) is None
    assert take(ledger, "meterdata", SN1, T0) == T0 + HOUR


def test_restore_keeps_the_good_parts() -> None:
    stamp = T0.timestamp()
    ledger = QuotaLedger(BUDGETS)
    ledger.restore(
        {
            "sent": [["meterdata", SN1, [stamp, "x", stamp + 60]], ["bad"]],
            "blocked": [["power_analysis", SN1, stamp + 3600], ["x"]],
            "extra": True,
        }
    )
    assert ledger.used("meterdata", SN1, T0 + MINUTE, HOUR) == 2
    assert take(ledger, "power_analysis", SN1, T0) == T0 + HOUR


@pytest.mark.parametrize(
    "state", [{"sent": 5}, {"blocked": 7}, {"sent": True}, {"blocked": 1.5}]
)
def test_restore_of_a_non_list_section_does_not_raise(state: Any) -> None:
    QuotaLedger(BUDGETS).restore(state)


@pytest.mark.parametrize("until", [float("inf"), 1e300])
def test_restore_of_an_impossible_blocked_time_is_ignored(until: float) -> None:
    ledger = QuotaLedger(BUDGETS)
    ledger.restore({"blocked": [["meterdata", SN1, until]]})
    assert take(ledger, "meterdata", SN1, T0) is None


def test_listeners_are_called_on_change_and_can_be_removed() -> None:
    ledger = QuotaLedger(BUDGETS)
    first: list[str] = []
    second: list[str] = []
    remove_first = ledger.add_listener(lambda: first.append("x"))
    ledger.add_listener(lambda: second.append("x"))
    assert take(ledger, "meterdata", SN1, T0) is None
    assert (len(first), len(second)) == (1, 1)
    ledger.mark_exhausted("meterdata", SN1, T0)
    assert (len(first), len(second)) == (2, 2)
    assert take(ledger, "meterdata", SN1, T0) is not None  # refused: no change
    assert (len(first), len(second)) == (2, 2)
    remove_first()
    assert take(ledger, "meterdata", SN3, T0) is None
    assert (len(first), len(second)) == (2, 3)


def test_a_listener_may_remove_itself() -> None:
    ledger = QuotaLedger(BUDGETS)
    calls: list[int] = []
    remove: Callable[[], None]

    def once() -> None:
        calls.append(1)
        remove()

    remove = ledger.add_listener(once)
    assert take(ledger, "meterdata", SN1, T0) is None
    assert take(ledger, "meterdata", SN1, T0) is None
    assert calls == [1]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_day_of_polling_every_four_minutes_stays_within_quota(
    socket_enabled: None,
) -> None:
    clock = Clock()
    sim = CloudSimulator.demo(clock)
    await sim.start()
    refused: list[datetime] = []
    local: list[bool] = []
    try:
        async with aiohttp.ClientSession() as session:
            client = IammeterCloud(session, api_url=sim.base_url, clock=clock)
            await client.login("demo@example.com", "demo-password")
            for step in range(24 * 15):
                clock.now = T0 + step * 4 * MINUTE
                for sn in (SN1, SN3):
                    try:
                        reading = await client.latest(sn)
                    except IammeterQuotaError as err:
                        refused.append(err.retry_at)
                        local.append(not err.by_server)
                    else:
                        assert reading.time == clock.now.replace(second=0)
    finally:
        await sim.stop()
    readings = ("meterdata", "meterdata2")
    for sn in (SN1, SN3):
        assert sim.max_in_window(readings, sn, HOUR) == 12
        assert sim.count(readings, sn) == 24 * 12
    assert len(refused) == 2 * 24 * 3
    assert all(local)
    assert set(refused) == {T0 + h * HOUR for h in range(1, 25)}
    assert [e.outcome for e in sim.log].count("ok") == len(sim.log)
    assert all(e.status == 200 for e in sim.log)


# --- issue 10: empty answers, Retry-After, a manual refresh's share -------------

FIVE = timedelta(minutes=5)
GAP = timedelta(minutes=13)


def test_a_first_empty_answer_blocks_a_moment_and_a_second_the_window() -> None:
    ledger = QuotaLedger(BUDGETS)
    assert take(ledger, "meterdata", SN1, T0) is None
    retry = EMPTY_RETRY["meterdata"]
    assert ledger.mark_empty("meterdata", SN1, T0) == T0 + retry
    assert take(ledger, "meterdata", SN1, T0 + retry - MINUTE) == T0 + retry
    assert take(ledger, "meterdata", SN1, T0 + retry) is None
    # A second in a row: an hour after the first (not after the second).
    assert ledger.mark_empty("meterdata", SN1, T0 + retry) == T0 + HOUR
    assert take(ledger, "meterdata", SN1, T0 + HOUR - MINUTE) == T0 + HOUR
    # An answer ends the run: the next empty one is a first one again.
    ledger.answered("meterdata", SN1)
    later = T0 + 2 * HOUR
    assert ledger.mark_empty("meterdata", SN1, later) == later + retry
    # So is one more than a window after the first of a run.
    assert ledger.mark_empty("meterdata", SN1, later + HOUR) == later + HOUR + retry


def test_a_first_empty_answer_waits_for_the_budget_if_that_is_later() -> None:
    ledger = QuotaLedger(BUDGETS)
    for i in range(12):
        assert take(ledger, "meterdata", SN1, T0 + i * FIVE) is None
    now = T0 + 55 * MINUTE
    assert ledger.mark_empty("meterdata", SN1, now) == T0 + HOUR


@pytest.mark.parametrize("bucket", ["login", "power_analysis", "history"])
def test_other_buckets_wait_for_the_window_at_the_first_empty_answer(
    bucket: str,
) -> None:
    ledger = QuotaLedger(BUDGETS)
    window = min(b.window for b in BUDGETS[bucket])
    assert ledger.mark_empty(bucket, SN1, T0) == T0 + window


def test_block_until_holds_requests_and_keeps_the_budget() -> None:
    ledger = QuotaLedger(BUDGETS)
    assert take(ledger, "meterdata", SN1, T0) is None
    until = T0 + 2 * MINUTE
    assert ledger.block_until("meterdata", SN1, T0, until) == until
    assert take(ledger, "meterdata", SN1, until - timedelta(seconds=1)) == until
    assert take(ledger, "meterdata", SN1, until) is None
    assert ledger.used("meterdata", SN1, until, HOUR) == 2
    # A shorter pause never shortens a longer one.
    ledger.block_until("meterdata", SN1, until, until + HOUR)
    assert ledger.block_until("meterdata", SN1, until, until + MINUTE) == until + HOUR


def spare(
    ledger: QuotaLedger, now: datetime, every: timedelta, due: datetime
) -> datetime:
    return ledger.spare_from(
        "meterdata", SN1, now, every=every, next_due=due, max_gap=GAP
    )


def test_a_refresh_right_after_setup_at_five_minutes() -> None:
    """The schedule needs all 12 calls an hour: one refresh delays one update
    by 5 minutes (still fresh); a second would leave a 15-minute gap."""
    ledger = QuotaLedger(BUDGETS)
    assert take(ledger, "meterdata", SN1, T0) is None  # setup
    assert spare(ledger, T0, FIVE, T0 + FIVE) == T0
    assert take(ledger, "meterdata", SN1, T0) is None  # the refresh
    # The next one fits once both have left the window (the updates ran).
    assert spare(ledger, T0, FIVE, T0 + FIVE) == T0 + HOUR


def test_steady_five_minute_polling_leaves_no_room() -> None:
    ledger = QuotaLedger(BUDGETS)
    for i in range(12):
        assert take(ledger, "meterdata", SN1, T0 + i * FIVE) is None
    now = T0 + 57 * MINUTE
    assert spare(ledger, now, FIVE, T0 + HOUR) == T0 + HOUR


def test_refreshes_at_fifteen_minutes_use_the_spare_budget_only() -> None:
    every = timedelta(minutes=15)
    ledger = QuotaLedger(BUDGETS)
    assert take(ledger, "meterdata", SN1, T0) is None  # setup
    made = 0
    while spare(ledger, T0, every, T0 + every) == T0:
        assert take(ledger, "meterdata", SN1, T0) is None
        made += 1
    assert made == 8  # 12 - setup - the 3 updates at :15, :30, :45
    # The next chance: an hour after the burst (the updates ran meanwhile).
    assert spare(ledger, T0, every, T0 + every) == T0 + HOUR


def test_a_blocked_bucket_has_no_room_until_the_block_ends() -> None:
    ledger = QuotaLedger(BUDGETS)
    ledger.block_until("meterdata", SN1, T0, T0 + 20 * MINUTE)
    assert spare(ledger, T0, FIVE, T0 + FIVE) == T0 + 20 * MINUTE


@settings(max_examples=300, deadline=None)
@given(
    every=st.sampled_from([300, 600, 900, 1800, 3600]),
    phase=st.integers(0, 3599),
    quiet=st.integers(0, 60),
    refreshes=st.lists(st.integers(0, 2 * 3600), max_size=25),
)
def test_refreshes_never_starve_the_schedule(
    every: int, phase: int, quiet: int, refreshes: list[int]
) -> None:
    """Whenever refreshes are asked, those `spare_from` allows leave the schedule
    (one update every `every`, restarting after each refresh, each sent when
    the ledger allows) no gap between readings longer than 13 minutes or the
    interval. Before the start the schedule ran, then paused `quiet` minutes
    (Home Assistant was down, or just set up), and reads again at the start."""
    step = timedelta(seconds=every)
    ledger = QuotaLedger(BUDGETS)
    start = T0 + 2 * HOUR
    polled = start - step - timedelta(seconds=phase % every) - quiet * MINUTE
    history = []
    while polled > start - HOUR:
        history.append(polled)
        polled -= step
    for moment in [*sorted(history), start]:
        assert take(ledger, "meterdata", SN1, moment) is None
    asks = sorted(start + timedelta(seconds=s) for s in refreshes)
    due = start + step
    reads = [start]
    while due < start + 3 * HOUR:
        if asks and asks[0] < due:
            now = asks.pop(0)
            if spare(ledger, now, step, due) <= now:
                assert take(ledger, "meterdata", SN1, now) is None
                reads.append(now)
                due = now + step  # the schedule restarts after it
            continue
        sent = ledger.next_free("meterdata", SN1, due)
        assert take(ledger, "meterdata", SN1, sent) is None
        reads.append(sent)
        due = sent + step
    gaps = [b - a for a, b in pairwise(reads)]
    assert max(gaps) <= max(GAP, step), gaps


def test_a_block_computed_ahead_forgets_no_request() -> None:
    """Working out when a block ends (an hour ahead) must not forget the
    requests that leave the day's window only by then: they still count now."""
    ledger = QuotaLedger(BUDGETS)
    first = T0 - timedelta(hours=23, minutes=30)
    for n in range(30):
        ledger.acquire("login", HOST, "login", first + n * timedelta(minutes=48))
    now = first + 29 * timedelta(minutes=48)  # the first is 23 h 12 min old
    assert ledger.used("login", HOST, now, timedelta(days=1)) == 30
    ledger.mark_exhausted("login", HOST, now)
    assert ledger.used("login", HOST, now, timedelta(days=1)) == 30
    assert len(ledger.export()["sent"][0][2]) == 30


def test_release_takes_back_one_request_of_that_instant() -> None:
    """A request that never reached the server is taken back: it costs nothing."""
    ledger = QuotaLedger(BUDGETS)
    changes: list[None] = []
    ledger.add_listener(lambda: changes.append(None))
    for _ in range(5):
        assert take(ledger, "login", HOST, T0) is None
    assert take(ledger, "login", HOST, T0) == T0 + HOUR
    ledger.release("login", HOST, T0)
    assert len(changes) == 6
    assert ledger.remaining("login", HOST, T0) == 1
    assert ledger.used("login", HOST, T0, DAY) == 4
    # Nothing recorded then (or in that bucket, or at all): nothing to take back.
    ledger.release("login", HOST, T0 + MINUTE)
    ledger.release("login", "other.host", T0)
    ledger.release("history", SN1, T0)
    assert len(changes) == 6
    assert ledger.used("login", HOST, T0, DAY) == 4
    # The export holds what is left.
    restored = QuotaLedger(BUDGETS)
    restored.restore(json.loads(json.dumps(ledger.export())))
    assert restored.used("login", HOST, T0, DAY) == 4
