"""The IAMMETER cloud client over real HTTP against the local cloud simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
import json
import logging
from pathlib import Path
import socket
import ssl
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.typedefs import Handler
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import pytest
from yarl import URL

from custom_components.iammeter_cloud.api import (
    DOCUMENTED_BUDGETS,
    EMPTY_RETRY,
    TOKEN_REFUSED_MESSAGES,
    Budget,
    IammeterApiError,
    IammeterAuthError,
    IammeterCloud,
    IammeterConnectionError,
    IammeterEndpointNotFoundError,
    IammeterError,
    IammeterNotApiError,
    IammeterNotFoundError,
    IammeterQuotaError,
    IammeterResponseError,
    Meter,
    Outage,
    PhaseValues,
    QuotaLedger,
    is_token_refusal,
)
from custom_components.iammeter_cloud.api.client import _redirect
from tests.simulator import (
    CloudSimulator,
    FrontRequest,
    RedirectFront,
    SimMeter,
    to_minute,
)

T0 = datetime(2026, 11, 20, 11, 0, 30, tzinfo=UTC)  # 12:00:30 in Warsaw
TODAY, YESTERDAY = date(2026, 11, 20), date(2026, 11, 19)  # local dates
USER, PASSWORD = "demo@example.com", "demo-password"
SN1, SN3 = "SIM1PHASE001", "SIM3PHASE001"
WARSAW = ZoneInfo("Europe/Warsaw")  # the demo account's meters: UTC+1 in November
# The documented budgets and one of a caller's own (the integration's history).
BUDGETS = {**DOCUMENTED_BUDGETS, "history": (Budget(6, timedelta(days=1)),)}


class Clock:
    """A clock the tests move by hand, shared by the simulator and the client."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass(frozen=True)
class Seen:
    """A request as the simulator received it."""

    method: str
    url: URL
    token: str | None


@dataclass
class Env:
    sim: CloudSimulator
    clock: Clock
    session: aiohttp.ClientSession
    client: IammeterCloud
    seen: list[Seen]
    secrets: set[str] = field(default_factory=set)

    def new_client(self, **kwargs: Any) -> IammeterCloud:
        """Another client with the same token and a fresh ledger."""
        kwargs.setdefault("api_url", self.sim.base_url)
        kwargs.setdefault("ledger", QuotaLedger(BUDGETS))
        return IammeterCloud(
            self.session, token=self.client.token, clock=self.clock, **kwargs
        )

    def meter(self, sn: str) -> SimMeter:
        meter = self.sim.accounts[USER].meter(sn)
        assert meter is not None
        return meter

    def expected_rows(self, sn: str, five: bool = False) -> list[list[float]]:
        """The rows the simulator's model holds for the clock's minute."""
        rows = self.meter(sn).readings(to_minute(self.clock.now))
        return [r.row5() if five else r.row6() for r in rows]

    def check_secret_free(self, text: str) -> None:
        for secret in self.secrets:
            assert secret not in text

    async def fails[E: IammeterError](self, kind: type[E], call: Awaitable[Any]) -> E:
        """The error `call` raises, checked to hold no secret."""
        with pytest.raises(kind) as info:
            await call
        err: BaseException | None = info.value
        while err is not None:
            self.check_secret_free(f"{err!s} {err!r} {err.args!r}")
            err = err.__cause__ or err.__context__
        return info.value


SHORT_TIMEOUT = pytest.mark.short_timeout
"""The client gives up after 0.3 s (for the tests that inject timeouts): the
others keep a timeout that no busy machine reaches."""


