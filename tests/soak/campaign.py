"""The campaign: Home Assistant and the integration against the simulator for a
simulated month, minute by minute, with faults at seeded moments and invariants
checked after every step."""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
import json
import logging
import math
import os
import threading
from time import sleep as real_sleep
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_SCAN_INTERVAL, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.iammeter_cloud import diagnostics
from custom_components.iammeter_cloud.api.quota import BUDGETS
from custom_components.iammeter_cloud.const import (
    CONF_METERS,
    DOMAIN,
    MAX_PHASE_POWER_W,
    STALE_AFTER,
)
from custom_components.iammeter_cloud.issues import OFFLINE_AFTER
from custom_components.iammeter_cloud.storage import DATA_STORAGE
from tests.conftest import SN1, SN3
from tests.simulator import CloudSimulator, LogEntry, from_minute, to_minute
from tests.simulator.server import QUOTAS, _midnight

from .cloud import SoakCloud
from .schedule import Event
from .truth import ANALYTICS, Spec, Truth, spec

STEP = timedelta(minutes=1)
SLACK = timedelta(minutes=3)  # timer offsets, setup retries, the step itself
RECORDER_SYNC = int(os.environ.get("SOAK_RECORDER_SYNC", "60"))  # steps
HOUR = timedelta(hours=1)
LATEST = ("meterdata", "meterdata2")
HISTORY = ("meterdatalist", "meterdatalist2")
GONE = (STATE_UNAVAILABLE, STATE_UNKNOWN)
# The coordinator's own report of a failed update: expected while a fault lasts.
EXPECTED_ERROR = "Error fetching iammeter_cloud"


class InvariantError(AssertionError):
    """An invariant broke."""


class LogWatch(logging.Handler):
    """Every log record, at DEBUG: secrets and unhandled exceptions."""

    def __init__(self, secrets: set[str]) -> None:
        """Watch for the secrets in `secrets` (which grows as tokens are issued)."""
        super().__init__(logging.DEBUG)
        self.secrets = secrets
        self.records = 0
        self.levels: Counter[str] = Counter()
        self.problems: list[str] = []
        self.recent: deque[str] = deque(maxlen=25)  # of the integration and HA core

    def emit(self, record: logging.LogRecord) -> None:
        """Check one record (never raises)."""
        self.records += 1
        self.levels[record.levelname] += 1
        try:
            text = record.getMessage()
        except Exception as err:
            text = f"{record.msg!r} % {record.args!r}"
            self.problems.append(f"unformattable log record {text}: {err}")
        parts = [text, repr(record.args), record.stack_info or ""]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        blob = "\n".join(parts)
        if record.name.startswith(("custom_components", "homeassistant.config")):
            self.recent.append(f"{record.levelname[0]} {record.name}: {text[:300]}")
        if any(secret in blob for secret in self.secrets):
            self.problems.append(f"a secret in a log record of {record.name}")
        expected = record.name.startswith("custom_components.iammeter_cloud") and (
            text.startswith(EXPECTED_ERROR) and not record.exc_info
        )
        if record.levelno >= logging.ERROR and not expected:
            self.problems.append(f"{record.levelname} {record.name}: {blob[:2000]}")
        elif record.exc_info and record.levelno >= logging.WARNING:
            self.problems.append(f"exception logged by {record.name}: {blob[:2000]}")


@dataclass
class Expectation:
    """Fresh data for a meter (a reading of minute >= `since`) by `deadline`."""

    sn: str
    since: int
    deadline: datetime
    label: str


@dataclass
class Stats:
    """What the summary reports."""

    faults: Counter[str] = field(default_factory=Counter)
    ours: Counter[str] = field(default_factory=Counter)
    theirs: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    windows: dict[str, int] = field(default_factory=dict)
    checks: Counter[str] = field(default_factory=Counter)
    recoveries: list[float] = field(default_factory=list)


