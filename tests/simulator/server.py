"""aiohttp server imitating the IAMMETER cloud API (``/api/v1/...``).

Choices where the vendor is silent: a request passes routing (404/405), then the
token check (401, not counted), then the quota (over it: HTTP 200 with an empty
body; such rejected requests do not count unless ``quota_counts_rejected``), then
faults (a faulted request has used its quota), then the endpoint. History returns
the FIRST 2000 points from local midnight of ``startTime``, never older than 31
days; analysis ``startTime``/``endTime`` are local vendor time strings; offline
periods shorter than ``interval`` minutes are not listed; ``totalCount`` counts
the whole range of local days, the future included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
import math
import secrets
import ssl
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from .model import DAY, Reading, SimMeter, fmt_time, from_minute, to_minute

Clock = Callable[[], datetime]
HOUR_W, DAY_W = timedelta(hours=1), timedelta(days=1)
QUOTAS: dict[str, tuple[str, tuple[tuple[timedelta, int], ...]]] = {
    "login": ("login", ((HOUR_W, 5), (DAY_W, 30))),
    "meterdata": ("meterdata", ((HOUR_W, 12),)),
    "meterdata2": ("meterdata", ((HOUR_W, 12),)),
    "power_analysis": ("power_analysis", ((DAY_W, 5),)),
    "offline_analysis": ("offline_analysis", ((DAY_W, 5),)),
}
SPELLINGS = {
    "powerAnalysis": "offlineAnalysis",
    "powerAnalytics": "offlineAnalytics",
    "powerAnalytic": "offlineAnalytic",
}
# Token faults apply at the token check: "token_glitch" answers HTTP 401 to every
# token (valid ones too) while logins work; "token_invalid_200" answers an unknown
# or expired token with HTTP 200 `successful: false` "token invalid" (instead of
# 401). The others apply to requests that passed the token check and the quota;
# "http_429" answers HTTP 429 with the fault's `Retry-After` header (if any).
TOKEN_FAULTS = frozenset({"token_glitch", "token_invalid_200"})
ANSWER_FAULTS = frozenset(
    {"http_500", "timeout", "non_json", "empty_body", "unsuccessful"}
    | {"zero_rows", "null_data", "spike", "http_429"}
)
FAULT_KINDS = TOKEN_FAULTS | ANSWER_FAULTS
DEFAULT_MESSAGES = {"token_invalid_200": "token invalid"}
SPIKE_KWH = 10_000  # "spike": every import counter of the answer jumps by this
METER_ENDPOINTS = ("meterdata", "meterdata2", "meterdatalist", "meterdatalist2")
HISTORY_LIMIT_DAYS = 31
MAX_POINTS = 2000
HTML_ERROR = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
# The routes: /api/v1/<kind>/<name> (the meter endpoints: /<SN> after it) ->
# (endpoint, method). The two analyses are added under the simulator's
# `analysis_spelling`: /api/v1/site/powerAnalysis, .../offlineAnalysis by default.
ROUTES: dict[tuple[str, str], tuple[str, str]] = {
    ("user", "login"): ("login", "POST"),
    ("user", "sitelist"): ("sitelist", "GET"),  # unless not `sitelist_available`
    ("site", "meterdata"): ("meterdata", "GET"),
    ("site", "meterdata2"): ("meterdata2", "GET"),
    ("site", "meterdatalist"): ("meterdatalist", "GET"),
    ("site", "meterdatalist2"): ("meterdatalist2", "GET"),
}
# What an answer fault answers instead of the endpoint. The others: "timeout"
# lets the endpoint answer after `Faults.timeout_delay` (its client has given up
# by then), "zero_rows" and "spike" alter the endpoint's answer.
FAULT_ANSWERS: dict[str, Callable[[Fault], web.Response]] = {
    "http_500": lambda _: web.Response(status=500, text="500 Internal Server Error"),
    "http_429": lambda fault: web.Response(
        status=429,
        text="Too Many Requests",
        headers={"Retry-After": fault.retry_after} if fault.retry_after else {},
    ),
    "non_json": lambda _: web.Response(text=HTML_ERROR, content_type="text/html"),
    "empty_body": lambda _: web.Response(status=200, body=b""),
    "unsuccessful": lambda fault: _envelope(None, False, fault.message),
    "null_data": lambda _: _envelope(None),
}


# The columns of a row, by name, as `Shapes.nulls` names them.
COLUMNS = (
    "voltage",
    "current",
    "power",
    "power_factor",
    "energy_import",
    "energy_export",
)
V2_COLUMNS = COLUMNS  # meterdata2, meterdatalist2: V, I, P, PF, import, export
V1_COLUMNS = ("voltage", "current", "power", "energy_import", "energy_export")
LOGIN_IDS = ("int", "numeric_string", "text", "missing", "null")


@dataclass
class Shapes:
    """Answer shapes the vendor's own clients expect of the real cloud.

    All off: the documented shapes. They change what an answer looks like, not
    what it means: the model's values are the same, extra or unknown ones aside.
    """

    extra_values: int = 0
    """Values after the documented ones in every row of `meterdata2` /
    `meterdatalist2` (frequency Hz, reactive power var, then zeros) and of
    `meterdata` (frequency, power factor as the vendor's 7-value row, then
    reactive power and zeros). Flat `meterdatalist` points keep 5 a phase."""
    nulls: frozenset[str] = frozenset()
    """Columns (of COLUMNS, or "extra" for the extra values) sent as `null`."""
    null_rows: frozenset[int] | None = None
    """The rows (0 = phase A, 3 = the net row) with the nulls; None: all."""
    sitelist_bad_items: bool = False
    """The site list holds unusable sites and meter items besides the real ones."""
    login_id: str = "int"
    """The account id of a login answer: "int" (documented), "numeric_string"
    ("1001"), "text" ("acct-1001"), "missing" (no key) or "null"."""

    def __post_init__(self) -> None:
        if not self.nulls <= {*COLUMNS, "extra"}:
            raise ValueError(f"unknown columns {sorted(self.nulls)}")
        if self.login_id not in LOGIN_IDS:
            raise ValueError(f"unknown login id shape {self.login_id!r}")


def _frequency(m: int, row: int) -> float:
    return round(50.0 + 0.03 * math.sin(m / 7 + row), 2)


def _reactive(r: Reading) -> float:
    apparent = r.voltage * r.current
    return round(math.sqrt(max(apparent * apparent - r.power * r.power, 0.0)))


class BadRequestError(ValueError):
    """A query parameter the vendor would reject (answered unsuccessful)."""


@dataclass
class Fault:
    """One injected fault; ``remaining`` None means until cleared."""

    kind: str
    remaining: int | None = None
    message: str = "Simulated failure"
    retry_after: str | None = None


@dataclass
class Faults:
    """Faults per endpoint name (``"*"`` for every endpoint)."""

    timeout_delay: float = 30.0
    active: dict[str, Fault] = field(default_factory=dict)

    def set(
        self,
        kind: str,
        endpoint: str = "*",
        count: int | None = None,
        message: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        """Inject ``kind`` for ``count`` requests (None: until cleared)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        text = message or DEFAULT_MESSAGES.get(kind, "Simulated failure")
        self.active[endpoint] = Fault(kind, count, text, retry_after)

    def clear(self, endpoint: str | None = None) -> None:
        """Clear one endpoint's fault, or all of them."""
        if endpoint is None:
            self.active.clear()
        else:
            self.active.pop(endpoint, None)

    def _find(
        self, endpoint: str, kinds: frozenset[str] | None
    ) -> tuple[str, Fault] | None:
        for key in (endpoint, "*"):
            fault = self.active.get(key)
            if fault is not None and (kinds is None or fault.kind in kinds):
                return key, fault
        return None

    def peek(self, endpoint: str, kinds: frozenset[str] | None = None) -> Fault | None:
        """The fault (of one of ``kinds``) that would apply, without using it."""
        found = self._find(endpoint, kinds)
        return found[1] if found else None

    def take(self, endpoint: str, kinds: frozenset[str] | None = None) -> Fault | None:
        """Fault (of one of ``kinds``) applying to this request (consumes counts)."""
        found = self._find(endpoint, kinds)
        if found is None:
            return None
        key, fault = found
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self.active[key]
        return fault