@pytest.fixture
async def env(
    socket_enabled: None,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Env]:
    """The demo cloud at T0 and a client logged in to it."""
    short = request.node.get_closest_marker("short_timeout") is not None
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    sim = CloudSimulator.demo(clock)
    sim.faults.timeout_delay = 5
    seen: list[Seen] = []

    @web.middleware
    async def spy(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(Seen(request.method, request.url, request.headers.get("token")))
        return await handler(request)

    sim.app.middlewares.append(spy)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = IammeterCloud(
                session,
                api_url=sim.base_url,
                clock=clock,
                request_timeout=0.3 if short else 10.0,
                ledger=QuotaLedger(BUDGETS),
            )
            result = await client.login(USER, PASSWORD)
            env = Env(sim, clock, session, client, seen, {PASSWORD, result.token})
            yield env
    finally:
        await sim.stop()
    # Secrets never show in a URL, in the client's repr or in a log record.
    env.check_secret_free(repr(env.client))
    records = caplog.get_records("setup") + caplog.get_records("call")
    for record in records:
        env.check_secret_free(f"{record.getMessage()} {record.args!r}")
    for sent in seen:
        env.check_secret_free(str(sent.url))
        assert "token" not in sent.url.query


def phase(row: list[float], *, pf: bool = True) -> PhaseValues:
    """The PhaseValues of a row of the simulator (6 values, or 5 without PF)."""
    if pf:
        volt, amp, watt, factor, imp, exp = row
        return PhaseValues(volt, amp, watt, factor, imp, exp)
    volt, amp, watt, imp, exp = row
    return PhaseValues(volt, amp, watt, None, imp, exp)


# --- login and authentication -------------------------------------------------


async def test_login_returns_account_id_and_token(env: Env) -> None:
    client = IammeterCloud(env.session, api_url=env.sim.base_url, clock=env.clock)
    result = await client.login(USER, PASSWORD)
    env.secrets.add(result.token)
    assert result.account_id == 1001
    assert len(result.token) == 32
    assert client.token == result.token != env.client.token
    assert result.token not in repr(result)
    login = env.seen[-1]
    assert (login.method, login.url.path, login.token) == (
        "POST",
        "/api/v1/user/login",
        None,
    )
    assert (await client.latest(SN1)).phases == (phase(env.expected_rows(SN1)[0]),)


@pytest.mark.parametrize(
    ("user", "password"), [(USER, "wrong-password-42"), ("x@y.z", PASSWORD)]
)
async def test_refused_login_is_an_auth_error(
    env: Env, user: str, password: str
) -> None:
    env.secrets.add("wrong-password-42")
    err = await env.fails(IammeterAuthError, env.client.login(user, password))
    assert err.endpoint == "login"
    assert env.client.token is None
    assert env.sim.log[-1].outcome == "unsuccessful"


async def test_token_goes_in_the_header_never_in_the_url(env: Env) -> None:
    await env.client.latest(SN1)
    await env.client.history(SN3, TODAY, TODAY)
    await env.client.power_analysis(SN1)
    await env.client.meters()
    assert [(s.method, s.url.path) for s in env.seen[1:]] == [
        ("GET", f"/api/v1/site/meterdata2/{SN1}"),
        ("GET", f"/api/v1/site/meterdatalist2/{SN3}"),
        ("GET", "/api/v1/site/powerAnalysis"),
        ("GET", "/api/v1/user/sitelist"),
    ]
    assert all(s.token == env.client.token for s in env.seen[1:])
    assert dict(env.seen[2].url.query) == {
        "startTime": "2026-11-20",
        "endTime": "2026-11-20",
        "interval": "300",
    }
    assert dict(env.seen[3].url.query) == {"sn": SN1}


async def test_expired_token_is_an_auth_error(env: Env) -> None:
    env.sim.expire_tokens()
    await env.fails(IammeterAuthError, env.client.latest(SN1))
    assert env.sim.log[-1].status == 401
    # The site list is optional: refused, it is "not available", not an error.
    assert await env.client.meters() is None
    assert env.sim.log[-1].status == 401
    env.secrets.add((await env.client.login(USER, PASSWORD)).token)
    assert len((await env.client.latest(SN1)).phases) == 1


async def test_a_refusal_that_quotes_the_token_does_not_leak_it(env: Env) -> None:
    """A hostile or careless server may echo the token in its message."""
    token = env.client.token
    assert token
    env.sim.faults.set("unsuccessful", "meterdata2", message=f"bad request {token}")
    with pytest.raises(IammeterApiError) as err:
        await env.client.latest(SN1)
    assert token not in str(err.value)
    assert "bad request" in str(err.value)


# --- readings -----------------------------------------------------------------


@pytest.mark.parametrize(("sn", "rows"), [(SN1, 1), (SN3, 3)])
async def test_latest_is_the_model_reading_of_the_minute(
    env: Env, sn: str, rows: int
) -> None:
    for _ in range(3):
        reading = await env.client.latest(sn)
        expected = env.expected_rows(sn)
        assert len(expected) == rows
        assert reading.phases == tuple(phase(r) for r in expected)
        assert reading.net is None
        minute = env.clock.now.replace(second=0)
        assert reading.time == minute
        assert reading.time.utcoffset() == timedelta(0)
        assert reading.utc_offset == timedelta(hours=1)
        assert reading.power == sum(r[2] for r in expected)
        assert reading.energy_import == pytest.approx(sum(r[4] for r in expected))
        env.clock.advance(timedelta(minutes=7, seconds=13))


async def test_latest_three_phase_values_and_signed_power(env: Env) -> None:
    reading = await env.client.latest(SN3)
    a, b, c = reading.phases
    assert a == PhaseValues(227.86, 1.458, 182, 0.55, 4644.155, 0.0)
    assert b == PhaseValues(230.62, 6.351, -1460, 1.0, 5911.211, 2042.802)
    assert c == PhaseValues(228.57, 1.252, 171, 0.6, 2870.712, 0.0)
    assert reading.power == 182 - 1460 + 171
    assert reading.time == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    assert reading.utc_offset == timedelta(hours=1)


async def test_latest_with_a_net_row(env: Env) -> None:
    nem = SimMeter("SIM3NEM00001", 3, "Net", nem_row=True)
    env.sim.add_account(USER, PASSWORD, 1001, [nem], "Cottage")
    reading = await env.client.latest(nem.sn)
    rows = env.expected_rows(nem.sn)
    assert len(rows) == 4
    assert reading.phases == tuple(phase(r) for r in rows[:3])
    assert reading.net == phase(rows[3])
    assert Meter(nem.sn, "Net", "Cottage") in (await env.client.meters() or [])


async def test_latest_of_an_offline_meter_is_its_last_upload(env: Env) -> None:
    env.meter(SN1).set_offline(T0 - timedelta(minutes=30))
    reading = await env.client.latest(SN1)
    assert reading.time == datetime(2026, 11, 20, 10, 29, tzinfo=UTC)


async def test_latest_v1_has_no_power_factor(env: Env) -> None:
    for sn in (SN1, SN3):
        reading = await env.client.latest_v1(sn)
        expected = env.expected_rows(sn, five=True)
        assert reading.phases == tuple(phase(r, pf=False) for r in expected)
        assert all(p.power_factor is None for p in reading.phases)
        assert reading.time == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    assert env.sim.count("meterdata") == 2


@pytest.mark.parametrize("sn", [SN1, SN3])
async def test_history_agrees_with_latest(env: Env, sn: str) -> None:
    latest = await env.client.latest(sn)
    points = await env.client.history(sn, TODAY, TODAY)
    # every 5 minutes from local midnight (23:00 UTC) up to now (11:00 UTC)
    assert len(points) == 12 * 12 + 1
    assert points[0].time == datetime(2026, 11, 19, 23, 0, tzinfo=UTC)
    assert points[0].utc_offset == timedelta(hours=1)
    assert [p.time for p in points] == sorted(p.time for p in points)
    assert points[-1] == latest
    older = points[-13]
    rows = env.meter(sn).readings(to_minute(older.time))
    assert older.phases == tuple(phase(r.row6()) for r in rows)


@pytest.mark.parametrize("sn", [SN1, SN3])
async def test_history_v1_agrees_with_latest_v1(env: Env, sn: str) -> None:
    latest = await env.client.latest_v1(sn)
    points = await env.client.history_v1(sn, YESTERDAY, TODAY, interval=3600)
    assert len(points) == 24 + 13
    assert points[0].time == datetime(2026, 11, 18, 23, 0, tzinfo=UTC)
    assert points[0].utc_offset == timedelta(hours=1)
    assert points[-1] == latest
    assert all(p.power_factor is None for r in points for p in r.phases)
    assert len(points[-1].phases) == len(env.expected_rows(sn))


async def test_history_of_yesterday_with_one_minute_points(env: Env) -> None:
    points = await env.client.history(SN1, YESTERDAY, YESTERDAY, interval=60)
    assert len(points) == 1440
    imports = [p.energy_import for p in points]
    assert imports == sorted(imports)
    assert [p.time for p in points[:2]] == [
        datetime(2026, 11, 18, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 18, 23, 1, tzinfo=UTC),
    ]


# --- analyses -------------------------------------------------------------------


async def test_power_analysis_of_a_day(env: Env) -> None:
    meter = env.meter(SN3)
    lo = to_minute(datetime(2026, 11, 18, 23, 0, tzinfo=UTC))
    watts = [meter.total_power(m) for m in range(lo, lo + 1440)]
    day = watts[8 * 60 : 20 * 60]
    result = await env.client.power_analysis(SN3, YESTERDAY, YESTERDAY)
    # The client's time zone is UTC unless it is given another.
    assert result.start == datetime(2026, 11, 19, tzinfo=UTC)
    assert result.end == datetime(2026, 11, 19, 23, 59, 59, tzinfo=UTC)
    assert result.average == round(sum(watts) / len(watts))
    assert result.daytime_average == round(sum(day) / len(day))
    assert result.minimum == round(min(watts)) < 0
    assert result.maximum == round(max(watts))
    assert dict(env.seen[-1].url.query) == {
        "sn": SN3,
        "startTime": "2026-11-19",
        "endTime": "2026-11-19",
    }


async def test_power_analysis_defaults_to_the_last_seven_days(env: Env) -> None:
    result = await env.client.power_analysis(SN1)
    assert (result.start, result.end) == (
        datetime(2026, 11, 14, tzinfo=UTC),
        datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC),
    )
    assert result.minimum <= result.average <= result.maximum


