"""Data updates: the coordinators of an entry, and its runtime data.

Per meter a `IammeterMeterCoordinator` (the latest reading, within the cloud's
quota) and a `IammeterAnalyticsCoordinator` (yesterday's analyses); per entry a
`IammeterUsageCoordinator` (the quota ledger's counts, no call). All of them
call the cloud through the entry's `IammeterAccount`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import (
    RANDOM_MICROSECOND_MAX,
    async_track_point_in_utc_time,
)
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .account import IammeterAccount
from .api import (
    IammeterConnectionError,
    IammeterError,
    IammeterQuotaError,
    Reading,
)
from .const import (
    BACKOFF_START,
    CLOCK_AHEAD,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    LATEST,
    LOGGER,
    PHASE_TOLERANCE,
    POLL_AFTER_UPLOAD,
    POLL_AFTER_UPLOAD_MAX,
    POLL_AFTER_UPLOAD_STEP,
    POLL_WINDOW,
    SCHEDULE_MAX_GAP,
    STALE_AFTER,
)
from .data import (
    AVAILABILITY_DAYS,
    AnalyticsData,
    HistoryImport,
    MeterData,
    is_all_zero,
)
from .energy import MeterEnergy, counters, roles_of
from .errors import no_valid_reading, quota_update_failed, update_failed
from .helpers import format_local_time
from .issues import (
    async_check_counter_reset,
    async_check_meter_added,
    async_check_reporting,
    async_note_counter_reset,
    async_note_success,
)
from .store import AnalysisAttempts, IammeterStore, MeterRecord

type IammeterConfigEntry = ConfigEntry[IammeterRuntimeData]
type IammeterCoordinator = (
    IammeterMeterCoordinator
    | IammeterAnalyticsCoordinator
    | IammeterUsageCoordinator
    | IammeterHistoryCoordinator
)

ANALYTICS_CHECK_INTERVAL = timedelta(hours=1)
ANALYSIS_ATTEMPTS_PER_DAY = 2
USAGE_INTERVAL = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MINUTE = 60.0
# A planned update runs this long after its moment (timers never run early then).
TIMER_MARGIN = 0.01
# A planned update is never sooner than this.
MIN_DELAY = timedelta(seconds=1)


@dataclass(slots=True)
class IammeterRuntimeData:
    """Kept in the config entry while it is loaded."""

    account: IammeterAccount
    usage: IammeterUsageCoordinator
    """The account's logins."""
    coordinators: dict[str, IammeterMeterCoordinator] = field(default_factory=dict)
    analytics: dict[str, IammeterAnalyticsCoordinator] = field(default_factory=dict)
    calls: dict[str, IammeterUsageCoordinator] = field(default_factory=dict)
    """Each meter's readings in the hour."""
    history: dict[str, IammeterHistoryCoordinator] = field(default_factory=dict)
    """Each meter's history import on its first setup."""

    def add_meter(self, meter: MeterCoordinators) -> None:
        """A meter's coordinators, once its first reading is there."""
        self.coordinators[meter.sn] = meter.meter
        self.analytics[meter.sn] = meter.analytics
        self.calls[meter.sn] = meter.calls
        self.history[meter.sn] = meter.history


@dataclass(frozen=True, slots=True)
class MeterCoordinators:
    """The coordinators of one meter."""

    meter: IammeterMeterCoordinator
    analytics: IammeterAnalyticsCoordinator
    calls: IammeterUsageCoordinator
    history: IammeterHistoryCoordinator

    @classmethod
    def create(
        cls,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        account: IammeterAccount,
        sn: str,
        name: str,
    ) -> MeterCoordinators:
        """A meter's coordinators (nothing is fetched yet)."""
        return cls(
            IammeterMeterCoordinator(hass, entry, account, sn, name),
            IammeterAnalyticsCoordinator(hass, entry, account, sn),
            IammeterUsageCoordinator(hass, entry, account, sn),
            IammeterHistoryCoordinator(hass, entry, account.store, sn),
        )

    @property
    def sn(self) -> str:
        """The meter's serial number."""
        return self.meter.sn

    async def async_start(self, entry: IammeterConfigEntry) -> None:
        """Once the meter has its first reading: the stored analyses at once
        (fetched in the background when due), the quota counts."""
        self.analytics.prime()
        await self.calls.async_refresh()
        entry.async_create_background_task(
            self.meter.hass,
            self.analytics.async_refresh(),
            f"{self.analytics.name} first refresh",
        )


