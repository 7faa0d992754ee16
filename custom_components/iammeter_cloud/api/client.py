"""Async client of the IAMMETER cloud API (https://www.iammeter.com/api/v1/)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
import ipaddress
import json
import logging
import re
from typing import Any, Final

import aiohttp
from yarl import URL

from .exceptions import (
    IammeterApiError,
    IammeterAuthError,
    IammeterConnectionError,
    IammeterEndpointNotFoundError,
    IammeterError,
    IammeterNotFoundError,
    IammeterQuotaError,
    IammeterResponseError,
)
from .models import (
    LoginResult,
    Meter,
    OfflineAnalysis,
    PowerAnalysis,
    Reading,
    format_date,
    parse_flat_history,
    parse_history,
    parse_login,
    parse_offline_analysis,
    parse_power_analysis,
    parse_reading,
    parse_sites,
)
from .quota import QuotaLedger

_LOGGER = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://www.iammeter.com"
DEFAULT_TIMEOUT: Final = 20.0
# The documented spelling first; the vendor's pages also use the others.
POWER_ANALYSIS_PATHS: Final = ("powerAnalysis", "powerAnalytics", "powerAnalytic")
OFFLINE_ANALYSIS_PATHS: Final = (
    "offlineAnalysis",
    "offlineAnalytics",
    "offlineAnalytic",
)


# A host name (labels of letters, digits, "-" and "_"; IDNA-encoded) or an IP.
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
MAX_URL_LENGTH: Final = 2000
MAX_SN_LENGTH: Final = 64


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return len(host) <= 253 and _HOST_NAME.fullmatch(host.lower()) is not None
    return True


def _clean_base(url: str) -> URL:
    """The API root for a server URL, with no user info, query or fragment."""
    text = url.strip()
    if len(text) > MAX_URL_LENGTH:
        raise ValueError("the API URL is too long")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError("the API URL must not hold spaces or control characters")
    base = URL(text)
    if base.scheme not in ("http", "https") or not base.host:
        raise ValueError("the API URL must be an http(s) URL with a host")
    if base.user or base.password or base.query_string or base.fragment:
        raise ValueError("the API URL must not hold credentials, a query or fragment")
    if not _valid_host(base.raw_host or "") or base.port == 0:
        raise ValueError("the API URL must name a valid host (and port)")
    path = base.path.rstrip("/")
    if not path.lower().endswith("/api/v1"):
        path += "/api/v1"
    return base.with_path(path + "/")


class IammeterCloud:
    """One IAMMETER account on one API server.

    The `aiohttp` session is injected and never closed here. Every request is
    recorded in `ledger` before it is sent and refused when it would break a
    quota. The token goes in the `token` header, never into a URL or a log.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str = DEFAULT_API_URL,
        token: str | None = None,
        ledger: QuotaLedger | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Set up the client; nothing is sent until a call is made."""
        self._session = session
        self._base = _clean_base(api_url)
        self.token = token
        self.ledger = ledger if ledger is not None else QuotaLedger()
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._clock = clock
        # Analysis path spelling that worked, by kind ("power", "offline").
        self.analysis_paths: dict[str, str] = {}

    def __repr__(self) -> str:
        """No token in here."""
        return f"IammeterCloud(api_url={str(self._base)!r})"

    @property
    def host(self) -> str:
        """The API host: the scope of the login quota."""
        return self._base.host or ""

    async def _request(
        self,
        endpoint: str,
        path: str,
        *,
        bucket: str,
        scope: str,
        method: str = "GET",
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request within the ledger's budget and return its `data`."""
        now = self._clock()
        self.ledger.acquire(bucket, scope, endpoint, now)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["token"] = self.token
        url = self._base.join(URL(path))
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                json=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            raise IammeterConnectionError(endpoint, "timed out") from None
        except aiohttp.ClientError as err:
            raise IammeterConnectionError(
                endpoint, f"cannot connect ({type(err).__name__})"
            ) from None
        return self._unwrap(endpoint, bucket, scope, now, status, raw)

    def _unwrap(
        self,
        endpoint: str,
        bucket: str,
        scope: str,
        now: datetime,
        status: int,
        raw: bytes,
    ) -> Any:
        if status in (401, 403):
            raise IammeterAuthError(endpoint, f"HTTP {status}")
        if status == 404:
            raise IammeterEndpointNotFoundError(endpoint, "HTTP 404")
        if status == 429:
            until = self.ledger.mark_exhausted(bucket, scope, now)
            raise IammeterQuotaError(endpoint, until, by_server=True)
        if status >= 300:
            raise IammeterConnectionError(endpoint, f"HTTP {status}")
        if not raw.strip():
            # "If the call count exceeds the limitation, the API returns nothing."
            until = self.ledger.mark_exhausted(bucket, scope, now)
            raise IammeterQuotaError(endpoint, until, by_server=True)
        try:
            envelope = json.loads(raw)
        except ValueError, RecursionError:  # not JSON, or nested beyond the stack
            raise IammeterConnectionError(endpoint, "the answer is not JSON") from None
        if not isinstance(envelope, dict):
            raise IammeterResponseError(endpoint, "the answer is not a JSON object")
        if envelope.get("successful") is not True:
            message = envelope.get("message")
            text = message if isinstance(message, str) and message else "refused"
            raise IammeterApiError(endpoint, text[:200])
        return envelope.get("data")

    async def login(self, username: str, password: str) -> LoginResult:
        """Log in (5 per hour and 30 per day per IP); keeps the new token."""
        self.token = None
        try:
            data = await self._request(
                "login",
                "user/login",
                bucket="login",
                scope=self.host,
                method="POST",
                body={"userName": username, "password": password},
            )
        except IammeterApiError as err:
            raise IammeterAuthError("login", "user name or password refused") from err
        result = parse_login(data, "login")
        self.token = result.token
        return result

    async def latest(self, sn: str) -> Reading:
        """Latest reading of a meter (`meterdata2`; 12 per hour per meter)."""
        return await self._reading("meterdata2", sn)

    async def latest_v1(self, sn: str) -> Reading:
        """Latest reading without power factor (`meterdata`; same budget)."""
        return await self._reading("meterdata", sn)

    async def _reading(self, endpoint: str, sn: str) -> Reading:
        sn = _sn(sn, endpoint)
        data = await self._request(
            endpoint,
            f"site/{endpoint}/{sn}",
            bucket="meterdata",
            scope=sn,
        )
        if data is None:
            raise IammeterResponseError(endpoint, "no data")
        return parse_reading(data, endpoint)

    async def history(
        self, sn: str, start: date, end: date, interval: int = 300
    ) -> list[Reading]:
        """Readings between two local dates (`meterdatalist2`; <= 2000 points)."""
        data = await self._history("meterdatalist2", sn, start, end, interval)
        return parse_history(data, "meterdatalist2")

    async def history_v1(
        self, sn: str, start: date, end: date, interval: int = 300
    ) -> list[Reading]:
        """Like `history`, from `meterdatalist` (flat points, no power factor)."""
        data = await self._history("meterdatalist", sn, start, end, interval)
        return parse_flat_history(data, "meterdatalist")

    async def _history(
        self, endpoint: str, sn: str, start: date, end: date, interval: int
    ) -> Any:
        sn = _sn(sn, endpoint)
        return await self._request(
            endpoint,
            f"site/{endpoint}/{sn}",
            bucket="history",
            scope=sn,
            params=_range(start, end) | {"interval": str(interval)},
        )

    async def power_analysis(
        self, sn: str, start: date | None = None, end: date | None = None
    ) -> PowerAnalysis:
        """Average, daytime average, minimum and maximum power (5 a day)."""
        data = await self._analysis("power", POWER_ANALYSIS_PATHS, sn, start, end, {})
        return parse_power_analysis(data, "power_analysis")

    async def offline_analysis(
        self,
        sn: str,
        start: date | None = None,
        end: date | None = None,
        interval: int = 5,
    ) -> OfflineAnalysis:
        """Minutes offline and the outages (5 a day)."""
        data = await self._analysis(
            "offline",
            OFFLINE_ANALYSIS_PATHS,
            sn,
            start,
            end,
            {"interval": str(interval)},
        )
        return parse_offline_analysis(data, "offline_analysis")

    async def _analysis(
        self,
        kind: str,
        paths: tuple[str, ...],
        sn: str,
        start: date | None,
        end: date | None,
        extra: dict[str, str],
    ) -> Any:
        endpoint = f"{kind}_analysis"
        sn = _sn(sn, endpoint)
        params = {"sn": sn} | extra
        if start is not None and end is not None:
            params |= _range(start, end)
        known = self.analysis_paths.get(kind)
        candidates = [known] if known else list(paths)
        for path in candidates:
            try:
                data = await self._request(
                    endpoint, f"site/{path}", bucket=endpoint, scope=sn, params=params
                )
            except IammeterEndpointNotFoundError:
                continue
            self.analysis_paths[kind] = path
            if data is None:
                raise IammeterResponseError(endpoint, "no data")
            return data
        self.analysis_paths.pop(kind, None)
        raise IammeterEndpointNotFoundError(endpoint, "no known path answered")

    async def meters(self) -> list[Meter] | None:
        """The meters on the account, or None where the service cannot list them.

        The site list is not part of the documented API: any failure (404, an
        expired token, a malformed answer) means "not available", never an error.
        """
        try:
            data = await self._request(
                "sitelist", "user/sitelist", bucket="sitelist", scope=self.host
            )
            return parse_sites(data, "sitelist")
        except IammeterError as err:
            _LOGGER.debug("The account's meters cannot be listed: %s", err)
            return None


def _sn(sn: str, endpoint: str) -> str:
    """A serial number as a single, safe path segment."""
    clean = sn.strip().upper()
    if not clean.isascii() or not clean.isalnum() or len(clean) > MAX_SN_LENGTH:
        raise IammeterNotFoundError(endpoint, "a serial number is letters and digits")
    return clean


def _range(start: date, end: date) -> dict[str, str]:
    return {"startTime": format_date(start), "endTime": format_date(end)}
