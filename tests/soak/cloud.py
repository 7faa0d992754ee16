"""The cloud simulator as the campaign uses it.

Requests of "another client" are tagged, so that the quota invariant counts only
ours, and every secret the simulator ever hands out is remembered, so that the
campaign can look for it in logs, states and diagnostics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from tests.conftest import ACCOUNT_ID, PASSWORD, USERNAME
from tests.simulator import CloudSimulator, LogEntry, SimMeter

FOREIGN = "X-Soak-Client"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SoakCloud:
    """The demo account (one single- and one three-phase meter) with bookkeeping."""

    def __init__(self, clock: Callable[[], datetime], seed: int) -> None:
        """Build the simulator; `start` serves it."""
        self.sim = CloudSimulator.demo(clock, seed=seed)
        self.sim.faults.timeout_delay = 1.0  # the client gives up after 0.5 s
        self.secrets: set[str] = {PASSWORD}
        self.foreign: set[int] = set()  # id() of the log entries of "another client"
        self.session: aiohttp.ClientSession | None = None
        self.sim.app.middlewares.append(self._tag)
        issue = self.sim.issue_token

        def issue_token(username: str) -> str:
            token = issue(username)
            self.secrets.add(token)
            return token

        login = self.sim._login

        async def _login(request: web.Request) -> Any:
            data = await login(request)
            self.secrets.add(data["refreshToken"])
            return data

        self.sim.issue_token = issue_token  # type: ignore[method-assign]
        self.sim._login = _login  # type: ignore[method-assign]

    @web.middleware
    async def _tag(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # The simulator logs a request before its first await: entry `n` is this one.
        n = len(self.sim.log)
        try:
            return await handler(request)
        finally:
            if request.headers.get(FOREIGN) and len(self.sim.log) > n:
                self.foreign.add(id(self.sim.log[n]))

    async def start(self) -> None:
        """Serve on 127.0.0.1 and open the other client's session."""
        await self.sim.start()
        self.session = aiohttp.ClientSession(headers={FOREIGN: "other"})

    async def stop(self) -> None:
        """Close the other client and stop serving."""
        if self.session is not None:
            await self.session.close()
        await self.sim.stop()

    async def refuse_connections(self) -> None:
        """Close the port: every new connection is refused (ECONNREFUSED), and
        the idle keep-alive connections are closed, so nothing reaches the cloud."""
        runner = self.sim._runner
        assert runner is not None
        assert runner.server is not None
        for site in runner.sites:
            await site.stop()
        runner.server.pre_shutdown()

    async def accept_connections(self) -> None:
        """Open the port again (the same base URL)."""
        runner = self.sim._runner
        assert runner is not None
        await web.TCPSite(runner, "127.0.0.1", URL(self.sim.base_url).port).start()

    def meter(self, sn: str) -> SimMeter:
        """A meter of the demo account."""
        found = self.sim.accounts[USERNAME].meter(sn)
        assert found is not None
        return found

    def add_meter(self, sn: str, name: str, seed: int) -> None:
        """The user adds a single-phase meter to the account (as a new site)."""
        meter = SimMeter(sn, 1, name, seed)
        self.sim.add_account(USERNAME, PASSWORD, ACCOUNT_ID, [meter], site_name=name)

    def is_ours(self, entry: LogEntry) -> bool:
        """Whether Home Assistant sent this request (not "another client")."""
        return id(entry) not in self.foreign

    async def other_client_readings(self, sn: str, count: int) -> None:
        """Another client (a script, Node-RED) reads a meter `count` times."""
        assert self.session is not None
        token = self.sim.issue_token(USERNAME)
        url = f"{self.sim.base_url}/api/v1/site/meterdata2/{sn}"
        for _ in range(count):
            async with self.session.get(url, headers={"token": token}) as response:
                await response.read()

    async def other_client_logins(self, count: int) -> None:
        """Another client behind the same public IP logs in `count` times."""
        assert self.session is not None
        url = f"{self.sim.base_url}/api/v1/user/login"
        body = {"userName": USERNAME, "password": PASSWORD}
        for _ in range(count):
            async with self.session.post(url, json=body) as response:
                await response.read()
