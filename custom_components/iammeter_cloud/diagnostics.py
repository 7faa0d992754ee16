"""Diagnostics download: state that helps support, with no secret in it."""

from __future__ import annotations

from dataclasses import asdict
import re
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .const import CONF_ACCOUNT_ID, DOMAIN
from .coordinator import IammeterConfigEntry

TO_REDACT = {
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_USERNAME,
    CONF_ACCOUNT_ID,
    "refreshToken",
    "refresh_token",
    "unique_id",
    "title",
}


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
    storage = next(iter(runtime.coordinators.values())).storage
    result: dict[str, Any] = {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
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
                "reading": asdict(coordinator.data.reading),
                "energy": dict(coordinator.data.energy),
                "stored": storage.meters.get(sn, {}),
                "analytics": None if analytics is None else analytics.data.export(),
            }
        )
    return result


def _mask(entry: IammeterConfigEntry, data: dict[str, Any]) -> dict[str, Any]:
    """Serial numbers reduced to their last 4 characters; secrets removed."""
    sns = set(entry.runtime_data.coordinators) | set(entry.options.get("meters", []))
    secrets = [
        str(v)
        for v in (
            entry.data.get(CONF_PASSWORD),
            entry.data.get(CONF_TOKEN),
            entry.runtime_data.account.client.token,
            entry.data.get(CONF_USERNAME),
        )
        if v
    ]
    # The account id is a short number: only where it stands alone, so that
    # times and counters that contain its digits stay intact.
    account = re.compile(
        rf"(?<![0-9A-Za-z]){re.escape(entry.unique_id or '')}(?![0-9A-Za-z])"
    )
    pattern = re.compile(
        "|".join(re.escape(s) for s in sorted(sns, key=len, reverse=True))
    )

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [clean(v) for v in value]
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, "**REDACTED**")
            if entry.unique_id:
                value = account.sub("**REDACTED**", value)
            return (
                pattern.sub(lambda m: "***" + m.group()[-4:], value) if sns else value
            )
        return value

    cleaned: dict[str, Any] = clean(data)
    return cleaned