async def test_offline_analysis(env: Env) -> None:
    meter = env.meter(SN1)
    meter.set_offline(
        T0 - timedelta(hours=3), T0 - timedelta(hours=3) + timedelta(minutes=10)
    )
    meter.set_offline(T0 - timedelta(hours=1), T0 - timedelta(minutes=57))  # 3 min
    result = await env.client.offline_analysis(SN1, YESTERDAY, TODAY)
    assert result.start == datetime(2026, 11, 19, tzinfo=UTC)
    assert result.end == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)
    assert result.offline_minutes == 10
    assert result.total_minutes == 2 * 1440
    assert result.outages == (
        Outage(
            datetime(2026, 11, 20, 9, tzinfo=UTC),
            datetime(2026, 11, 20, 9, 10, tzinfo=UTC),
            10,
        ),
    )
    assert result.availability == round(100 * (2880 - 10) / 2880, 2)
    assert env.seen[-1].url.query["interval"] == "5"
    shorter = await env.client.offline_analysis(SN1, YESTERDAY, TODAY, interval=2)
    assert shorter.offline_minutes == 13
    assert [o.minutes for o in shorter.outages] == [10, 3]


@pytest.mark.parametrize(
    ("spelling", "misses"), [("powerAnalytics", 1), ("powerAnalytic", 2)]
)
async def test_analysis_path_fallback_is_remembered(
    env: Env, spelling: str, misses: int
) -> None:
    env.sim.analysis_spelling = spelling
    first = await env.client.power_analysis(SN1, YESTERDAY, YESTERDAY)
    assert env.sim.count("not_found") == misses
    assert env.sim.count("power_analysis") == 1
    assert env.client.analysis_paths == {"power": spelling}
    assert await env.client.power_analysis(SN1, YESTERDAY, YESTERDAY) == first
    assert env.sim.count("not_found") == misses
    assert env.sim.count("power_analysis") == 2
    assert env.seen[-1].url.path == f"/api/v1/site/{spelling}"
    offline = spelling.replace("power", "offline")
    await env.client.offline_analysis(SN1)
    await env.client.offline_analysis(SN1)
    assert env.sim.count("not_found") == 2 * misses
    assert env.client.analysis_paths == {"power": spelling, "offline": offline}
    assert env.seen[-1].url.path == f"/api/v1/site/{offline}"


async def test_documented_analysis_spelling_goes_first(env: Env) -> None:
    await env.client.power_analysis(SN1)
    await env.client.offline_analysis(SN1)
    assert env.sim.count("not_found") == 0
    assert env.client.analysis_paths == {
        "power": "powerAnalysis",
        "offline": "offlineAnalysis",
    }


async def test_a_remembered_path_that_vanishes_is_forgotten(env: Env) -> None:
    await env.client.power_analysis(SN1)
    env.sim.analysis_spelling = "powerAnalytic"
    await env.fails(IammeterEndpointNotFoundError, env.client.power_analysis(SN1))
    assert env.client.analysis_paths == {}
    assert env.sim.count("not_found") == 1
    await env.client.power_analysis(SN1)
    assert env.client.analysis_paths == {"power": "powerAnalytic"}
    assert env.sim.count("not_found") == 3


async def test_no_analysis_path_at_all(env: Env) -> None:
    env.sim.analysis_spelling = "powerStats"
    err = await env.fails(IammeterEndpointNotFoundError, env.client.power_analysis(SN1))
    assert err.endpoint == "power_analysis"
    assert env.sim.count("not_found") == 3
    assert env.client.analysis_paths == {}


# --- meters ---------------------------------------------------------------------


async def test_meters_from_the_site_list(env: Env) -> None:
    assert await env.client.meters() == [
        Meter(SN1, "Garage", "Home"),
        Meter(SN3, "House", "Home"),
    ]


