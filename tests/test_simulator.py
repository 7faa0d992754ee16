"""Tests of the IAMMETER cloud simulator itself (real HTTP on 127.0.0.1)."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import itertools
import json
import math
from typing import Any

import aiohttp
import pytest

from tests.simulator import (
    CloudSimulator,
    FrontRequest,
    RedirectFront,
    Shapes,
    SimMeter,
    fmt_time,
    to_minute,
)

T0 = datetime(2026, 11, 20, 11, 0, 30, tzinfo=UTC)
SN1, SN3 = "SIM1PHASE001", "SIM3PHASE001"
USER, PASSWORD = "demo@example.com", "demo-password"


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self, t: datetime = T0) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kwargs: float) -> None:
        self.t += timedelta(**kwargs)


@dataclass
class Env:
    sim: CloudSimulator
    clock: FakeClock
    session: aiohttp.ClientSession
    url: str
    token: str = ""

    async def call(
        self,
        path: str,
        method: str = "GET",
        token: str | None = None,
        body: Any = None,
        **params: Any,
    ) -> tuple[int, Any, bytes]:
        """Status, parsed JSON (None if not JSON) and raw body."""
        token = self.token if token is None else token
        headers = {"token": token} if token else {}
        async with self.session.request(
            method, self.url + path, headers=headers, params=params, json=body
        ) as resp:
            raw = await resp.read()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        return resp.status, data, raw

    async def login(self, password: str = PASSWORD) -> Any:
        body = {"userName": USER, "password": password}
        return (await self.call("/api/v1/user/login", "POST", "", body))[1]

    async def reading(self, sn: str = SN3, endpoint: str = "meterdata2") -> Any:
        status, data, _ = await self.call(f"/api/v1/site/{endpoint}/{sn}")
        assert status == 200
        assert data["successful"], data
        return data["data"]

    async def history(self, sn: str = SN3, v2: bool = True, **params: Any) -> Any:
        name = "meterdatalist2" if v2 else "meterdatalist"
        status, data, _ = await self.call(f"/api/v1/site/{name}/{sn}", **params)
        assert status == 200
        assert data["successful"], data
        return data["data"]


@pytest.fixture
async def env(socket_enabled: None) -> AsyncIterator[Env]:
    clock = FakeClock()
    sim = CloudSimulator.demo(clock)
    url = await sim.start()
    async with aiohttp.ClientSession() as session:
        e = Env(sim, clock, session, url)
        e.token = (await e.login())["data"]["token"]
        yield e
    await sim.stop()


def _day(t: datetime) -> str:
    return (t + timedelta(hours=1)).strftime("%Y-%m-%d")  # Warsaw, winter


async def test_counters_grow_and_integrate_power(env: Env) -> None:
    yesterday = _day(T0 - timedelta(days=1))
    points = await env.history(startTime=yesterday, endTime=yesterday, interval=60)
    assert len(points) == 1440
    rows = [p["values"] for p in points]
    assert all(len(r) == 3 for r in rows)
    for ph in range(3):
        imp = [r[ph][4] for r in rows]
        exp = [r[ph][5] for r in rows]
        assert imp == sorted(imp)
        assert exp == sorted(exp)
        assert imp[0] > 1000  # non-trivial initial counters
        flowed_in = sum(max(r[ph][2], 0) for r in rows[:-1]) / 60000
        flowed_out = sum(max(-r[ph][2], 0) for r in rows[:-1]) / 60000
        assert imp[-1] - imp[0] == pytest.approx(flowed_in, abs=0.002)
        assert exp[-1] - exp[0] == pytest.approx(flowed_out, abs=0.002)
    # phase B exports in daytime (solar), and current follows |P| / (V * PF)
    assert min(r[1][2] for r in rows) < -500
    for v, a, p, pf, _, _ in (r[0] for r in rows):
        assert 220 < v < 240
        assert 0.5 <= pf <= 1
        assert a == pytest.approx(abs(p) / (v * pf), rel=0.015, abs=0.01)


async def test_history_matches_live_readings(env: Env) -> None:
    live2, live1 = {}, {}
    for _ in range(5):
        env.clock.advance(minutes=7, seconds=13)
        d2 = await env.reading(SN3)
        d1 = await env.reading(SN1, "meterdata")
        assert d2["gmtTime"] == fmt_time(env.clock.t.replace(second=0))
        live2[d2["gmtTime"]] = (d2["localTime"], d2["values"])
        live1[d1["gmtTime"]] = [x for row in d1["values"] for x in row]
    today = _day(env.clock.t)
    hist2 = await env.history(startTime=today, endTime=today, interval=60)
    hist1 = await env.history(SN1, False, startTime=today, endTime=today, interval=60)
    by_gmt = {p["gmtTime"]: (p["rtcTime"], p["values"]) for p in hist2}
    for gmt, reading in live2.items():
        assert by_gmt[gmt] == reading
    flat = {p[-1]: p[:-2] for p in hist1}
    assert all(len(p) == 7 and isinstance(p[-2], str) for p in hist1)
    for gmt, values in live1.items():
        assert flat[gmt] == values
    # the newest history point is the live minute; nothing from the future
    assert hist2[-1]["gmtTime"] == fmt_time(env.clock.t.replace(second=0))


async def test_history_limits(env: Env) -> None:
    start = _day(T0 - timedelta(days=3))
    points = await env.history(startTime=start, endTime=_day(T0), interval=60)
    assert len(points) == 2000  # the first 2000 from local midnight of startTime
    assert (
        points[0]["rtcTime"] == f"{start.replace('-0', '-').replace('-', '/')} 0:00:00"
    )
    old = await env.history(startTime="2026-09-01", endTime="2026-10-19")
    assert old == []  # more than 31 days ago
    clipped = await env.history(startTime="2026-10-20", endTime="2026-10-20")
    assert clipped[0]["gmtTime"] == "2026/10/20 11:00:00"  # now - 31 days
    status, data, _ = await env.call(
        f"/api/v1/site/meterdatalist2/{SN3}", startTime=start, interval=90
    )
    assert (status, data["successful"]) == (200, False)


async def test_meterdata_quota_sliding_window(env: Env) -> None:
    for i in range(12):
        await env.reading(SN3, "meterdata" if i % 2 else "meterdata2")
        env.clock.advance(minutes=1)
    status, data, raw = await env.call(f"/api/v1/site/meterdata2/{SN3}")
    assert (status, raw, data) == (200, b"", None)
    await env.reading(SN1)  # the quota is per SN
    env.clock.advance(minutes=48, seconds=31)  # the first request is out of the hour
    await env.reading(SN3)
    status, _, raw = await env.call(f"/api/v1/site/meterdata/{SN3}")
    assert raw == b""
    sim = env.sim
    assert sim.count(("meterdata", "meterdata2"), SN3) == 15
    assert sim.max_in_window(("meterdata", "meterdata2"), SN3, timedelta(hours=1)) == 14
    outcomes = [e.outcome for e in sim.log if e.scope == SN3]
    assert outcomes[11:] == ["ok", "quota", "ok", "quota"]
    # stricter variant: rejected requests count, so polling 15/h never recovers
    sim.quota_counts_rejected = True
    env.clock.advance(hours=2)
    for _ in range(12):
        await env.reading(SN3)
    for _ in range(30):
        assert (await env.call(f"/api/v1/site/meterdata/{SN3}"))[2] == b""
        env.clock.advance(minutes=4)


async def test_login_quota_per_ip(env: Env) -> None:
    # the fixture logged in once; wrong passwords count too
    assert (await env.login("wrong"))["message"] == "Incorrect user name or password"
    for _ in range(3):
        assert (await env.login())["successful"]
    status, _, raw = await env.call(
        "/api/v1/user/login", "POST", "", {"userName": "x", "password": "y"}
    )
    assert (status, raw) == (200, b"")
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        body = {"userName": "demo@example.com", "password": "demo-password"}
        async with other.post(env.url + "/api/v1/user/login", json=body) as resp:
            assert (await resp.json())["successful"]
    for _ in range(5):  # 30 a day: 5 more in each of the next hours
        env.clock.advance(hours=1)
        for _ in range(5):
            assert (await env.login())["successful"]
    env.clock.advance(hours=1)
    assert (await env.call("/api/v1/user/login", "POST", "", {}))[2] == b""
    assert env.sim.max_in_window("login", "127.0.0.1", timedelta(days=1)) == 32
    env.clock.advance(hours=18)
    assert (await env.login())["successful"]


async def test_auth_tokens_and_paths(env: Env) -> None:
    first = env.token
    second = (await env.login())["data"]
    assert second["id"] == 1001
    assert second["token"] != first
    assert second["refreshToken"]
    # case-insensitive routing; the token may also be a query parameter
    status, data, _ = await env.call(f"/API/V1/Site/MeterData2/{SN3.lower()}")
    assert status == 200
    assert len(data["data"]["values"]) == 3
    status, data, _ = await env.call(f"/api/v1/site/MeterDataList/{SN1}", token="")
    assert (status, data["message"]) == (401, "Unauthorized")
    async with env.session.get(
        f"{env.url}/api/v1/Site/MeterDataList/{SN1}", params={"token": first}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["successful"]
    status, data, _ = await env.call(f"/api/v1/site/meterdata/NOPE{SN1}")
    assert (status, data) == (
        200,
        {"data": None, "successful": False, "message": "Meter not found"},
    )
    assert (await env.call("/api/v1/site/nothing"))[0] == 404
    assert (await env.call("/api/v1/user/login"))[0] == 405
    issued = env.sim.issue_token(USER)
    assert (await env.call(f"/api/v1/site/meterdata/{SN1}", token=issued))[0] == 200
    env.sim.expire_tokens()
    assert (await env.call(f"/api/v1/site/meterdata/{SN1}", token=issued))[0] == 401
    assert (await env.call(f"/api/v1/site/meterdata2/{SN3}"))[0] == 401
    assert (await env.call(f"/api/v1/site/meterdata2/{SN3}", token="bogus"))[0] == 401
    text = repr(env.sim.log)
    assert first not in text
    assert "demo-password" not in text


async def test_sitelist(env: Env) -> None:
    status, data, _ = await env.call("/api/v1/user/sitelist")
    assert status == 200
    assert data["data"] == [
        {
            "id": 100101,
            "name": "Home",
            "meters": [
                {"name": "Garage", "sn": SN1},
                {"name": "House", "sn": SN3},
            ],
        }
    ]
    env.sim.sitelist_available = False
    assert (await env.call("/api/v1/user/sitelist"))[0] == 404


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("http_500", lambda s, d, r: s == 500),
        ("non_json", lambda s, d, r: s == 200 and d is None and b"<html>" in r),
        ("empty_body", lambda s, d, r: s == 200 and r == b""),
        ("unsuccessful", lambda s, d, r: d["successful"] is False and d["message"]),
        (
            "null_data",
            lambda s, d, r: d == {"data": None, "successful": True, "message": None},
        ),
        ("zero_rows", lambda s, d, r: d["data"]["values"] == [[0] * 6] * 3),
    ],
)
async def test_faults(env: Env, kind: str, check: Any) -> None:
    path = f"/api/v1/site/meterdata2/{SN3}"
    env.sim.faults.set(kind, "meterdata2", count=2)
    for _ in range(2):
        assert check(*await env.call(path))
    assert (await env.reading(SN3))["values"][0][0] > 200  # one-shot faults expire
    env.sim.faults.set(kind)  # every endpoint, until cleared
    for _ in range(3):
        assert check(*await env.call(path))
    env.sim.faults.clear()
    assert (await env.reading(SN3))["values"][0][0] > 200
    assert [e.outcome for e in env.sim.log[-7:]] == [f"fault:{kind}"] * 2 + ["ok"] + [
        f"fault:{kind}"
    ] * 3 + ["ok"]


async def test_token_faults(env: Env) -> None:
    """Issue 10: a glitch refuses every token (logins work); "token_invalid_200"
    answers an unknown token with HTTP 200 `successful: false`."""
    path = f"/api/v1/site/meterdata2/{SN3}"
    env.sim.faults.set("token_glitch")
    status, data, _ = await env.call(path)
    assert (status, data["successful"]) == (401, False)
    fresh = (await env.login())["data"]["token"]
    assert (await env.call(path, token=fresh))[0] == 401
    env.sim.faults.clear()
    assert (await env.call(path, token=fresh))[0] == 200
    env.sim.faults.set("token_invalid_200", message="Invalid token.")
    assert (await env.call(path, token=fresh))[0] == 200  # a valid token: as ever
    status, data, _ = await env.call(path, token="expired")
    assert (status, data["successful"], data["message"]) == (
        200,
        False,
        "Invalid token.",
    )
    assert [e.outcome for e in env.sim.log[-6:]] == [
        "fault:token_glitch",
        "ok",
        "fault:token_glitch",
        "ok",
        "ok",
        "fault:token_invalid_200",
    ]


async def test_http_429_fault(env: Env) -> None:
    path = f"/api/v1/site/meterdata2/{SN3}"
    env.sim.faults.set("http_429", "meterdata2", count=1, retry_after="120")
    async with env.session.get(
        env.url + path, headers={"token": env.token}
    ) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "120"
    assert (await env.call(path))[0] == 200


async def test_timeout_fault(env: Env) -> None:
    env.sim.faults.timeout_delay = 0.2
    env.sim.faults.set("timeout", "meterdata", count=1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert (await env.reading(SN1, "meterdata"))["values"]
    assert loop.time() - began >= 0.2
    # a client giving up cancels the delayed handler cleanly
    env.sim.faults.timeout_delay = 30
    env.sim.faults.set("timeout", "meterdata")
    with pytest.raises(TimeoutError):
        async with env.session.get(
            f"{env.url}/api/v1/site/meterdata/{SN1}",
            headers={"token": env.token},
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass
    for _ in range(50):
        if env.sim.log[-1].outcome == "cancelled":
            break
        await asyncio.sleep(0.02)
    assert env.sim.log[-1].outcome == "cancelled"
    # a pending delayed answer does not hold up stop()
    pending = asyncio.create_task(env.call(f"/api/v1/site/meterdata/{SN1}"))
    await asyncio.sleep(0.1)
    began = loop.time()
    await env.sim.stop()
    assert loop.time() - began < 5
    status, _, raw = await pending
    assert (status, raw) == (503, b"")


async def test_analysis_spelling_and_quota(env: Env) -> None:
    sim = env.sim
    sim.analysis_spelling = "powerAnalytics"
    for bad in ("powerAnalysis", "powerAnalytic", "offlineAnalysis", "offlineAnalytic"):
        assert (await env.call(f"/api/v1/site/{bad}", sn=SN3))[0] == 404
    status, data, _ = await env.call("/api/v1/site/PowerAnalytics", sn=SN3)
    assert status == 200
    power = data["data"]
    assert set(power) == {
        "startTime",
        "endTime",
        "average",
        "dayTimeAverage",
        "minimum",
        "maximum",
    }
    assert power["minimum"] < power["average"] < power["maximum"]
    assert power["minimum"] < 0  # solar export
    assert power["startTime"] == "2026/11/14 0:00:00"
    assert power["endTime"] == "2026/11/20 23:59:59"
    meter = sim.accounts["demo@example.com"].meter(SN3)
    assert meter is not None
    lo = to_minute(datetime(2026, 11, 13, 23, tzinfo=UTC))
    watts = [meter.total_power(m) for m in range(lo, to_minute(T0) + 1)]
    assert power["average"] == round(sum(watts) / len(watts))
    for _ in range(4):
        assert (await env.call("/api/v1/site/powerAnalytics", sn=SN3))[1]["successful"]
    assert (await env.call("/api/v1/site/powerAnalytics", sn=SN3))[2] == b""
    assert (await env.call("/api/v1/site/powerAnalytics", sn=SN1))[1]["successful"]
    status, data, _ = await env.call(
        "/api/v1/site/offlineAnalytics",
        sn=SN1,
        startTime="2026-11-01",
        endTime="2026-11-10",
    )
    assert data["successful"] is False  # more than 7 days
    env.clock.advance(hours=24)
    assert (await env.call("/api/v1/site/powerAnalytics", sn=SN3))[1]["successful"]


async def test_offline_period(env: Env) -> None:
    meter = env.sim.accounts["demo@example.com"].meter(SN3)
    assert meter is not None
    start, end = T0.replace(second=0) - timedelta(hours=3), T0 - timedelta(minutes=20)
    meter.set_offline(start, end.replace(second=0))
    before = await env.history(startTime=_day(T0), endTime=_day(T0), interval=60)
    env.clock.t = start + timedelta(minutes=30)
    stale = await env.reading(SN3)
    assert stale["gmtTime"] == fmt_time(start - timedelta(minutes=1))
    env.clock.t = T0
    fresh = await env.reading(SN3)
    points = await env.history(startTime=_day(T0), endTime=_day(T0), interval=60)
    assert points == before
    gmt = [p["gmtTime"] for p in points]
    last_before = gmt.index(stale["gmtTime"])
    assert gmt[last_before + 1] == fmt_time(end.replace(second=0))
    jump = fresh["values"][0][4] - stale["values"][0][4]
    assert jump > 0  # counters kept integrating while offline
    status, data, _ = await env.call("/api/v1/site/offlineAnalysis", sn=SN3, interval=5)
    assert status == 200
    off = data["data"]
    assert off["totalCount"] == 7 * 1440
    assert off["offlineCount"] == 160
    assert off["list"] == [
        {
            "startTime": "2026/11/20 9:00:00",
            "endTime": "2026/11/20 11:40:00",
            "duration": 160,
        }
    ]
    long = await env.call("/api/v1/site/offlineAnalysis", sn=SN3, interval=200)
    assert long[1]["data"]["list"] == []
    meter.set_offline(T0 + timedelta(minutes=5))  # open-ended
    env.clock.advance(days=2)
    assert (await env.reading(SN3))["gmtTime"] == fmt_time(
        (T0 + timedelta(minutes=4)).replace(second=0)
    )


async def test_counter_reset_and_time_travel(env: Env) -> None:
    meter = env.sim.accounts["demo@example.com"].meter(SN1)
    assert meter is not None
    old = (await env.reading(SN1))["values"][0]
    meter.reset_counters(T0 + timedelta(minutes=10))
    env.clock.advance(minutes=10)
    assert (await env.reading(SN1))["values"][0][4:] == [0, 0]
    env.clock.advance(days=3, hours=5)  # forward by days
    after = (await env.reading(SN1))["values"][0]
    assert 0 < after[4] < old[4]
    env.clock.advance(days=-40)  # backwards, before the model epoch
    assert (await env.reading(SN1))["values"][0][4] > 1000
    assert await env.history(SN1, startTime="2026-10-01") == []


async def test_determinism_and_nem_row(socket_enabled: None) -> None:
    clock = FakeClock()
    sims = [CloudSimulator(clock) for _ in range(2)]
    for sim in sims:
        meter = SimMeter("NEM3", 3, "Net", seed=7, nem_row=True)
        sim.add_account("a", "b", 5, [meter])
    rows = [
        s.accounts["a"].meter("nem3").readings(to_minute(T0))  # type: ignore[union-attr]
        for s in sims
    ]
    assert rows[0] == rows[1]
    net = rows[0][3]
    assert net.power == pytest.approx(sum(r.power for r in rows[0][:3]))
    assert net.current == pytest.approx(sum(r.current for r in rows[0][:3]))
    assert 0 <= net.pf <= 1
    url = await sims[0].start()
    try:
        async with aiohttp.ClientSession() as session:
            body = {"userName": "a", "password": "b"}
            async with session.post(f"{url}/api/v1/user/login", json=body) as resp:
                token = (await resp.json())["data"]["token"]
            async with session.get(
                f"{url}/api/v1/site/meterdata2/NEM3", params={"token": token}
            ) as resp:
                values = (await resp.json())["data"]["values"]
        assert len(values) == 4
        assert values[3] == net.row6()
    finally:
        await sims[0].stop()


# --- the real cloud's shapes ----------------------------------------------------------


async def test_shapes_extra_row_values(env: Env) -> None:
    rows = env.sim.accounts[USER].meter(SN3).readings(to_minute(T0))  # type: ignore[union-attr]
    env.sim.shapes.extra_values = 2
    v2 = (await env.reading(SN3))["values"]
    assert [r[:6] for r in v2] == [r.row6() for r in rows]
    for row, model in zip(v2, rows, strict=True):
        assert len(row) == 8
        assert 49.9 < row[6] < 50.1  # frequency
        assert row[7] == pytest.approx(
            math.sqrt((model.voltage * model.current) ** 2 - model.power**2), abs=1
        )  # reactive power
    v1 = (await env.reading(SN3, "meterdata"))["values"]
    assert [r[:5] for r in v1] == [r.row5() for r in rows]
    assert [r[6] for r in v1] == [round(r.pf, 2) for r in rows]  # + frequency, PF
    env.sim.shapes.extra_values = 4
    assert [len(r) for r in (await env.reading(SN3))["values"]] == [10] * 3
    assert [len(r) for r in (await env.reading(SN3, "meterdata"))["values"]] == [9] * 3
    today = _day(T0)
    (point,) = await env.history(startTime=today, endTime=today, interval=86400)
    assert [len(r) for r in point["values"]] == [10] * 3
    (flat,) = await env.history(
        SN1, False, startTime=today, endTime=today, interval=86400
    )
    assert len(flat) == 5 + 2  # flat points keep 5 values a phase


async def test_shapes_nulls(env: Env) -> None:
    env.sim.shapes.extra_values = 2
    env.sim.shapes.nulls = frozenset({"power_factor", "energy_import", "extra"})
    env.sim.shapes.null_rows = frozenset({1})
    values = (await env.reading(SN3))["values"]
    assert [[i for i, v in enumerate(r) if v is None] for r in values] == [
        [],
        [3, 4, 6, 7],
        [],
    ]
    v1 = (await env.reading(SN3, "meterdata"))["values"]
    assert [i for i, v in enumerate(v1[1]) if v is None] == [3, 5, 6]
    assert env.sim.nulled == {
        (SN3, to_minute(T0)): {(1, "power_factor"), (1, "energy_import")}
    }
    env.sim.shapes.null_rows = None
    env.sim.shapes.nulls = frozenset({"voltage"})
    assert [r[0] for r in (await env.reading(SN3))["values"]] == [None] * 3
    with pytest.raises(ValueError, match="unknown columns"):
        Shapes(nulls=frozenset({"frequency"}))


async def test_shapes_spike_hits_the_import_counter_whatever_the_length(
    env: Env,
) -> None:
    plain = (await env.reading(SN1))["values"][0]
    env.sim.shapes.extra_values = 2
    env.sim.faults.set("spike", "meterdata2", count=1)
    spiked = (await env.reading(SN1))["values"][0]
    assert spiked[4] == round(plain[4] + 10_000, 3)
    assert spiked[:4] + spiked[5:6] == plain[:4] + plain[5:6]


async def test_shapes_site_list_with_bad_items(env: Env) -> None:
    env.sim.shapes.sitelist_bad_items = True
    _, data, _ = await env.call("/api/v1/user/sitelist")
    sites = data["data"]
    assert len(sites) == 5
    assert sites[0]["meters"][0] == {"name": "Garage", "sn": SN1}
    assert sites[0]["meters"][-1] == {"name": "House", "sn": SN3}
    assert None in sites[0]["meters"]
    assert "site" in sites


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("int", 1001),
        ("numeric_string", "1001"),
        ("text", "acct-1001"),
        ("null", None),
    ],
)
async def test_shapes_login_id(env: Env, shape: str, expected: Any) -> None:
    env.sim.shapes.login_id = shape
    assert (await env.login())["data"]["id"] == expected
    env.sim.shapes.login_id = "missing"
    assert "id" not in (await env.login())["data"]
    with pytest.raises(ValueError, match="login id"):
        Shapes(login_id="uuid")


async def test_redirect_front(env: Env) -> None:
    front = RedirectFront(env.url + "/", 307)
    await front.start()
    try:
        async with env.session.post(
            front.base_url + "/api/v1/user/login?x=1",
            json={"userName": USER, "password": PASSWORD},
            headers={"token": "t"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 307
            assert resp.headers["Location"] == env.url + "/api/v1/user/login?x=1"
        # aiohttp follows a 307 with the method and body
        async with env.session.post(
            front.base_url + "/api/v1/user/login",
            json={"userName": USER, "password": PASSWORD},
        ) as resp:
            assert (await resp.json())["successful"] is True
    finally:
        await front.stop()
    assert front.seen == [
        FrontRequest("POST", "/api/v1/user/login?x=1", True),
        FrontRequest("POST", "/api/v1/user/login", False),
    ]


def _hourly(meter: SimMeter, first: int, hours: int) -> list[tuple[float, ...]]:
    """Per hour: import, export (the phases' sums) and the export of phase B."""

    def counters(m: int) -> tuple[float, ...]:
        rows = meter.readings(m)[: meter.phases]
        solar = rows[1].export_kwh if meter.phases == 3 else 0.0
        return (
            sum(r.import_kwh for r in rows),
            sum(r.export_kwh for r in rows),
            solar,
        )

    marks = [counters(first + 60 * h) for h in range(hours + 1)]
    return [
        tuple(b - a for a, b in zip(start, end, strict=True))
        for start, end in itertools.pairwise(marks)
    ]


@pytest.mark.parametrize("nested", [False, True])
def test_demo_energy_dashboard_adds_up(nested: bool) -> None:
    """scripts/develop's demo (`nested`): the Energy dashboard's home consumption
    (grid import + solar - export, solar being phase B's export) holds the
    Garage's consumption in every hour of a week, as Home Assistant expects of an
    individual device; without it some hours show "over-reported consumption"."""
    sim = CloudSimulator.demo(FakeClock(), nested=nested)
    account = sim.accounts[USER]
    house, garage = account.meter(SN3), account.meter(SN1)
    assert house is not None
    assert garage is not None
    first = to_minute(T0) - 8 * 24 * 60
    home = [imp + solar - exp for imp, exp, solar in _hourly(house, first, 7 * 24)]
    device = [imp for imp, _, _ in _hourly(garage, first, 7 * 24)]
    over = [
        h for h, (used, dev) in enumerate(zip(home, device, strict=True)) if dev > used
    ]
    assert bool(over) is not nested, over
    if nested:  # the House exports on phase B, and the Garage's own counters stay
        assert sum(exp for _, exp, _ in _hourly(house, first, 7 * 24)) > 10
        plain = CloudSimulator.demo(FakeClock()).accounts[USER].meter(SN1)
        assert plain is not None
        assert _hourly(plain, first, 24) == _hourly(garage, first, 24)
