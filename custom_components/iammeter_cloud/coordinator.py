"""Data updates: one coordinator per meter, within the cloud's quotas."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.const import (
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    CONF_USERNAME,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .api import (
    IammeterAuthError,
    IammeterCloud,
    IammeterConnectionError,
    IammeterError,
    IammeterQuotaError,
    Reading,
)
from .cache import reading_from_dict, reading_to_dict
from .const import (
    BACKOFF_START,
    CLOCK_AHEAD,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    FRESH_TOKEN_HOLD,
    LOGGER,
    MAX_PHASE_POWER_W,
    PHASES,
    SCHEDULE_MAX_GAP,
    STALE_AFTER,
)
from .guard import CounterGuard, Verdict
from .issues import (
    async_check_counter_reset,
    async_check_meter_added,
    async_check_reporting,
    async_note_counter_reset,
    async_note_refusal,
    async_note_success,
)

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .analytics import IammeterAnalyticsCoordinator
    from .storage import IammeterStorage

type IammeterConfigEntry = ConfigEntry[IammeterRuntimeData]

LATEST = "meterdata"  # the ledger bucket of the latest-reading calls
_UNPROVEN: HassKey[dict[str, tuple[int, datetime]]] = HassKey(
    f"{DOMAIN}_unproven_token"
)


@dataclass(frozen=True, slots=True)
class MeterData:
    """What the entities of one meter show."""

    reading: Reading
    energy: Mapping[str, float] = field(default_factory=dict)
    """Guarded counters: `a_import`, `b_export`, `net_import`, `total_import`..."""
    received: datetime | None = None
    """When this integration received the reading (by its own clock)."""

    @property
    def time(self) -> datetime:
        """When the reading was taken, as far as our clock can tell.

        The reading's own time (`gmtTime`), unless that lies after the moment
        it was received: a meter or cloud clock that runs ahead must not make a
        reading look fresh for longer, block the readings after it, or give a
        negative age. Such a reading counts as taken when it was received.
        """
        if self.received is None:
            return self.reading.time
        return min(self.reading.time, self.received)

    def is_fresh(self, now: datetime) -> bool:
        """Whether live values (power, voltage...) may be shown."""
        return now - self.time <= STALE_AFTER


@dataclass(slots=True)
class IammeterRuntimeData:
    """Kept in the config entry while it is loaded."""

    account: IammeterAccount
    coordinators: dict[str, IammeterMeterCoordinator]
    analytics: dict[str, IammeterAnalyticsCoordinator] = field(default_factory=dict)


class IammeterAccount:
    """The entry's client, and the one place that logs in again on HTTP 401.

    Only a login that the cloud refuses asks for the password (reauth). A token
    that is refused right after a successful login is the cloud's fault: the
    call fails as a connection error (the caller backs off), the new token is
    kept, and there is no further login until it has worked or
    FRESH_TOKEN_HOLD has passed.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        client: IammeterCloud,
        storage: IammeterStorage,
    ) -> None:
        """Share one client (and one login) between the entry's meters."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.storage = storage
        self._login_lock = asyncio.Lock()
        self._login_attempts = 0
        self._auth_refused = False
        """The cloud refused the stored password: no more logins until reauth
        (which reloads the entry, and so makes a new account object)."""
        self.last_errors: dict[str, dict[str, str]] = {}
        """The last error of each endpoint (for diagnostics)."""

    async def call[T](self, request: Callable[[], Awaitable[T]]) -> T:
        """Run `request`; on 401 log in once (budget permitting) and retry once."""
        try:
            return await self._call(request)
        except IammeterError as err:
            self.last_errors[err.endpoint] = {
                "time": dt_util.utcnow().isoformat(),
                "error": str(err),
            }
            raise

    async def _call[T](self, request: Callable[[], Awaitable[T]]) -> T:
        self._raise_if_refused()
        attempts = self._login_attempts
        try:
            return self._worked(await request())
        except IammeterAuthError as err:
            refused = err
        async with self._login_lock:
            self._raise_if_refused()  # another meter's login was refused meanwhile
            if self._login_attempts == attempts:  # nobody tried meanwhile
                self._hold_fresh_token(refused)
                self._login_attempts += 1
                await self._login()
            elif self.client.token is None:
                self._login_failed_meanwhile()
        try:
            return self._worked(await request())
        except IammeterAuthError as err:
            # The token of a login that just succeeded: the password is right.
            raise IammeterConnectionError(
                err.endpoint, "the cloud refuses even a new token; trying again later"
            ) from err

    @property
    def _unproven(self) -> dict[str, tuple[int, datetime]]:
        """By entry: (hash of the token, when) of the last login, while its
        token has not worked yet. Kept by Home Assistant, not by this object:
        a reload or a setup retry must not log in again for the same token."""
        return self.hass.data.setdefault(_UNPROVEN, {})

    def _worked[T](self, result: T) -> T:
        """A call went through: the current token works."""
        self._unproven.pop(self.entry.entry_id, None)
        return result

    def _hold_fresh_token(self, refused: IammeterAuthError) -> None:
        """No new login while the token of the last one is fresh and unproven."""
        held = self._unproven.get(self.entry.entry_id)
        token = self.client.token
        if (
            held is not None
            and token is not None
            and held[0] == hash(token)
            and dt_util.utcnow() - held[1] < FRESH_TOKEN_HOLD
        ):
            raise IammeterConnectionError(
                refused.endpoint,
                "the cloud refuses the token of a login that just succeeded;"
                " trying again later",
            )

    def _raise_if_refused(self) -> None:
        """One refused login is enough: every meter then waits for reauth."""
        if self._auth_refused:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            )

    def _login_failed_meanwhile(self) -> None:
        """Another meter's login failed just now: fail alike, without a 2nd call."""
        ledger, host, now = self.client.ledger, self.client.host, dt_util.utcnow()
        if ledger.remaining("login", host, now) < 1:
            retry_at = ledger.next_free("login", host, now)
            raise IammeterQuotaError("login", retry_at, by_server=False)
        raise IammeterConnectionError("login", "logging in failed just now")

    async def _login(self) -> None:
        LOGGER.debug("The token was refused; logging in again")
        self._unproven.pop(self.entry.entry_id, None)
        try:
            await self.client.login(
                self.entry.data[CONF_USERNAME], self.entry.data[CONF_PASSWORD]
            )
        except IammeterAuthError as err:
            self._auth_refused = True
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            ) from err
        if self.client.token is not None:
            self._unproven[self.entry.entry_id] = (
                hash(self.client.token),
                dt_util.utcnow(),
            )
        self.hass.config_entries.async_update_entry(
            self.entry, data={**self.entry.data, CONF_TOKEN: self.client.token}
        )

    @property
    def auth_refused(self) -> bool:
        """Whether the cloud refused the stored password (no call until reauth)."""
        return self._auth_refused

    def note_refusal(self, err: IammeterQuotaError, sn: str) -> None:
        """The cloud answered nothing (quota): count it towards a repair issue."""
        if err.by_server:
            scope = self.client.host if err.endpoint == "login" else sn
            async_note_refusal(self.hass, self.storage, err.endpoint, scope)