# --- the latest reading ------------------------------------------------------------


@dataclass(slots=True)
class UploadPhase:
    """When a meter uploads, learned from its readings, and when to poll it.

    The cloud receives a reading from each meter once a minute, at the meter's
    own second (the reading's `gmtTime`). A poll is placed `after` that second
    (POLL_AFTER_UPLOAD), so that the reading it gets is a few seconds old rather
    than up to a minute. A poll due in the window from `low` to `after` +
    (POLL_WINDOW - POLL_AFTER_UPLOAD) seconds after an upload is left where it
    is; any other is moved to `after` seconds after an upload: the one before
    (less than a minute sooner) if the schedule leaves part of the budget
    unused and the quota allows a call then, else the next one.
    Learning: the phase is the newest reading's second; when it moves by more
    than PHASE_TOLERANCE (the meter's phase drifted), or a poll in the window
    got the reading one upload older than expected (polled before the upload
    was in: the delay after the upload grows), the next poll is moved.
    """

    phase: float | None = None
    """The upload second within the minute (0 <= phase < 60), once known."""
    after: float = POLL_AFTER_UPLOAD.total_seconds()
    low: float = 0.0
    realign: bool = False
    """The next poll is moved to `after` seconds after an upload."""

    def position(self, moment: datetime) -> float:
        """Seconds since the last upload at `moment` (0 without a phase)."""
        if self.phase is None:
            return 0.0
        return (moment.timestamp() - self.phase) % MINUTE

    def learn(self, polled: datetime, taken: datetime) -> None:
        """A poll at `polled` got the reading dated `taken` (its `gmtTime`)."""
        phase = taken.timestamp() % MINUTE
        if self.phase is None:
            self.phase = phase
            return
        tolerance = PHASE_TOLERANCE.total_seconds()
        shift = abs(phase - self.phase) % MINUTE
        if min(shift, MINUTE - shift) > tolerance:
            LOGGER.debug("Upload second moved from %.0f to %.0f", self.phase, phase)
            self.phase, self.realign = phase, True
            return
        position = self.position(polled)
        expected = polled.timestamp() - position  # the newest upload by then
        behind = expected - taken.timestamp()
        if position <= self._high and MINUTE - tolerance < behind < MINUTE + tolerance:
            # That upload was not in the cloud yet: poll later after uploads.
            self.after = min(
                max(self.after, position) + POLL_AFTER_UPLOAD_STEP.total_seconds(),
                POLL_AFTER_UPLOAD_MAX.total_seconds(),
            )
            self.low = self.after
            self.realign = True
            LOGGER.debug("Polled before the upload; now %.0f s after it", self.after)
        self.phase = phase

    @property
    def _high(self) -> float:
        return self.after + (POLL_WINDOW - POLL_AFTER_UPLOAD).total_seconds()

    def next_poll(
        self,
        earliest: datetime,
        free: Callable[[datetime], datetime] = lambda moment: moment,
        *,
        sooner: bool = True,
    ) -> datetime:
        """The moment of the next poll, near `earliest` (one interval after the
        last): `free(moment)` is the first moment from `moment` on at which a
        call is allowed (the quota, not before now). `sooner`: whether a poll
        may be moved sooner -- not when the schedule uses the whole budget (a
        poll moved sooner then pushes one an hour later by a minute)."""
        start = free(earliest)
        if self.phase is None:
            return start
        position = self.position(start)
        realign, self.realign = self.realign, False
        if not realign and self.low <= position <= self._high:
            return start
        later = start + timedelta(seconds=(self.after - position) % MINUTE)
        # Where the budget has room: the upload before (less than a minute
        # sooner), if the quota allows a call then, so that the interval is
        # not stretched and the reading never older than it.
        before = later - timedelta(seconds=MINUTE)
        if sooner and free(before) - before < timedelta(milliseconds=1):
            return before
        return later