async def test_meters_without_a_site_list(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.sim.sitelist_available = False
    assert await env.client.meters() is None
    assert env.sim.count("not_found") == 1
    assert "cannot be listed" in caplog.text


# --- errors ---------------------------------------------------------------------

Call = Callable[[IammeterCloud], Awaitable[Any]]
CALLS: dict[str, tuple[str, Call]] = {
    "latest": ("meterdata2", lambda c: c.latest(SN3)),
    "latest_v1": ("meterdata", lambda c: c.latest_v1(SN1)),
    "history": ("meterdatalist2", lambda c: c.history(SN1, TODAY, TODAY)),
    "history_v1": ("meterdatalist", lambda c: c.history_v1(SN1, TODAY, TODAY)),
    "power": ("power_analysis", lambda c: c.power_analysis(SN1)),
    "offline": ("offline_analysis", lambda c: c.offline_analysis(SN1)),
    "meters": ("sitelist", lambda c: c.meters()),
    "login": ("login", lambda c: c.login(USER, PASSWORD)),
}
ERRORS: dict[str, type[IammeterError]] = {
    "http_500": IammeterConnectionError,
    "non_json": IammeterNotApiError,
    "unsuccessful": IammeterApiError,
    "null_data": IammeterResponseError,
}


@pytest.mark.parametrize("kind", ERRORS)
@pytest.mark.parametrize("name", CALLS)
async def test_faults_raise_the_documented_error(
    env: Env, name: str, kind: str
) -> None:
    endpoint, call = CALLS[name]
    env.sim.faults.set(kind, endpoint, count=1)
    if name == "meters":
        assert await call(env.client) is None
    elif name.startswith("history") and kind == "null_data":
        assert await call(env.client) == []
    elif name == "login" and kind == "unsuccessful":
        await env.fails(IammeterAuthError, call(env.client))
    else:
        err = await env.fails(ERRORS[kind], call(env.client))
        assert type(err) is ERRORS[kind]
        if kind == "unsuccessful":
            assert str(err).endswith("Simulated failure")
    assert env.sim.log[-1].outcome == f"fault:{kind}"
    # one bad answer leaves no trace: the next call works
    if name == "login":
        env.secrets.add((await call(env.client)).token)
    else:
        assert await call(env.client) is not None
    assert env.sim.log[-1].outcome == "ok"


@SHORT_TIMEOUT
@pytest.mark.parametrize("name", ["latest", "login", "meters"])
async def test_timeout_is_a_connection_error(env: Env, name: str) -> None:
    endpoint, call = CALLS[name]
    env.sim.faults.set("timeout", endpoint, count=1)
    if name == "meters":
        assert await call(env.client) is None
    else:
        err = await env.fails(IammeterConnectionError, call(env.client))
        assert "timed out" in str(err)


async def test_connection_refused_is_a_connection_error(env: Env) -> None:
    client = env.new_client(api_url="http://127.0.0.1:9")
    await env.fails(IammeterConnectionError, client.latest(SN1))


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, b"", IammeterQuotaError),
        (401, b"", IammeterAuthError),
        (403, b'{"successful": false}', IammeterAuthError),
        (302, b"", IammeterConnectionError),
        (502, b"<html>bad gateway</html>", IammeterConnectionError),
        (200, b" \r\n ", IammeterQuotaError),
        (200, b"\xff\xfe{", IammeterNotApiError),
        (200, b"[1, 2]", IammeterNotApiError),
        (200, b"<!DOCTYPE html><html><body>Welcome</body></html>", IammeterNotApiError),
        (200, b'{"status": "ok", "data": {}}', IammeterNotApiError),
        (404, b"<html>Not Found</html>", IammeterEndpointNotFoundError),
        (200, b'{"successful": "true", "data": {}}', IammeterApiError),
        (200, b'{"successful": null, "message": "refused"}', IammeterApiError),
        (200, b'{"successful": true, "data": {"values": []}}', IammeterResponseError),
        pytest.param(
            200,
            b'{"successful": true, "data": {"gmtTime": "2020/8/28 5:27:33",'
            b' "localTime": "x", "values": [[230, 1, 1' + b"0" * 400 + b", 1, 0]]}}",
            IammeterResponseError,
            id="huge-integer",
        ),
    ],
)
async def test_answers_the_simulator_never_gives(
    socket_enabled: None, status: int, body: bytes, error: type[IammeterError]
) -> None:
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(status=status, body=body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            client = IammeterCloud(session, api_url=url, token="t0ken", clock=Clock())
            with pytest.raises(error) as info:
                await client.latest(SN1)
    finally:
        await runner.cleanup()
    assert type(info.value) is error
    if error is IammeterQuotaError:
        assert isinstance(info.value, IammeterQuotaError)
        # HTTP 429 without Retry-After: the window; a first empty answer: a moment.
        wait = timedelta(hours=1) if status == 429 else EMPTY_RETRY["meterdata"]
        assert (info.value.by_server, info.value.retry_at) == (True, T0 + wait)
        assert client.ledger.remaining("meterdata", SN1, T0) == 0


@pytest.mark.parametrize(
    ("name", "window"),
    [
        ("history", timedelta(days=1)),
        ("power", timedelta(days=1)),
    ],
)
async def test_empty_body_blocks_the_bucket_until_the_window_passed(
    env: Env, name: str, window: timedelta
) -> None:
    endpoint, call = CALLS[name]
    env.sim.faults.set("empty_body", endpoint, count=1)
    err = await env.fails(IammeterQuotaError, call(env.client))
    assert err.by_server is True
    assert err.retry_at == T0 + window
    sent = len(env.sim.log)
    env.clock.advance(window - timedelta(seconds=1))
    err = await env.fails(IammeterQuotaError, call(env.client))
    assert (err.by_server, err.retry_at) == (False, T0 + window)
    assert len(env.sim.log) == sent
    env.clock.advance(timedelta(seconds=1))
    assert await call(env.client) is not None
    assert len(env.sim.log) == sent + 1


async def test_a_first_empty_reading_answer_is_tried_again_in_a_moment(
    env: Env,
) -> None:
    """Issue 10: one empty answer blocked the meter for an hour. It may be a
    one-off: the next call may go a few minutes later, and it reads."""
    env.sim.faults.set("empty_body", "meterdata2", count=1)
    err = await env.fails(IammeterQuotaError, env.client.latest(SN1))
    retry = EMPTY_RETRY["meterdata"]
    assert (err.by_server, err.retry_at) == (True, T0 + retry)
    env.clock.advance(retry - timedelta(seconds=1))
    err = await env.fails(IammeterQuotaError, env.client.latest(SN1))
    assert err.by_server is False
    env.clock.advance(timedelta(seconds=1))
    assert (await env.client.latest(SN1)).phases
    # After an answer, the next empty one is again a first one.
    env.sim.faults.set("empty_body", "meterdata2", count=1)
    err = await env.fails(IammeterQuotaError, env.client.latest(SN1))
    assert err.retry_at == env.clock.now + retry


async def test_a_second_empty_answer_in_a_row_waits_for_the_window(env: Env) -> None:
    """Another client took the quota: the window is full until an hour after the
    first empty answer (every request it counted came before that one)."""
    env.sim.faults.set("empty_body", "meterdata2", count=2)
    first = env.clock.now
    await env.fails(IammeterQuotaError, env.client.latest(SN1))
    env.clock.advance(EMPTY_RETRY["meterdata"])
    err = await env.fails(IammeterQuotaError, env.client.latest(SN1))
    assert (err.by_server, err.retry_at) == (True, first + timedelta(hours=1))
    sent = env.sim.count("meterdata2", SN1)
    env.clock.advance(first + timedelta(hours=1) - env.clock.now - timedelta(seconds=1))
    await env.fails(IammeterQuotaError, env.client.latest(SN1))
    assert env.sim.count("meterdata2", SN1) == sent
    env.clock.advance(timedelta(seconds=1))
    assert (await env.client.latest(SN1)).phases


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        ("120", timedelta(minutes=2)),
        ("0", timedelta(minutes=1)),  # bounded: at least a minute
        ("86400", timedelta(hours=1)),  # ... and at most an hour
        ("Fri, 20 Nov 2026 11:05:30 GMT", timedelta(minutes=5)),  # an HTTP date
        ("soon", timedelta(hours=1)),  # unreadable: as without Retry-After
        ("\u00b2", timedelta(hours=1)),  # a digit, but not an ASCII one
    ],
)
async def test_http_429_honours_retry_after(
    env: Env, retry_after: str, wait: timedelta
) -> None:
    env.sim.faults.set("http_429", "meterdata2", count=1, retry_after=retry_after)
    err = await env.fails(IammeterQuotaError, env.client.latest(SN1))
    assert (err.by_server, err.retry_at) == (True, T0 + wait)
    assert env.sim.log[-1].status == 429
    # The refused request counts in the ledger; nothing is sent until then.
    assert env.client.ledger.used("meterdata", SN1, T0, timedelta(hours=1)) == 1
    env.clock.advance(wait - timedelta(seconds=1))
    err = await env.fails(IammeterQuotaError, env.client.latest(SN1))
    assert err.by_server is False
    assert env.sim.count("meterdata2", SN1) == 1
    env.clock.advance(timedelta(seconds=1))
    assert (await env.client.latest(SN1)).phases


