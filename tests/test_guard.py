"""The energy guard: no zero, no drop, no impossible jump; a real reset once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.iammeter_cloud.guard import CounterGuard, Verdict

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
MIN5 = timedelta(minutes=5)


def guard_at(value: float) -> CounterGuard:
    guard = CounterGuard(max_power_w=30_000)
    assert guard.offer(value, T0) is Verdict.ACCEPTED
    return guard


def test_growth_is_accepted_and_same_value_is_unchanged() -> None:
    guard = guard_at(1000.0)
    assert guard.offer(1000.5, T0 + MIN5) is Verdict.ACCEPTED
    assert guard.offer(1000.5, T0 + 2 * MIN5) is Verdict.UNCHANGED
    assert guard.value == 1000.5


def test_older_or_same_time_is_ignored() -> None:
    guard = guard_at(1000.0)
    assert guard.offer(999.0, T0) is Verdict.UNCHANGED
    assert guard.offer(2000.0, T0 - MIN5) is Verdict.UNCHANGED
    assert guard.value == 1000.0


def test_zero_is_rejected() -> None:
    guard = guard_at(1000.0)
    assert guard.offer(0.0, T0 + MIN5) is Verdict.REJECTED_ZERO
    assert guard.value == 1000.0


def test_zeros_never_make_a_reset() -> None:
    guard = guard_at(1000.0)
    for step in range(1, 30):
        assert guard.offer(0.0, T0 + step * MIN5) is Verdict.REJECTED_ZERO
    assert guard.value == 1000.0


def test_transient_drop_is_rejected_and_recovery_accepted() -> None:
    guard = guard_at(1000.0)
    assert guard.offer(900.0, T0 + MIN5) is Verdict.REJECTED_LOWER
    assert guard.offer(1000.1, T0 + 2 * MIN5) is Verdict.ACCEPTED
    assert guard.pending == []


@pytest.mark.parametrize(
    ("minutes", "growth", "verdict"),
    [
        (5, 2.5, Verdict.ACCEPTED),  # 30 kW for 5 min = 2.5 kWh
        (5, 2.6, Verdict.REJECTED_JUMP),
        (60, 29.9, Verdict.ACCEPTED),
        (60, 31.0, Verdict.REJECTED_JUMP),
    ],
)
def test_jump_limit_follows_maximum_power(
    minutes: int, growth: float, verdict: Verdict
) -> None:
    guard = guard_at(1000.0)
    assert guard.offer(1000.0 + growth, T0 + timedelta(minutes=minutes)) is verdict


def test_rejected_jump_becomes_plausible_with_time() -> None:
    guard = guard_at(1000.0)
    assert guard.offer(1010.0, T0 + MIN5) is Verdict.REJECTED_JUMP
    assert guard.offer(1010.0, T0 + timedelta(minutes=25)) is Verdict.ACCEPTED


def test_persistent_lower_counter_is_a_reset_once() -> None:
    guard = guard_at(1000.0)
    assert guard.offer(0.1, T0 + MIN5) is Verdict.REJECTED_LOWER
    assert guard.offer(0.2, T0 + 2 * MIN5) is Verdict.REJECTED_LOWER
    # Three readings, but only 10 minutes: not yet.
    assert guard.offer(0.3, T0 + 3 * MIN5) is Verdict.REJECTED_LOWER
    assert guard.offer(0.4, T0 + 4 * MIN5) is Verdict.RESET
    assert guard.value == 0.4
    assert guard.offset == 1000.0
    assert guard.offer(0.5, T0 + 5 * MIN5) is Verdict.ACCEPTED


def test_falling_pending_values_start_over() -> None:
    guard = guard_at(1000.0)
    guard.offer(500.0, T0 + MIN5)
    guard.offer(400.0, T0 + 2 * MIN5)  # falls again: not a growing counter
    assert len(guard.pending) == 1
    guard.offer(401.0, T0 + 3 * MIN5)
    assert guard.offer(402.0, T0 + 4 * MIN5) is Verdict.REJECTED_LOWER
    assert guard.offer(403.0, T0 + 6 * MIN5) is Verdict.RESET


def test_export_and_restore() -> None:
    guard = guard_at(1000.0)
    guard.offer(1000.5, T0 + MIN5)
    guard.offset = 12.0
    restored = CounterGuard.restore(30_000, guard.export())
    assert (restored.value, restored.time, restored.offset) == (1000.5, T0 + MIN5, 12.0)


@pytest.mark.parametrize(
    "state",
    [None, [], {"value": "x"}, {"value": 1.0, "time": "not a time"}, {"offset": "1"}],
)
def test_restore_malformed_gives_empty_guard(state: object) -> None:
    restored = CounterGuard.restore(30_000, state)
    assert restored.value is None
    assert restored.offset == 0.0
