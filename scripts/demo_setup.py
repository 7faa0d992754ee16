"""Prepare a running dev Home Assistant for `scripts/develop --demo`.

Idempotent: every step checks first, so a second run on a prepared config/ only
logs in. Steps: onboarding with the demo user, the integration against the cloud
simulator (demo account, both meters), and the Energy dashboard: the three-phase
meter's import/export totals as the grid, the export of its phase B (where the
simulator's PV inverter is) as solar production, and the single-phase meter, a
circuit behind the House's phase A in the simulator's demo, as a device (with two
days of hourly history from the simulator, on the first run). The dashboard's
validation then finds no issue, and no hour shows more device consumption than
home consumption. Radio Browser, which onboarding adds, is removed: without
internet it holds up every start. Uses only the standard library and aiohttp (both
in the project environment).

    python scripts/demo_setup.py --ha http://127.0.0.1:8123 --sim http://127.0.0.1:8124

`--settle` (run by scripts/develop in the background once the demo is ready)
only finishes the imported history: once the recorder has compiled its first
5-minute statistics, it shifts every sum so that the first imported hour starts
at 0 (see `continue_sums`).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
import itertools
import sys
import time
from typing import Any

import aiohttp

HA_USER, HA_PASSWORD, HA_NAME = "demo", "demo-password", "Demo"
CLOUD_USER, CLOUD_PASSWORD = "demo@example.com", "demo-password"
DOMAIN = "iammeter_cloud"
GRID_SN, DEVICE_SN = "SIM3PHASE001", "SIM1PHASE001"
# The simulator's House has its PV inverter on phase B: that phase's export is the
# demo's solar production (until phase roles say so; disabled by default).
SOLAR_KEY = f"{GRID_SN}_b_energy_export"
STEPS = ("user", "core_config", "analytics", "integration")


class SetupError(Exception):
    """A step failed; the message says which and why."""


def log(message: str) -> None:
    """One line of progress."""
    print(f"[demo] {message}", flush=True)


class HomeAssistant:
    """The few REST and websocket calls the preparation needs."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.client_id = f"{self.url}/"
        self.token = ""
        self._ids = itertools.count(1)

    async def request(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> Any:
        """JSON answer of a request; raises SetupError on an HTTP error."""
        headers = kwargs.pop("headers", {})
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        url = path if path.startswith("http") else self.url + path
        async with self.session.request(method, url, headers=headers, **kwargs) as resp:
            body = await resp.text()
            if resp.status >= 400:
                raise SetupError(f"{method} {path}: HTTP {resp.status} {body[:300]}")
            return await resp.json(content_type=None) if body else None

    async def wait_until_up(self, patience: float) -> list[dict[str, Any]]:
        """The onboarding status, once Home Assistant has started.

        The frontend (set up after onboarding) answering means it has; then
        `/api/onboarding` answers 404 when onboarding is complete.
        """
        deadline = time.monotonic() + patience
        while True:
            try:
                await self.request("GET", "/manifest.json", auth=False)
            except (aiohttp.ClientError, SetupError) as err:
                if time.monotonic() > deadline:
                    raise SetupError(f"{self.url} did not start: {err}") from err
                await asyncio.sleep(1)
                continue
            async with self.session.get(f"{self.url}/api/onboarding") as resp:
                if resp.status == HTTPStatus.NOT_FOUND:
                    return [{"step": step, "done": True} for step in STEPS]
                resp.raise_for_status()
                status: list[dict[str, Any]] = await resp.json()
                return status

    async def _token_for(self, code: str) -> None:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self.client_id,
        }
        answer = await self.request("POST", "/auth/token", auth=False, data=data)
        self.token = answer["access_token"]

    async def create_owner(self) -> None:
        """Onboarding's first step: the owner account."""
        answer = await self.request(
            "POST",
            "/api/onboarding/users",
            auth=False,
            json={
                "client_id": self.client_id,
                "name": HA_NAME,
                "username": HA_USER,
                "password": HA_PASSWORD,
                "language": "en",
            },
        )
        await self._token_for(answer["auth_code"])

    async def login(self) -> None:
        """Log in as the demo user through the login flow, as the frontend does."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            auth=False,
            json={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        )
        answer = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            auth=False,
            json={
                "client_id": self.client_id,
                "username": HA_USER,
                "password": HA_PASSWORD,
            },
        )
        if answer.get("type") != "create_entry":
            raise SetupError(
                f"cannot log in as {HA_USER!r} with the documented password "
                f"(answer: {answer.get('errors') or answer.get('type')}); was it "
                "changed? Wipe config/ (all but configuration.yaml) to start over."
            )
        await self._token_for(answer["result"])

    async def wait_until_running(self, patience: float) -> None:
        """Until every integration has been set up (stage 2 can take a while)."""
        deadline = time.monotonic() + patience
        while (state := (await self.request("GET", "/api/config"))["state"]) != (
            "RUNNING"
        ):
            if time.monotonic() > deadline:
                raise SetupError(f"Home Assistant still {state}")
            await asyncio.sleep(1)

    async def ws(self, *messages: dict[str, Any]) -> list[Any]:
        """Results of websocket commands, sent over one authenticated connection."""
        ws_url = self.url.replace("http", "ws", 1) + "/api/websocket"
        results = []
        async with self.session.ws_connect(ws_url) as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (answer := await ws.receive_json())["type"] != "auth_ok":
                raise SetupError(f"websocket authentication failed: {answer}")
            for message in messages:
                msg_id = next(self._ids)
                await ws.send_json({**message, "id": msg_id})
                while (answer := await ws.receive_json()).get("id") != msg_id:
                    pass
                if not answer.get("success"):
                    raise SetupError(f"{message['type']}: {answer.get('error')}")
                results.append(answer.get("result"))
        return results


async def onboard(ha: HomeAssistant, status: list[dict[str, Any]]) -> bool:
    """Finish every onboarding step that is not done yet; True if core_config was."""
    done = {s["step"] for s in status if s["done"]}
    if "user" in done:
        await ha.login()
        log(f"logged in as {HA_USER!r}")
    else:
        await ha.create_owner()
        log(f"created the owner {HA_USER!r} / {HA_PASSWORD!r}")
    for step in STEPS[1:]:
        if step in done:
            continue
        body: dict[str, Any] = {}
        if step == "integration":
            body = {"client_id": ha.client_id, "redirect_uri": ha.client_id}
        await ha.request("POST", f"/api/onboarding/{step}", json=body)
        log(f"onboarding step {step!r} done")
    return "core_config" not in done


async def drop_radio_browser(ha: HomeAssistant, patience: float) -> None:
    """Onboarding adds Radio Browser; without internet it holds up each start ~9 s.

    Its entry appears just after the core_config step; removing it waits for its
    first (failing) setup, which Home Assistant's start waits for anyway.
    """
    deadline = time.monotonic() + patience
    while True:
        entries = await ha.request(
            "GET", "/api/config/config_entries/entry?domain=radio_browser"
        )
        ours = [e for e in entries if e["source"] == "onboarding"]
        for entry in ours:
            await ha.request(
                "DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}"
            )
            log("removed Radio Browser (added by onboarding; needs the internet)")
        if ours or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.5)


async def add_integration(ha: HomeAssistant, sim_url: str) -> None:
    """The demo account with both meters, through the config flow."""
    entries = await ha.request(
        "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
    )
    if any(e["title"] == CLOUD_USER for e in entries):
        log(f"integration entry for {CLOUD_USER} already there")
        return
    flow = await ha.request(
        "POST", "/api/config/config_entries/flow", json={"handler": DOMAIN}
    )
    path = f"/api/config/config_entries/flow/{flow['flow_id']}"
    answer = await ha.request(
        "POST",
        path,
        json={
            "username": CLOUD_USER,
            "password": CLOUD_PASSWORD,
            "advanced": {"api_url": sim_url},
        },
    )
    if answer.get("step_id") == "meters":
        answer = await ha.request("POST", path, json={"meters": [DEVICE_SN, GRID_SN]})
    if answer.get("type") == "menu":  # every phase grid; the dashboard: below
        answer = await ha.request("POST", path, json={"next_step_id": "finish"})
    if answer.get("type") != "create_entry":
        raise SetupError(f"config flow did not create an entry: {answer}")
    log(f"integration added for {CLOUD_USER} (simulator {sim_url})")


async def entity_ids(ha: HomeAssistant, patience: float) -> dict[str, str]:
    """Our entity ids by unique id, once the entry has created its entities."""
    wanted = {
        f"{GRID_SN}_energy_import",
        f"{GRID_SN}_energy_export",
        f"{GRID_SN}_power",
        f"{DEVICE_SN}_energy_import",
        f"{DEVICE_SN}_power",
        SOLAR_KEY,
    }
    deadline = time.monotonic() + patience
    while True:
        (registry,) = await ha.ws({"type": "config/entity_registry/list"})
        found = {
            e["unique_id"]: e["entity_id"]
            for e in registry
            if e["platform"] == DOMAIN and e["unique_id"] in wanted
        }
        if len(found) == len(wanted):
            return found
        if time.monotonic() > deadline:
            raise SetupError(f"entities missing: {sorted(wanted - set(found))}")
        await asyncio.sleep(1)


async def enable_solar(ha: HomeAssistant, ids: dict[str, str], patience: float) -> None:
    """Enable the phase-B export sensor (disabled by default) and wait for its state.

    The entry is reloaded at once instead of after the registry's 30 s delay.
    """
    entity_id = ids[SOLAR_KEY]
    (entry,) = await ha.ws(
        {"type": "config/entity_registry/get", "entity_id": entity_id}
    )
    if entry["disabled_by"] is not None:
        await ha.ws(
            {
                "type": "config/entity_registry/update",
                "entity_id": entity_id,
                "disabled_by": None,
            }
        )
        await ha.request(
            "POST",
            f"/api/config/config_entries/entry/{entry['config_entry_id']}/reload",
        )
        log(f"enabled {entity_id} (the demo's solar production)")
    deadline = time.monotonic() + patience
    while True:
        try:
            state = await ha.request("GET", f"/api/states/{entity_id}")
            float(state["state"])
        except (SetupError, ValueError):
            if time.monotonic() > deadline:
                raise SetupError(f"{entity_id} has no value") from None
            await asyncio.sleep(1)
        else:
            return


async def energy_dashboard(ha: HomeAssistant, ids: dict[str, str]) -> bool:
    """Grid import/export (and power) from the three-phase totals, solar from its
    phase B's export; Garage as device.

    Left alone when any energy source is configured already (yours to change).
    True when configured now.
    """
    try:
        (prefs,) = await ha.ws({"type": "energy/get_prefs"})
    except SetupError as err:
        if "not_found" not in str(err):  # not_found: "No prefs", never saved
            raise
        prefs = None
    if prefs and (prefs.get("energy_sources") or prefs.get("device_consumption")):
        log("Energy dashboard already configured")
        return False
    grid = {
        "type": "grid",
        "stat_energy_from": ids[f"{GRID_SN}_energy_import"],
        "stat_energy_to": ids[f"{GRID_SN}_energy_export"],
        "power_config": {"stat_rate": ids[f"{GRID_SN}_power"]},
        "cost_adjustment_day": 0,
    }
    # Before Home Assistant 2026.x a grid had lists of flows, each with its prices,
    # and no power.
    legacy_grid = {
        "type": "grid",
        "flow_from": [
            {
                "stat_energy_from": grid["stat_energy_from"],
                "stat_cost": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
        ],
        "flow_to": [
            {
                "stat_energy_to": grid["stat_energy_to"],
                "stat_compensation": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
        ],
        "cost_adjustment_day": 0,
    }
    solar = {
        "type": "solar",
        "stat_energy_from": ids[SOLAR_KEY],
        "config_entry_solar_forecast": None,
    }
    device = {
        "stat_consumption": ids[f"{DEVICE_SN}_energy_import"],
        "stat_rate": ids[f"{DEVICE_SN}_power"],
    }
    for source in (grid, legacy_grid):
        try:
            await ha.ws(
                {
                    "type": "energy/save_prefs",
                    "energy_sources": [source, solar],
                    "device_consumption": [device],
                }
            )
        except SetupError as err:
            if source is legacy_grid or "flow_from" not in str(err):
                raise
        else:
            break
    log(
        f"Energy dashboard: grid {grid['stat_energy_from']} / "
        f"{grid['stat_energy_to']}, solar {solar['stat_energy_from']}, "
        f"device {device['stat_consumption']}"
    )
    return True


def _energy_metadata(entity_id: str) -> dict[str, Any]:
    return {
        "has_mean": False,
        "mean_type": 0,
        "has_sum": True,
        "name": None,
        "source": "recorder",
        "statistic_id": entity_id,
        "unit_class": "energy",
        "unit_of_measurement": "kWh",
    }


def _power_metadata(entity_id: str) -> dict[str, Any]:
    return {
        "has_mean": True,
        "mean_type": 1,  # arithmetic
        "has_sum": False,
        "name": None,
        "source": "recorder",
        "statistic_id": entity_id,
        "unit_class": "power",
        "unit_of_measurement": "W",
    }


# What each statistic is of a meter's history point (the rows of `values`:
# V, A, W, PF, import kWh, export kWh): the totals are the phases' sums (a 4th
# row would be the net one), the solar production phase B's export.
ENERGY_OF: dict[str, Any] = {
    "energy_import": lambda rows: sum(r[4] for r in rows[:3]),
    "energy_export": lambda rows: sum(r[5] for r in rows[:3]),
    "b_energy_export": lambda rows: rows[1][5],
}


async def backfill(ha: HomeAssistant, sim_url: str, ids: dict[str, str]) -> None:
    """Hourly statistics of the last two days, from the simulator's history.

    So that the Energy dashboard has bars at once, and the grid's power has
    statistics before the recorder's first 5-minute run (the dashboard's
    validation asks for them). Energy sums are relative to the sensor's current
    state: the recorder starts its own sums at 0 from (about) that state, so the
    imported hours join its statistics without a step. The first of them is a
    baseline hour (the history's first point, no growth of its own): Home
    Assistant counts a first hour's change from 0, so its sum must become 0,
    which `continue_sums` does once the recorder has sums of its own to shift
    along (until then this hour shows the history's whole growth, negative).
    """
    answer = await ha.request(
        "POST",
        f"{sim_url}/api/v1/user/login",
        auth=False,
        json={"userName": CLOUD_USER, "password": CLOUD_PASSWORD},
    )
    token = answer["data"]["token"]
    now = datetime.now(UTC)
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    params = {
        "startTime": (now - timedelta(days=2)).date().isoformat(),
        "endTime": now.date().isoformat(),
        "interval": "3600",
    }
    messages = []
    for sn in (GRID_SN, DEVICE_SN):
        answer = await ha.request(
            "GET",
            f"{sim_url}/api/v1/site/meterdatalist2/{sn}",
            auth=False,
            headers={"token": token},
            params=params,
        )
        points: dict[datetime, list[list[float]]] = {}
        for point in answer["data"] or []:
            at = datetime.strptime(point["gmtTime"], "%Y/%m/%d %H:%M:%S")
            points[at.replace(tzinfo=UTC)] = point["values"]
        ends = sorted(end for end in points if end <= this_hour)
        # The first point is the baseline hour's end; every later hour that
        # has the point before it grows from there.
        hours = [
            (end, points[end])
            for end in ends
            if end == ends[0] or end - timedelta(hours=1) in points
        ]
        for key, energy in ENERGY_OF.items():
            entity_id = ids.get(f"{sn}_{key}")
            if entity_id is None:
                continue
            state = await ha.request("GET", f"/api/states/{entity_id}")
            try:
                zero = float(state["state"])
            except ValueError:
                continue
            stats = [
                {
                    "start": (end - timedelta(hours=1)).isoformat(),
                    "state": energy(values),
                    "sum": energy(values) - zero,
                }
                for end, values in hours
            ]
            messages.append(
                {
                    "type": "recorder/import_statistics",
                    "metadata": _energy_metadata(entity_id),
                    "stats": stats,
                }
            )
        if (entity_id := ids.get(f"{sn}_power")) is not None:
            # The hour's mean, minimum and maximum: the power at its end (one
            # value an hour is what the history holds).
            stats = []
            for end, values in hours:
                watts = sum(r[2] for r in values[:3])
                stats.append(
                    {
                        "start": (end - timedelta(hours=1)).isoformat(),
                        "mean": watts,
                        "min": watts,
                        "max": watts,
                    }
                )
            messages.append(
                {
                    "type": "recorder/import_statistics",
                    "metadata": _power_metadata(entity_id),
                    "stats": stats,
                }
            )
    await ha.ws(*messages)
    log(f"Energy dashboard: {len(hours)} past hours of {len(messages)} statistics")


async def continue_sums(ha: HomeAssistant, patience: float) -> None:
    """Shift the demo's energy sums so that the first hour's is 0.

    The imported sums end at about 0 where the recorder's own begin, so the
    first imported hour has the history's whole growth, negative, as its sum:
    Home Assistant takes it as that hour's change. Once the recorder has
    compiled its first 5-minute statistics (its sums continue from the newest
    of them), every sum, imported or compiled, is moved by the same amount:
    the first hour's sum is 0 and no hour's change is altered. Idempotent: a
    first sum of 0 is left alone.
    """
    try:
        (prefs,) = await ha.ws({"type": "energy/get_prefs"})
    except SetupError:  # no Energy dashboard (removed since): nothing to do
        return
    stats = {
        source[key]
        for source in prefs.get("energy_sources", [])
        for key in ("stat_energy_from", "stat_energy_to")
        if source.get(key)
    } | {d["stat_consumption"] for d in prefs.get("device_consumption", [])}
    now = datetime.now(UTC)
    deadline = time.monotonic() + patience
    moved = 0
    for statistic_id in sorted(stats):
        (hourly,) = await ha.ws(
            {
                "type": "recorder/statistics_during_period",
                "start_time": (now - timedelta(days=5)).isoformat(),
                "statistic_ids": [statistic_id],
                "period": "hour",
                "types": ["sum"],
            }
        )
        rows = hourly.get(statistic_id) or []
        if not rows or abs(rows[0]["sum"] or 0) < 1e-9:
            continue
        while True:  # the recorder's own first sums (their start: at least now)
            (short,) = await ha.ws(
                {
                    "type": "recorder/statistics_during_period",
                    "start_time": (now - timedelta(hours=1)).isoformat(),
                    "statistic_ids": [statistic_id],
                    "period": "5minute",
                    "types": ["sum"],
                }
            )
            if short.get(statistic_id):
                break
            if time.monotonic() > deadline:
                raise SetupError(f"no 5-minute statistics of {statistic_id} yet")
            await asyncio.sleep(10)
        start = datetime.fromtimestamp(rows[0]["start"] / 1000, UTC)
        await ha.ws(
            {
                "type": "recorder/adjust_sum_statistics",
                "statistic_id": statistic_id,
                "start_time": start.isoformat(),
                "adjustment": -rows[0]["sum"],
                "adjustment_unit_of_measurement": "kWh",
            }
        )
        moved += 1
    if moved:
        log(f"Energy dashboard: the history's sums start at 0 ({moved} statistics)")


async def main(argv: list[str] | None = None) -> None:
    """Run every step against the given Home Assistant and simulator."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ha", default="http://127.0.0.1:8123")
    parser.add_argument("--sim", default="http://127.0.0.1:8124")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--settle", action="store_true", help="only finish the imported history"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        ha = HomeAssistant(session, args.ha)
        if args.settle:
            await ha.wait_until_up(args.timeout)
            await ha.login()
            await continue_sums(ha, args.timeout)
            return
        status = await ha.wait_until_up(args.timeout)
        just_onboarded = await onboard(ha, status)
        dropping = asyncio.create_task(
            drop_radio_browser(ha, 30 if just_onboarded else 0)
        )
        await ha.wait_until_running(args.timeout)
        await add_integration(ha, args.sim)
        ids = await entity_ids(ha, 120)
        await enable_solar(ha, ids, 120)
        if await energy_dashboard(ha, ids):
            await backfill(ha, args.sim, ids)
        await dropping
    log(f"ready in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except SetupError as err:
        log(f"failed: {err}")
        sys.exit(1)