@dataclass
class LogEntry:
    """One request: never holds a token or password."""

    time: datetime
    endpoint: str
    scope: str
    outcome: str = "pending"
    status: int = 0


@dataclass
class Site:
    """A site (place) of an account."""

    id: int
    name: str
    meters: list[SimMeter]


@dataclass
class Account:
    """A cloud account."""

    username: str
    password: str
    id: int
    sites: list[Site] = field(default_factory=list)

    def meter(self, sn: str) -> SimMeter | None:
        """The account's meter with this SN (case-insensitive)."""
        sn = sn.upper()
        return next(
            (m for s in self.sites for m in s.meters if m.sn.upper() == sn), None
        )


def _envelope(
    data: Any, ok: bool = True, message: str | None = None, status: int = 200
) -> web.Response:
    body = {"data": data, "successful": ok, "message": message}
    return web.json_response(body, status=status)


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise BadRequestError("Invalid parameter") from None


def _midnight(day: date, tz: ZoneInfo) -> int:
    """Minute index of local midnight starting ``day``."""
    return to_minute(datetime(day.year, day.month, day.day, tzinfo=tz))


class CloudSimulator:
    """Accounts, meters, faults, quotas and a request log behind an aiohttp app.

    `shapes` switches the answers to the shapes of the real cloud (extra row
    values, nulls, a site list with bad items, a login id that is not an int);
    `nulled` records which values were sent as null: `(sn, minute)` of a
    reading -> `{(row, column)}`.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        analysis_spelling: str = "powerAnalysis",
        sitelist_available: bool = True,
    ) -> None:
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.created = self.now()
        self.analysis_spelling = analysis_spelling
        self.sitelist_available = sitelist_available
        self.quota_counts_rejected = False
        self.accounts: dict[str, Account] = {}
        self.faults = Faults()
        self.shapes = Shapes()
        self.nulled: dict[tuple[str, int], set[tuple[int, str]]] = {}
        self.log: list[LogEntry] = []
        self.base_url = ""
        self._tokens: dict[str, Account] = {}
        self._hits: dict[tuple[str, str], list[datetime]] = {}
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.app.on_shutdown.append(self._on_shutdown)

    @classmethod
    def demo(
        cls,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        tz: str = "Europe/Warsaw",
        nested: bool = False,
    ) -> CloudSimulator:
        """The demo account with a single- and a three-phase meter.

        `nested`: the Garage is a circuit behind the House's phase A, so that the
        House's counters hold the Garage's energy (scripts/develop's demo: an
        Energy dashboard with the House as the grid and the Garage as a device).
        """
        sim = cls(clock)
        garage = SimMeter("SIM1PHASE001", 1, "Garage", seed, tz=tz)
        house = SimMeter("SIM3PHASE001", 3, "House", seed, tz=tz)
        if nested:
            house.circuits[0] = garage
        meters = [garage, house]
        sim.add_account("demo@example.com", "demo-password", 1001, meters)
        return sim

    def now(self) -> datetime:
        """The clock's time as an aware UTC datetime."""
        t = self.clock()
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)

    def add_account(
        self,
        username: str,
        password: str,
        account_id: int,
        meters: list[SimMeter],
        site_name: str = "Home",
    ) -> Account:
        """Add an account (or another site of it) holding ``meters``."""
        account = self.accounts.setdefault(
            username, Account(username, password, account_id)
        )
        for meter in meters:
            meter.attach(self.created)
        site_id = account.id * 100 + len(account.sites) + 1
        account.sites.append(Site(site_id, site_name, meters))
        return account

    def issue_token(self, username: str) -> str:
        """A valid token for ``username`` without a login (no quota, no log)."""
        token = secrets.token_hex(16)
        self._tokens[token] = self.accounts[username]
        return token

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far."""
        self._tokens.clear()

    # -- request log ---------------------------------------------------------
    def _entries(
        self, endpoint: str | tuple[str, ...], scope: str | None
    ) -> list[LogEntry]:
        names = (endpoint,) if isinstance(endpoint, str) else endpoint
        return [
            e
            for e in self.log
            if e.endpoint in names and (scope is None or e.scope == scope)
        ]

    def count(self, endpoint: str | tuple[str, ...], scope: str | None = None) -> int:
        """Logged requests to ``endpoint`` (any outcome)."""
        return len(self._entries(endpoint, scope))

    def max_in_window(
        self, endpoint: str | tuple[str, ...], scope: str | None, window: timedelta
    ) -> int:
        """Largest number of logged requests within any ``window``-long span."""
        times = sorted(e.time for e in self._entries(endpoint, scope))
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # -- server lifecycle ----------------------------------------------------
    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> str:
        """Serve on ``host:port`` (0: any free port); return the base URL.

        With ``ssl_context``, over https.
        """
        self._stopping = asyncio.Event()
        runner = web.AppRunner(
            self.app, handler_cancellation=True, shutdown_timeout=2.0, access_log=None
        )
        await runner.setup()
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        self._runner = runner
        scheme = "http" if ssl_context is None else "https"
        self.base_url = f"{scheme}://{host}:{runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; pending delayed answers end at once."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _on_shutdown(self, _app: web.Application) -> None:
        self._stopping.set()

    # -- dispatch ------------------------------------------------------------
    def _routes(self) -> dict[tuple[str, str], tuple[str, str]]:
        """`ROUTES`, with the analyses under their current spelling and without
        the site list while it is unavailable."""
        spelling = self.analysis_spelling
        routes = ROUTES | {
            ("site", spelling.lower()): ("power_analysis", "GET"),
            ("site", SPELLINGS.get(spelling, "").lower()): ("offline_analysis", "GET"),
        }
        if not self.sitelist_available:
            del routes["user", "sitelist"]
        return routes

    def _route(self, request: web.Request) -> tuple[str, str, str] | None:
        """(endpoint, method, SN from the path) or None when unknown."""
        raw = [s for s in request.path.split("/") if s]
        low = [s.lower() for s in raw]
        if low[:2] != ["api", "v1"] or len(low) not in (4, 5):
            return None
        route = self._routes().get((low[2], low[3]))
        if route is None:
            return None
        endpoint, method = route
        with_sn = endpoint in METER_ENDPOINTS
        if len(low) != (5 if with_sn else 4):
            return None
        return endpoint, method, raw[4].upper() if with_sn else ""

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        now = self.now()
        route = self._route(request)
        ip = request.remote or ""
        if route is None:
            self.log.append(LogEntry(now, "not_found", request.path, "not_found", 404))
            return web.Response(status=404, text="404: Not Found")
        endpoint, sn = route[0], route[2]
        scope = sn or request.query.get("sn", "").upper()
        entry = LogEntry(now, endpoint, scope if endpoint != "login" else ip)
        if endpoint == "sitelist":
            entry.scope = ip
        self.log.append(entry)
        try:
            response = await self._handle(request, route, entry, now)
        except asyncio.CancelledError:
            entry.outcome = "cancelled"
            raise
        entry.status = response.status
        return response

    async def _handle(
        self,
        request: web.Request,
        route: tuple[str, str, str],
        entry: LogEntry,
        now: datetime,
    ) -> web.StreamResponse:
        """The checks in the order of the module's docstring, then the answer."""
        endpoint, method, _ = route
        if request.method != method:
            entry.outcome = "method_not_allowed"
            return web.Response(status=405, text="405: Method Not Allowed")
        account = None
        if endpoint != "login":
            token = request.headers.get("token") or request.query.get("token", "")
            account = self._tokens.get(token)
            if (refused := self._refuse_token(endpoint, account, entry)) is not None:
                return refused
        if endpoint in QUOTAS and not self._quota_ok(endpoint, entry.scope, now):
            entry.outcome = "quota"
            return web.Response(status=200, body=b"")
        fault = self.faults.take(endpoint, ANSWER_FAULTS)
        entry.outcome = f"fault:{fault.kind}" if fault else "ok"
        if fault is not None:
            if fault.kind == "timeout" and not await self._delay():
                return web.Response(status=503, body=b"")
            if (instead := FAULT_ANSWERS.get(fault.kind)) is not None:
                return instead(fault)
        return await self._endpoint_answer(request, route, account, now, entry, fault)

    def _refuse_token(
        self, endpoint: str, account: Account | None, entry: LogEntry
    ) -> web.Response | None:
        """The token check's answer (None: the token passes)."""
        if self.faults.take(endpoint, frozenset({"token_glitch"})) is not None:
            entry.outcome = "fault:token_glitch"
            return _envelope(None, False, "Unauthorized", 401)
        if account is not None:
            return None
        if fault := self.faults.take(endpoint, frozenset({"token_invalid_200"})):
            entry.outcome = "fault:token_invalid_200"
            return _envelope(None, False, fault.message)
        entry.outcome = "unauthorized"
        return _envelope(None, False, "Unauthorized", 401)

    async def _endpoint_answer(
        self,
        request: web.Request,
        route: tuple[str, str, str],
        account: Account | None,
        now: datetime,
        entry: LogEntry,
        fault: Fault | None,
    ) -> web.Response:
        """The endpoint's answer; with a "zero_rows" or "spike" fault, altered."""
        endpoint, _, sn = route
        zero = fault is not None and fault.kind == "zero_rows"
        message: str | None = "Meter not found"
        try:
            data = await self._answer(request, endpoint, sn, account, now, zero)
        except BadRequestError as err:
            data, message = None, str(err)
        if data is None:
            if entry.outcome == "ok":
                entry.outcome = "unsuccessful"
            return _envelope(None, False, message)
        if fault is not None and fault.kind == "spike" and "values" in data:
            at = (V2_COLUMNS if endpoint == "meterdata2" else V1_COLUMNS).index(
                "energy_import"
            )
            for row in data["values"]:
                if row[at] is not None:
                    row[at] = round(row[at] + SPIKE_KWH, 3)
        return _envelope(data)

    async def _delay(self) -> bool:
        """Wait ``timeout_delay`` seconds; False if the server stops meanwhile."""
        try:
            async with asyncio.timeout(self.faults.timeout_delay):
                await self._stopping.wait()
        except TimeoutError:
            return True
        return False

    def _quota_ok(self, endpoint: str, scope: str, now: datetime) -> bool:
        """Record the request unless a sliding-window quota is exhausted."""
        group, limits = QUOTAS[endpoint]
        hits = self._hits.setdefault((group, scope), [])
        longest = max(w for w, _ in limits)
        hits[:] = [t for t in hits if t > now - longest]
        ok = all(sum(t > now - w for t in hits) < n for w, n in limits)
        if ok or self.quota_counts_rejected:
            hits.append(now)
        return ok

    # -- endpoint bodies (None: "Meter not found") ------------------------------
    async def _answer(
        self,
        request: web.Request,
        endpoint: str,
        sn: str,
        account: Account | None,
        now: datetime,
        zero: bool,
    ) -> Any:
        if endpoint == "login":
            return await self._login(request)
        assert account is not None
        if endpoint == "sitelist":
            return self._sites(account)
        query = request.query
        meter = account.meter(sn or query.get("sn", ""))
        if meter is None:
            return None
        # What the meter has uploaded by now: at its upload second of the minute.
        now_m = meter.uploaded_minute(now)
        return self._meter_answer(meter, endpoint, query, now_m, zero)

    def _meter_answer(
        self, meter: SimMeter, endpoint: str, query: Any, now_m: int, zero: bool
    ) -> Any:
        if endpoint in ("meterdata", "meterdata2"):
            m = meter.reported_minute(now_m)
            local, utc = self._times(meter, m)
            values = self._rows(meter, m, endpoint, zero)
            return {"values": values, "localTime": local, "gmtTime": utc}
        if endpoint in ("meterdatalist", "meterdatalist2"):
            return self._history(meter, endpoint, query, now_m, zero)
        lo, hi = self._range(meter, query, now_m)
        tz = meter.tz
        head = {
            "startTime": fmt_time(from_minute(lo).astimezone(tz)),
            "endTime": fmt_time(from_minute(hi).astimezone(tz) - timedelta(seconds=1)),
        }
        if endpoint == "power_analysis":
            return head | self._power(meter, lo, min(hi, now_m + 1))
        return head | self._offline(meter, lo, hi, now_m, query.get("interval", "5"))

    async def _login(self, request: web.Request) -> Any:
        try:
            body = await request.json()
            username, password = str(body["userName"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            raise BadRequestError("Invalid parameter") from None
        account = self.accounts.get(username)
        if account is None or not secrets.compare_digest(
            account.password.encode(), password.encode()
        ):
            raise BadRequestError("Incorrect user name or password")
        token = self.issue_token(username)
        answer: dict[str, Any] = {
            "id": {
                "int": account.id,
                "numeric_string": str(account.id),
                "text": f"acct-{account.id}",
                "null": None,
            }.get(self.shapes.login_id),
            "token": token,
            "refreshToken": secrets.token_hex(16),
        }
        if self.shapes.login_id == "missing":
            del answer["id"]
        return answer

    def _sites(self, account: Account) -> list[Any]:
        """The site list; with `sitelist_bad_items`, unusable items among them."""
        sites: list[Any] = [
            {
                "id": s.id,
                "name": s.name,
                "meters": [{"name": m.name, "sn": m.sn} for m in s.meters],
            }
            for s in account.sites
        ]
        if self.shapes.sitelist_bad_items:
            bad_meters = [None, {"name": "No serial"}, {"sn": " ", "name": "Blank"}]
            for site in sites:
                site["meters"][1:1] = bad_meters
            sites[1:1] = [
                "site",
                {"id": 0, "name": "No meters"},
                {"id": 0, "name": "Broken", "meters": {"sn": "X"}},
                {"id": 0, "name": None, "meters": None},
            ]
        return sites

    def _rows(self, meter: SimMeter, m: int, endpoint: str, zero: bool) -> list[Any]:
        """The rows of minute ``m`` as ``endpoint`` sends them, in `shapes`."""
        shapes = self.shapes
        result: list[Any] = []
        for index, r in enumerate(meter.readings(m)):
            v2 = endpoint in ("meterdata2", "meterdatalist2")
            row: list[Any] = r.row6(zero) if v2 else r.row5(zero)
            names: list[str] = list(V2_COLUMNS if v2 else V1_COLUMNS)
            if endpoint != "meterdatalist" and shapes.extra_values:
                extras = [_frequency(m, index), _reactive(r)]
                if not v2:  # the vendor's 7-value meterdata row: + frequency, PF
                    extras.insert(1, round(r.pf, 2))
                    names.extend(["extra", "power_factor"])
                row += (extras + [0] * shapes.extra_values)[: shapes.extra_values]
                names += ["extra"] * (len(row) - len(names))
            if shapes.nulls and (shapes.null_rows is None or index in shapes.null_rows):
                for at, name in enumerate(names[: len(row)]):
                    if name in shapes.nulls:
                        row[at] = None
                        if name != "extra":
                            self.nulled.setdefault((meter.sn, m), set()).add(
                                (index, name)
                            )
            result.append(row)
        return result

    @staticmethod
    def _times(meter: SimMeter, m: int) -> tuple[str, str]:
        utc = meter.upload_time(m) + meter.clock_lead(m)
        return fmt_time(utc.astimezone(meter.tz)), fmt_time(utc)

    def _history(
        self,
        meter: SimMeter,
        endpoint: str,
        query: Any,
        now_m: int,
        zero: bool,
    ) -> list[Any]:
        """Points at interval boundaries from local midnight of startTime."""
        today = from_minute(now_m).astimezone(meter.tz).date()
        start = _parse_date(query.get("startTime")) or today
        end = _parse_date(query.get("endTime")) or start
        try:
            step, rest = divmod(int(query.get("interval", "300")), 60)
        except ValueError:
            raise BadRequestError("Invalid parameter") from None
        if step <= 0 or rest:
            raise BadRequestError("Invalid parameter")
        lo, hi = _midnight(start, meter.tz), _midnight(end + DAY_W, meter.tz)
        first = max(lo, now_m - HISTORY_LIMIT_DAYS * DAY, meter.start_m or lo)
        m = lo + -(-(first - lo) // step) * step
        points: list[Any] = []
        while m < hi and m <= now_m and len(points) < MAX_POINTS:
            if meter.is_online(m):
                rows = self._rows(meter, m, endpoint, zero)
                local, utc = self._times(meter, m)
                if endpoint == "meterdatalist2":
                    points.append({"rtcTime": local, "gmtTime": utc, "values": rows})
                else:
                    points.append([x for r in rows for x in r] + [local, utc])
            m += step
        return points

    @staticmethod
    def _range(meter: SimMeter, query: Any, now_m: int) -> tuple[int, int]:
        """Analysis range as minute indexes ``[lo, hi)``; default last 7 days."""
        today = from_minute(now_m).astimezone(meter.tz).date()
        start = _parse_date(query.get("startTime"))
        end = _parse_date(query.get("endTime"))
        if end is None:
            end = min(start + 6 * DAY_W, today) if start else today
        start = start or end - 6 * DAY_W
        if start > end or (end - start).days >= 7:
            raise BadRequestError("The time range cannot exceed 7 days")
        if start < today - HISTORY_LIMIT_DAYS * DAY_W:
            raise BadRequestError("The time range must be within the last month")
        return _midnight(start, meter.tz), _midnight(end + DAY_W, meter.tz)

    @staticmethod
    def _power(meter: SimMeter, lo: int, hi: int) -> dict[str, Any]:
        """Statistics of the total signed power over online minutes."""
        minutes = [m for m in range(lo, hi) if meter.is_online(m)]
        watts = [meter.total_power(m) for m in minutes]
        day = [
            w
            for m, w in zip(minutes, watts, strict=True)
            if 480 <= meter.local_minute(m) < 1200
        ]

        def mean(xs: list[float]) -> int | None:
            return round(sum(xs) / len(xs)) if xs else None

        return {
            "average": mean(watts),
            "dayTimeAverage": mean(day),
            "minimum": round(min(watts)) if watts else None,
            "maximum": round(max(watts)) if watts else None,
        }

    @staticmethod
    def _offline(
        meter: SimMeter, lo: int, hi: int, now_m: int, interval: str
    ) -> dict[str, Any]:
        """Offline periods of at least ``interval`` minutes up to now."""
        try:
            gap = int(interval)
        except ValueError:
            raise BadRequestError("Invalid parameter") from None
        spans = [
            (s, e)
            for s, e in meter.offline_spans(lo, min(hi, now_m + 1))
            if e - s >= max(gap, 1)
        ]
        tz = meter.tz
        return {
            "offlineCount": sum(e - s for s, e in spans),
            "totalCount": hi - lo,
            "list": [
                {
                    "startTime": fmt_time(from_minute(s).astimezone(tz)),
                    "endTime": fmt_time(from_minute(e).astimezone(tz)),
                    "duration": e - s,
                }
                for s, e in spans
            ],
        }


@dataclass(frozen=True)
class FrontRequest:
    """A request the redirecting front received."""

    method: str
    path_qs: str
    token: bool
    """Whether it came with a `token` header."""


class RedirectFront:
    """A server in front of the cloud that answers every request with a redirect
    to the same path and query on ``target`` (a custom server URL over http
    whose server moved to https, or a proxy that sends elsewhere)."""

    def __init__(self, target: str, status: int = 301) -> None:
        self.target = target.rstrip("/")
        self.status = status
        self.seen: list[FrontRequest] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._redirect)

    async def _redirect(self, request: web.Request) -> web.Response:
        self.seen.append(
            FrontRequest(request.method, request.path_qs, "token" in request.headers)
        )
        await request.read()
        location = self.target + request.path_qs
        return web.Response(status=self.status, headers={"Location": location})

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: any free port); return the base URL."""
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        self.base_url = f"http://{host}:{runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
