"""Repair issues, raised only for what the user must act on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import DOMAIN

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .storage import IammeterStorage

# Two refusals within a day, although the ledger kept us within our share.
CONFLICT_REFUSALS = 2
CONFLICT_WINDOW = timedelta(days=1)
OFFLINE_AFTER = timedelta(hours=24)


def _conflict_id(endpoint: str, scope: str) -> str:
    return f"quota_conflict_{endpoint}_{scope}".lower().replace(".", "_")


def async_note_refusal(
    hass: HomeAssistant, storage: IammeterStorage, endpoint: str, scope: str
) -> None:
    """The cloud answered nothing although our own count was within the quota.

    Our ledger never lets us exceed a quota, so someone else (a script, Node-RED,
    another Home Assistant) uses the same meter or IP.
    """
    now = dt_util.utcnow()
    refusals = storage.section("refusals")
    recent = [
        t
        for t in refusals.get(f"{endpoint}|{scope}", [])
        if (when := dt_util.parse_datetime(str(t))) and now - when < CONFLICT_WINDOW
    ]
    refusals[f"{endpoint}|{scope}"] = [*recent, now.isoformat()]
    storage.async_schedule_save()
    if len(recent) + 1 >= CONFLICT_REFUSALS:
        ir.async_create_issue(
            hass,
            DOMAIN,
            _conflict_id(endpoint, scope),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="quota_conflict",
            translation_placeholders={"endpoint": endpoint, "scope": scope},
        )


def async_note_success(
    hass: HomeAssistant, storage: IammeterStorage, endpoint: str, scope: str
) -> None:
    """Calls succeed: the conflict clears once the last refusal is a day old."""
    refusals = storage.section("refusals")
    times = refusals.get(f"{endpoint}|{scope}")
    if not times:
        return
    last = dt_util.parse_datetime(str(times[-1]))
    if last is None or dt_util.utcnow() - last >= CONFLICT_WINDOW:
        del refusals[f"{endpoint}|{scope}"]
        storage.async_schedule_save()
        ir.async_delete_issue(hass, DOMAIN, _conflict_id(endpoint, scope))


def async_check_reporting(
    hass: HomeAssistant, sn: str, name: str, reading_time: datetime
) -> None:
    """A repair while the meter has not reported to the cloud for 24 hours."""
    issue_id = f"meter_offline_{sn}"
    if dt_util.utcnow() - reading_time < OFFLINE_AFTER:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="meter_offline",
        translation_placeholders={
            "meter": name,
            "sn": sn,
            "since": dt_util.as_local(reading_time).strftime("%Y-%m-%d %H:%M"),
        },
    )