class IammeterMeterCoordinator(DataUpdateCoordinator[MeterData]):
    """Fetches `meterdata2` of one meter at the configured interval.

    Never more than the ledger allows (12 an hour, across restarts): a refused
    call keeps the last data while it is fresh and waits for the budget. Every
    reading passes the energy guards (`MeterEnergy`) before it is shown.
    """

    config_entry: IammeterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        account: IammeterAccount,
        sn: str,
        name: str,
    ) -> None:
        """Set up; the last reading and guards come back from the store."""
        self.interval = timedelta(
            seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
        )
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {sn}",
            update_interval=self.interval,
        )
        self.account = account
        self.sn = sn
        self.meter_name = name
        self.energy = MeterEnergy(sn, self._note_reset, roles_of(entry.options, sn))
        self._failures = 0
        self._unsub_stale: CALLBACK_TYPE | None = None
        self._manual_lock = asyncio.Lock()
        self._manual: _ManualRead | None = None
        self._next_due: datetime | None = None
        self._target: datetime | None = None
        self.phase = UploadPhase()
        self._cached = self._restore()
        if self._cached is not None:
            self.phase.learn(self._cached.time, self._cached.time)
        self._first = True
        self._clock_ahead = False
        self._stale_logged = False

    @property
    def store(self) -> IammeterStore:
        """The persisted state."""
        return self.account.store

    @property
    def saved(self) -> MeterRecord:
        """This meter's record in the store."""
        return self.store.meter(self.sn)

    def _restore(self) -> MeterData | None:
        saved, now = self.saved, dt_util.utcnow()
        received = now if saved.fetched is None else min(saved.fetched, now)
        self.energy.restore(saved.counters, received, saved.sums)
        if saved.reading is None:
            return None
        if not self.energy.guards:  # cached by the config flow: not yet guarded
            return self._accept(saved.reading, received)
        return self._shown(saved.reading, received)

    def _next_fetch(self, now: datetime) -> timedelta | None:
        """Time until the saved fetch is one interval old, if it is not yet."""
        fetched = self.saved.fetched
        if fetched is None or not now - self.interval < fetched <= now:
            return None
        return fetched + self.interval - now

    async def _async_update_data(self) -> MeterData:
        data = await self._fetch()
        self._schedule_stale(data)
        async_check_reporting(self.hass, self.sn, self.meter_name, data.time)
        return data

    async def _fetch(self) -> MeterData:
        self.update_interval = self.interval  # undo a one-off wait
        self._target = None
        now = dt_util.utcnow()
        first, self._first = self._first, False
        known = self._cached if first else self.data
        if first and known is not None and (wait := self._next_fetch(now)):
            # Restarted shortly after a fetch: that reading is still the newest.
            self._plan(now + wait)
            return known
        try:
            reading = await self.account.call(self._latest)
        except IammeterQuotaError as err:
            self.account.note_refusal(err, self.sn)
            return self._wait_for_budget(known, now, err.retry_at, keep=first)
        except IammeterError as err:
            self._failures += 1
            doublings = min(self._failures - 1, 16)  # no overflow in long outages
            raise update_failed(
                err, min(BACKOFF_START * 2**doublings, self.interval)
            ) from err
        received = dt_util.utcnow()
        self._failures = 0
        self._note_success()
        self.saved.fetched = now
        self.store.async_schedule_save()
        if reading.time <= received:  # a reading dated ahead says nothing
            self.phase.learn(now, reading.time)
        self._plan(now + self.interval)
        if known is not None and not known.is_newer(reading, received):
            return known  # a duplicate, or older than the one shown
        self._note_clock(reading.time - received)
        if is_all_zero(reading):
            LOGGER.warning("Meter %s sent a reading of only zeros; skipped", self.sn)
            if known is not None:
                return known
            raise no_valid_reading()
        return self._accept(reading, received)

    def _plan(self, earliest: datetime) -> None:
        """Run the next scheduled update at `earliest` or, if the budget
        frees later, then -- moved to shortly after the meter's upload."""
        ledger, now = self.account.client.ledger, dt_util.utcnow()

        def free(moment: datetime) -> datetime:
            return ledger.next_free(LATEST, self.sn, max(moment, now + MIN_DELAY))

        spare = all(
            self.interval * budget.limit > budget.window
            for budget in ledger.budgets.get(LATEST, ())
        )
        target = self.phase.next_poll(earliest, free, sooner=spare)
        # DataUpdateCoordinator runs it at int(loop.time()) + its sub-second
        # offset + the interval: make up for both.
        loop_time = self.hass.loop.time()
        offset: float = getattr(self, "_microsecond", RANDOM_MICROSECOND_MAX / 1e6)
        delay = (target - now).total_seconds()
        seconds = delay + loop_time - int(loop_time) - offset + TIMER_MARGIN
        self.update_interval = timedelta(seconds=max(seconds, 1.0))
        self._target = target

    def _note_success(self) -> None:
        """A reading arrived: conflicts and notices that were waiting for one."""
        async_note_success(self.hass, self.store, "meterdata2", self.sn)
        # Working calls (with or without a new login) clear a login conflict.
        async_note_success(self.hass, self.store, "login", self.account.client.host)
        async_check_counter_reset(self.hass, self.saved, self.sn)
        async_check_meter_added(self.hass, self.saved, self.sn)

    def _note_clock(self, lead: timedelta) -> None:
        """Log once when readings start (and stop) being dated in the future."""
        ahead = lead > CLOCK_AHEAD
        if ahead and not self._clock_ahead:
            LOGGER.warning(
                "Meter %s sends readings dated %s ahead of this clock; they count"
                " as taken when received",
                self.sn,
                str(lead).split(".", 1)[0],
            )
        elif self._clock_ahead and not ahead:
            LOGGER.info("Meter %s: the readings' clock is right again", self.sn)
        self._clock_ahead = ahead

    async def _latest(self) -> Reading:
        manual = self._manual
        if manual is None:
            return await self.account.client.latest(self.sn)
        if not manual.checked:
            # Under the update lock now: a scheduled update may have used the
            # budget since `async_read_now` looked.
            manual.checked = True
            if (retry_at := self._refresh_possible_at(dt_util.utcnow())) is not None:
                manual.outcome = _kept_for_schedule(retry_at)
                raise manual.outcome
        try:
            reading = await self.account.client.latest(self.sn)
        except IammeterError as err:
            manual.outcome = err
            raise
        manual.outcome = reading
        return reading

    async def async_read_now(self) -> None:
        """Read the meter now (the `refresh` action), in place of the next update.

        Calls are taken one at a time, and each one either sends one request
        that returns a reading or raises: IammeterQuotaError when nothing may be
        sent now (`retry_at`: when a manual reading may be made -- the budget is
        used up, or what is left is needed by the scheduled updates), or another
        IammeterError when the reading failed. The scheduled updates then go on
        one interval after it.
        """
        async with self._manual_lock:
            if (retry_at := self._refresh_possible_at(dt_util.utcnow())) is not None:
                raise _kept_for_schedule(retry_at)
            manual = self._manual = _ManualRead()
            try:
                await self.async_refresh()
            finally:
                self._manual = None
        if isinstance(manual.outcome, IammeterError):
            raise manual.outcome
        if manual.outcome is None or not self.last_update_success:
            raise IammeterConnectionError(
                "meterdata2", f"no reading ({self.last_exception})"
            )

    @property
    def next_due(self) -> datetime | None:
        """When the next scheduled update is due (None while none is)."""
        return self._next_due

    def _refresh_possible_at(self, now: datetime) -> datetime | None:
        """None if a manual reading may be made now, else when it may."""
        spare = self.account.client.ledger.spare_from(
            LATEST,
            self.sn,
            now,
            every=self.interval,
            next_due=max(self._next_due or now + self.interval, now),
            max_gap=SCHEDULE_MAX_GAP,
        )
        return spare if spare > now else None

    @callback
    def _async_refresh_finished(self) -> None:
        """Note when the next scheduled update is due (a refresh replaces it)."""
        delay = self.update_interval
        err = self.last_exception
        failed = isinstance(err, UpdateFailed) and not self.last_update_success
        retry = err.retry_after if failed and isinstance(err, UpdateFailed) else None
        if retry is not None:
            delay = timedelta(seconds=retry)
        if retry is None and self._target is not None:
            self._next_due = self._target
        else:
            self._next_due = None if delay is None else dt_util.utcnow() + delay
        self._target = None
        self._note_staleness()

    def _note_staleness(self) -> None:
        """Log once when the live values turn unavailable for their age, and
        once when they are back.

        A failed update is logged by the coordinator itself (once, and once
        when it recovers); while it fails, nothing more is logged here.
        """
        if not self.last_update_success or self.data is None:
            return
        stale = not self.data.is_fresh(dt_util.utcnow())
        if stale and not self._stale_logged:
            LOGGER.info(
                "Meter %s (%s): live values unavailable, the newest reading (%s)"
                " is older than %d minutes",
                self.meter_name,
                self.sn,
                format_local_time(self.data.time),
                STALE_AFTER.total_seconds() // 60,
            )
        elif self._stale_logged and not stale:
            LOGGER.info(
                "Meter %s (%s): live values available again (reading of %s)",
                self.meter_name,
                self.sn,
                format_local_time(self.data.time),
            )
        self._stale_logged = stale

    def _wait_for_budget(
        self,
        known: MeterData | None,
        now: datetime,
        retry_at: datetime,
        *,
        keep: bool = False,
    ) -> MeterData:
        """Keep the known data until `retry_at` (at setup even stale data: live
        values show unavailable, energy its last value, and the next call is
        made when the budget frees rather than at Home Assistant's setup retry)."""
        wait = max(retry_at - now, timedelta(seconds=1))
        if known is not None and (keep or known.is_fresh(now)):
            self.update_interval = wait
            return known
        raise quota_update_failed(retry_at, wait)

    def _accept(self, reading: Reading, received: datetime) -> MeterData:
        """A new reading: its counters through the guards, and kept."""
        data = MeterData(reading, received=received)
        self.energy.offer(counters(reading), data.time)
        self.saved.reading = reading
        self._save_energy()
        return self._shown(reading, received)

    def _shown(self, reading: Reading, received: datetime | None) -> MeterData:
        return MeterData(reading, self.energy.energy, received, self.energy.roles)

    def _save_energy(self) -> None:
        self.saved.counters = self.energy.export()
        self.saved.sums = self.energy.export_sums()
        self.store.async_schedule_save()

    def _note_reset(self) -> None:
        async_note_counter_reset(self.hass, self.saved, self.sn, self.meter_name)

    def _schedule_stale(self, data: MeterData) -> None:
        """Update the entities when this reading turns stale, between updates."""
        if self._unsub_stale:
            self._unsub_stale()
        self._unsub_stale = async_track_point_in_utc_time(
            self.hass, self._async_stale, data.time + STALE_AFTER
        )

    @callback
    def _async_stale(self, _now: datetime) -> None:
        self._unsub_stale = None
        self._note_staleness()
        self.async_update_listeners()

    async def async_shutdown(self) -> None:
        """Cancel the staleness timer too."""
        if self._unsub_stale:
            self._unsub_stale()
            self._unsub_stale = None
        await super().async_shutdown()

    @callback
    def async_catch_up(
        self, points: Sequence[tuple[datetime, Mapping[str, float]]]
    ) -> set[str]:
        """Offer missed counter values (the cloud's history) to the guards
        awaiting a new register: the backfill's one command to the coordinator.

        Returns the counters that took values (see `MeterEnergy.catch_up`).
        """
        return self.energy.catch_up(points, self._publish)

    def _publish(self) -> None:
        self._save_energy()
        if self.data is not None:
            self.data = self._shown(self.data.reading, self.data.received)
            self.async_update_listeners()


