"""Errors raised by the IAMMETER cloud client."""

from __future__ import annotations

from datetime import datetime


class IammeterError(Exception):
    """Base class of every error raised by this client."""

    def __init__(self, endpoint: str, message: str) -> None:
        """Keep the endpoint apart so callers can tell where it failed."""
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint


class IammeterConnectionError(IammeterError):
    """The service could not be reached or answered something unusable."""


class IammeterNotApiError(IammeterConnectionError):
    """The server answered, but not as the IAMMETER API does: not JSON, or JSON
    without the `{successful, message, data}` envelope (e.g. a web page).

    Most likely the API URL names another server; the cloud itself may send
    such an answer in a fault (an HTML error page with HTTP 200), which is why
    it is a connection error.
    """


class IammeterAuthError(IammeterError):
    """The credentials or the token were refused.

    From `login`: the cloud refused the user name or password. From any other
    call: the cloud refused the token (HTTP 401/403, or an answer whose message
    is one of `TOKEN_REFUSED_MESSAGES`).
    """


class IammeterApiError(IammeterError):
    """The service answered `successful: false`."""


class IammeterNotFoundError(IammeterApiError):
    """The meter is not on this account (or does not exist)."""


class IammeterQuotaError(IammeterError):
    """The call budget of an endpoint is used up until `retry_at`."""

    def __init__(
        self,
        endpoint: str,
        retry_at: datetime,
        *,
        by_server: bool,
        reason: str | None = None,
    ) -> None:
        """`by_server` tells a server-side refusal from a local one."""
        who = reason or (
            "the cloud answered nothing" if by_server else "local budget used up"
        )
        super().__init__(
            endpoint, f"quota exhausted ({who}); retry after {retry_at.isoformat()}"
        )
        self.retry_at = retry_at
        self.by_server = by_server


class IammeterResponseError(IammeterError):
    """The answer did not have the shape or meaning the API documents."""


class IammeterEndpointNotFoundError(IammeterError):
    """HTTP 404: the path is unknown to the service."""
