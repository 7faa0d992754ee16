"""The energy guard: no zero, no drop, no impossible jump; a real reset once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.iammeter_cloud.energy import CounterGuard, Verdict

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
    guard.published = 1012.5
    restored = CounterGuard.restore(30_000, guard.export())
    assert (restored.value, restored.time, restored.offset) == (1000.5, T0 + MIN5, 12.0)
    assert restored.published == 1012.5


def test_restore_a_store_of_version_0_1() -> None:
    """What 0.1 stored (value, time, offset) gives the same published value."""
    state = {"value": 1000.5, "time": (T0 + MIN5).isoformat(), "offset": 12.0}
    restored = CounterGuard.restore(30_000, state)
    assert restored.published == 1012.5
    assert restored.offer(1000.7, T0 + 2 * MIN5) is Verdict.ACCEPTED
    assert restored.published == pytest.approx(1012.7)


@pytest.mark.parametrize(
    "state",
    [None, [], {"value": "x"}, {"value": 1.0, "time": "not a time"}, {"offset": "1"}],
)
def test_restore_malformed_gives_empty_guard(state: object) -> None:
    restored = CounterGuard.restore(30_000, state)
    assert restored.value is None
    assert restored.offset == 0.0


# --- register changes: the series continues by the size of the change --------


def test_restored_register_continues_by_the_drop_not_the_last_value() -> None:
    """Red team: a meter restores an older counter after a power cut."""
    guard = guard_at(1000.4)
    for step, value in enumerate((1000.1, 1000.15, 1000.2, 1000.3), start=1):
        verdict = guard.offer(value, T0 + step * MIN5)
        assert guard.published == 1000.4 or verdict is Verdict.RESET
    assert verdict is Verdict.RESET
    # It counted 0.2 kWh since the drop: exactly that, not +1,000 kWh.
    assert guard.published == pytest.approx(1000.6)
    assert guard.offer(1000.5, T0 + 5 * MIN5) is Verdict.ACCEPTED
    assert guard.published == pytest.approx(1000.8)


def test_float_noise_below_the_value_is_no_reset_and_no_rejection() -> None:
    """Red team: an idle counter comes back as 49.999999 and stays there."""
    guard = guard_at(50.0)
    for step in range(1, 20):
        value = 49.999999 if step % 3 else 50.0  # and wobbles back and forth
        assert guard.offer(value, T0 + step * MIN5) is Verdict.UNCHANGED
        assert guard.published == 50.0
    assert guard.pending == []
    assert guard.offer(50.2, T0 + 20 * MIN5) is Verdict.ACCEPTED
    assert guard.published == pytest.approx(50.2)


def test_a_drop_just_beyond_the_noise_is_a_register_change() -> None:
    guard = guard_at(50.0)
    for step in range(1, 4):
        guard.offer(50.0 - 0.02, T0 + step * MIN5)
    assert guard.offer(50.1, T0 + 4 * MIN5) is Verdict.ACCEPTED  # back above: glitch
    for step in range(5, 9):
        verdict = guard.offer(49.98, T0 + step * MIN5)
    assert verdict is Verdict.RESET
    assert guard.published == pytest.approx(50.1)


def test_register_set_higher_continues_without_a_spike() -> None:
    guard = guard_at(100.0)
    for step, value in enumerate((5000.0, 5000.1, 5000.2, 5000.3), start=1):
        verdict = guard.offer(value, T0 + step * MIN5)
    assert verdict is Verdict.RESET
    assert guard.published == pytest.approx(100.3)


def test_zeros_then_counting_is_a_reset_from_zero() -> None:
    guard = guard_at(1000.0)
    for step in range(1, 5):
        assert guard.offer(0.0, T0 + step * MIN5) is Verdict.REJECTED_ZERO
    assert guard.offer(0.3, T0 + 5 * MIN5) is Verdict.RESET
    assert guard.published == pytest.approx(1000.3)


# --- counterexamples hypothesis found (tests/test_energy_model.py) -------------


def test_published_never_falls_through_float_rounding() -> None:
    """A register set very high: value + offset lost a hair to rounding."""
    guard = guard_at(0.0)
    guard.offer(0.001, T0 + MIN5)
    shown = [guard.published]
    for step, value in enumerate((1e7, 1e7, 1e7, 1e7, 1e7 - 1e-9, 1e7), start=2):
        guard.offer(value, T0 + step * MIN5)
        shown.append(guard.published)
    assert shown == sorted(shown)
    assert guard.published == 0.001


def test_a_reading_older_than_the_newest_seen_is_ignored() -> None:
    guard = guard_at(0.0)
    assert guard.offer(0.0, T0 + 2 * MIN5) is Verdict.UNCHANGED
    # Older than the reading seen at +10 min, newer than the last change.
    assert guard.offer(1.0, T0 + 2 * MIN5 - timedelta(seconds=1)) is Verdict.UNCHANGED
    assert guard.published == 0.0


def test_a_stale_repeat_does_not_tighten_the_growth_limit() -> None:
    """A repeated old value at a new time: growth is still judged from the
    last change, so the true value after it is taken."""
    guard = guard_at(0.0)
    assert guard.offer(0.0, T0 + timedelta(minutes=26)) is Verdict.UNCHANGED
    assert guard.offer(0.521, T0 + timedelta(minutes=27)) is Verdict.ACCEPTED


def test_true_values_after_a_zero_and_a_plausible_drop_are_not_a_reset() -> None:
    """A 0, then a value that looked like growth, then the truth: never the
    truth counted again from 0."""
    guard = guard_at(0.026)
    guard.offer(0.0, T0 + timedelta(minutes=26))
    guard.offer(0.4985, T0 + timedelta(minutes=27))  # plausible: accepted
    for minute in range(28, 60):
        guard.offer(1.019, T0 + timedelta(minutes=minute))
    assert guard.published == pytest.approx(1.019)


def test_rounding_before_a_register_change() -> None:
    """A value rounded up just before a register change is carried over: by
    at most the cloud's rounding (0.005 kWh), never more."""
    guard = guard_at(1.426)
    guard.offer(1.43, T0 + MIN5)  # 1.426 rounded to 2 decimals
    for step in range(2, 6):
        guard.offer(1.415, T0 + step * MIN5)  # restored 0.011 lower
    assert guard.published == pytest.approx(1.43)
    assert guard.published - 1.426 <= 0.005


