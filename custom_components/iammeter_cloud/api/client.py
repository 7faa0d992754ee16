"""Async client of the IAMMETER cloud API (https://www.iammeter.com/api/v1/)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
import ipaddress
import json
import logging
import re
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
from yarl import URL

from .exceptions import (
    IammeterApiError,
    IammeterAuthError,
    IammeterConnectionError,
    IammeterEndpointNotFoundError,
    IammeterError,
    IammeterNotApiError,
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
from .quota import DOCUMENTED_BUDGETS, QuotaLedger

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
ANALYSIS_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "power": POWER_ANALYSIS_PATHS,
    "offline": OFFLINE_ANALYSIS_PATHS,
}


# A host name (labels of letters, digits, "-" and "_"; IDNA-encoded) or an IP.
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
MAX_URL_LENGTH: Final = 2000
# The messages of a `successful: false` answer that mean "this token is refused"
# (lower case; an answer's message is matched case-insensitively, as a part):
# the vendor's local server says "Invalid token."; the cloud's form is unknown.
TOKEN_REFUSED_MESSAGES: Final = (
    "token invalid",
    "invalid token",
    "token is invalid",
    "token expired",
    "expired token",
    "token is expired",
    "token has expired",
)
# HTTP 429's Retry-After is honoured within these bounds.
RETRY_AFTER_MIN: Final = timedelta(minutes=1)
RETRY_AFTER_MAX: Final = timedelta(hours=1)
MAX_SN_LENGTH: Final = 64
MAX_REDIRECTS: Final = 3
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})


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

    Without a `session` the client opens its own `aiohttp` session on first use
    and closes it in `close()` (or at the end of `async with`); an injected
    session is never closed here. Every request is recorded in `ledger` before
    it is sent and refused when it would break a quota. The token goes in the
    `token` header, never into a URL or a log. The analyses' local times are
    read in `time_zone` (the account's time zone).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        api_url: str = DEFAULT_API_URL,
        token: str | None = None,
        ledger: QuotaLedger | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        time_zone: tzinfo = UTC,
        analysis_paths: Mapping[str, str] | None = None,
    ) -> None:
        """Set up the client; nothing is sent until a call is made.

        `ledger`: by default one of its own with `DOCUMENTED_BUDGETS`.
        `analysis_paths`: the analysis path spellings that worked before, by
        kind ("power", "offline"), as `analysis_paths` returned them.
        Raises ValueError for an API URL that is not a plain http(s) URL.
        """
        self._session = session
        self._own_session = session is None
        self._base = _clean_base(api_url)
        self._token = token
        self._ledger = ledger if ledger is not None else QuotaLedger(DOCUMENTED_BUDGETS)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._clock = clock
        self._time_zone = time_zone
        self._analysis_paths: dict[str, str] = {
            kind: path
            for kind, path in (analysis_paths or {}).items()
            if kind in ANALYSIS_PATHS and path in ANALYSIS_PATHS[kind]
        }

    def __repr__(self) -> str:
        """No token in here."""
        return f"IammeterCloud(api_url={str(self._base)!r})"

    async def __aenter__(self) -> Self:
        """`async with IammeterCloud(...) as client:` closes it at the end."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the client's own session (an injected one stays open)."""
        await self.close()

    async def close(self) -> None:
        """Close the session the client opened itself; never an injected one."""
        if self._own_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    @property
    def token(self) -> str | None:
        """The token sent with each request (from the constructor or `login`)."""
        return self._token

    @property
    def ledger(self) -> QuotaLedger:
        """The quota ledger every request is recorded in."""
        return self._ledger

    @property
    def time_zone(self) -> tzinfo:
        """The time zone the analyses' local times are read in."""
        return self._time_zone

    @property
    def analysis_paths(self) -> dict[str, str]:
        """A copy of the analysis path spellings that worked, by kind; pass it
        to the next client's constructor to save it the probing."""
        return dict(self._analysis_paths)

    @property
    def api_url(self) -> str:
        """The API root requests are sent under (`https://host/api/v1/`)."""
        return str(self._base)

    def _without_token(self, text: str) -> str:
        """The server's words, with the token cut out if it quotes it."""
        if self._token:
            text = text.replace(self._token, "**REDACTED**")
        return text

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
        """Send one request within the ledger's budget and return its `data`.

        Redirects are followed here, at most MAX_REDIRECTS, and only on the same
        host (see `_redirect`): the token never goes to another server. A
        request whose connection could not even be made (refused, DNS, TLS) is
        taken back from the ledger: the server never saw it.
        """
        now = self._clock()
        self._ledger.acquire(bucket, scope, endpoint, now)
        headers = {"Accept": "application/json"}
        if self._token:
            headers["token"] = self._token
        url = self._base.join(URL(path))
        session = self._get_session()
        for hop in range(MAX_REDIRECTS + 1):
            try:
                async with session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    location = (
                        response.headers.get("Location")
                        if status in REDIRECT_STATUSES
                        else None
                    )
                    raw = b"" if location else await response.read()
                    retry_after = (
                        response.headers.get("Retry-After") if status == 429 else None
                    )
            except TimeoutError:
                # It may have arrived: the server may have counted it.
                raise IammeterConnectionError(endpoint, "timed out") from None
            except aiohttp.ClientConnectorError as err:
                # No connection (refused, DNS, TLS): nothing reached the server,
                # which counted nothing -- unless an earlier hop was answered.
                if hop == 0:
                    self._ledger.release(bucket, scope, now)
                raise IammeterConnectionError(
                    endpoint, f"cannot connect ({type(err).__name__})"
                ) from None
            except aiohttp.ClientError as err:
                raise IammeterConnectionError(
                    endpoint, f"cannot connect ({type(err).__name__})"
                ) from None
            if not location:
                return self._unwrap(
                    endpoint,
                    bucket,
                    scope,
                    now,
                    status,
                    raw,
                    retry_after=retry_after,
                    with_token="token" in headers,
                )
            url = _redirect(endpoint, url, location)
            params = None  # the new location holds the query
            if status == 303:  # "see other": fetch it (a login then fails)
                method, body = "GET", None
        raise IammeterConnectionError(endpoint, f"more than {MAX_REDIRECTS} redirects")

    def _unwrap(
        self,
        endpoint: str,
        bucket: str,
        scope: str,
        now: datetime,
        status: int,
        raw: bytes,
        *,
        retry_after: str | None = None,
        with_token: bool = False,
    ) -> Any:
        """The `data` of an answer, or the error its status or envelope means."""
        self._check_status(endpoint, bucket, scope, now, status, retry_after)
        if not raw.strip():
            # "If the call count exceeds the limitation, the API returns nothing."
            until = self._ledger.mark_empty(bucket, scope, now)
            raise IammeterQuotaError(endpoint, until, by_server=True)
        self._ledger.answered(bucket, scope)
        return self._open_envelope(endpoint, raw, with_token=with_token)

    def _check_status(
        self,
        endpoint: str,
        bucket: str,
        scope: str,
        now: datetime,
        status: int,
        retry_after: str | None,
    ) -> None:
        """Raise the error an HTTP status other than 2xx means."""
        if status in (401, 403):
            raise IammeterAuthError(endpoint, f"HTTP {status}")
        if status == 404:
            raise IammeterEndpointNotFoundError(endpoint, "HTTP 404")
        if status == 429:
            # The request is in the ledger already (recorded before sending).
            delay = _retry_after(retry_after, now)
            if delay is None:
                until = self._ledger.mark_exhausted(bucket, scope, now)
                raise IammeterQuotaError(endpoint, until, by_server=True)
            until = self._ledger.block_until(bucket, scope, now, now + delay)
            raise IammeterQuotaError(
                endpoint, until, by_server=True, reason="HTTP 429 with Retry-After"
            )
        if status >= 300:
            raise IammeterConnectionError(endpoint, f"HTTP {status}")

    def _open_envelope(self, endpoint: str, raw: bytes, *, with_token: bool) -> Any:
        """The `data` of a `{successful, message, data}` answer.

        An answer without that envelope is not the IAMMETER API's
        (`IammeterNotApiError`); its words are not quoted.
        """
        try:
            envelope = json.loads(raw)
        # Not JSON, or nested beyond the stack.
        except (ValueError, RecursionError):
            raise IammeterNotApiError(endpoint, "the answer is not JSON") from None
        if not isinstance(envelope, dict):
            raise IammeterNotApiError(endpoint, "the answer is not a JSON object")
        if "successful" not in envelope:
            raise IammeterNotApiError(
                endpoint, "the answer is not an IAMMETER envelope (no `successful`)"
            )
        if envelope.get("successful") is not True:
            message = envelope.get("message")
            text = message if isinstance(message, str) and message else "refused"
            if with_token and is_token_refusal(text):
                # Not the server's words: they might quote the token.
                raise IammeterAuthError(endpoint, "token refused (HTTP 200)")
            raise IammeterApiError(endpoint, self._without_token(text[:200]))
        return envelope.get("data")

    async def login(self, username: str, password: str) -> LoginResult:
        """Log in (5 per hour and 30 per day per IP); keeps the new token."""
        self._token = None
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
        self._token = result.token
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
        return parse_power_analysis(data, "power_analysis", self._time_zone)

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
        return parse_offline_analysis(data, "offline_analysis", self._time_zone)

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
        known = self._analysis_paths.get(kind)
        candidates = [known] if known else list(paths)
        for path in candidates:
            try:
                data = await self._request(
                    endpoint, f"site/{path}", bucket=endpoint, scope=sn, params=params
                )
            except IammeterEndpointNotFoundError:
                continue
            self._analysis_paths[kind] = path
            if data is None:
                raise IammeterResponseError(endpoint, "no data")
            return data
        self._analysis_paths.pop(kind, None)
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