class IammeterMeterCoordinator(DataUpdateCoordinator[MeterData]):
    """Fetches `meterdata2` of one meter at the configured interval.

    Never more than the ledger allows (12 an hour, across restarts): a refused
    call keeps the last data while it is fresh and waits for the budget.
    """

    config_entry: IammeterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IammeterConfigEntry,
        account: IammeterAccount,
        storage: IammeterStorage,
        sn: str,
        name: str,
    ) -> None:
        """Set up; the last reading and guards come back from `storage`."""
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
        self.storage = storage
        self.sn = sn
        self.meter_name = name
        self._failures = 0
        self._rejected: set[str] = set()
        self._guards: dict[str, CounterGuard] = {}
        self._unsub_stale: CALLBACK_TYPE | None = None
        self._manual_lock = asyncio.Lock()
        self._manual: _ManualRead | None = None
        self._next_due: datetime | None = None
        self._cached = self._restore()
        self._first = True
        self._clock_ahead = False
        self._stale_logged = False

    @property
    def _saved(self) -> dict[str, Any]:
        return self.storage.meters.setdefault(self.sn, {})

    def _restore(self) -> MeterData | None:
        saved = self._saved
        counters = saved.get("counters")
        for key, state in (counters if isinstance(counters, dict) else {}).items():
            self._guards[str(key)] = CounterGuard.restore(_max_power(str(key)), state)
        try:
            reading = reading_from_dict(saved["reading"])
        except (KeyError, IammeterError):
            return None
        now = dt_util.utcnow()
        fetched = dt_util.parse_datetime(str(saved.get("fetched")))
        received = now if fetched is None else min(fetched, now)
        for guard in self._guards.values():
            guard.not_after(received)  # stored by a version that trusted the clock
        if not self._guards:  # cached by the config flow: not yet guarded
            return self._accept(reading, received)
        return MeterData(reading, self._energy(), received)

    def _next_fetch(self, now: datetime) -> timedelta | None:
        """Time until the saved fetch is one interval old, if it is not yet."""
        fetched = dt_util.parse_datetime(str(self._saved.get("fetched")))
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
        now = dt_util.utcnow()
        first, self._first = self._first, False
        known = self._cached if first else self.data
        if first and known is not None and (wait := self._next_fetch(now)):
            # Restarted shortly after a fetch: that reading is still the newest.
            self.update_interval = wait
            return known
        try:
            reading = await self.account.call(self._latest)
        except IammeterQuotaError as err:
            self.account.note_refusal(err, self.sn)
            return self._wait_for_budget(known, now, err.retry_at, keep=first)
        except IammeterError as err:
            self._failures += 1
            doublings = min(self._failures - 1, 16)  # no overflow in long outages
            backoff = min(BACKOFF_START * 2**doublings, self.interval)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="communication_error",
                translation_placeholders={"error": str(err)},
                retry_after=backoff.total_seconds(),
            ) from err
        received = dt_util.utcnow()
        self._failures = 0
        async_note_success(self.hass, self.storage, "meterdata2", self.sn)
        # Working calls (with or without a new login) clear a login conflict.
        async_note_success(self.hass, self.storage, "login", self.account.client.host)
        async_check_counter_reset(self.hass, self._saved, self.sn)
        async_check_meter_added(self.hass, self._saved, self.sn)
        self._saved["fetched"] = now.isoformat()
        self.storage.async_schedule_save()
        if known is not None and not _is_newer(reading, received, known):
            return known  # a duplicate, or older than the one shown
        self._note_clock(reading.time - received)
        if _all_zero(reading):
            LOGGER.warning("Meter %s sent a reading of only zeros; skipped", self.sn)
            if known is not None:
                return known
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key="no_valid_reading"
            )
        return self._accept(reading, received)

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
        self._next_due = None if delay is None else dt_util.utcnow() + delay
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
        raise UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="quota_exceeded",
            translation_placeholders={"retry_at": format_local_time(retry_at)},
            retry_after=wait.total_seconds(),
        )

    def _accept(self, reading: Reading, received: datetime) -> MeterData:
        counters: dict[str, float | None] = {}
        for phase, values in zip(PHASES, reading.phases, strict=False):
            counters[f"{phase}_import"] = values.energy_import
            counters[f"{phase}_export"] = values.energy_export
        if reading.net is not None:
            counters["net_import"] = reading.net.energy_import
            counters["net_export"] = reading.net.energy_export
        data = MeterData(reading, received=received)
        for key, value in counters.items():
            if value is None:  # sent as `null`: this counter keeps its value
                continue
            guard = self._guards.setdefault(key, CounterGuard(_max_power(key)))
            self._judge(key, guard, guard.offer(value, data.time), value)
        self._saved["reading"] = reading_to_dict(reading)
        self._saved["counters"] = {k: g.export() for k, g in self._guards.items()}
        self.storage.async_schedule_save()
        return MeterData(reading, self._energy(), received)

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

    def _judge(
        self, key: str, guard: CounterGuard, verdict: Verdict, value: float
    ) -> None:
        if verdict in (Verdict.ACCEPTED, Verdict.UNCHANGED):
            if key in self._rejected:
                self._rejected.discard(key)
                LOGGER.info("Meter %s: counter %s is plausible again", self.sn, key)
            return
        if verdict is Verdict.RESET:
            self._rejected.discard(key)
            LOGGER.warning(
                "Meter %s: counter %s went on from %s kWh (a restored, reset or"
                " replaced register); the energy sensor continues at %s kWh",
                self.sn,
                key,
                value,
                round(guard.published or 0.0, 3),
            )
            async_note_counter_reset(self.hass, self._saved, self.sn, self.meter_name)
            return
        if key not in self._rejected:
            self._rejected.add(key)
            LOGGER.warning(
                "Meter %s: counter %s at %s kWh rejected (%s; last accepted %s kWh)",
                self.sn,
                key,
                value,
                verdict.value,
                guard.value,
            )

    def _energy(self) -> dict[str, float]:
        """What the energy sensors show: the guards' published series."""
        energy = {
            key: round(published, 3)
            for key, guard in self._guards.items()
            if (published := guard.published) is not None
        }
        for kind in ("import", "export"):
            phases = [energy.get(f"{p}_{kind}") for p in PHASES]
            present = [value for value in phases if value is not None]
            if present:
                energy[f"total_{kind}"] = round(sum(present), 3)
        return energy

    @callback
    def async_catch_up(
        self, points: Sequence[tuple[datetime, Mapping[str, float]]]
    ) -> set[str]:
        """Offer missed counter values (the cloud's history) to guards awaiting a reset.

        A counter reset during a gap is then confirmed by the history and counted
        from the counter's last value before it, which is shown first so that the
        recorder counts the energy up to the reset. Returns the counters that took
        values; the others are left alone.
        """
        waiting = {key for key, guard in self._guards.items() if guard.pending}
        taken: set[str] = set()
        unshown = False
        for time, counters in points:
            for key in sorted(waiting & counters.keys()):
                guard, value = self._guards[key], counters[key]
                if guard.time is None or time <= guard.time:
                    continue
                if unshown and not guard.pending and value < (guard.value or 0.0):
                    self._publish()
                    unshown = False
                verdict = guard.offer(value, time)
                if verdict is Verdict.RESET:
                    self._judge(key, guard, verdict, value)
                if verdict in (Verdict.ACCEPTED, Verdict.RESET):
                    taken.add(key)
                    unshown = True
        if unshown:
            self._publish()
        return taken

    def _publish(self) -> None:
        self._saved["counters"] = {k: g.export() for k, g in self._guards.items()}
        self.storage.async_schedule_save()
        if self.data is not None:
            self.data = MeterData(self.data.reading, self._energy(), self.data.received)
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


def _max_power(key: str) -> float:
    """Net and total counters may see all three phases' power."""
    return MAX_PHASE_POWER_W * (3 if key.startswith(("net", "total")) else 1)


def _is_newer(reading: Reading, now: datetime, known: MeterData) -> bool:
    """Whether `reading` (received `now`) is newer than the one shown.

    Dated after the shown one; or, where the shown one was dated in the future
    (and so counts as taken when it was received), dated by a clock that is
    right again and after that: a meter clock corrected back resumes at once.
    """
    return reading.time > known.reading.time or known.time < reading.time <= now


def _all_zero(reading: Reading) -> bool:
    rows = [*reading.phases, *([reading.net] if reading.net else [])]
    return all(
        not (r.voltage or r.current or r.power or r.energy_import or r.energy_export)
        for r in rows
    )


def format_local_time(moment: datetime) -> str:
    """A time for messages: local, to the minute."""
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M")