@dataclass(slots=True)
class _ManualRead:
    """One `refresh` action's reading: checked against the budget, and what the
    request gave."""

    checked: bool = False
    outcome: Reading | IammeterError | None = None


def _kept_for_schedule(retry_at: datetime) -> IammeterQuotaError:
    return IammeterQuotaError(
        "meterdata2",
        retry_at,
        by_server=False,
        reason="used up, or what is left is for the scheduled updates",
    )


# --- the daily analyses ------------------------------------------------------------


class IammeterAnalyticsCoordinator(DataUpdateCoordinator[AnalyticsData]):
    """Checks hourly whether yesterday's analyses are there; fetches them if not.

    The cloud allows 5 power and 5 offline analyses a day per meter. Each meter
    gets one power analysis (the previous local day) and one 7-day offline
    analysis a day, shortly after local midnight; a failed one is tried once
    more later that day. The results are kept in the store, so a restart costs
    no call.
    """

    config_entry: IammeterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        account: IammeterAccount,
        sn: str,
    ) -> None:
        """One per meter."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {sn} analytics",
            update_interval=ANALYTICS_CHECK_INTERVAL,
        )
        self.account = account
        self.sn = sn

    @property
    def saved(self) -> MeterRecord:
        """The meter's record in the store."""
        return self.account.store.meter(self.sn)

    def prime(self) -> None:
        """Show the stored analyses at once; calls wait for the first refresh."""
        stored = self.saved.analytics
        self.data = stored or AnalyticsData(dt_util.now().date() - timedelta(days=1))

    async def _async_update_data(self) -> AnalyticsData:
        day = dt_util.now().date() - timedelta(days=1)
        saved = self.saved
        stored = saved.analytics
        previous = None
        if stored is not None and stored.day != day:
            # Keep yesterday's values on show until today's arrive.
            previous, stored = stored, None
        if saved.attempts.day != day:
            saved.attempts = AnalysisAttempts(day)
        data = AnalyticsData(
            day,
            stored.power if stored else None,
            stored.offline if stored else None,
        )
        data = await self._fetch_missing(data)
        if data.power is None and data.offline is None and previous is not None:
            data = previous
        if data.day == day:
            saved.analytics = data
        client = self.account.client
        self.account.store.analysis_paths[client.host] = dict(client.analysis_paths)
        self.account.store.async_schedule_save()
        return data

    async def _fetch_missing(self, data: AnalyticsData) -> AnalyticsData:
        """The analyses of `data.day` it lacks, where today's tries allow."""
        client, day = self.account.client, data.day
        power, offline = data.power, data.offline
        if power is None and self._may_try("power"):
            power = await self._try(
                "power", lambda: client.power_analysis(self.sn, day, day)
            )
        if offline is None and self._may_try("offline"):
            first = day - timedelta(days=AVAILABILITY_DAYS - 1)
            offline = await self._try(
                "offline", lambda: client.offline_analysis(self.sn, first, day)
            )
        return AnalyticsData(day, power, offline)

    def reserved(self, kind: str) -> int:
        """Calls of `kind` ("power" or "offline") a manual analysis must leave.

        What the automatic analysis still needs today (ANALYSIS_ATTEMPTS_PER_DAY
        less today's tries; none once today's result is in), and the tries of
        the next night: a call made now counts in the cloud's 24-hour window
        until then.
        """
        day = dt_util.now().date() - timedelta(days=1)
        saved = self.saved
        done = saved.analytics is not None and saved.analytics.day == day
        if done and getattr(saved.analytics, kind) is not None:
            today = 0
        else:
            tries = getattr(saved.attempts, kind) if saved.attempts.day == day else 0
            today = max(ANALYSIS_ATTEMPTS_PER_DAY - tries, 0)
        return today + ANALYSIS_ATTEMPTS_PER_DAY

    def _may_try(self, kind: str) -> bool:
        """Whether today's attempts and the budget allow a call now. An attempt
        the ledger would refuse (the budget is blocked for a day after the
        cloud refused one) is not made, so it does not use up the day's tries."""
        ledger = self.account.client.ledger
        budget = ledger.remaining(f"{kind}_analysis", self.sn, dt_util.utcnow())
        tries: int = getattr(self.saved.attempts, kind)
        return tries < ANALYSIS_ATTEMPTS_PER_DAY and budget > 0

    async def _try[T](self, kind: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """One of the day's tries -- unless the token was refused and logging in
        again failed: that is no answer about the analysis."""
        attempts = self.saved.attempts
        setattr(attempts, kind, getattr(attempts, kind) + 1)
        try:
            result = await self.account.call(call)
        except IammeterError as err:
            if err.endpoint == "login":
                setattr(attempts, kind, getattr(attempts, kind) - 1)
            LOGGER.info("Meter %s: analysis not available now: %s", self.sn, err)
            if isinstance(err, IammeterQuotaError):
                self.account.note_refusal(err, self.sn)
            return None
        async_note_success(self.hass, self.account.store, f"{kind}_analysis", self.sn)
        return result


# --- the use of the quotas ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """Requests of one quota bucket and scope in its sliding window."""

    used: int
    limits: tuple[int, ...]
    """The budgets' limits (per hour, per day...)."""


class IammeterUsageCoordinator(DataUpdateCoordinator[ApiUsage]):
    """Counts requests in the quota ledger every minute (no call): the
    account's logins in the day, or a meter's readings in the hour."""

    config_entry: IammeterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        account: IammeterAccount,
        sn: str | None = None,
    ) -> None:
        """The logins of the account's API host, or the readings of meter `sn`."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {sn or 'account'} usage",
            update_interval=USAGE_INTERVAL,
            always_update=False,
        )
        self.account = account
        self.sn = sn
        client = account.client
        self._bucket, self._scope, self._window = (
            ("login", client.host, DAY) if sn is None else (LATEST, sn, HOUR)
        )
        # Between its minutes, too: a request taken back (its connection was
        # refused) must not stay counted until the next one.
        entry.async_on_unload(client.ledger.add_listener(self._async_ledger_changed))

    def _count(self) -> ApiUsage:
        ledger, now = self.account.client.ledger, dt_util.utcnow()
        return ApiUsage(
            ledger.used(self._bucket, self._scope, now, self._window),
            tuple(b.limit for b in ledger.budgets.get(self._bucket, ())),
        )

    @callback
    def _async_ledger_changed(self) -> None:
        """Count again when the ledger changes, if the count did."""
        if self.data is not None and (usage := self._count()) != self.data:
            self.async_set_updated_data(usage)

    async def _async_update_data(self) -> ApiUsage:
        return self._count()


# --- the history import's status ----------------------------------------------------


class IammeterHistoryCoordinator(DataUpdateCoordinator[HistoryImport]):
    """Where the import of a meter's history stands (no call of its own: the
    backfill sets it; kept in the store)."""

    config_entry: IammeterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        store: IammeterStore,
        sn: str,
    ) -> None:
        """The status of meter `sn`, as stored."""
        super().__init__(
            hass, LOGGER, config_entry=entry, name=f"{DOMAIN} {sn} history import"
        )
        self.store = store
        self.sn = sn
        self.data = store.meter(sn).history

    async def _async_update_data(self) -> HistoryImport:
        return self.store.meter(self.sn).history

    @callback
    def async_set(self, status: HistoryImport) -> None:
        """A new status: stored and shown."""
        self.store.meter(self.sn).history = status
        self.store.async_schedule_save()
        self.async_set_updated_data(status)
