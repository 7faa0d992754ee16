"""The backfill's watcher: notes each reading, starts a run after a gap."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from ..api import IammeterError, IammeterQuotaError
from ..const import DOMAIN, LOGGER
from ..coordinator import IammeterConfigEntry, IammeterMeterCoordinator
from ..helpers import format_local_time
from . import recorder
from .gaps import HOUR, Gap, is_gap
from .pending import PendingGaps
from .run import BackfillRun
from .series import Snapshot, Target

RECORDER_RETRY: Final = timedelta(minutes=2)
ERROR_RETRY: Final = timedelta(minutes=30)


@callback
def async_start_backfill(hass: HomeAssistant, entry: IammeterConfigEntry) -> None:
    """Watch every meter of the entry for gaps and fill them in the background.

    Called once the platforms are set up; nothing here delays the setup.
    """
    for coordinator in entry.runtime_data.coordinators.values():
        watcher = BackfillWatcher(hass, entry, coordinator)
        entry.async_on_unload(coordinator.async_add_listener(watcher.async_check))
        entry.async_on_unload(watcher.async_stop)
        watcher.async_check(starting=True)


class BackfillWatcher:
    """Notes each reading; starts a backfill run when readings were missing."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        coordinator: IammeterMeterCoordinator,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.coordinator = coordinator
        self._snapshot: Snapshot | None = None
        self._running = False
        self._again = False
        self._unsub_retry: CALLBACK_TYPE | None = None
        self._asking = False  # the statistics, where the record ends
        self._pending = PendingGaps(coordinator.account.store, coordinator.sn)

    @callback
    def async_check(self, starting: bool = False) -> None:
        """After each update: a gap since the last reading is stored and repaired."""
        if self._asking:
            return  # the statistics will tell where the gap begins
        now_seen = self.coordinator.data.reading.time
        pending = self._pending
        seen = pending.seen
        if seen is None and starting:
            # Nothing in the store (lost, or this version's first start): the end
            # of the sensors' statistics is where the readings stopped.
            self._asking = True
            self.entry.async_create_background_task(
                self.hass,
                self._async_seen_from_statistics(),
                f"{DOMAIN} backfill {self.coordinator.sn} statistics",
            )
            return
        found = False
        if (
            seen is not None
            and is_gap(seen, now_seen, self.coordinator.interval, starting=starting)
            and self._targets()
        ):
            LOGGER.info(
                "Meter %s: no readings from %s to %s; filling the hours between"
                " from the cloud's history",
                self.coordinator.sn,
                format_local_time(seen),
                format_local_time(now_seen),
            )
            pending.keep([*pending.gaps, Gap(seen, now_seen)])
            self._snapshot = None  # the history must reach the new gap
            found = True
        if seen is None or now_seen > seen:
            pending.note_seen(now_seen)
        if found or (starting and pending.gaps):
            self._async_start()

    def _targets(self) -> list[Target]:
        data = self.coordinator.data
        return recorder.targets(
            self.hass, self.coordinator.sn, data.reading, data.roles
        )

    async def _async_seen_from_statistics(self) -> None:
        """Where the record ends: after the newest hourly row of the energy
        statistics (none: new sensors, whose record starts now)."""
        ids = {t.entity_id for t in self._targets()}
        last = None
        if ids:
            last = await get_instance(self.hass).async_add_executor_job(
                recorder.last_recorded_hour, self.hass, ids
            )
        seen = self.coordinator.data.reading.time if last is None else last + HOUR
        LOGGER.debug(
            "Meter %s: nothing stored; the record ends at %s",
            self.coordinator.sn,
            format_local_time(seen),
        )
        if self._pending.seen is None:
            self._pending.note_seen(seen)
        self._asking = False
        self.async_check(starting=True)

    @callback
    def async_stop(self) -> None:
        """On unload: no more retries."""
        if self._unsub_retry:
            self._unsub_retry()
            self._unsub_retry = None

    @callback
    def _async_start(self, _now: datetime | None = None) -> None:
        self._unsub_retry = None
        if self._running:
            self._again = True
            return
        self._running = True
        self.entry.async_create_background_task(
            self.hass, self._async_run(), f"{DOMAIN} backfill {self.coordinator.sn}"
        )

    def _retry(self, delay: timedelta) -> None:
        if self._unsub_retry:
            self._unsub_retry()
        self._unsub_retry = async_call_later(
            self.hass, max(delay, timedelta(seconds=1)), self._async_start
        )

    async def _async_run(self) -> None:
        sn = self.coordinator.sn
        delay: timedelta | None = None
        try:
            run = BackfillRun(self.hass, self.coordinator)
            result = await run.async_run(self._pending.gaps, self._snapshot)
        except IammeterQuotaError as err:
            LOGGER.info(
                "Meter %s: the history can be fetched again at %s; filling the gap"
                " then",
                sn,
                format_local_time(err.retry_at),
            )
            delay = err.retry_at - dt_util.utcnow()
        except (IammeterError, HomeAssistantError) as err:
            # Also a refused login (the entry asks for reauthentication).
            LOGGER.info("Meter %s: the history could not be fetched: %s", sn, err)
            delay = ERROR_RETRY
        else:
            self._snapshot = None if result.complete else run.snapshot
            if not result.complete:
                LOGGER.debug("Meter %s: waiting for the recorder to catch up", sn)
                delay = RECORDER_RETRY
        finally:
            self._running = False
        if self._again:
            self._again = False
            delay = timedelta()
        if delay is not None:
            self._retry(delay)


# --- one repair ---------------------------------------------------------------
