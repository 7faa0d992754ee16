"""The account: logins, reauth and refused tokens (through the meters' updates)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_USERNAME,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from hypothesis import given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud import account as account_module
from custom_components.iammeter_cloud.account import IammeterAccount
from custom_components.iammeter_cloud.api import (
    IammeterAuthError,
    IammeterConnectionError,
    IammeterQuotaError,
    QuotaLedger,
)
from custom_components.iammeter_cloud.const import BUDGETS, DOMAIN
from tests.common import NEXT_UPDATE, advance, advance_in_steps, restart
from tests.conftest import USERNAME
from tests.simulator import CloudSimulator

STORAGE_KEY = f"{DOMAIN}.state"


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def logins(simulator: CloudSimulator) -> int:
    return simulator.count("login")


def fresh(hass: HomeAssistant, name: str) -> bool:
    """Whether the meter's live values show (its reading is fresh)."""
    state = hass.states.get(f"sensor.{name}_power")
    return state is not None and state.state != STATE_UNAVAILABLE


async def test_a_seven_minute_token_glitch_asks_for_no_password(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Issue 10: for 7 minutes every token got HTTP 401 while logins worked. The
    integration concluded "credentials refused" and stopped until the user
    acted. Now: one login, a back-off, and data again once the cloud is well."""
    simulator.faults.set("token_glitch")
    await advance_in_steps(hass, freezer, timedelta(minutes=7))
    assert logins(simulator) == 1  # the token that worked was refused: once
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert init_integration.state is ConfigEntryState.LOADED
    simulator.faults.clear()
    token = init_integration.data[CONF_TOKEN]
    await advance_in_steps(hass, freezer, timedelta(minutes=5))
    assert fresh(hass, "garage")
    assert fresh(hass, "house")
    assert logins(simulator) == 1
    assert init_integration.data[CONF_TOKEN] == token  # the fresh one is kept
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_a_token_glitch_lasting_hours_logs_in_once_an_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """While fresh tokens keep being refused: at most one more login an hour,
    never a password prompt; data as soon as the cloud takes tokens again."""
    simulator.faults.set("token_glitch")
    await advance_in_steps(hass, freezer, timedelta(hours=3), timedelta(minutes=1))
    assert 3 <= logins(simulator) <= 4
    assert simulator.max_in_window("login", None, timedelta(hours=1)) <= 2
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    simulator.faults.clear()
    await advance_in_steps(hass, freezer, timedelta(minutes=6))
    assert fresh(hass, "garage")
    assert fresh(hass, "house")


@pytest.mark.parametrize("message", ["token invalid", "Invalid token."])
async def test_a_token_refused_with_http_200_logs_in_once_and_recovers(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    message: str,
) -> None:
    """Issue 10: HTTP 200 `successful: false` "token invalid" was a generic API
    error: no new login, and the meter never recovered."""
    old = init_integration.data[CONF_TOKEN]
    simulator.faults.set("token_invalid_200", message=message)
    simulator.expire_tokens()
    await advance(hass, freezer, NEXT_UPDATE)
    assert logins(simulator) == 1
    assert fresh(hass, "garage")
    assert fresh(hass, "house")
    stored = init_integration.data[CONF_TOKEN]
    assert stored != old
    assert stored == init_integration.runtime_data.account.client.token
    await advance_in_steps(hass, freezer, timedelta(minutes=30))
    assert logins(simulator) == 1
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.parametrize("refusal", ["http_401", "http_200"])
async def test_a_dead_stored_token_after_a_restart_costs_one_login(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
    refusal: str,
) -> None:
    """The stored token died while Home Assistant was down: one login at the
    start, not a dead token reused forever (HTTP 200 "token invalid")."""
    if refusal == "http_200":
        simulator.faults.set("token_invalid_200")
    simulator.expire_tokens()
    await advance(hass, freezer, timedelta(minutes=2))
    await restart(hass, init_integration)
    assert init_integration.state is ConfigEntryState.LOADED
    await advance_in_steps(hass, freezer, timedelta(minutes=20))
    assert logins(simulator) == 1
    assert fresh(hass, "garage")
    assert fresh(hass, "house")


async def test_a_refused_password_still_asks_for_it(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Only the cloud refusing the login itself starts reauth."""
    simulator.accounts[USERNAME].password = "changed elsewhere"
    simulator.expire_tokens()
    await advance(hass, freezer, NEXT_UPDATE)
    assert logins(simulator) == 1
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]


