"""The backfill's watcher: notes each reading, starts a run after a gap."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from ..api import IammeterError, IammeterQuotaError
from ..const import (
    CONF_IMPORT_HISTORY,
    DEFAULT_IMPORT_HISTORY,
    DOMAIN,
    HISTORY_IMPORT_DAYS,
    LOGGER,
)
from ..coordinator import (
    IammeterConfigEntry,
    IammeterHistoryCoordinator,
    IammeterMeterCoordinator,
)
from ..data import (
    IMPORT_DONE,
    IMPORT_IMPORTING,
    IMPORT_NOT_NEEDED,
    IMPORT_OFF,
    IMPORT_WAITING,
    HistoryImport,
)
from ..helpers import format_local_time
from . import recorder
from .gaps import HOUR, Gap, hour, is_gap
from .pending import PendingGaps
from .run import NO_RECORDED_SENSORS, BackfillRun, NotReadyError
from .series import Snapshot, Target

RECORDER_RETRY: Final = timedelta(minutes=2)
ERROR_RETRY: Final = timedelta(minutes=30)
# The history import begins this long before the setup (in the hour it falls
# in); from 15 minutes after the setup on, the sensors that have statistics by
# then are imported without the others (which have had no value).
SETUP_DELAY: Final = timedelta(days=HISTORY_IMPORT_DAYS, minutes=15)


@callback
def async_start_backfill(hass: HomeAssistant, entry: IammeterConfigEntry) -> None:
    """Watch every meter of the entry for gaps and fill them in the background.

    Called once the platforms are set up; nothing here delays the setup.
    """
    for coordinator in entry.runtime_data.coordinators.values():
        async_watch_meter(hass, entry, coordinator)


@callback
def async_watch_meter(
    hass: HomeAssistant,
    entry: IammeterConfigEntry,
    coordinator: IammeterMeterCoordinator,
) -> None:
    """Watch one meter (also one added to the account while running: its
    first setup imports the cloud's history too)."""
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
        if seen is not None and self._history.data.state is None:
            # Set up before this version: its statistics are there.
            self._history.async_set(HistoryImport(IMPORT_NOT_NEEDED))
        if found or (starting and (pending.gaps or self._history_pending())):
            self._async_start()

    @property
    def _history(self) -> IammeterHistoryCoordinator:
        return self.entry.runtime_data.history[self.coordinator.sn]

    def _history_pending(self) -> bool:
        return self._history.data.state in (IMPORT_IMPORTING, IMPORT_WAITING)

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
        if self._history.data.state is None:
            self._decide_history(first_setup=last is None)
        if self._pending.seen is None:
            self._pending.note_seen(seen)
        self._asking = False
        self.async_check(starting=True)

    def _import_wanted(self) -> bool:
        return bool(self.entry.options.get(CONF_IMPORT_HISTORY, DEFAULT_IMPORT_HISTORY))

    def _decide_history(self, *, first_setup: bool) -> None:
        """On a meter's first setup (no statistics yet): import the last days
        of the cloud's history, unless the option says not to."""
        if not first_setup:
            status = HistoryImport(IMPORT_NOT_NEEDED)
        elif not self._import_wanted():
            LOGGER.info(
                "Meter %s: the cloud's history is not imported (option off)",
                self.coordinator.sn,
            )
            status = HistoryImport(IMPORT_OFF)
        else:
            start = dt_util.utcnow() - timedelta(days=HISTORY_IMPORT_DAYS)
            status = HistoryImport(IMPORT_IMPORTING, start=start)
        self._history.async_set(status)

    async def _async_import_history(self) -> timedelta | None:
        """The history before the meter's first statistics, in one call; the
        delay until it is tried again (None: done)."""
        sn = self.coordinator.sn
        status = self._history.data
        if not self._import_wanted():  # turned off while it waited
            self._history.async_set(HistoryImport(IMPORT_OFF))
            return None
        start = status.start or hour(dt_util.utcnow())
        if status.state != IMPORT_IMPORTING:
            self._history.async_set(replace(status, state=IMPORT_IMPORTING))
        try:
            run = BackfillRun(self.hass, self.coordinator)
            # A sensor that has no statistics a while after the setup (it has
            # had no value) does not hold up the others.
            patient = dt_util.utcnow() < start + SETUP_DELAY
            result = await run.async_import_history(start, every_sensor=patient)
        except NotReadyError:
            LOGGER.debug("Meter %s: the history waits for the first statistics", sn)
            return RECORDER_RETRY
        except IammeterQuotaError as err:
            retry_at = err.retry_at
        except (IammeterError, HomeAssistantError) as err:
            LOGGER.info("Meter %s: the history could not be fetched: %s", sn, err)
            retry_at = dt_util.utcnow() + ERROR_RETRY
        else:
            if result.start is not None and result.end is not None:
                LOGGER.info(
                    "Meter %s: imported %s days of the cloud's history (%s hours,"
                    " %s to %s) into %s energy statistics",
                    sn,
                    round(result.hours / 24, 1),
                    result.hours,
                    format_local_time(result.start),
                    format_local_time(result.end),
                    len(result.statistics),
                )
            elif result.reason == NO_RECORDED_SENSORS:
                LOGGER.info(
                    "Meter %s: no energy sensor is recorded; no history imported", sn
                )
            else:
                LOGGER.info(
                    "Meter %s: the cloud has no history before its statistics"
                    " begin; nothing imported",
                    sn,
                )
            done = (
                IMPORT_NOT_NEEDED
                if result.reason == NO_RECORDED_SENSORS
                else IMPORT_DONE
            )
            self._history.async_set(
                HistoryImport(done, result.hours, result.start, result.end)
            )
            return None
        LOGGER.info(
            "Meter %s: the cloud's history can be fetched at %s; importing it then",
            sn,
            format_local_time(retry_at),
        )
        self._history.async_set(
            replace(status, state=IMPORT_WAITING, retry_at=retry_at)
        )
        return retry_at - dt_util.utcnow()

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
            if self._history_pending():
                delay = await self._async_import_history()
            run = BackfillRun(self.hass, self.coordinator)
            result = await run.async_run(self._pending.gaps, self._snapshot)
        except IammeterQuotaError as err:
            LOGGER.info(
                "Meter %s: the history can be fetched again at %s; filling the gap"
                " then",
                sn,
                format_local_time(err.retry_at),
            )
            delay = _sooner(delay, err.retry_at - dt_util.utcnow())
        except (IammeterError, HomeAssistantError) as err:
            # Also a refused login (the entry asks for reauthentication).
            LOGGER.info("Meter %s: the history could not be fetched: %s", sn, err)
            delay = _sooner(delay, ERROR_RETRY)
        else:
            self._snapshot = None if result.complete else run.snapshot
            if not result.complete:
                LOGGER.debug("Meter %s: waiting for the recorder to catch up", sn)
                delay = _sooner(delay, RECORDER_RETRY)
        finally:
            self._running = False
        if self._again:
            self._again = False
            delay = timedelta()
        if delay is not None:
            self._retry(delay)


def _sooner(delay: timedelta | None, other: timedelta) -> timedelta:
    return other if delay is None else min(delay, other)


# --- one repair ---------------------------------------------------------------
