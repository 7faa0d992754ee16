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
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

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

    def __init__(self, status: int, body: bytes) -> None:
        """The answer to every request."""
        self.response = _Response(status, body)
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
