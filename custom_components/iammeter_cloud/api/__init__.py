"""Async client of the IAMMETER cloud API, free of Home Assistant imports."""

from .client import DEFAULT_API_URL, TOKEN_REFUSED_MESSAGES, IammeterCloud
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
    Outage,
    PhaseValues,
    PowerAnalysis,
    Reading,
)
from .quota import BUDGETS, Budget, QuotaLedger

__all__ = [
    "BUDGETS",
    "DEFAULT_API_URL",
    "TOKEN_REFUSED_MESSAGES",
    "Budget",
    "IammeterApiError",
    "IammeterAuthError",
    "IammeterCloud",
    "IammeterConnectionError",
    "IammeterEndpointNotFoundError",
    "IammeterError",
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
]
