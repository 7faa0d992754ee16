"""Async client of the IAMMETER cloud API (https://www.iammeter.com/api/v1/).

A small library of its own, free of Home Assistant imports: `IammeterCloud`
logs in, reads the latest values and the history of IAMMETER energy meters and
their daily power and offline analyses, as typed, immutable results. Every
request is counted in a `QuotaLedger` before it is sent, so that no call ever
breaks the cloud's quotas (`DOCUMENTED_BUDGETS`). All times are aware
datetimes: readings in UTC (with the meter's `utc_offset`), the analyses in the
`time_zone` the caller gives. Every error is an `IammeterError`. Inject an
`aiohttp.ClientSession` (never closed here) or let the client open its own.

    import asyncio
    from zoneinfo import ZoneInfo

    from custom_components.iammeter_cloud.api import IammeterCloud

    async def main() -> None:
        async with IammeterCloud(time_zone=ZoneInfo("Europe/Warsaw")) as client:
            await client.login("user@example.com", "password")
            reading = await client.latest("SN0123456789")
            print(reading.time, reading.utc_offset, reading.power)

    asyncio.run(main())
"""

from .client import (
    DEFAULT_API_URL,
    DEFAULT_TIMEOUT,
    TOKEN_REFUSED_MESSAGES,
    IammeterCloud,
    is_token_refusal,
)
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
    V1_ROW,
    V2_ROW,
    LoginResult,
    Meter,
    OfflineAnalysis,
    Outage,
    PhaseValues,
    PowerAnalysis,
    Reading,
    RowLayout,
    parse_local_time,
    parse_reading,
    parse_row,
    parse_rows,
    parse_time,
    parse_utc_offset,
)
from .quota import DOCUMENTED_BUDGETS, EMPTY_RETRY, Budget, QuotaLedger

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_TIMEOUT",
    "DOCUMENTED_BUDGETS",
    "EMPTY_RETRY",
    "TOKEN_REFUSED_MESSAGES",
    "V1_ROW",
    "V2_ROW",
    "Budget",
    "IammeterApiError",
    "IammeterAuthError",
    "IammeterCloud",
    "IammeterConnectionError",
    "IammeterEndpointNotFoundError",
    "IammeterError",
    "IammeterNotApiError",
    "IammeterNotFoundError",
    "IammeterQuotaError",
    "IammeterResponseError",
    "LoginResult",
    "Meter",
    "OfflineAnalysis",
    "Outage",
    "PhaseValues",
    "PowerAnalysis",
    "QuotaLedger",
    "Reading",
    "RowLayout",
    "is_token_refusal",
    "parse_local_time",
    "parse_reading",
    "parse_row",
    "parse_rows",
    "parse_time",
    "parse_utc_offset",
]