@pytest.mark.parametrize(
    "message",
    ["token invalid", "Invalid token.", "TOKEN EXPIRED", "The token has expired"],
)
async def test_a_token_refused_in_an_http_200_answer_is_an_auth_error(
    env: Env, message: str
) -> None:
    env.sim.faults.set("token_invalid_200", message=message)
    env.sim.expire_tokens()
    err = await env.fails(IammeterAuthError, env.client.latest(SN1))
    assert env.sim.log[-1].status == 200
    assert err.endpoint == "meterdata2"
    # A login's own refusal stays "user name or password refused".
    env.sim.faults.set("unsuccessful", "login", message="Invalid token")
    err = await env.fails(IammeterAuthError, env.client.login(USER, PASSWORD))
    assert "password refused" in str(err)


def test_the_token_refusals_are_matched_case_insensitively() -> None:
    assert all(m == m.lower() for m in TOKEN_REFUSED_MESSAGES)
    assert is_token_refusal("Invalid  Token.")
    assert is_token_refusal("Token Expired, please log in")
    assert not is_token_refusal("Meter not found")
    assert not is_token_refusal("tokens: invalid parameter")


async def test_empty_body_blocks_one_meter_both_endpoints(env: Env) -> None:
    env.sim.faults.set("empty_body", "meterdata2", count=1)
    await env.fails(IammeterQuotaError, env.client.latest(SN1))
    sent = len(env.sim.log)
    err = await env.fails(IammeterQuotaError, env.client.latest_v1(SN1))
    assert err.by_server is False
    assert len(env.sim.log) == sent
    assert len((await env.client.latest(SN3)).phases) == 3


async def test_the_servers_own_quota_is_a_quota_error(env: Env) -> None:
    for _ in range(12):
        await env.client.latest(SN1)
        env.clock.advance(timedelta(minutes=1))
    fresh = env.new_client()
    err = await env.fails(IammeterQuotaError, fresh.latest(SN1))
    assert err.by_server is True
    assert err.retry_at == env.clock.now + EMPTY_RETRY["meterdata"]
    assert (env.sim.log[-1].outcome, env.sim.log[-1].status) == ("quota", 200)
    err = await env.fails(IammeterQuotaError, env.client.latest(SN1))
    assert err.by_server is False
    assert err.retry_at == T0 + timedelta(hours=1)  # the first of the 12 + 1 h
    assert env.sim.count("meterdata2", SN1) == 13


async def test_unknown_meter_is_an_api_error(env: Env) -> None:
    err = await env.fails(IammeterApiError, env.client.latest("NOSUCHMETER1"))
    assert str(err) == "meterdata2: Meter not found"
    await env.fails(IammeterApiError, env.client.history("NOSUCHMETER1", TODAY, TODAY))


@pytest.mark.parametrize("sn", ["../user/login", "SN 1", "", "SÑ1"])
async def test_a_malformed_serial_number_is_not_sent(env: Env, sn: str) -> None:
    sent = len(env.sim.log)
    await env.fails(IammeterNotFoundError, env.client.latest(sn))
    assert len(env.sim.log) == sent
    assert [b for b, _, _ in env.client.ledger.export()["sent"]] == ["login"]


async def test_one_meter_one_budget_whatever_the_spacing(env: Env) -> None:
    for _ in range(12):
        await env.client.latest(SN1)
    err = await env.fails(IammeterQuotaError, env.client.latest(f" {SN1} "))
    assert err.by_server is False  # refused locally, not sent for a 13th time
    assert env.sim.count("meterdata2", SN1) == 12