def _redirect(endpoint: str, current: URL, location: str) -> URL:
    """Where a redirect leads, if it stays on the same server.

    The same host only (the token is sent there too): the scheme may change
    from http to https, and the port only to the new scheme's default port.
    The method and body stay (a login keeps its body on 301, 302, 307, 308).
    The messages name nothing of the target: the server wrote it.
    """
    try:
        target = current.join(URL(location)).with_fragment(None)
    except ValueError:
        raise IammeterConnectionError(
            endpoint, "redirected to an invalid address"
        ) from None
    schemes = (current.scheme, target.scheme)
    upgrade = schemes == ("http", "https")
    if target.host != current.host:
        refusal = "redirected to another host"
    elif target.user is not None or target.password is not None:
        refusal = "redirected to an address with credentials"
    elif target.scheme != current.scheme and not upgrade:
        refusal = f"redirected from {current.scheme} to another scheme"
    elif target.port != current.port and not (upgrade and target.is_default_port()):
        refusal = f"redirected to another port ({target.port})"
    else:
        return target
    raise IammeterConnectionError(endpoint, f"{refusal}; not followed")


def is_token_refusal(message: str) -> bool:
    """Whether an answer's message says that the token is refused."""
    text = " ".join(message.lower().split())
    return any(known in text for known in TOKEN_REFUSED_MESSAGES)


def _retry_after(value: str | None, now: datetime) -> timedelta | None:
    """HTTP 429's Retry-After (seconds or an HTTP date), bounded; None if absent
    or unreadable."""
    if value is None or not (text := value.strip()):
        return None
    if text.isascii() and text.isdigit() and len(text) <= 10:
        delay = timedelta(seconds=int(text))
    else:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:  # "-0000": UTC by RFC 5322
            moment = moment.replace(tzinfo=UTC)
        delay = moment - now
    return min(max(delay, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


def _sn(sn: str, endpoint: str) -> str:
    """A serial number as a single, safe path segment."""
    clean = sn.strip().upper()
    if not clean.isascii() or not clean.isalnum() or len(clean) > MAX_SN_LENGTH:
        raise IammeterNotFoundError(endpoint, "a serial number is letters and digits")
    return clean


def _range(start: date, end: date) -> dict[str, str]:
    return {"startTime": format_date(start), "endTime": format_date(end)}
