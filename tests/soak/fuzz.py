"""The client over a fake session: any status and body, straight from hypothesis."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import date
import json
from types import TracebackType
from typing import Any

from hypothesis import strategies as st

from custom_components.iammeter_cloud.api import IammeterCloud, QuotaLedger

TOKEN = "0123456789abcdef0123456789abcdef"
PASSWORD = "fuzz-pass\u00e9word"
DAY = date(2026, 10, 1)


class _Response:
    def __init__(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self._body = body
        self.headers = headers or {}

    async def read(self) -> bytes:
        return self._body


class _Request:
    def __init__(self, response: _Response) -> None:
        self._response = response

    async def __aenter__(self) -> _Response:
        return self._response

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class FakeSession:
    """Answers every request with one status and body; records the requests."""

    def __init__(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """The answer to every request."""
        self.response = _Response(status, body, headers)
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: object, **kwargs: Any) -> _Request:
        """Like `aiohttp.ClientSession.request`."""
        self.requests.append((method, str(url), kwargs))
        return _Request(self.response)


def client(session: FakeSession) -> IammeterCloud:
    """A client with a token and no budgets (every call is sent)."""
    return IammeterCloud(
        session,  # type: ignore[arg-type]
        api_url="https://cloud.example",
        token=TOKEN,
        ledger=QuotaLedger(budgets={}),
    )


def run[T](job: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (the fake session never does)."""
    try:
        job.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    job.close()
    raise AssertionError("the client waited on something")


CALLS: dict[str, Callable[[IammeterCloud], Coroutine[Any, Any, Any]]] = {
    "latest": lambda c: c.latest("SIM1PHASE001"),
    "latest_v1": lambda c: c.latest_v1("SIM1PHASE001"),
    "history": lambda c: c.history("SIM1PHASE001", DAY, DAY),
    "history_v1": lambda c: c.history_v1("SIM1PHASE001", DAY, DAY),
    "power_analysis": lambda c: c.power_analysis("SIM1PHASE001", DAY, DAY),
    "offline_analysis": lambda c: c.offline_analysis("SIM1PHASE001", DAY, DAY),
    "login": lambda c: c.login("user@example.com", PASSWORD),
    "meters": lambda c: c.meters(),
}

STATUS = st.sampled_from([200] * 12 + [201, 204, 301, 400, 401, 403, 404, 429, 500])
SUCCESSFUL = st.sampled_from([True] * 6 + [False, None, "true", 1, 0])


def bodies(data: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Envelopes around `data`, arbitrary JSON, and bytes that are barely JSON."""
    envelope = st.fixed_dictionaries(
        {"data": data, "successful": SUCCESSFUL},
        optional={"message": st.none() | st.text(max_size=300)},
    )
    text = st.one_of(
        envelope.map(json.dumps),
        data.map(json.dumps),
        st.text(max_size=50),
        st.sampled_from(["", " ", "null", "[]", "{}", "<html>502</html>", "NaN"]),
        st.integers(1, 200_000).map(lambda n: "[" * n + "]" * n),
        st.integers(1, 5000).map(lambda n: '{"data": ' + "9" * n + "}"),
    )
    raw = st.binary(max_size=64) | text.map(
        lambda t: t.encode("utf-16") if len(t) % 7 == 3 else t.encode()
    )
    return st.one_of(text.map(str.encode), raw)


# --- the real cloud's shapes (from the vendor's own clients) -----------------------
# Rows of more values than documented (frequency, reactive power...), nulls
# anywhere, site lists with unusable items, logins whose id is not an int, and
# redirects: to the same host, to another one, to other schemes and ports.

VALUE = st.one_of(
    st.none(),
    st.floats(-1e5, 1e5),
    st.integers(-(10**5), 10**5),
    st.floats(-1, 1),
    st.floats(0, 1e7),
)
EXTRA = st.one_of(VALUE, st.text(max_size=4), st.booleans(), st.just([1]))
ROW = st.builds(
    lambda head, extras: [*head, *extras],
    st.lists(VALUE, min_size=5, max_size=6),
    st.lists(EXTRA, max_size=4),
)
TIME = st.sampled_from(["2026/10/1 5:27:33", "2026/10/1 7:27:33", "yesterday", None])
ROWS = st.lists(ROW, min_size=1, max_size=4)
READING = st.fixed_dictionaries({"values": ROWS, "gmtTime": TIME, "localTime": TIME})
POINT = st.fixed_dictionaries({"values": ROWS, "gmtTime": TIME, "rtcTime": TIME})
FLAT_POINT = st.builds(
    lambda rows, times: [x for row in rows for x in row[:5]] + times,
    ROWS,
    st.lists(TIME, min_size=2, max_size=2),
)
METER = st.one_of(
    st.fixed_dictionaries(
        {"sn": st.sampled_from(["SIM1PHASE001", " ", "", None, 42])},
        optional={"name": st.none() | st.text(max_size=8)},
    ),
    st.none(),
    st.text(max_size=4),
)
SITE = st.one_of(
    st.fixed_dictionaries(
        {"id": st.integers(0, 9)},
        optional={
            "name": st.none() | st.text(max_size=8) | st.integers(),
            "meters": st.lists(METER, max_size=4) | st.none() | st.text(max_size=3),
        },
    ),
    st.none(),
    st.integers(),
)
LOGIN = st.fixed_dictionaries(
    {"token": st.sampled_from(["t0k3n", "", None])},
    optional={
        "id": st.one_of(
            st.integers(-(10**20), 10**20),
            st.integers(0, 10**6).map(str),
            st.text(max_size=120),
            st.none(),
            st.floats(),
            st.booleans(),
        ),
        "refreshToken": st.text(max_size=8),
    },
)
SHAPED = st.one_of(
    READING,
    st.lists(POINT, max_size=3),
    st.lists(FLAT_POINT, max_size=3),
    st.lists(SITE, max_size=4),
    LOGIN,
)
"""`data` of answers in the shapes the real cloud may use."""

LOCATIONS = st.one_of(
    st.sampled_from(
        [
            "https://cloud.example/api/v1/site/meterdata2/SIM1PHASE001",
            "/api/v1/user/login",
            "../other",
            "?page=2",
            "http://cloud.example/api/v1/",
            "https://cloud.example:8443/api/v1/",
            "https://CLOUD.example/api/v1/",
            "https://other.example/api/v1/",
            "//other.example/x",
            "https://user:pw@cloud.example/",
            "ftp://cloud.example/",
            "file:///etc/passwd",
            "http://[::1",
            "",
        ]
    ),
    st.text(max_size=40),
)
HEADERS = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"Location": LOCATIONS}),
)
"""Response headers: none, or a redirect's `Location` (with a 3xx status)."""
REDIRECT_STATUS = st.sampled_from([301, 302, 303, 307, 308])
