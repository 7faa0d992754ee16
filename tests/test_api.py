"""The IAMMETER cloud client over real HTTP against the local cloud simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
import logging
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
import pytest
from yarl import URL

from custom_components.iammeter_cloud.api import (
    IammeterApiError,
    IammeterAuthError,
    IammeterCloud,
    IammeterConnectionError,
    IammeterEndpointNotFoundError,
    IammeterError,
    IammeterNotFoundError,
    IammeterQuotaError,
    IammeterResponseError,
    Meter,
    Outage,
    PhaseValues,
)
from tests.simulator import CloudSimulator, SimMeter, fmt_time, to_minute

T0 = datetime(2026, 11, 20, 11, 0, 30, tzinfo=UTC)  # 12:00:30 in Warsaw
TODAY, YESTERDAY = date(2026, 11, 20), date(2026, 11, 19)  # local dates
USER, PASSWORD = "demo@example.com", "demo-password"
SN1, SN3 = "SIM1PHASE001", "SIM3PHASE001"


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


@pytest.fixture
async def env(
    socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Env]:
    """The demo cloud at T0 and a client logged in to it."""
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
                session, api_url=sim.base_url, clock=clock, request_timeout=0.3
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
    for request in seen:
        env.check_secret_free(str(request.url))
        assert "token" not in request.url.query


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
        assert reading.local_time == fmt_time(minute + timedelta(hours=1))
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
    assert reading.local_time == "2026/11/20 12:00:00"


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
    assert points[0].local_time == "2026/11/20 0:00:00"
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
    assert points[0].local_time == "2026/11/19 0:00:00"
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
    assert result.start == "2026/11/19 0:00:00"
    assert result.end == "2026/11/19 23:59:59"
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
    assert (result.start, result.end) == ("2026/11/14 0:00:00", "2026/11/20 23:59:59")
    assert result.minimum <= result.average <= result.maximum


async def test_offline_analysis(env: Env) -> None:
    meter = env.meter(SN1)
    meter.set_offline(
        T0 - timedelta(hours=3), T0 - timedelta(hours=3) + timedelta(minutes=10)
    )
    meter.set_offline(T0 - timedelta(hours=1), T0 - timedelta(minutes=57))  # 3 min
    result = await env.client.offline_analysis(SN1, YESTERDAY, TODAY)
    assert result.start == "2026/11/19 0:00:00"
    assert result.end == "2026/11/20 23:59:59"
    assert result.offline_minutes == 10
    assert result.total_minutes == 2 * 1440
    assert result.outages == (Outage("2026/11/20 9:00:00", "2026/11/20 9:10:00", 10),)
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
    "non_json": IammeterConnectionError,
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
        (200, b"\xff\xfe{", IammeterConnectionError),
        (200, b"[1, 2]", IammeterResponseError),
        (200, b'{"successful": "true", "data": {}}', IammeterApiError),
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
        assert (info.value.by_server, info.value.retry_at) == (
            True,
            T0 + timedelta(hours=1),
        )
        assert client.ledger.remaining("meterdata", SN1, T0) == 0


@pytest.mark.parametrize(
    ("name", "window"),
    [
        ("latest", timedelta(hours=1)),
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
    assert err.retry_at == env.clock.now + timedelta(hours=1)
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
