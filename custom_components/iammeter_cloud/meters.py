"""Meters added to the IAMMETER account after setup.

Once a day the account's site list is read; a meter that the user was never
offered before (not among the entry's known meters) is read once and, when it
answers, added with its device and entities without a reload. A meter the user
left out or removed in the options is known, and never comes back by itself.
"""

from __future__ import annotations

from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .account import IammeterAccount
from .api import Meter
from .backfill import async_watch_meter
from .const import (
    CONF_KNOWN_METERS,
    CONF_METER_NAMES,
    CONF_METERS,
    DOMAIN,
    LOGGER,
    METERS_CHECK_EVERY,
    METERS_CHECK_LOGIN_RESERVE,
    METERS_FIRST_CHECK,
)
from .coordinator import IammeterConfigEntry, MeterCoordinators
from .issues import async_note_meter_added
from .store import IammeterStore


def signal_new_meter(entry: IammeterConfigEntry) -> str:
    """The dispatcher signal that a meter (its SN) was added to `entry`."""
    return f"{DOMAIN}_{entry.entry_id}_new_meter"


def note_meters_checked(store: IammeterStore, account: str) -> None:
    """The site list of `account` (the entry's unique id) was read just now."""
    store.meters_checked[account] = dt_util.utcnow()
    store.async_schedule_save()


class IammeterMeterWatch:
    """Reads the site list of one entry's account at most once a day."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        account: IammeterAccount,
    ) -> None:
        """Nothing is scheduled until `async_start`."""
        self.hass = hass
        self.entry = entry
        self.account = account
        self._unsub: CALLBACK_TYPE | None = None

    @property
    def _key(self) -> str:
        return self.entry.unique_id or self.entry.entry_id

    @callback
    def async_start(self) -> None:
        """Schedule the next look: a day after the last one on record."""
        last = self.account.store.meters_checked.get(self._key)
        now = dt_util.utcnow()
        due = now + METERS_FIRST_CHECK if last is None else last + METERS_CHECK_EVERY
        self._schedule(max(due, now))
        self.entry.async_on_unload(self._async_stop)

    @callback
    def _async_stop(self) -> None:
        if self._unsub is not None:
            self._unsub()
            self._unsub = None

    def _schedule(self, when: datetime) -> None:
        self._unsub = async_track_point_in_utc_time(self.hass, self._async_due, when)

    @callback
    def _async_due(self, _now: datetime) -> None:
        """The next look a day later, whatever this one gives (a failed or
        skipped look waits for it, or for the next start)."""
        self._schedule(dt_util.utcnow() + METERS_CHECK_EVERY)
        self.entry.async_create_background_task(
            self.hass, self.async_check(), f"{DOMAIN} look for new meters"
        )

    def _may_check(self) -> bool:
        """Not without a token, after a refused password, or with few logins left."""
        account, client = self.account, self.account.client
        if client.token is None or account.auth_refused:
            return False
        left = client.ledger.remaining("login", client.host, dt_util.utcnow())
        return left >= METERS_CHECK_LOGIN_RESERVE

    async def async_check(self) -> None:
        """Read the site list and add the meters that are new on the account."""
        if not self._may_check():
            LOGGER.debug("The account's meters are not checked now (token, logins)")
            return
        listed = await self.account.client.meters()
        if listed is None:  # the site list failed: nothing changes
            return
        note_meters_checked(self.account.store, self._key)
        entry = self.entry
        configured = set(entry.options.get(CONF_METERS, []))
        known = entry.data.get(CONF_KNOWN_METERS)
        if known is None:
            # Set up before meters were remembered: what the account holds now
            # may have been left out on purpose, so only later meters are new.
            self._remember({m.sn.upper() for m in listed} | configured)
            return
        seen = {*known, *configured}
        for meter in listed:
            if meter.sn.upper() not in seen:
                seen.add(meter.sn.upper())
                await self._async_add(meter)

    def _remember(self, sns: set[str], names: dict[str, str] | None = None) -> None:
        entry = self.entry
        known = set(entry.data.get(CONF_KNOWN_METERS, []))
        data = {**entry.data, CONF_KNOWN_METERS: sorted(known | sns)}
        if names:
            data[CONF_METER_NAMES] = {**entry.data.get(CONF_METER_NAMES, {}), **names}
        self.hass.config_entries.async_update_entry(entry, data=data)

    async def _async_add(self, meter: Meter) -> None:
        """Read the new meter once; if it answers, add it with its entities."""
        hass, entry, runtime = self.hass, self.entry, self.entry.runtime_data
        sn = meter.sn.upper()
        added = MeterCoordinators.create(hass, entry, self.account, sn, meter.name)
        coordinator = added.meter
        await coordinator.async_refresh()
        if not coordinator.last_update_success:
            LOGGER.info(
                "New meter %s (%s) found on the IAMMETER account, but it gave no"
                " reading; it is tried again at the next daily check",
                meter.name,
                sn,
            )
            await coordinator.async_shutdown()
            return
        runtime.add_meter(added)
        self._remember({sn}, {sn: meter.name})
        hass.config_entries.async_update_entry(
            entry,
            options={
                **entry.options,
                CONF_METERS: [*entry.options.get(CONF_METERS, []), sn],
            },
        )
        await added.async_start(entry)
        async_dispatcher_send(hass, signal_new_meter(entry), sn)
        async_watch_meter(hass, entry, coordinator)  # gaps; its history
        LOGGER.info(
            "New meter %s (%s) found on the IAMMETER account and added", meter.name, sn
        )
        async_note_meter_added(hass, coordinator.saved, sn, meter.name)