# --- the empty answer, HTTP 429 ---------------------------------------------------


async def test_a_one_off_empty_answer_costs_minutes_not_an_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Issue 10: one empty answer blocked the meter for an hour."""
    simulator.faults.set("empty_body", "meterdata2", count=1)
    await advance(hass, freezer, NEXT_UPDATE)
    refused = [e for e in simulator.log if e.outcome == "fault:empty_body"]
    assert len(refused) == 1
    sn = refused[0].scope
    calls = simulator.count("meterdata2", sn)
    await advance_in_steps(hass, freezer, timedelta(minutes=4))
    assert simulator.count("meterdata2", sn) == calls + 1
    retried = [e for e in simulator.log if e.endpoint == "meterdata2"][-1]
    assert retried.outcome == "ok"
    assert retried.time - refused[0].time <= timedelta(minutes=3, seconds=1)
    coordinator = init_integration.runtime_data.coordinators[sn]
    assert coordinator.last_update_success
    assert coordinator.data.reading.time >= refused[0].time


async def test_http_429_with_retry_after_waits_that_long(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: CloudSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Issue 10: HTTP 429 with Retry-After blocked the meter a full hour."""
    simulator.faults.set("http_429", "meterdata2", count=1, retry_after="120")
    await advance(hass, freezer, NEXT_UPDATE)
    refused = [e for e in simulator.log if e.status == 429]
    assert len(refused) == 1
    sn, at = refused[0].scope, refused[0].time
    ledger = init_integration.runtime_data.account.client.ledger
    assert ledger.used("meterdata", sn, at, timedelta(hours=1)) >= 2  # counted
    calls = simulator.count("meterdata2", sn)
    await advance(hass, freezer, timedelta(seconds=110))
    assert simulator.count("meterdata2", sn) == calls
    await advance_in_steps(hass, freezer, timedelta(seconds=30), timedelta(seconds=10))
    assert simulator.count("meterdata2", sn) == calls + 1
    after = [e.time for e in simulator.log if e.endpoint == "meterdata2"][-1]
    assert timedelta(seconds=120) <= after - at <= timedelta(seconds=150)
    assert init_integration.runtime_data.coordinators[sn].last_update_success