# --- construction -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "file:///etc/passwd",
        "http://user:pw@host",
        "http://user@host",
        "not a url",
        "https://host/?q=1",
        "https://host/#top",
        "",
    ],
)
async def test_bad_api_urls_are_refused(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="API URL") as info:
            IammeterCloud(session, api_url=url)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://www.iammeter.com", "https://www.iammeter.com/api/v1/"),
        ("http://127.0.0.1:8124/", "http://127.0.0.1:8124/api/v1/"),
        ("https://www.iammeter.com/api/v1", "https://www.iammeter.com/api/v1/"),
        (" http://proxy.lan/iammeter/api/v1/ ", "http://proxy.lan/iammeter/api/v1/"),
    ],
)
async def test_good_api_urls_are_accepted(url: str, base: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = IammeterCloud(session, api_url=url, token="secret-token")
    assert repr(client) == f"IammeterCloud(api_url={base!r})"
    assert client.host == URL(base).host


async def test_an_api_url_with_the_api_path_reaches_the_simulator(env: Env) -> None:
    client = env.new_client(api_url=f"{env.sim.base_url}/api/v1/")
    assert (await client.latest(SN1)).phases == (phase(env.expected_rows(SN1)[0]),)
    assert env.seen[-1].url.path == f"/api/v1/site/meterdata2/{SN1}"


# --- the real cloud's shapes (what the vendor's own clients read) ------------------


@pytest.mark.parametrize("extra", [1, 2, 4])
@pytest.mark.parametrize("sn", [SN1, SN3])
async def test_extra_row_values_are_ignored(env: Env, sn: str, extra: int) -> None:
    """7-, 8- and 10-value meterdata2 rows (frequency, reactive power...)."""
    env.sim.shapes.extra_values = extra
    reading = await env.client.latest(sn)
    assert reading.phases == tuple(phase(r) for r in env.expected_rows(sn))
    points = await env.client.history(sn, TODAY, TODAY)
    assert points[-1] == reading
    rows = env.meter(sn).readings(to_minute(points[0].time))
    assert points[0].phases == tuple(phase(r.row6()) for r in rows)


async def test_the_vendors_seven_value_meterdata_row_has_a_power_factor(
    env: Env,
) -> None:
    env.sim.shapes.extra_values = 2  # + frequency, power factor
    reading = await env.client.latest_v1(SN3)
    five, six = env.expected_rows(SN3, five=True), env.expected_rows(SN3)
    assert reading.phases == tuple(
        replace(phase(r, pf=False), power_factor=s[3])
        for r, s in zip(five, six, strict=True)
    )
    env.sim.shapes.extra_values = 1  # + frequency: no power factor
    env.clock.advance(timedelta(minutes=1))
    reading = await env.client.latest_v1(SN3)
    five = env.expected_rows(SN3, five=True)
    assert reading.phases == tuple(phase(r, pf=False) for r in five)


@pytest.mark.parametrize(
    ("nulls", "rows"),
    [
        ({"power_factor"}, None),
        ({"voltage", "current", "power"}, None),
        ({"energy_import"}, {1}),
        ({"energy_export", "extra"}, {0, 2}),
        ({"voltage", "current", "power", "power_factor", "energy_import"}, None),
    ],
)
async def test_null_values_are_unknown(
    env: Env, nulls: set[str], rows: set[int] | None
) -> None:
    env.sim.shapes.nulls = frozenset(nulls)
    env.sim.shapes.null_rows = None if rows is None else frozenset(rows)
    env.sim.shapes.extra_values = 2
    reading = await env.client.latest(SN3)
    for index, (values, row) in enumerate(
        zip(reading.phases, env.expected_rows(SN3), strict=True)
    ):
        expected = phase(row)
        if rows is None or index in rows:
            expected = replace(expected, **dict.fromkeys(nulls - {"extra"}))
        assert values == expected
    minute = to_minute(reading.time)
    assert env.sim.nulled[(SN3, minute)] == {
        (index, name)
        for index in (rows if rows is not None else range(3))
        for name in nulls - {"extra"}
    }
    assert (reading.power is None) == ("power" in nulls)
    assert (reading.energy_import is None) == ("energy_import" in nulls)
    (point,) = await env.client.history(SN3, TODAY, TODAY, interval=3600 * 24)
    assert point.phases[0].power_factor is None or "power_factor" not in nulls


async def test_site_list_with_bad_items_keeps_the_good_ones(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.sim.shapes.sitelist_bad_items = True
    assert await env.client.meters() == [
        Meter(SN1, "Garage", "Home"),
        Meter(SN3, "House", "Home"),
    ]
    assert "skipped" in caplog.text


@pytest.mark.parametrize(
    ("shape", "account_id"),
    [
        ("int", 1001),
        ("numeric_string", 1001),
        ("text", "acct-1001"),
        ("missing", None),
        ("null", None),
    ],
)
async def test_login_whatever_the_account_id(
    env: Env, shape: str, account_id: int | str | None
) -> None:
    env.sim.shapes.login_id = shape
    result = await env.client.login(USER, PASSWORD)
    env.secrets.add(result.token)
    assert result.account_id == account_id
    assert type(result.account_id) is type(account_id)
    assert len((await env.client.latest(SN3)).phases) == 3


# --- redirects ----------------------------------------------------------------------


@dataclass
class Redirected:
    """A redirecting front on 127.0.0.1 before the simulator."""

    front: RedirectFront
    env: Env

    def client(self, url: str | None = None) -> IammeterCloud:
        return self.env.new_client(api_url=url or self.front.base_url)


@pytest.fixture
async def redirected(env: Env) -> AsyncIterator[Redirected]:
    """A front that redirects to the simulator at `localhost` (another host)."""
    port = URL(env.sim.base_url).port
    front = RedirectFront(f"http://localhost:{port}")
    await front.start()
    try:
        yield Redirected(front, env)
    finally:
        await front.stop()


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("http://localhost:{port}", "another host"),  # 127.0.0.1 is not localhost
        ("http://127.0.0.1:{port}", "another port"),
        ("http://127.0.0.1.nip.io:{port}", "another host"),
        ("https://127.0.0.1:{port}", "another port"),
        ("http://user:pw@127.0.0.1:{front}", "credentials"),
        ("ftp://127.0.0.1:{front}", "another scheme"),
    ],
)
async def test_a_redirect_off_the_server_is_not_followed(
    redirected: Redirected, target: str, why: str
) -> None:
    env = redirected.env
    sim_port = URL(env.sim.base_url).port
    front_port = URL(redirected.front.base_url).port
    redirected.front.target = target.format(port=sim_port, front=front_port)
    client = redirected.client()
    seen = len(env.seen)
    err = await env.fails(IammeterConnectionError, client.latest(SN1))
    assert why in str(err)
    assert "not followed" in str(err)
    assert "localhost" not in str(err)
    assert len(env.seen) == seen  # the token never reached the other server
    assert len(redirected.front.seen) == 1
    await env.fails(IammeterConnectionError, client.login(USER, PASSWORD))
    assert len(env.seen) == seen
    assert redirected.front.seen[-1] == FrontRequest(
        "POST", "/api/v1/user/login", False
    )


async def test_a_redirect_loop_ends(redirected: Redirected) -> None:
    front = redirected.front
    front.target = front.base_url
    err = await redirected.env.fails(
        IammeterConnectionError, redirected.client().latest(SN1)
    )
    assert str(err) == "meterdata2: more than 3 redirects"
    assert len(front.seen) == 4


async def test_a_redirect_without_a_location_is_an_error(
    redirected: Redirected,
) -> None:
    @web.middleware
    async def no_location(request: web.Request, handler: Handler) -> web.StreamResponse:
        return web.Response(status=301)

    front = RedirectFront("http://127.0.0.1")
    front.app.middlewares.append(no_location)
    await front.start()
    try:
        client = redirected.client(front.base_url)
        err = await redirected.env.fails(IammeterConnectionError, client.latest(SN1))
    finally:
        await front.stop()
    assert str(err) == "meterdata2: HTTP 301"


@pytest.mark.parametrize(
    ("current", "location", "target"),
    [
        ("http://h/api/v1/x", "https://h/api/v1/x", "https://h/api/v1/x"),
        ("http://h:8080/a", "https://h/a?b=1", "https://h/a?b=1"),
        ("http://h:8080/a", "https://h:443/a", "https://h:443/a"),
        ("http://h:8080/a", "https://h:8080/a", "https://h:8080/a"),
        ("http://H.example/a", "http://h.EXAMPLE/b#frag", "http://h.example/b"),
        ("https://h/a/b", "../c?d=1", "https://h/c?d=1"),
        ("https://h/a", "/iam/api/v1/a", "https://h/iam/api/v1/a"),
        ("http://h/a", "//h/b", "http://h/b"),
    ],
)
def test_redirects_followed(current: str, location: str, target: str) -> None:
    assert str(_redirect("e", URL(current), location)) == str(URL(target))


@pytest.mark.parametrize(
    ("current", "location", "why"),
    [
        ("http://h/a", "http://g/a", "another host"),
        ("http://h/a", "//evil.example/a", "another host"),
        ("http://127.0.0.1:80/a", "http://localhost/a", "another host"),
        ("https://h/a", "http://h/a", "from https to another scheme"),
        ("http://h/a", "http://h:8080/a", "another port"),
        ("http://h:8080/a", "https://h:8443/a", "another port"),
        ("https://h/a", "https://h:8443/a", "another port"),
        ("http://h/a", "http://u:p@h/a", "credentials"),
        ("http://h/a", "file:///etc/passwd", "another host"),
        ("http://h/a", "http://[::1", "invalid address"),
    ],
)
def test_redirects_refused(current: str, location: str, why: str) -> None:
    with pytest.raises(IammeterConnectionError) as info:
        _redirect("e", URL(current), location)
    assert why in str(info.value)
    assert "p@" not in str(info.value)


CLOUD = "cloud.test"


class PortMap(AbstractResolver):
    """`cloud.test` is 127.0.0.1, where two servers stand in for ports 80 and 443."""

    def __init__(self, ports: dict[int, int]) -> None:
        self.ports = ports

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != CLOUD or port not in self.ports:
            raise OSError(f"no address for {host}:{port}")
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self.ports[port],
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


def tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for `cloud.test`, and a
    client context that trusts it (and checks the host name)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CLOUD)])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))  # the clock may be
        .not_valid_after(datetime(2100, 1, 1, tzinfo=UTC))  # frozen in tests
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(CLOUD)]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public), False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_custom_url_over_http_that_redirects_to_https_works(
    socket_enabled: None, tmp_path: Path, status: int
) -> None:
    """`http://cloud.test` (port 80) redirects to `https://cloud.test` (443): the
    front and the simulator on 127.0.0.1, ports mapped by the resolver."""
    server_tls, client_tls = tls_contexts(tmp_path)
    clock = Clock()
    sim = CloudSimulator.demo(clock)
    front = RedirectFront(f"https://{CLOUD}", status)
    await sim.start(ssl_context=server_tls)
    await front.start()
    ports = {80: URL(front.base_url).port, 443: URL(sim.base_url).port}
    try:
        connector = aiohttp.TCPConnector(
            resolver=PortMap({k: v for k, v in ports.items() if v}), ssl=client_tls
        )
        async with aiohttp.ClientSession(connector=connector) as session:
            client = IammeterCloud(session, api_url=f"http://{CLOUD}", clock=clock)
            if status == 303:  # "see other": a GET, which logs nobody in
                err = await _raises(
                    IammeterConnectionError, client.login(USER, PASSWORD)
                )
                assert str(err) == "login: HTTP 405"
                client = IammeterCloud(
                    session,
                    api_url=f"http://{CLOUD}",
                    clock=clock,
                    token=sim.issue_token(USER),
                    ledger=client.ledger,
                )
            else:  # the login's body went along
                assert (await client.login(USER, PASSWORD)).account_id == 1001
            reading = await client.latest(SN3)
            points = await client.history(SN1, TODAY, TODAY)
    finally:
        await front.stop()
        await sim.stop()
    assert len(reading.phases) == 3
    assert points[0].time == datetime(2026, 11, 19, 23, 0, tzinfo=UTC)
    assert [(r.method, r.path_qs.split("?")[0]) for r in front.seen] == [
        ("POST", "/api/v1/user/login"),
        ("GET", f"/api/v1/site/meterdata2/{SN3}"),
        ("GET", f"/api/v1/site/meterdatalist2/{SN1}"),
    ]
    assert front.seen[-1].path_qs.endswith(
        "?startTime=2026-11-20&endTime=2026-11-20&interval=300"
    )
    outcomes = [(e.endpoint, e.outcome) for e in sim.log]
    assert outcomes[1:] == [("meterdata2", "ok"), ("meterdatalist2", "ok")]
    assert outcomes[0] == (
        ("login", "method_not_allowed") if status == 303 else ("login", "ok")
    )


async def _raises[E: BaseException](kind: type[E], call: Awaitable[Any]) -> E:
    with pytest.raises(kind) as info:
        await call
    return info.value


# --- times ------------------------------------------------------------------------


async def test_the_utc_offset_of_a_meter_west_of_greenwich(env: Env) -> None:
    west = SimMeter("SIMNEWFOUND1", 1, "West", tz="America/St_Johns")
    env.sim.add_account(USER, PASSWORD, 1001, [west], "Cottage")
    reading = await env.client.latest(west.sn)
    assert reading.time == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    assert reading.utc_offset == timedelta(hours=-3, minutes=-30)
    points = await env.client.history(west.sn, TODAY, TODAY)
    assert {p.utc_offset for p in points} == {timedelta(hours=-3, minutes=-30)}
    assert points[0].time == datetime(2026, 11, 20, 3, 30, tzinfo=UTC)  # 0:00 local
    (v1,) = {p.utc_offset for p in await env.client.history_v1(west.sn, TODAY, TODAY)}
    assert v1 == timedelta(hours=-3, minutes=-30)


async def test_analysis_times_are_aware_in_the_given_time_zone(env: Env) -> None:
    client = env.new_client(time_zone=WARSAW)
    assert client.time_zone is WARSAW
    env.meter(SN1).set_offline(
        T0 - timedelta(hours=3), T0 - timedelta(hours=3) + timedelta(minutes=10)
    )
    offline = await client.offline_analysis(SN1, YESTERDAY, TODAY)
    (outage,) = offline.outages
    assert outage.start == datetime(2026, 11, 20, 9, tzinfo=WARSAW)
    assert outage.start == datetime(2026, 11, 20, 8, tzinfo=UTC)  # the same moment
    assert outage.end == datetime(2026, 11, 20, 9, 10, tzinfo=WARSAW)
    assert outage.start.tzinfo is WARSAW
    assert offline.start == datetime(2026, 11, 19, tzinfo=WARSAW)
    assert offline.end == datetime(2026, 11, 20, 23, 59, 59, tzinfo=WARSAW)
    power = await client.power_analysis(SN3, YESTERDAY, YESTERDAY)
    assert power.start == datetime(2026, 11, 19, tzinfo=WARSAW)
    assert power.start is not None
    assert power.start.tzinfo is WARSAW
    assert power.end == datetime(2026, 11, 19, 23, 59, 59, tzinfo=WARSAW)