def test_a_register_set_lower_than_could_be_counted_is_shifted() -> None:
    """Hypothesis found: 4.021 kWh 8 minutes on is more than 30 kW counts in
    8 minutes (4.02 kWh): a register set lower, not a reset that counted it."""
    guard = guard_at(100.0)
    start = T0 + timedelta(minutes=8)
    for step in range(4):
        verdict = guard.offer(4.021 + 0.001 * step, start + step * MIN5)
    assert verdict is Verdict.RESET
    assert guard.published == pytest.approx(100.003)


def test_a_reset_right_after_a_glitch_that_looked_like_growth() -> None:
    """Hypothesis found: a glitch taken as growth (0.239), the truth (1.0) a
    minute later too fast after it, then a reset: what the guard had not yet
    taken is lost, but nothing is counted twice and nothing falls."""
    guard = guard_at(0.0)
    t = T0 + timedelta(minutes=20)
    assert guard.offer(0.239, t) is Verdict.ACCEPTED
    assert guard.offer(1.0, t + timedelta(minutes=1)) is Verdict.REJECTED_JUMP
    shown = []
    for step in range(2, 7):
        guard.offer(0.001 * (step - 2), t + step * MIN5)
        shown.append(guard.published)
    assert shown == sorted(shown)
    assert 0.239 <= (guard.published or 0.0) <= 1.004


def test_a_register_restored_to_ninety_percent_is_not_a_reset() -> None:
    """Hypothesis found the edge: Home Assistant's own rule (a new cycle below
    90 %) decides; at 90 % and above, the register continues by its drop."""
    guard = guard_at(1.04)
    for step in range(1, 5):
        verdict = guard.offer(0.936, T0 + step * MIN5)
    assert verdict is Verdict.RESET
    assert guard.published == pytest.approx(1.04)


def test_a_rounding_seen_through_is_not_carried_over_a_register_change() -> None:
    """Hypothesis found: 0.035 rounded up to 0.04, then 0.035 again (held),
    then a register set higher, then its value rounded up too: the two
    roundings added up to 0.009 kWh the meter never counted. The guard saw
    the register at 0.035: the new register's growth first makes up the hair
    published too high, so the roundings never add up."""
    guard = guard_at(0.031)
    guard.offer(0.04, T0 + timedelta(minutes=10))  # 0.035, rounded up
    assert guard.offer(0.035, T0 + timedelta(minutes=11)) is Verdict.UNCHANGED
    for minute in (12, 13, 27):
        verdict = guard.offer(200.056, T0 + timedelta(minutes=minute))
    assert verdict is Verdict.RESET
    guard.offer(200.06, T0 + timedelta(minutes=28))  # 200.056, rounded up
    # The meter counted 0.004 kWh (0.031 -> 0.035): 0.009 was published.
    assert (guard.published or 0.0) - 0.031 <= 0.004 + 0.005 + 1e-9
    assert guard.offer(200.066, T0 + timedelta(minutes=40)) is Verdict.ACCEPTED
    assert guard.published == pytest.approx(0.031 + 0.004 + 0.01)