class Campaign:
    """Runs the events of a schedule and checks the invariants after every step."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        cloud: SoakCloud,
        entry: ConfigEntry,
        *,
        seed: int,
        days: int,
        events: list[Event],
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        """Nothing runs until `run`."""
        self.progress = progress
        self.hass = hass
        self.freezer = freezer
        self.cloud = cloud
        self.entry = entry
        self.seed = seed
        self.days = days
        self.events = deque(sorted(events))  # stable: same-minute events in order
        self.step = 0
        self.stats = Stats()
        self.start = dt_util.utcnow()
        self.meters = {sn: cloud.meter(sn) for sn in (SN1, SN3)}
        self.truth = Truth(self.meters)
        self.specs: dict[str, list[Spec]] = {}
        self.last_reading: dict[str, str] = {}
        self.connection: dict[str, str] = {}
        # Quota bookkeeping, from the simulator's log.
        self._log_pos = 0  # answered requests looked at
        self._seen_pos = 0  # arrived requests counted
        self._windows: dict[tuple[str, str, timedelta], deque[datetime]] = {}
        self._our_latest: dict[str, deque[datetime]] = {SN1: deque(), SN3: deque()}
        self._our_logins: deque[datetime] = deque()
        self._latest_times: dict[str, list[datetime]] = {SN1: [], SN3: []}
        self._login_times: list[datetime] = []
        self.logins_entity = ""
        self._refused: dict[str, datetime] = {}
        # Entity bookkeeping.
        self._reading: dict[str, datetime] = {}
        self._reading_changed: dict[str, datetime] = {}
        self._energy: dict[str, float] = {}
        # Per energy entity: when each new value was shown, and its reading's time.
        self._energy_trace: dict[str, list[tuple[datetime, datetime]]] = {}
        self._offsets: Counter[str] = Counter()
        self._reset_at: dict[str, datetime] = {}
        self._reset_done: set[str] = set()
        self._lower: dict[str, set[int]] = {}
        self._seen_states: dict[str, object] = {}
        # Faults in flight.
        self._count_faults: dict[str, str] = {}  # endpoint -> kind
        self._expect: list[Expectation] = []
        self._armed_mid_update = False
        self._abandoned: set[int] = set()
        self.watch = LogWatch(cloud.secrets)
        self.timing: Counter[str] = Counter()
        self.limits: dict[str, int] = {}

    # -- helpers ---------------------------------------------------------------
    def now(self) -> datetime:
        """Home Assistant's (and the simulator's) clock."""
        return dt_util.utcnow()

    def fail(self, message: str) -> None:
        """Stop the campaign with the step and the seed (and what led there)."""
        requests = [
            f"  {e.time.isoformat()} {e.endpoint} {e.scope} {e.outcome} {e.status}"
            f"{'' if self.cloud.is_ours(e) else ' (other client)'}"
            for e in self.cloud.sim.log[-15:]
        ]
        raise InvariantError(
            f"[seed={self.seed} day={self.step // 1440} step={self.step} "
            f"t={self.now().isoformat()}] {message}\n"
            f"  re-run: SOAK_SEED={self.seed} SOAK_DAYS={self.days} "
            "scripts/test -m soak tests/test_soak.py\n"
            "last requests:\n"
            + "\n".join(requests)
            + "\nlast log records:\n"
            + "\n".join(f"  {r}" for r in list(self.watch.recent)[-25:])
        )

    def check(self, name: str, ok: bool, message: str) -> None:
        """Count one invariant check; fail if it does not hold."""
        self.stats.checks[name] += 1
        if not ok:
            self.fail(f"{name}: {message}")

    @property
    def interval(self) -> timedelta:
        """The configured update interval."""
        return timedelta(seconds=self.entry.options.get(CONF_SCAN_INTERVAL, 300))

    def map_entities(self) -> None:
        """The entities of both meters, from the registry (stable over reloads)."""
        registry = er.async_get(self.hass)
        self.specs = {SN1: [], SN3: []}
        for item in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            sn, _, key = item.unique_id.partition("_")
            if item.disabled_by is not None:
                continue
            if key == "logins_last_day":
                self.logins_entity = item.entity_id
            if sn not in self.specs:
                continue
            found = spec(item.entity_id, sn, key, self.meters[sn].phases)
            if found is None:
                continue
            if found.kind == "last_reading":
                self.last_reading[sn] = found.entity_id
            elif found.kind == "connection":
                self.connection[sn] = found.entity_id
            else:
                self.specs[sn].append(found)
        assert set(self.last_reading) == set(self.connection) == {SN1, SN3}
        assert self.logins_entity
        assert len(self.specs[SN1]) == 6 + len(ANALYTICS) + 1
        assert len(self.specs[SN3]) == 3 + 18 + len(ANALYTICS) + 1

    # -- the run ---------------------------------------------------------------
    async def run(self) -> None:
        """All steps of the campaign."""
        root = logging.getLogger()
        level = root.level
        # Everything at DEBUG goes through the watch, and only through it (the
        # test report's capture would keep a month of records in memory). The
        # recorder's SQL echo is left out: the states it writes are checked here.
        captures = [h for h in root.handlers if type(h).__name__ == "LogCaptureHandler"]
        for handler in captures:
            root.removeHandler(handler)
        quiet = {
            name: logging.getLogger(name).level
            for name in ("sqlalchemy", "sqlalchemy.engine", "sqlalchemy.engine.Engine")
        }
        for name in quiet:
            logging.getLogger(name).setLevel(logging.WARNING)
        others = {h: h.level for h in root.handlers}
        for handler in others:
            handler.setLevel(max(handler.level, logging.WARNING))
        root.addHandler(self.watch)
        root.setLevel(logging.DEBUG)
        stop_watchdog = self._watchdog(asyncio.get_running_loop())
        # asyncio's debug mode (the harness's) records a stack for every callback:
        # most of a month's wall time. The campaign checks its own invariants.
        loop = asyncio.get_running_loop()
        debug = loop.get_debug()
        loop.set_debug(False)
        try:
            self.map_entities()
            self._check_all()
            total = self.days * 1440
            while self.step < total:
                self.step += 1
                while self.events and self.events[0].minute <= self.step:
                    await self.apply(self.events.popleft())
                await self.tick()
                self._check_all()
                if self.step % RECORDER_SYNC == 0:
                    began = _wall()
                    await async_wait_recording_done(self.hass)
                    self.timing["recorder"] += _wall() - began
                if self.step % 1440 == 0:
                    await self.check_diagnostics()
                    self.progress(
                        f"  day {self.step // 1440}: {sum(self.stats.checks.values())} "
                        f"checks, {sum(self.stats.faults.values())} faults, "
                        + ", ".join(f"{k}={v:.0f}s" for k, v in self.timing.items())
                    )
                local = dt_util.as_local(self.now())
                if local.hour == 3 and local.minute == 0:
                    self._check_daily_analytics(local.date() - timedelta(days=1))
            self.check("recovered", not self._expect, f"still waiting: {self._expect}")
            await self.check_diagnostics()
        finally:
            loop.set_debug(debug)
            stop_watchdog.set()
            root.removeHandler(self.watch)
            root.setLevel(level)
            for name, old in quiet.items():
                logging.getLogger(name).setLevel(old)
            for handler, old_level in others.items():
                handler.setLevel(old_level)
            for handler in captures:
                root.addHandler(handler)

    def _watchdog(self, loop: asyncio.AbstractEventLoop) -> threading.Event:
        """Print what the event loop waits for when a step takes a minute."""
        stop = threading.Event()

        def dump() -> None:
            lines = [f"soak: stalled at step {self.step}; tasks:"]
            for task in asyncio.all_tasks(loop):
                lines.append(asyncio.format_call_graph(task))
            _note("\n".join(lines))

        def watch() -> None:
            seen = -1
            while not stop.wait(60):
                _note(f"soak: step {self.step}")
                if self.step == seen:
                    loop.call_soon_threadsafe(dump)
                seen = self.step

        threading.Thread(target=watch, name="soak watchdog", daemon=True).start()
        return stop

    async def tick(self) -> None:
        """One step of simulated time; a restart mid-update if one is armed."""
        began = _wall()
        self.freezer.tick(STEP)
        async_fire_time_changed(self.hass)
        if self._armed_mid_update and await self._request_in_flight():
            self._armed_mid_update = False
            await self.restart("restart_mid_update")
        await self.settle()
        self.timing["steps"] += _wall() - began

    async def settle(self) -> None:
        """Wait until Home Assistant is idle."""
        await self.drive(self.hass.async_block_till_done(wait_background_tasks=True))

    async def drive[T](self, job: Coroutine[Any, Any, T]) -> T:
        """Await `job`; while a request hangs in a timeout fault, move the clock.

        The loop's clock is the frozen one: the client's 0.5 s timeout (and the
        simulator's 1 s delay) pass only when the campaign moves time on. Between
        moves it waits in real time, so that other requests in flight (answered
        in milliseconds) are not timed out by the jump.
        """
        if not self._timeouts_possible():
            return await job
        task = asyncio.ensure_future(job)
        waited = 0
        while not task.done():
            await asyncio.to_thread(real_sleep, 0.005)
            waited += 1
            if waited >= 10 and self._timeout_pending():
                self.freezer.tick(timedelta(seconds=0.5))
                async_fire_time_changed(self.hass)
                waited = 0
        return task.result()

    def _timeouts_possible(self) -> bool:
        faults = self.cloud.sim.faults.active.values()
        return any(f.kind == "timeout" for f in faults) or self._timeout_pending()

    def _timeout_pending(self) -> bool:
        """A request the cloud holds (in a timeout fault) that a client awaits."""
        log = self.cloud.sim.log
        return any(
            entry.outcome == "fault:timeout"
            and entry.status == 0
            and id(entry) not in self._abandoned
            for entry in log[self._log_pos :]
        )

    async def _request_in_flight(self) -> bool:
        """Wait (real time, briefly) for a reading request the cloud holds."""
        for _ in range(50):
            log = self.cloud.sim.log
            for entry in log[self._log_pos :]:
                if entry.endpoint in LATEST and entry.outcome == "fault:timeout":
                    # Its client goes with the restart: no clock moves for it.
                    self._abandoned.add(id(entry))
                    return True
            # Real time (the loop's clock is frozen): the answer is on its way.
            await asyncio.to_thread(real_sleep, 0.01)
        return False

    # -- events ----------------------------------------------------------------
    async def apply(self, event: Event) -> None:
        """Inject one event."""
        sim = self.cloud.sim
        args = event.args
        kind = event.kind
        label = kind
        if kind == "fault":
            label = f"{args['fault']}@{args['endpoint']}"
            sim.faults.set(args["fault"], args["endpoint"], args.get("count"))
            if args.get("count"):
                self._count_faults[args["endpoint"]] = label
        elif kind == "fault_end":
            sim.faults.clear(args["endpoint"])
            self.expect_all(f"end of {args['fault']}@{args['endpoint']}")
            return
        elif kind == "token_expiry":
            sim.expire_tokens()
            self.expect_all(kind)
        elif kind == "other_client_readings":
            await self.cloud.other_client_readings(args["sn"], args["count"])
            label = "quota_used_by_other_client"
            self.expect(args["sn"], label)
        elif kind == "other_client_logins":
            await self.cloud.other_client_logins(args["count"])
            label = "logins_used_by_other_client"
        elif kind == "offline":
            start = from_minute(to_minute(self.now()) + 1)  # the cloud has this one
            end = start + timedelta(minutes=args["minutes"])
            self.meters[args["sn"]].set_offline(start, end)
            label = f"offline_{args['minutes'] // 60}h"
        elif kind == "offline_end":
            self.expect(args["sn"], "meter back online")
            return
        elif kind == "counter_reset":
            sn = args["sn"]
            at = self.now() + STEP
            self.meters[sn].reset_counters(at)
            self._reset_at[sn] = at
            label = "genuine_counter_reset"
        elif kind in ("restart", "reload"):
            await (self.restart(kind) if kind == "restart" else self.reload())
        elif kind == "restart_mid_update":
            # A slow answer, and the restart while Home Assistant waits for it.
            sim.faults.set("timeout", "meterdata2", 1)
            self._armed_mid_update = True
            return  # counted when it happens
        elif kind == "options":
            await self.change_options(args["interval"])
        elif kind.startswith("action_"):
            label = await self.call_action(kind.removeprefix("action_"), args)
        else:
            raise AssertionError(kind)
        self.stats.faults[label] += 1

    async def restart(self, label: str) -> None:
        """Stop and start again; the new "process" knows only what was stored."""
        await self.drive(restart(self.hass, self.entry))
        await self.settle()
        if label == "restart_mid_update":
            self.stats.faults[label] += 1
        self.expect_all(label)

    async def reload(self) -> None:
        """A reload of the config entry."""
        await self.drive(self.hass.config_entries.async_reload(self.entry.entry_id))
        await self.settle()
        self.expect_all("reload")

    async def change_options(self, interval: int) -> None:
        """The options flow: the same meters, another update interval."""
        flow = self.hass.config_entries.options
        result = await flow.async_init(self.entry.entry_id)
        result = await flow.async_configure(
            result["flow_id"],
            {CONF_METERS: [SN1, SN3], CONF_SCAN_INTERVAL: interval},
        )
        self.check("options saved", result["type"] == "create_entry", str(result))
        await self.settle()
        self.expect_all("options")

    async def call_action(self, service: str, args: dict[str, Any]) -> str:
        """A user's action; it succeeds or refuses clearly, and tells the truth."""
        sn = args["sn"]
        device = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, sn), self.entry.entry_id
        )
        assert device is not None
        data: dict[str, Any] = {"device_id": device.id}
        end = dt_util.now().date() - timedelta(days=args["back"])
        start = end - timedelta(days=args["days"] - 1)
        if service == "fetch_analytics":
            data |= {"start_date": str(start), "end_date": str(end)}
        elif service == "backfill":
            data["start_date"] = str(end)
        response = None
        try:
            response = await self.drive(
                self.hass.services.async_call(
                    DOMAIN,
                    service,
                    data,
                    blocking=True,
                    return_response=service == "fetch_analytics",
                )
            )
            outcome = "ok"
        except HomeAssistantError as err:  # ServiceValidationError too
            outcome = err.translation_key or type(err).__name__
            self.check(
                "no secret in an action's error",
                not any(
                    s in f"{err} {err.translation_placeholders}"
                    for s in self.cloud.secrets
                ),
                service,
            )
            _note(f"action {service} {data}: {err.translation_placeholders}")
        await self.settle()
        if service == "fetch_analytics":
            self._check_analytics_response(sn, start, end, response)
        return f"{service}:{outcome}"

    def _check_analytics_response(
        self, sn: str, start: date, end: date, response: Any
    ) -> None:
        meter = self.meters[sn]
        now = to_minute(self.now())
        lo = _midnight(start, meter.tz)
        hi = _midnight(end + timedelta(days=1), meter.tz)
        power = CloudSimulator._power(meter, lo, min(hi, now + 1))
        offline = CloudSimulator._offline(meter, lo, hi, now, "5")
        if response is None:
            return  # refused (budget, range, a fault): checked by the log rules
        self.check(
            "fetched analytics are the truth",
            None not in power.values()
            and [
                response["power"][k]
                for k in ("average", "daytime_average", "minimum", "maximum")
            ]
            == [power[k] for k in ("average", "dayTimeAverage", "minimum", "maximum")]
            and response["offline"]["offline_minutes"] == offline["offlineCount"]
            and response["offline"]["total_minutes"] == offline["totalCount"],
            f"{sn} {start}..{end}: {response}, the cloud: {power} {offline}",
        )

    # -- recovery expectations ---------------------------------------------------
    def expect_all(self, label: str) -> None:
        """Both meters must show fresh data soon."""
        for sn in self.meters:
            self.expect(sn, label)

    def expect(self, sn: str, label: str) -> None:
        """Fresh data for `sn` within two intervals, or when its quota frees."""
        self._read_log()
        now = self.now()
        if not self.meters[sn].is_online(to_minute(now)):
            return  # it has nothing new; the end of its outage expects it
        if any(f.remaining is None for f in self.cloud.sim.faults.active.values()):
            return  # a fault lasts: its end expects fresh data
        deadline = max(now + 2 * self.interval, self._quota_frees(sn, now)) + SLACK
        for pending in self._expect:
            if pending.sn == sn:
                pending.deadline = max(pending.deadline, deadline)
        self._expect.append(Expectation(sn, to_minute(now), deadline, label))

    def _quota_frees(self, sn: str, now: datetime) -> datetime:
        """When the cloud takes our next reading call for `sn` (and a login)."""
        free = now
        latest = [t for t in self._our_latest[sn] if t > now - HOUR]
        if len(latest) >= 12:
            free = max(free, latest[-12] + HOUR)
        logins = [t for t in self._our_logins if t > now - HOUR]
        if len(logins) >= 5:
            free = max(free, logins[-5] + HOUR)
        for scope in (sn, "login"):
            if (refused := self._refused.get(scope)) and refused > now - HOUR:
                free = max(free, refused + HOUR)
        return free

    def _check_expectations(self, now: datetime) -> None:
        for pending in list(self._expect):
            reading = self._reading.get(pending.sn)
            on = self.hass.states.get(self.connection[pending.sn])
            if (
                reading is not None
                and to_minute(reading) >= pending.since
                and on is not None
                and on.state == "on"
            ):
                self._expect.remove(pending)
                waited = (now - from_minute(pending.since)).total_seconds() / 60
                self.stats.recoveries.append(waited)
                continue
            self.check(
                "fresh data after a fault",
                now <= pending.deadline,
                f"{pending.sn}: no reading of minute >= "
                f"{from_minute(pending.since).isoformat()} by "
                f"{pending.deadline.isoformat()} after {pending.label} "
                f"(entry {self.entry.state}, shown {reading})",
            )

    # -- invariants --------------------------------------------------------------
    def _check_all(self) -> None:
        began = _wall()
        now = self.now()
        self._read_log()
        self._check_count_faults(now)
        for sn in self.meters:
            self._check_meter(sn, now)
        self._check_expectations(now)
        logins = self.hass.states.get(self.logins_entity)
        self._check_new_state(self.logins_entity, logins)
        if not self._expect:  # recovered from every fault (or none active)
            self.check(
                "entry loaded once recovered",
                self.entry.state is ConfigEntryState.LOADED,
                str(self.entry.state),
            )
        if logins is not None and logins.state not in GONE:
            self._check_usage(
                self.logins_entity,
                float(logins.state),
                logins.last_updated,
                self._login_times,
                timedelta(days=1),
            )
        flows = self.hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        self.check("no user action asked (reauth)", not flows, str(flows))
        self.check("log", not self.watch.problems, "\n".join(self.watch.problems[:5]))
        self.timing["checks"] += _wall() - began

    def _check_count_faults(self, now: datetime) -> None:
        active = self.cloud.sim.faults.active
        for endpoint, label in list(self._count_faults.items()):
            if endpoint not in active:  # consumed
                del self._count_faults[endpoint]
                if endpoint in LATEST:
                    self.expect_all(f"end of {label}")

    def _read_log(self) -> None:
        """Quotas: our requests, counted by the cloud, in every sliding window.

        A request counts when it arrives (as the cloud counts it); its outcome
        is looked at once it is answered.
        """
        log = self.cloud.sim.log
        for entry in log[self._seen_pos :]:
            self._seen_pos += 1
            if not self.cloud.is_ours(entry):
                self.stats.theirs[entry.endpoint] += 1
                continue
            self.stats.ours[entry.endpoint] += 1
            self._arrived(entry)
        for entry in log[self._log_pos :]:
            in_flight = entry.status == 0 and entry.outcome != "cancelled"
            if in_flight and entry.time > self.now() - timedelta(minutes=5):
                break
            self._log_pos += 1
            self.stats.outcomes[entry.outcome] += 1
            if self.cloud.is_ours(entry) and entry.outcome in (
                "quota",
                "fault:empty_body",
            ):
                # The cloud refused: the integration waits for the window to pass.
                scope = "login" if entry.endpoint == "login" else entry.scope
                self._refused[scope] = entry.time
                for pending in self._expect:
                    if scope in ("login", pending.sn):
                        pending.deadline = max(
                            pending.deadline, entry.time + HOUR + SLACK
                        )

    def _arrived(self, entry: LogEntry) -> None:
        if entry.endpoint in LATEST and entry.scope in self._our_latest:
            self._latest_times[entry.scope].append(entry.time)
            self._our_latest[entry.scope].append(entry.time)
            while self._our_latest[entry.scope][0] <= entry.time - HOUR:
                self._our_latest[entry.scope].popleft()
        if entry.endpoint in HISTORY and "history" in BUDGETS:
            # No documented quota: the integration's own budget holds.
            for budget in BUDGETS["history"]:
                self._count_window(
                    "history", entry.scope, budget.window, budget.limit, entry.time
                )
        if entry.endpoint == "login":
            self._login_times.append(entry.time)
            self._our_logins.append(entry.time)
            while self._our_logins[0] <= entry.time - HOUR:
                self._our_logins.popleft()
        if entry.endpoint in QUOTAS:
            group, limits = QUOTAS[entry.endpoint]
            for window, limit in limits:
                self._count_window(group, entry.scope, window, limit, entry.time)

    def _count_window(
        self, group: str, scope: str, window: timedelta, limit: int, time: datetime
    ) -> None:
        times = self._windows.setdefault((group, scope, window), deque())
        times.append(time)
        while times[0] <= time - window:
            times.popleft()
        name = f"{group}/{_span(window)}"
        self.stats.windows[name] = max(self.stats.windows.get(name, 0), len(times))
        self.limits[name] = limit
        self.check(
            "quota",
            len(times) <= limit,
            f"{len(times)} requests to {group} for {scope} within {window} "
            f"(limit {limit})",
        )

    def _check_meter(self, sn: str, now: datetime) -> None:
        states = self.hass.states
        meter = self.meters[sn]
        shown = states.get(self.last_reading[sn])
        reading: datetime | None = None
        if shown is not None and shown.state not in GONE:
            reading = dt_util.parse_datetime(shown.state)
            self.check("last reading parses", reading is not None, shown.state)
            assert reading is not None
            minute = to_minute(reading)
            self.check("reading not in the future", reading <= now, shown.state)
            self.check(
                "reading is one the meter sent",
                meter.is_online(minute) and reading == from_minute(minute),
                shown.state,
            )
            before = self._reading.get(sn)
            self.check(
                "reading never goes back",
                before is None or reading >= before,
                f"{sn}: {reading} after {before}",
            )
            if reading != before:
                self._reading_changed[sn] = now
            self._reading[sn] = reading
            self._check_offline_issue(sn, now, reading)
        fresh = reading is not None and now - reading <= STALE_AFTER
        connection = states.get(self.connection[sn])
        if connection is not None and connection.state not in GONE:
            self.check(
                "connection follows the reading's age",
                (connection.state == "on") == fresh,
                f"{sn}: {connection.state} with the reading of {reading}",
            )
        rows = self.truth.rows(sn, to_minute(reading)) if reading else None
        totals: dict[int, float] = {}
        for entity_id in (self.last_reading[sn], self.connection[sn]):
            self._check_new_state(entity_id, states.get(entity_id))
        for item in self.specs[sn]:
            state = states.get(item.entity_id)
            self._check_new_state(item.entity_id, state)
            if state is None or state.state in GONE:
                continue
            value = float(state.state)
            self.check("numeric state", math.isfinite(value), item.entity_id)
            if item.kind == "analytics":
                self._check_analytics(item, value, state.attributes)
                continue
            if item.kind == "api_calls":
                self._check_usage(
                    item.entity_id,
                    value,
                    state.last_updated,
                    self._latest_times[sn],
                    HOUR,
                )
                continue
            if item.kind in ("live", "total_power"):
                self.check(
                    "live values only while fresh",
                    fresh,
                    f"{item.entity_id} = {value} with the reading of {reading}",
                )
                assert rows is not None
                true = (
                    rows[item.row][item.col]
                    if item.kind == "live"
                    else sum(r[2] for r in rows)
                )
                self.check(
                    "live value is the truth",
                    value == true,
                    f"{item.entity_id} = {value}, the meter sent {true} at {reading}",
                )
                continue
            self._check_energy(item, value, now, rows, reading)
            if item.kind == "energy" and sn == SN3:
                totals[item.col] = totals.get(item.col, 0.0) + value
        if sn == SN3:
            self._check_totals(totals)

    def _check_energy(
        self,
        item: Spec,
        value: float,
        now: datetime,
        rows: tuple[tuple[float, ...], ...] | None,
        reading: datetime | None,
    ) -> None:
        eid = item.entity_id
        last = self._energy.get(eid)
        if last is not None and value != last:
            if value < last:
                reset = self._reset_at.get(item.sn)
                allowed = (
                    item.kind == "energy"
                    and reset is not None
                    and reading is not None
                    and reading >= reset
                    and eid not in self._reset_done
                )
                self.check(
                    "energy never decreases",
                    allowed,
                    f"{eid}: {last} -> {value}",
                )
                issue = ir.async_get(self.hass).async_get_issue(
                    DOMAIN, f"counter_reset_{item.sn}"
                )
                self.check("a reset raises its repair", issue is not None, eid)
                self._reset_done.add(eid)
                self._offsets[f"{item.sn}:{item.col}"] += last
            self.check(
                "energy never returns to 0",
                value > 0 or last == 0,
                f"{eid}: {last} -> {value}",
            )
            self._energy_trace.setdefault(eid, []).append((now, reading or now))
        elif last is None:
            self._energy_trace.setdefault(eid, []).append((now, reading or now))
        self._energy[eid] = value
        if item.kind != "energy" or rows is None or reading is None:
            return
        true = rows[item.row][item.col]
        if value == true:
            self._lower.pop(eid, None)
            self.stats.checks["energy is the truth"] += 1
            return
        # The guard keeps a value only while the meter's counter is lower than it
        # (a glitch, or a reset that is not yet confirmed): never a higher one.
        self.check(
            "energy is the truth or the guard's last value",
            true < value,
            f"{eid} = {value}, the meter sent {true} at {reading}",
        )
        lower = self._lower.setdefault(eid, set())
        lower.add(to_minute(reading))
        if true > 0:
            self.check(
                "a persisting lower counter is accepted as a reset",
                len(
                    [
                        m
                        for m in lower
                        if self.truth.rows(item.sn, m)[item.row][item.col] > 0
                    ]
                )
                <= 5,
                f"{eid} stays at {value} while the meter sends {true}",
            )

    def _check_totals(self, totals: dict[int, float]) -> None:
        for item in self.specs[SN3]:
            if item.kind != "total_energy" or item.col not in totals:
                continue
            state = self.hass.states.get(item.entity_id)
            if state is None or state.state in GONE:
                continue
            if (
                len(
                    [
                        i
                        for i in self.specs[SN3]
                        if i.kind == "energy" and i.col == item.col
                    ]
                )
                != 3
            ):
                continue
            expected = round(totals[item.col] + self._offsets[f"{SN3}:{item.col}"], 3)
            self.check(
                "three-phase total is the phases' sum (plus resets)",
                abs(float(state.state) - expected) < 1e-6,
                f"{item.entity_id} = {state.state}, expected {expected}",
            )

    def _check_analytics(self, item: Spec, value: float, attributes: Any) -> None:
        day = date.fromisoformat(attributes["period_end"])
        truth = self.truth.analytics(item.sn, day)
        power = [truth[k] for k in ANALYTICS[:4]]
        if item.key in ANALYTICS[:4] and None in power:
            self.check(
                "analytics without data are unavailable",
                False,
                f"{item.entity_id} = {value} for {day}; the cloud has no data",
            )
        expected = truth[item.key]
        self.check(
            "analytics are the truth",
            expected is not None and abs(value - expected) < 1e-6,
            f"{item.entity_id} = {value} for {day}, the cloud says {expected}",
        )

    def _check_usage(
        self,
        entity_id: str,
        value: float,
        updated: datetime,
        times: list[datetime],
        window: timedelta,
    ) -> None:
        """API-usage sensors count what the cloud received from us.

        Requests in the very instant of the update may come before or after it.
        """
        first = bisect_right(times, updated - window)
        before, until = (
            bisect_left(times, updated) - first,
            bisect_right(times, updated) - first,
        )
        self.check(
            "API usage is what the cloud counted",
            before <= value <= until,
            f"{entity_id} = {value} at {updated}; the cloud got {before}..{until}",
        )

    def _check_offline_issue(self, sn: str, now: datetime, reading: datetime) -> None:
        """The repair for a silent meter: only after 24 h, and then surely."""
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, f"meter_offline_{sn}")
        age = now - reading
        self.check(
            "no offline repair for a meter that reports",
            issue is None or age >= OFFLINE_AFTER,
            f"{sn}: the newest reading is {age} old",
        )
        lag = max(2 * self.interval, HOUR) + SLACK
        if self.entry.state is ConfigEntryState.LOADED and age > OFFLINE_AFTER + lag:
            self.check(
                "a meter silent for a day raises its repair",
                issue is not None,
                f"{sn}: the newest reading is {age} old",
            )

    def _check_daily_analytics(self, day: date) -> None:
        """By 03:00 yesterday's analyses are there (a failed call is tried again)."""
        if self.entry.state is not ConfigEntryState.LOADED:
            return
        for sn, items in self.specs.items():
            truth = self.truth.analytics(sn, day)
            for item in items:
                if item.kind != "analytics" or truth[item.key] is None:
                    continue
                if item.key in ANALYTICS[:4] and None in (
                    truth[k] for k in ANALYTICS[:4]
                ):
                    continue
                state = self.hass.states.get(item.entity_id)
                self.check(
                    "daily analytics arrive",
                    state is not None
                    and state.state not in GONE
                    and state.attributes.get("period_end") == day.isoformat(),
                    f"{item.entity_id}: {state}",
                )

    def _check_new_state(self, entity_id: str, state: State | None) -> None:
        """No secret in a state (value or attributes) not seen before."""
        if state is None or state is self._seen_states.get(entity_id):
            return
        self._seen_states[entity_id] = state
        text = json.dumps([state.state, dict(state.attributes)], default=str)
        self.check(
            "no secret in states",
            not any(s in text for s in self.cloud.secrets),
            entity_id,
        )

    async def check_diagnostics(self) -> None:
        """No secret in the diagnostics, the repairs or the last errors."""
        texts = []
        for issue in ir.async_get(self.hass).issues.values():
            texts.append(json.dumps(issue.to_json(), default=str))
        texts.append(str(self.entry.reason))
        if self.entry.state is ConfigEntryState.LOADED:
            texts.append(
                json.dumps(
                    await diagnostics.async_get_config_entry_diagnostics(
                        self.hass, self.entry
                    ),
                    default=str,
                )
            )
            devices = dr.async_get(self.hass)
            for device in dr.async_entries_for_config_entry(
                devices, self.entry.entry_id
            ):
                dump = await diagnostics.async_get_device_diagnostics(
                    self.hass, self.entry, device
                )
                texts.append(json.dumps(dump, default=str))
            for coordinator in self.entry.runtime_data.coordinators.values():
                texts.append(repr(coordinator.last_exception))
        for text in texts:
            self.check(
                "no secret in diagnostics, repairs or errors",
                not any(s in text for s in self.cloud.secrets),
                text[:300],
            )

    # -- the end -------------------------------------------------------------------
    async def check_statistics(self) -> int:
        """The recorder's hourly statistics: no negative and no impossible hour."""
        await async_wait_recording_done(self.hass)
        ids = [
            i.entity_id
            for items in self.specs.values()
            for i in items
            if i.kind in ("energy", "total_energy")
        ]
        stats = await get_instance(self.hass).async_add_executor_job(
            statistics_during_period,
            self.hass,
            self.start - HOUR,
            self.now() + HOUR,
            set(ids),
            "hour",
            None,
            {"change", "sum"},
        )
        hours = 0
        for eid in ids:
            rows = stats.get(eid, [])
            self.check("statistics exist", len(rows) > 24 * (self.days - 1), eid)
            trace = self._energy_trace.get(eid, [])
            shown = [t for t, _ in trace]
            phases = (
                3
                if any(
                    i.entity_id == eid and i.kind == "total_energy"
                    for i in self.specs[SN3]
                )
                else 1
            )
            limit_kw = MAX_PHASE_POWER_W / 1000 * phases
            for row in rows:
                hours += 1
                begin = dt_util.utc_from_timestamp(row["start"])
                change = row["change"] or 0.0
                self.check(
                    "no negative hour", change >= -1e-9, f"{eid} {begin}: {change}"
                )
                # What this hour shows accumulated since the reading shown before.
                index = bisect_left(shown, begin)
                since = trace[index - 1][1] if index else begin
                possible = limit_kw * ((begin + HOUR - since) / HOUR) + 0.05
                self.check(
                    "no hour above the physically possible",
                    change <= possible,
                    f"{eid} {begin}: {change} kWh > {possible:.2f} kWh",
                )
        return hours

    async def finish(self) -> dict[str, Any]:
        """Unload; nothing of ours may linger."""
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)
        await self.hass.async_block_till_done(wait_background_tasks=True)
        tasks = [
            t for t in asyncio.all_tasks() if DOMAIN in t.get_name() and not t.done()
        ]
        self.check("no lingering task", not tasks, str(tasks))
        timers = [
            h
            for h in self.hass.loop._scheduled
            if not h.cancelled() and DOMAIN in repr(h)
        ]
        self.check("no lingering timer", not timers, str(timers))
        return {}