async def test_an_outage_with_unreadable_times_is_skipped(
    socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    data = {
        "startTime": "2026/11/14 0:00:00",
        "endTime": "2026/11/20 23:59:59",
        "offlineCount": 40,
        "totalCount": 10080,
        "list": [
            {"startTime": "2026/11/15 9:00:00", "endTime": "soon", "duration": 10},
            {
                "startTime": "2026/11/16 1:00:00",
                "endTime": "2026/11/16 1:30",
                "duration": 30,
            },
        ],
    }
    body = json.dumps({"successful": True, "message": None, "data": data}).encode()

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with IammeterCloud(
            api_url=url, token="t0ken", time_zone=WARSAW
        ) as client:
            result = await client.offline_analysis(SN1)
    finally:
        await runner.cleanup()
    assert result.outages == (
        Outage(
            datetime(2026, 11, 16, 1, tzinfo=WARSAW),
            datetime(2026, 11, 16, 1, 30, tzinfo=WARSAW),
            30,
        ),
    )
    assert result.offline_minutes == 40  # the cloud's own count
    assert "outage of the offline analysis skipped" in caplog.text


# --- lifecycle and read-only state --------------------------------------------------


async def test_close_closes_the_clients_own_session(env: Env) -> None:
    client = IammeterCloud(api_url=env.sim.base_url, clock=env.clock)
    assert client._session is None  # none until the first request
    env.secrets.add((await client.login(USER, PASSWORD)).token)
    own = client._session
    assert own is not None
    assert not own.closed
    await client.close()
    assert own.closed
    await client.close()  # twice is fine
    # Used again: a new session of its own, closed again.
    assert (await client.latest(SN1)).phases
    again = client._session
    assert again is not None
    assert again is not own
    await client.close()
    assert again.closed


async def test_close_never_closes_an_injected_session(env: Env) -> None:
    await env.client.close()
    assert not env.session.closed
    assert (await env.client.latest(SN1)).phases  # still works
    async with env.new_client() as client:
        assert (await client.latest(SN3)).phases
    assert not env.session.closed


async def test_the_client_as_a_context_manager(env: Env) -> None:
    async with IammeterCloud(api_url=env.sim.base_url, clock=env.clock) as client:
        env.secrets.add((await client.login(USER, PASSWORD)).token)
        reading = await client.latest(SN1)
        own = client._session
    assert reading.phases == (phase(env.expected_rows(SN1)[0]),)
    assert own is not None
    assert own.closed
    async with IammeterCloud() as unused:
        pass
    assert unused._session is None  # never opened, nothing to close


async def test_the_clients_state_is_read_only(env: Env) -> None:
    client = env.client
    token = client.token
    with pytest.raises(AttributeError):
        client.token = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        client.analysis_paths = {}  # type: ignore[misc]
    with pytest.raises(AttributeError):
        client.ledger = QuotaLedger({})  # type: ignore[misc]
    assert client.token == token
    await client.power_analysis(SN1)
    paths = client.analysis_paths
    assert paths == {"power": "powerAnalysis"}
    paths["power"] = "powerAnalytic"  # a copy: the client keeps its own
    paths["offline"] = "offlineAnalytic"
    assert client.analysis_paths == {"power": "powerAnalysis"}
    default = IammeterCloud(env.session, api_url=env.sim.base_url)
    assert default.ledger.budgets == DOCUMENTED_BUDGETS  # its own ledger


async def test_analysis_paths_that_worked_before_are_given_to_the_constructor(
    env: Env,
) -> None:
    env.sim.analysis_spelling = "powerAnalytic"
    known = {"power": "powerAnalytic", "offline": "offlineAnalytic"}
    client = env.new_client(analysis_paths=known)
    assert client.analysis_paths == known
    await client.power_analysis(SN1)
    await client.offline_analysis(SN1)
    assert env.sim.count("not_found") == 0  # no probing
    # Only the known spellings of the known kinds: a path goes into the URL.
    odd = env.new_client(analysis_paths={"power": "../user/login", "energy": "x"})
    assert odd.analysis_paths == {}


# --- a request that never reached the server costs nothing ---------------------------


def _login_record(client: IammeterCloud, now: datetime = T0) -> int:
    return client.ledger.used("login", client.host, now, timedelta(days=1))


async def test_a_refused_connection_costs_no_login(socket_enabled: None) -> None:
    """Nothing listens on the port: the login is taken back from the ledger."""
    with socket.socket() as closed:  # bound, never listening: refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        async with aiohttp.ClientSession() as session:
            client = IammeterCloud(
                session, api_url=f"http://127.0.0.1:{port}", clock=Clock()
            )
            for _ in range(7):  # more than the hour's 5 logins
                err = await _raises(
                    IammeterConnectionError, client.login(USER, PASSWORD)
                )
                assert "cannot connect (ClientConnectorError)" in str(err)
    assert _login_record(client) == 0
    assert client.ledger.remaining("login", "127.0.0.1", T0) == 5


async def test_a_failed_name_lookup_costs_no_login(socket_enabled: None) -> None:
    connector = aiohttp.TCPConnector(resolver=PortMap({}))
    async with aiohttp.ClientSession(connector=connector) as session:
        client = IammeterCloud(session, api_url=f"https://{CLOUD}", clock=Clock())
        err = await _raises(IammeterConnectionError, client.login(USER, PASSWORD))
    assert "ClientConnector" in str(err)
    assert _login_record(client) == 0


async def test_a_refused_certificate_costs_no_login(
    socket_enabled: None, tmp_path: Path
) -> None:
    """A self-signed certificate the client does not trust: the TLS handshake
    fails before the request is sent."""
    server_tls, _trusting = tls_contexts(tmp_path)
    sim = CloudSimulator.demo(Clock())
    await sim.start(ssl_context=server_tls)
    port = URL(sim.base_url).port
    assert port is not None
    try:
        connector = aiohttp.TCPConnector(resolver=PortMap({443: port}))
        async with aiohttp.ClientSession(connector=connector) as session:
            client = IammeterCloud(session, api_url=f"https://{CLOUD}", clock=Clock())
            err = await _raises(IammeterConnectionError, client.login(USER, PASSWORD))
    finally:
        await sim.stop()
    assert "Certificate" in str(err)
    assert _login_record(client) == 0
    assert sim.count("login") == 0


@SHORT_TIMEOUT
async def test_a_timeout_keeps_its_login(env: Env) -> None:
    """The request may have arrived (here it did): the server counted it."""
    before = _login_record(env.client)
    env.sim.faults.set("timeout", "login", count=1)
    await env.fails(IammeterConnectionError, env.client.login(USER, PASSWORD))
    assert _login_record(env.client) == before + 1
    assert env.sim.count("login") == before + 1


async def test_an_answered_hop_keeps_its_login(socket_enabled: None) -> None:
    """`http://cloud.test` redirects to `https://cloud.test`, where nothing
    listens: the first server saw the request and may have counted it."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        front = RedirectFront(f"https://{CLOUD}", 307)
        await front.start()
        ports = {80: URL(front.base_url).port, 443: closed.getsockname()[1]}
        try:
            connector = aiohttp.TCPConnector(
                resolver=PortMap({k: v for k, v in ports.items() if v})
            )
            async with aiohttp.ClientSession(connector=connector) as session:
                client = IammeterCloud(
                    session, api_url=f"http://{CLOUD}", clock=Clock()
                )
                err = await _raises(
                    IammeterConnectionError, client.login(USER, PASSWORD)
                )
        finally:
            await front.stop()
    assert "cannot connect (ClientConnectorError)" in str(err)
    assert [r.path_qs for r in front.seen] == ["/api/v1/user/login"]
    assert _login_record(client) == 1


@pytest.mark.parametrize(
    "body",
    [b"<html><body>Router login</body></html>", b'{"error": "not found"}', b"[]"],
)
async def test_a_login_answered_by_another_server_is_no_refused_password(
    socket_enabled: None, body: bytes
) -> None:
    """A server that answers, but not as the IAMMETER API: not "user name or
    password refused" (which would ask for the password again)."""

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(status=200, body=body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            client = IammeterCloud(session, api_url=url, clock=Clock())
            err = await _raises(IammeterNotApiError, client.login(USER, PASSWORD))
    finally:
        await runner.cleanup()
    assert isinstance(err, IammeterConnectionError)
    assert "not" in str(err)
    assert _login_record(client) == 1  # it reached a server: it may have counted
