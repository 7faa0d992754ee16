"""Diagnostics download: state that helps support, with no secret in it.

Serial numbers become aliases (`meter_1_E001`), distinct within a dump; times
are ISO text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
import re
from typing import Any, Final

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .api import Reading
from .const import (
    CONF_ACCOUNT_ID,
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    DOMAIN,
)
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
        "ledger": _ledger(client.ledger.export()),
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
                    "update_interval": str(coordinator.interval),
                },
                "reading": _reading(coordinator.data.reading),
                "energy": dict(coordinator.data.energy),
                "stored": dump_meter(store.meter(sn)),
                "analytics": None if analytics is None else analytics.data.export(),
            }
        )
    return result


def _ledger(export: dict[str, Any]) -> dict[str, Any]:
    """The ledger's state with its times as ISO text (it stores epoch seconds)."""
    return {
        "sent": [[b, s, [_iso(t) for t in times]] for b, s, times in export["sent"]],
        "blocked": [[b, s, _iso(t)] for b, s, t in export["blocked"]],
    }


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat()


def _reading(reading: Reading) -> dict[str, Any]:
    """A reading as JSON: `utc_offset` in seconds (or None)."""
    offset = reading.utc_offset
    return asdict(reading) | {
        "utc_offset": None if offset is None else offset.total_seconds()
    }


def _mask(entry: IammeterConfigEntry, data: dict[str, Any]) -> dict[str, Any]:
    """Secrets and ids removed by key; serial numbers replaced by aliases."""
    masked: dict[str, Any] = redact(
        data,
        secrets=[
            entry.data.get(CONF_PASSWORD),
            entry.data.get(CONF_TOKEN),
            entry.runtime_data.account.client.token,
            entry.data.get(CONF_USERNAME),
        ],
        serials=_serials(entry),
    )
    return masked


def _serials(entry: IammeterConfigEntry) -> set[str]:
    """Every serial number a dump of the entry may hold: its meters', and those
    of the shared store and ledger (other entries' meters included)."""
    account = entry.runtime_data.account
    ledger = account.client.ledger.export()
    scopes = {
        scope
        for bucket, scope, *_ in (*ledger["sent"], *ledger["blocked"])
        if bucket != "login"  # scoped by the API host
    }
    return (
        set(entry.runtime_data.coordinators)
        | set(entry.options.get(CONF_METERS, []))
        | set(entry.data.get(CONF_KNOWN_METERS, []))
        | set(entry.data.get(CONF_METER_NAMES, {}))
        | set(account.store.meters)
        | scopes
    )


def serial_aliases(serials: Iterable[str]) -> dict[str, str]:
    """An alias for each serial number: `meter_{n}_{last 4}`, numbered from 1
    in the order of the sorted serial numbers (upper case).

    The same serials give the same aliases (a device's dump and its entry's
    agree), and two meters whose serials end alike stay two meters.
    """
    sns = sorted({sn.upper() for sn in serials if sn})
    return {sn: f"meter_{n}_{sn[-4:]}" for n, sn in enumerate(sns, start=1)}


def redact(data: Any, *, secrets: Iterable[Any], serials: Iterable[str]) -> Any:
    """`data` (JSON-like) with no secret or id in it, and nothing else changed.

    Secrets and ids go by key (TO_REDACT), wherever the key is. Only long
    secrets (a password, a token) are also looked for inside strings: short or
    numeric values (an account id such as 2 or 2026) would match the digits of
    times, dates and counters, and those must stay intact. Serial numbers are
    replaced by their aliases (`serial_aliases`) wherever they occur, in keys
    and values, in any case.
    """
    long_secrets = sorted(
        {s for s in map(str, filter(None, secrets)) if _searchable(s)},
        key=lambda s: (-len(s), s),
    )
    aliases = serial_aliases(serials)
    sns = sorted(aliases, key=lambda sn: (-len(sn), sn))
    serial = re.compile("|".join(map(re.escape, sns)), re.IGNORECASE) if sns else None

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [clean(v) for v in value]
        if isinstance(value, str):
            for secret in long_secrets:
                value = value.replace(secret, REDACTED)
            if serial is not None:
                value = serial.sub(lambda m: aliases[m.group().upper()], value)
        return value

    return async_redact_data(clean(data), TO_REDACT)


def _searchable(secret: str) -> bool:
    """Long enough, and not a number, to be replaced inside strings safely."""
    return len(secret) >= MIN_SECRET_LENGTH and not _NUMBER.fullmatch(secret)
