"""Repair issues, raised only for what the user must act on."""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .helpers import format_local_time
from .store import IammeterStore, MeterRecord

# Two refusals within a day, although the ledger kept us within our share. A
# refused analysis blocks its daily budget for a day, so there two refusals
# can only come a day apart: they count within three days.
CONFLICT_REFUSALS = 2
CONFLICT_WINDOW = timedelta(days=1)
DAILY_CONFLICT_WINDOW = timedelta(days=3)
DAILY_BUDGETS = frozenset({"power_analysis", "offline_analysis"})
CLEAR_AFTER = timedelta(days=1)
"""A conflict clears at the first success a day after the last refusal."""
OFFLINE_AFTER = timedelta(hours=24)
RESET_NOTICE_FOR = timedelta(days=1)
ADDED_NOTICE_FOR = timedelta(days=1)


def _conflict_id(endpoint: str, scope: str) -> str:
    return f"quota_conflict_{endpoint}_{scope}".lower().replace(".", "_")


def _conflict_window(endpoint: str) -> timedelta:
    return DAILY_CONFLICT_WINDOW if endpoint in DAILY_BUDGETS else CONFLICT_WINDOW


def async_note_refusal(
    hass: HomeAssistant, store: IammeterStore, endpoint: str, scope: str
) -> None:
    """The cloud answered nothing although our own count was within the quota.

    Our ledger never lets us exceed a quota, so someone else (a script, Node-RED,
    another Home Assistant) uses the same meter or IP.
    """
    now = dt_util.utcnow()
    key = f"{endpoint}|{scope}"
    window = _conflict_window(endpoint)
    recent = [t for t in store.refusals.get(key, []) if now - t < window]
    store.refusals[key] = [*recent, now]
    store.async_schedule_save()
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
    hass: HomeAssistant, store: IammeterStore, endpoint: str, scope: str
) -> None:
    """Calls succeed: the conflict clears once the last refusal is a day old."""
    key = f"{endpoint}|{scope}"
    times = store.refusals.get(key)
    if not times:
        return
    if dt_util.utcnow() - times[-1] >= CLEAR_AFTER:
        del store.refusals[key]
        store.async_schedule_save()
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
            "since": format_local_time(reading_time),
        },
    )


def async_note_counter_reset(
    hass: HomeAssistant, saved: MeterRecord, sn: str, name: str
) -> None:
    """A meter's counter restarted: a notice for a day (the sums stay right)."""
    saved.reset_at = dt_util.utcnow()
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"counter_reset_{sn}",
        is_fixable=False,
        is_persistent=True,  # it stays its day across restarts
        severity=ir.IssueSeverity.WARNING,
        translation_key="counter_reset",
        translation_placeholders={"meter": name, "sn": sn},
    )


def async_check_counter_reset(hass: HomeAssistant, saved: MeterRecord, sn: str) -> None:
    """The reset notice goes once readings were accepted for a day after it."""
    reset_at = saved.reset_at
    if reset_at is None or dt_util.utcnow() - reset_at >= RESET_NOTICE_FOR:
        saved.reset_at = None
        ir.async_delete_issue(hass, DOMAIN, f"counter_reset_{sn}")


def async_note_meter_added(
    hass: HomeAssistant, saved: MeterRecord, sn: str, name: str
) -> None:
    """A meter new on the account was added by itself: a notice for a day."""
    saved.added_at = dt_util.utcnow()
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"meter_added_{sn}",
        is_fixable=False,
        is_persistent=True,  # it stays its day across restarts
        severity=ir.IssueSeverity.WARNING,
        translation_key="meter_added",
        translation_placeholders={"meter": name, "sn": sn},
    )


def async_check_meter_added(
    hass: HomeAssistant, saved: MeterRecord, sn: str, *, configured: bool = True
) -> None:
    """The notice goes a day after the meter was added, or with the meter."""
    added_at = saved.added_at
    if added_at is None:
        return
    if not configured or dt_util.utcnow() - added_at >= ADDED_NOTICE_FOR:
        saved.added_at = None
        ir.async_delete_issue(hass, DOMAIN, f"meter_added_{sn}")
