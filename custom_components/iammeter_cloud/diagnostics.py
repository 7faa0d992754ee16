"""Diagnostics download: state that helps support, with no secret in it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
import re
from typing import Any, Final

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .api import Reading
from .const import CONF_ACCOUNT_ID, CONF_KNOWN_METERS, CONF_METERS, DOMAIN
from .coordinator import IammeterConfigEntry
from .store import dump_meter

TO_REDACT: Final = {
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_USERNAME,
    CONF_ACCOUNT_ID,
    # the cloud's own spellings (login request and answer)
    "userName",
    "accountId",
    "refreshToken",
    "refresh_token",
    # the entry's unique_id is the account id, its title the user name
    "unique_id",
    "title",
}

MIN_SECRET_LENGTH: Final = 8
"""Secrets at least this long are also replaced inside strings."""

_NUMBER = re.compile(r"[\d\s.,:/+-]*")
"""Digits and what separates them in numbers, dates and times."""


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IammeterConfigEntry
) -> dict[str, Any]:
    """Everything of the entry."""
    return _mask(entry, _dump(entry, list(entry.runtime_data.coordinators)))


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: IammeterConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """One meter (or, for the account device, the account)."""
    sns = [i for d, i in device.identifiers if d == DOMAIN]
    meters = [sn for sn in sns if sn in entry.runtime_data.coordinators]
    return _mask(entry, _dump(entry, meters))


def _dump(entry: IammeterConfigEntry, meters: list[str]) -> dict[str, Any]:
    runtime = entry.runtime_data
    client = runtime.account.client
    store = runtime.account.store
    result: dict[str, Any] = {
        "entry": entry.as_dict(),
        "api": {"host": client.host, "analysis_paths": client.analysis_paths},
        "last_errors": runtime.account.last_errors,
        "ledger": client.ledger.export(),
        "meters": [],
    }
    for sn in meters:
        coordinator = runtime.coordinators[sn]
        analytics = runtime.analytics.get(sn)
        result["meters"].append(
            {
                "sn": sn,
                "name": coordinator.meter_name,
                "status": {
                    "last_update_success": coordinator.last_update_success,
                    "last_exception": str(coordinator.last_exception or ""),
                    "update_interval": str(coordinator.update_interval),
                },
                "reading": _reading(coordinator.data.reading),
                "energy": dict(coordinator.data.energy),
                "stored": dump_meter(store.meter(sn)),
                "analytics": None if analytics is None else analytics.data.export(),
            }
        )
    return result


def _reading(reading: Reading) -> dict[str, Any]:
    """A reading as JSON: `utc_offset` in seconds (or None)."""
    offset = reading.utc_offset
    return asdict(reading) | {
        "utc_offset": None if offset is None else offset.total_seconds()
    }


def _mask(entry: IammeterConfigEntry, data: dict[str, Any]) -> dict[str, Any]:
    """Secrets and ids removed by key; serial numbers reduced to their last 4."""
    masked: dict[str, Any] = redact(
        data,
        secrets=[
            entry.data.get(CONF_PASSWORD),
            entry.data.get(CONF_TOKEN),
            entry.runtime_data.account.client.token,
            entry.data.get(CONF_USERNAME),
        ],
        serials=set(entry.runtime_data.coordinators)
        | set(entry.options.get(CONF_METERS, []))
        | set(entry.data.get(CONF_KNOWN_METERS, [])),
    )
    return masked


def redact(data: Any, *, secrets: Iterable[Any], serials: Iterable[str]) -> Any:
    """`data` (JSON-like) with no secret or id in it, and nothing else changed.

    Secrets and ids go by key (TO_REDACT), wherever the key is. Only long
    secrets (a password, a token) are also looked for inside strings: short or
    numeric values (an account id such as 2 or 2026) would match the digits of
    times, dates and counters, and those must stay intact. Serial numbers are
    cut to their last 4 characters wherever they occur.
    """
    long_secrets = sorted(
        {s for s in map(str, filter(None, secrets)) if _searchable(s)},
        key=lambda s: (-len(s), s),
    )
    sns = sorted({sn for sn in serials if sn}, key=len, reverse=True)
    serial = re.compile("|".join(map(re.escape, sns))) if sns else None

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [clean(v) for v in value]
        if isinstance(value, str):
            for secret in long_secrets:
                value = value.replace(secret, REDACTED)
            if serial is not None:
                value = serial.sub(lambda m: "***" + m.group()[-4:], value)
        return value

    return async_redact_data(clean(data), TO_REDACT)


def _searchable(secret: str) -> bool:
    """Long enough, and not a number, to be replaced inside strings safely."""
    return len(secret) >= MIN_SECRET_LENGTH and not _NUMBER.fullmatch(secret)