class _FakeCloud:
    """A client whose cloud refuses every token in the minutes of `refusing`
    and forgets all tokens at the minutes of `expiries`; logins always work
    (the password is right), within the real login budget."""

    host = "cloud.example"

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.ledger = QuotaLedger(BUDGETS)
        self.token: str | None = "stored"
        self.valid = {"stored"}
        self.refusing: set[int] = set()
        self.logins: list[datetime] = []
        self.issued = 0

    def minute(self) -> int:
        return int((self.clock() - T0).total_seconds() // 60)

    async def login(self, username: str, password: str) -> None:
        self.token = None
        self.ledger.acquire("login", self.host, "login", self.clock())
        self.logins.append(self.clock())
        self.issued += 1
        self.token = f"token-{self.issued}"
        self.valid.add(self.token)

    async def latest(self) -> str:
        if self.minute() in self.refusing or self.token not in self.valid:
            raise IammeterAuthError("meterdata2", "HTTP 401")
        return "reading"


def _drive[T](job: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (nothing here does)."""
    try:
        job.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    job.close()
    raise AssertionError("waited")


T0 = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
MINUTES = 6 * 60


class _TwoMeters:
    """Two meters read through one account, each at the coordinator's pace (5
    minutes; after failures 1, 2, 4 then 5 minutes; after a refusal for the
    quota, when it frees), every login checked to have been needed."""

    def __init__(
        self, account: IammeterAccount, cloud: _FakeCloud, now: list[datetime]
    ) -> None:
        self.account = account
        self.cloud = cloud
        self.now = now
        self.retry = [T0, T0]
        self.failures = [0, 0]
        self.worked_since_login: list[bool] = []
        self.successes: list[int] = []

    def update(self, meter: int, minute: int) -> None:
        """Meter `meter`'s update in `minute`, if one is due."""
        if self.now[0] < self.retry[meter]:
            return
        logins = self.cloud.logins
        before = len(logins)
        had_worked = any(self.worked_since_login)
        self._read(meter, minute)
        if len(logins) > before:
            # Needed: the token had worked since the last login, or it
            # came from the store, or the last login is an hour old.
            previous = logins[-2] if len(logins) > 1 else None
            assert (
                previous is None
                or had_worked
                or self.now[0] - previous >= timedelta(hours=1)
            ), (minute, logins)
            self.worked_since_login.clear()

    def _read(self, meter: int, minute: int) -> None:
        try:
            _drive(self.account.call(self.cloud.latest))
        except IammeterQuotaError as err:
            self.retry[meter] = err.retry_at
        except IammeterConnectionError:
            self.failures[meter] += 1
            backoff = min(2 ** (self.failures[meter] - 1), 5)
            self.retry[meter] = self.now[0] + timedelta(minutes=backoff)
        else:
            self.failures[meter] = 0
            self.retry[meter] = self.now[0] + timedelta(minutes=5)
            self.successes.append(minute)
            self.worked_since_login.append(True)


@settings(max_examples=150, deadline=None)
@given(
    spans=st.lists(
        st.tuples(st.integers(0, MINUTES - 1), st.integers(1, 240)), max_size=6
    ),
    expiries=st.lists(st.integers(0, MINUTES - 1), max_size=4),
)
def test_any_pattern_of_refused_tokens_never_asks_for_the_password(
    spans: list[tuple[int, int]], expiries: list[int]
) -> None:
    """For any pattern of refused tokens (the cloud refusing all of them for a
    while, tokens expiring) with a right password: no reauth ever, logins within
    the budget and only when needed (the token had worked since the last login,
    or an hour has passed), and readings again soon after the cloud is well."""
    now = [T0]
    cloud = _FakeCloud(lambda: now[0])
    for start, length in spans:
        cloud.refusing |= set(range(start, min(start + length, MINUTES)))
    entry = SimpleNamespace(entry_id="e", data={CONF_USERNAME: "u", CONF_PASSWORD: "p"})
    hass = SimpleNamespace(
        data={},
        config_entries=SimpleNamespace(async_update_entry=lambda *_, **__: None),
    )
    account = IammeterAccount(hass, entry, cloud, None)  # type: ignore[arg-type]
    meters = _TwoMeters(account, cloud, now)
    clock = SimpleNamespace(utcnow=lambda: now[0])
    with patch.object(account_module, "dt_util", clock):
        for minute in range(MINUTES):
            now[0] = T0 + timedelta(minutes=minute)
            if minute in expiries:
                cloud.valid.clear()
            for meter in (0, 1):
                meters.update(meter, minute)
    minutes = [(t - T0).total_seconds() / 60 for t in cloud.logins]
    for start in range(MINUTES):
        assert len([m for m in minutes if start <= m < start + 60]) <= 5
    # Once the cloud takes tokens again (and none expire), readings follow
    # within an hour and a few minutes.
    well = max([m + 1 for m in cloud.refusing] + [e + 1 for e in expiries] + [0])
    if well + 70 <= MINUTES:
        successes = meters.successes
        assert any(well <= m <= well + 70 for m in successes), (well, successes)
