"""The one place where the client's errors become Home Assistant's.

Setup and updates (`UpdateFailed`, `ConfigEntryAuthFailed`), actions
(`ServiceValidationError` for what the user can change, `HomeAssistantError`
for what failed) and the config flow's form errors, each with its translation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    HomeAssistantError,
    ServiceValidationError,
)
from homeassistant.helpers.update_coordinator import UpdateFailed

from .api import (
    IammeterAuthError,
    IammeterConnectionError,
    IammeterEndpointNotFoundError,
    IammeterError,
    IammeterNotApiError,
    IammeterQuotaError,
)
from .const import DOMAIN, LOGGER
from .helpers import format_local_time


def auth_failed() -> ConfigEntryAuthFailed:
    """The cloud refused the stored password: the entry asks for it again."""
    return ConfigEntryAuthFailed(
        translation_domain=DOMAIN, translation_key="auth_failed"
    )


def update_failed(err: IammeterError, retry_after: timedelta) -> UpdateFailed:
    """An update failed; the next one is tried after `retry_after`."""
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="communication_error",
        translation_placeholders={"error": str(err)},
        retry_after=retry_after.total_seconds(),
    )


def quota_update_failed(retry_at: datetime, wait: timedelta) -> UpdateFailed:
    """No update may be made before `retry_at` (the data is too old to keep)."""
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="quota_exceeded",
        translation_placeholders={"retry_at": format_local_time(retry_at)},
        retry_after=wait.total_seconds(),
    )


def no_valid_reading() -> UpdateFailed:
    """The first reading was unusable (only zeros)."""
    return UpdateFailed(translation_domain=DOMAIN, translation_key="no_valid_reading")


# --- actions ---------------------------------------------------------------------


def unknown_device(device_id: str) -> ServiceValidationError:
    """An action names a device that is no loaded meter of ours."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_device",
        translation_placeholders={"device_id": device_id},
    )


def invalid_range(days: int) -> ServiceValidationError:
    """`fetch_analytics` for a range the cloud does not serve."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="invalid_range",
        translation_placeholders={"days": str(days)},
    )


def backfill_start(days: int) -> ServiceValidationError:
    """`backfill` from a day the cloud keeps no history of."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="backfill_start",
        translation_placeholders={"days": str(days)},
    )


def over_budget(
    endpoint: str, remaining: int, retry_at: datetime
) -> ServiceValidationError:
    """An action would use a budget that is used up."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="over_budget",
        translation_placeholders={
            "endpoint": endpoint,
            "remaining": str(max(remaining, 0)),
            "retry_at": format_local_time(retry_at),
        },
    )


def analysis_reserved(
    endpoint: str, remaining: int, reserved: int, retry_at: datetime
) -> ServiceValidationError:
    """`fetch_analytics` now would take calls the automatic analysis needs."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="analysis_reserved",
        translation_placeholders={
            "endpoint": endpoint,
            "remaining": str(max(remaining, 0)),
            "reserved": str(reserved),
            "retry_at": format_local_time(retry_at),
        },
    )


def refresh_over_budget(retry_at: datetime) -> ServiceValidationError:
    """`refresh` now would leave the scheduled updates without their budget."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="refresh_over_budget",
        translation_placeholders={"retry_at": format_local_time(retry_at)},
    )


def refresh_failed(err: IammeterError) -> HomeAssistantError:
    """`refresh` sent its request, and it failed."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="refresh_failed",
        translation_placeholders={"error": str(err)},
    )


def analytics_failed(err: IammeterError) -> HomeAssistantError:
    """`fetch_analytics` failed."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="analytics_failed",
        translation_placeholders={"error": str(err)},
    )


def backfill_failed(err: IammeterError) -> HomeAssistantError:
    """`backfill` failed."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="backfill_failed",
        translation_placeholders={"error": str(err)},
    )


# --- the config flow ---------------------------------------------------------------


def form_error(err: IammeterError, placeholders: dict[str, str]) -> str:
    """The config flow's form error for an API error."""
    if isinstance(err, IammeterQuotaError):
        placeholders["retry_at"] = format_local_time(err.retry_at)
        return "quota_exceeded"
    if isinstance(err, IammeterAuthError):
        return "invalid_auth"
    if isinstance(err, IammeterNotApiError | IammeterEndpointNotFoundError):
        # A server answered, but a web page, an unknown path or no envelope.
        return "not_iammeter"
    if isinstance(err, IammeterConnectionError):
        return "cannot_connect"
    LOGGER.exception("Unexpected answer from the IAMMETER cloud")
    return "unknown"