async def restart(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Stop and start again; the new "process" knows only what was stored.

    Home Assistant's final write happens for our store only: the recorder, which
    stops at the final write, keeps running in this simulation.
    """
    await hass.config_entries.async_unload(entry.entry_id)
    storage = hass.data.pop(DATA_STORAGE)
    await storage._store.async_save(storage._data())
    await hass.config_entries.async_setup(entry.entry_id)


def _span(window: timedelta) -> str:
    return "day" if window >= timedelta(days=1) else "hour"


def summary(
    campaign: Campaign, wall: float, hours: int, examples: Iterable[str]
) -> str:
    """The printed summary of a run."""
    s = campaign.stats
    lines = [
        f"soak: seed={campaign.seed} days={campaign.days} steps={campaign.step} "
        f"wall={wall:.0f}s",
        "  faults injected: "
        + ", ".join(f"{k}={v}" for k, v in sorted(s.faults.items())),
        "  requests (ours): "
        + ", ".join(f"{k}={v}" for k, v in sorted(s.ours.items())),
        "  requests (other client): "
        + ", ".join(f"{k}={v}" for k, v in sorted(s.theirs.items())),
        "  outcomes: " + ", ".join(f"{k}={v}" for k, v in sorted(s.outcomes.items())),
        "  max sliding-window count (ours): "
        + ", ".join(
            f"{k}={v}/{campaign.limits[k]}" for k, v in sorted(s.windows.items())
        ),
        f"  invariant checks: {sum(s.checks.values())} "
        f"({len(s.checks)} kinds); statistics hours checked: {hours}",
        "    " + "; ".join(f"{k}: {v}" for k, v in sorted(s.checks.items())),
        f"  recoveries: {len(s.recoveries)}, slowest "
        f"{max(s.recoveries, default=0):.0f} min after the fault",
        f"  log records: {campaign.watch.records} " + str(dict(campaign.watch.levels)),
        "  time: "
        + ", ".join(f"{k}={v:.0f}s" for k, v in sorted(campaign.timing.items())),
        *examples,
    ]
    return "\n".join(lines)


def _note(text: str) -> None:
    """Write past pytest's capture (to `SOAK_WATCHDOG_FILE`, if set)."""
    if path := os.environ.get("SOAK_WATCHDOG_FILE"):
        with open(path, "a", encoding="utf-8") as out:  # noqa: PTH123
            out.write(text + "\n")


def _wall() -> float:
    """Real elapsed seconds (the test's clocks are frozen)."""
    return os.times().elapsed
