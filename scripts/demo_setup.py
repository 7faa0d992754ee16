"""Prepare a running dev Home Assistant for `scripts/develop --demo`.

Idempotent: every step checks first, so a second run on a prepared config/ only
logs in. Steps: onboarding with the demo user, and the integration against the
cloud simulator (demo account, both meters) through its config flow as a user
sets it up: the House's phase B (where the simulator's PV inverter is) gets the
role *solar*, the Garage (a circuit behind the House's phase A in the
simulator's demo) the role *device*, and *Finish and add to the Energy
dashboard*: the integration itself sets up the Energy dashboard (grid from the
House's totals of phases A and C, solar from phase B, the Garage as a device)
and imports the last 30 days of history (its day-one import, in the
background, once the recorder has its first 5-minute statistics). Radio
Browser, which onboarding adds, is removed: without internet it holds up every
start. Uses only the standard library and aiohttp (both in the project
environment).

    python scripts/demo_setup.py --ha http://127.0.0.1:8123 --sim http://127.0.0.1:8124
"""

from __future__ import annotations

import argparse
import asyncio
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
# The demo's wiring: the simulator's House has its PV inverter on phase B; the
# Garage is a circuit behind the House's phase A.
ROLES = {GRID_SN: {"a": "grid", "b": "solar", "c": "grid"}, DEVICE_SN: {"a": "device"}}
SOLAR_KEY = f"{GRID_SN}_b_solar_energy"
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
    for sn, roles in ROLES.items():  # the menu: each meter's phase roles
        if answer.get("type") != "menu":
            break
        answer = await ha.request("POST", path, json={"next_step_id": "roles"})
        if answer.get("step_id") == "roles":
            answer = await ha.request("POST", path, json={"meter": sn})
        answer = await ha.request("POST", path, json=roles)
    if answer.get("type") == "menu":
        answer = await ha.request("POST", path, json={"next_step_id": "finish_energy"})
    if answer.get("type") != "create_entry":
        raise SetupError(f"config flow did not create an entry: {answer}")
    log(f"integration added for {CLOUD_USER} (simulator {sim_url})")


async def wait_for_solar(ha: HomeAssistant, patience: float) -> str:
    """The House's solar energy sensor, once it shows a value (the role's
    sensors exist: the integration adds them to the Energy dashboard then)."""
    deadline = time.monotonic() + patience
    while True:
        (registry,) = await ha.ws({"type": "config/entity_registry/list"})
        found = [
            e["entity_id"]
            for e in registry
            if e["platform"] == DOMAIN and e["unique_id"] == SOLAR_KEY
        ]
        try:
            state = await ha.request("GET", f"/api/states/{found[0]}")
            float(state["state"])
        except (IndexError, SetupError, ValueError):
            if time.monotonic() > deadline:
                raise SetupError(f"{SOLAR_KEY} has no value") from None
            await asyncio.sleep(1)
        else:
            return str(found[0])


async def log_energy_dashboard(ha: HomeAssistant, patience: float) -> None:
    """What the integration put into the Energy dashboard."""
    deadline = time.monotonic() + patience
    while True:
        try:
            (prefs,) = await ha.ws({"type": "energy/get_prefs"})
        except SetupError:
            prefs = None
        if prefs and prefs.get("energy_sources"):
            kinds = [source["type"] for source in prefs["energy_sources"]]
            devices = len(prefs.get("device_consumption", []))
            log(f"Energy dashboard: {', '.join(kinds)}; {devices} device(s)")
            return
        if time.monotonic() > deadline:
            raise SetupError("the Energy dashboard was not set up")
        await asyncio.sleep(1)


async def main(argv: list[str] | None = None) -> None:
    """Run every step against the given Home Assistant and simulator."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ha", default="http://127.0.0.1:8123")
    parser.add_argument("--sim", default="http://127.0.0.1:8124")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        ha = HomeAssistant(session, args.ha)
        status = await ha.wait_until_up(args.timeout)
        just_onboarded = await onboard(ha, status)
        dropping = asyncio.create_task(
            drop_radio_browser(ha, 30 if just_onboarded else 0)
        )
        await ha.wait_until_running(args.timeout)
        await add_integration(ha, args.sim)
        await wait_for_solar(ha, 120)
        await log_energy_dashboard(ha, 60)
        await dropping
    log(f"ready in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except SetupError as err:
        log(f"failed: {err}")
        sys.exit(1)