def test_a_rounding_seen_through_before_a_register_that_counts() -> None:
    """Hypothesis found the same with a new register that counts (0.049 kWh)
    before the rounding: 0.01 kWh too much, for good."""
    guard = guard_at(4.351)
    guard.offer(4.36, T0 + timedelta(minutes=10))  # 4.355, rounded up
    guard.offer(4.355, T0 + timedelta(minutes=11))
    for minute, value in ((12, 215.876), (13, 215.876), (43, 215.925)):
        verdict = guard.offer(value, T0 + timedelta(minutes=minute))
    assert verdict is Verdict.RESET
    guard.offer(215.93, T0 + timedelta(minutes=44))  # 215.925, rounded up
    # Counted: 0.004 before the change, 0.049 after it.
    assert (guard.published or 0.0) - 4.351 <= 0.004 + 0.049 + 0.005 + 1e-9


def test_a_restored_register_is_judged_against_the_register_as_last_seen() -> None:
    """Hypothesis found: 0.195 rounded up to 0.2, then 0.195 (held), then a
    register restored to 0.178: 91 % of 0.195, a register that goes on (not
    a reset that counted 0.178 kWh), though below 90 % of the rounded 0.2."""
    guard = guard_at(0.192)
    guard.offer(0.2, T0 + timedelta(minutes=8))  # 0.195, rounded up
    guard.offer(0.195, T0 + timedelta(minutes=9))
    for minute in (10, 24, 25):
        verdict = guard.offer(0.178, T0 + timedelta(minutes=minute))
    assert verdict is Verdict.RESET
    assert guard.published == pytest.approx(0.2)  # not 0.378
    assert guard.offer(0.18, T0 + timedelta(minutes=30)) is Verdict.UNCHANGED
    assert guard.offer(0.188, T0 + timedelta(minutes=35)) is Verdict.ACCEPTED
    assert guard.published == pytest.approx(0.205)


def test_a_low_value_taken_as_growth_then_the_truth_beyond_physics() -> None:
    """Hypothesis found (a limit, see tests/test_energy_model.py): a 0, then
    9.9985 (half the truth) taken as growth, then the truth 20.019 from +36
    min on: 10.02 kWh above 9.9985, more than 30 kW count before +51 min. Over
    a whole confirmation it counts like a register set higher, which is what
    the guard takes: the 10 kWh are not counted. A register set higher by 10
    kWh gives the same values; counting them would invent them there."""
    guard = guard_at(4.705)
    assert guard.offer(0.0, T0 + timedelta(minutes=28)) is Verdict.REJECTED_ZERO
    assert guard.offer(9.9985, T0 + timedelta(minutes=31)) is Verdict.ACCEPTED
    for minute in (36, 41, 46):
        verdict = guard.offer(20.019, T0 + timedelta(minutes=minute))
        assert verdict is Verdict.REJECTED_JUMP
    assert guard.offer(20.019, T0 + timedelta(minutes=51)) is Verdict.RESET
    assert guard.published == 9.9985


def test_a_low_value_taken_as_growth_then_the_truth_within_a_catch_up() -> None:
    """The same, the low value at most 7.5 kWh (30 kW for 15 minutes) below
    the truth: the truth is taken before it could be confirmed as a register."""
    guard = guard_at(4.705)
    assert guard.offer(12.519, T0 + timedelta(minutes=31)) is Verdict.ACCEPTED
    for minute in (36, 41):
        verdict = guard.offer(20.019, T0 + timedelta(minutes=minute))
        assert verdict is Verdict.REJECTED_JUMP
    assert guard.offer(20.019, T0 + timedelta(minutes=46)) is Verdict.ACCEPTED
    assert guard.published == 20.019


def test_a_register_lower_than_a_minute_could_count_is_a_reset() -> None:
    """Hypothesis found (a flaw of the model, which meant a register set lower
    but still above what the meter could have counted): 0.017, then 0.006 a
    minute on. 30 kW count 0.5 kWh in a minute: by every sign a reset from 0
    that counted 0.006 kWh, which is what the guard takes."""
    guard = guard_at(0.017)
    for minute in (1, 15, 16):
        verdict = guard.offer(0.006, T0 + timedelta(minutes=minute))
    assert verdict is Verdict.RESET
    assert guard.published == pytest.approx(0.023)
