"""The campaign: Home Assistant and the integration against the simulator for a
simulated month, minute by minute, with faults at seeded moments and invariants
checked after every step."""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
import json
import logging
import math
import os
import threading
from time import sleep as real_sleep
from typing import Any, ClassVar

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_USERNAME,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
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
from custom_components.iammeter_cloud.const import (
    BUDGETS,
    CONF_ADVANCED,
    CONF_API_URL,
    CONF_METERS,
    DOMAIN,
    FRESH_TOKEN_HOLD,
    MAX_PHASE_POWER_W,
    SCHEDULE_MAX_GAP,
    STALE_AFTER,
)
from custom_components.iammeter_cloud.energy import NOISE_KWH
from custom_components.iammeter_cloud.helpers import api_host
from custom_components.iammeter_cloud.issues import OFFLINE_AFTER
from custom_components.iammeter_cloud.store import DATA_STORE
from tests.common import find_device
from tests.conftest import PASSWORD, SN1, SN3, USERNAME
from tests.simulator import CloudSimulator, LogEntry, Shapes, from_minute, to_minute
from tests.simulator.server import QUOTAS, _midnight

from .cloud import SoakCloud
from .schedule import ADD_WITHIN, Event
from .truth import ANALYTICS, ENERGY, Spec, Truth, spec

STEP = timedelta(minutes=1)
ENERGY_NAMES = {col: name for name, col in ENERGY.items()}  # 4: "energy_import"
SLACK = timedelta(minutes=3)  # timer offsets, setup retries, the step itself
RECORDER_SYNC = int(os.environ.get("SOAK_RECORDER_SYNC", "60"))  # steps
HOUR = timedelta(hours=1)
LATEST = ("meterdata", "meterdata2")
HISTORY = ("meterdatalist", "meterdatalist2")
GONE = (STATE_UNAVAILABLE, STATE_UNKNOWN)
# What the user (or another client) does; held back while the port is closed
# (connection_refused).
USER_CHANGES = frozenset(
    {
        "other_client_readings",
        "other_client_logins",
        "restart",
        "restart_mid_update",
        "reload",
        "options",
        "concurrent_refresh",
        "action_refresh",
        "action_fetch_analytics",
        "action_backfill",
    }
)
# Setup and reconfiguration submits while the port is closed (a person trying
# again and again).
REFUSED_SUBMITS = 3
# The coordinator's own report of a failed update: expected while a fault lasts.
EXPECTED_ERROR = "Error fetching iammeter_cloud"


EventHandler = Callable[["Campaign", str, dict[str, Any]], Awaitable[str | None]]
"""(the campaign, the event's kind, its args) -> what the summary counts."""


class InvariantError(AssertionError):
    """An invariant broke."""


# Requests that returned a reading (of zeros, or with a jump, too).
READ_OUTCOMES = ("ok", "fault:zero_rows", "fault:spike")
EMPTY_ONE_OFF = "a one-off empty answer"
EMPTY_OTHER = "another client took the quota"


@dataclass
class GapWatch:
    """After an empty answer (or another client's burst) until a newer reading:
    the minutes with the live values unavailable."""

    case: str
    since: datetime
    stale: int = 0


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
        # A copy: the recorder's thread logs too, while tokens are issued.
        if any(secret in blob for secret in tuple(self.secrets)):
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
class Registers:
    """The meters' register changes, and what each energy sensor (by entity id)
    made of them."""

    changes: dict[str, list[tuple[datetime, int | None, str]]] = field(
        default_factory=dict
    )
    """Register changes (a reset, a restored register) by meter: (from, rows
    affected or None for all, the kind)."""
    shift: dict[str, float] = field(default_factory=dict)
    """What each energy sensor adds to the meter's counter since it took one (the
    guard's published series continues from where it was)."""
    taken: set[tuple[str, int]] = field(default_factory=set)
    """(entity id, index in `changes`) of the changes a sensor took."""
    held: dict[str, tuple[float, float, datetime]] = field(default_factory=dict)
    """(the value an energy sensor held, the counter's first lower value, the
    reading that showed it)"""
    hair: dict[str, float] = field(default_factory=dict)
    """A register change while a sensor held a value the cloud had rounded up: by
    how much that value lay above the register as last seen (the guard does not
    count it again)."""
    floor: dict[str, float] = field(default_factory=dict)
    """The value the sensor keeps until the new register's growth has made it up
    (after a change while it held a rounded-up value)."""
    last_true: dict[str, float] = field(default_factory=dict)
    """The counter as the meter last sent it."""
    lower: dict[str, set[int]] = field(default_factory=dict)
    """The minutes of the readings whose counter was lower than the value shown."""


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
    # Issue 10: per case of empty answers, (minutes until a newer reading,
    # minutes with the live values unavailable); refresh actions by outcome.
    gaps: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    refreshes: Counter[str] = field(default_factory=Counter)
    added: list[float] = field(default_factory=list)
    """Minutes from a meter's appearance on the account to its entities."""


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
        # Register changes and what each energy sensor made of them.
        self.registers = Registers()
        self._seen_states: dict[str, object] = {}
        # Faults in flight.
        self._count_faults: dict[str, str] = {}  # endpoint -> kind
        self._expect: list[Expectation] = []
        self._armed_mid_update = False
        self._abandoned: set[int] = set()
        # Issue 10: logins while tokens are refused, HTTP 429's pause per scope,
        # meters whose data must stay fresh after a burst of refreshes, and the
        # minutes an empty answer costs.
        self._token_episode: tuple[str, int, datetime] | None = None
        self._retry_after = timedelta(0)
        self._paused: dict[str, datetime] = {}
        self._keep_fresh: dict[str, datetime] = {}
        self._gaps: dict[str, GapWatch] = {}
        # Meters added to the account: by when their entities must show.
        self._added: dict[str, datetime] = {}
        # A closed port: its last minute, and the logins the ledger held then
        # (in the hour, in the day).
        self._refusing: tuple[int, int, int] | None = None
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
        with self._logs_through_the_watch():
            stop_watchdog = self._watchdog(asyncio.get_running_loop())
            # asyncio's debug mode (the harness's) records a stack for every
            # callback: most of a month's wall time. The campaign checks its own
            # invariants.
            loop = asyncio.get_running_loop()
            debug = loop.get_debug()
            loop.set_debug(False)
            try:
                self.map_entities()
                self._check_all()
                total = self.days * 1440
                while self.step < total:
                    await self._next_step()
                self.check(
                    "recovered", not self._expect, f"still waiting: {self._expect}"
                )
                self.check(
                    "added meters", not self._added, f"still waiting: {self._added}"
                )
                await self.check_diagnostics()
            finally:
                loop.set_debug(debug)
                stop_watchdog.set()

    async def _next_step(self) -> None:
        """The events of the next minute, the minute itself, the checks."""
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

    @contextmanager
    def _logs_through_the_watch(self) -> Iterator[None]:
        """Everything at DEBUG goes through the watch, and only through it (the
        test report's capture would keep a month of records in memory). The
        recorder's SQL echo is left out: the states it writes are checked here."""
        root = logging.getLogger()
        level = root.level
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
        try:
            yield
        finally:
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
                if graph := getattr(asyncio, "format_call_graph", None):  # 3.14
                    lines.append(graph(task))
                else:
                    lines.append(repr(task))
                    lines.extend(str(frame) for frame in task.get_stack())
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
        """Inject one event: its kind's handler (`EVENTS`, after the handlers)
        injects it and names what the summary counts (None: nothing, or later)."""
        handler = self.EVENTS.get(event.kind)
        if handler is None:
            raise AssertionError(event.kind)
        if self._refusing is not None and event.kind in USER_CHANGES:
            # The user acts once the server is back.
            later = Event(self._refusing[0] + 1, event.kind, event.args)
            self.events = deque(sorted([*self.events, later]))
            return
        label = await handler(self, event.kind, event.args)
        if label is not None:
            self.stats.faults[label] += 1

    async def _on_fault(self, _kind: str, args: dict[str, Any]) -> str:
        """A fault of the simulator (`Faults.set`), for a count or until cleared."""
        label = f"{args['fault']}@{args['endpoint']}"
        retry_after = args.get("retry_after")
        self.cloud.sim.faults.set(
            args["fault"],
            args["endpoint"],
            args.get("count"),
            retry_after=retry_after,
        )
        if args.get("count"):
            self._count_faults[args["endpoint"]] = label
        if retry_after is not None:  # HTTP 429: as the integration bounds it
            seconds = min(max(int(retry_after), 60), 3600)
            self._retry_after = timedelta(seconds=seconds)
        if args["fault"] == "token_glitch":
            self._start_token_episode(label)
        return label

    async def _on_fault_end(self, _kind: str, args: dict[str, Any]) -> str | None:
        self.cloud.sim.faults.clear(args["endpoint"])
        if args["fault"] == "token_glitch":
            self._end_token_episode()
        self.expect_all(f"end of {args['fault']}@{args['endpoint']}")
        return None

    async def _on_token_invalid_200(self, kind: str, _args: dict[str, Any]) -> str:
        """The tokens expire, and the cloud says so with HTTP 200 "token
        invalid": one login brings the data back (the fault lasting)."""
        self.cloud.sim.faults.set(kind)
        self.cloud.sim.expire_tokens()
        self._start_token_episode(kind)
        for sn in self.meters:
            self.expect(sn, kind, despite_faults=True)
        return kind

    async def _on_token_invalid_200_end(
        self, _kind: str, _args: dict[str, Any]
    ) -> str | None:
        self.cloud.sim.faults.clear("*")
        self._end_token_episode()
        return None

    async def _on_concurrent_refresh(self, _kind: str, args: dict[str, Any]) -> str:
        return await self.refresh_at_once(args["sn"], args["calls"])

    async def _on_token_expiry(self, kind: str, _args: dict[str, Any]) -> str:
        self.cloud.sim.expire_tokens()
        self.expect_all(kind)
        return kind

    async def _on_shape(self, _kind: str, args: dict[str, Any]) -> str:
        """Answers in one of the real cloud's shapes (`Shapes`)."""
        shapes = self.cloud.sim.shapes
        match args["shape"]:
            case "extra_values":
                shapes.extra_values = args["extra_values"]
                return "extra_values@meterdata2"
            case "nulls":
                shapes.nulls = frozenset(args["nulls"])
                rows = args["null_rows"]
                shapes.null_rows = None if rows is None else frozenset(rows)
                return f"nulls:{'+'.join(args['nulls'])}@meterdata2"
            case _:
                shapes.login_id = args["login_id"]
                return f"login_id:{args['login_id']}"

    async def _on_shape_end(self, _kind: str, args: dict[str, Any]) -> str | None:
        self.cloud.sim.shapes = Shapes()
        self.expect_all(f"end of {args['shape']}")
        return None

    async def _on_other_client_readings(self, _kind: str, args: dict[str, Any]) -> str:
        """The cloud counts each of them (the vendor: it counts every request
        it receives): the meter's window is full for the next hour."""
        sim = self.cloud.sim
        sim.quota_counts_rejected = True
        try:
            await self.cloud.other_client_readings(args["sn"], args["count"])
        finally:
            sim.quota_counts_rejected = False
        label = "quota_used_by_other_client"
        self._gaps[args["sn"]] = GapWatch(EMPTY_OTHER, self.now())
        self.expect(args["sn"], label)
        return label

    async def _on_other_client_logins(self, _kind: str, args: dict[str, Any]) -> str:
        await self.cloud.other_client_logins(args["count"])
        return "logins_used_by_other_client"

    async def _on_offline(self, _kind: str, args: dict[str, Any]) -> str:
        start = from_minute(to_minute(self.now()) + 1)  # the cloud has this one
        end = start + timedelta(minutes=args["minutes"])
        self.meters[args["sn"]].set_offline(start, end)
        return f"offline_{args['minutes'] // 60}h"

    async def _on_offline_end(self, _kind: str, args: dict[str, Any]) -> str | None:
        self.expect(args["sn"], "meter back online")
        return None

    def _note_change(self, sn: str, at: datetime, row: int | None, kind: str) -> None:
        """A register change, as of the minute the meter's readings show it
        (the simulator applies it from `at`'s minute: the reading dated that
        minute, a little before `at`, already has it)."""
        minute = from_minute(to_minute(at))
        self.registers.changes.setdefault(sn, []).append((minute, row, kind))

    async def _on_counter_reset(self, _kind: str, args: dict[str, Any]) -> str:
        sn = args["sn"]
        at = self.now() + STEP
        self.meters[sn].reset_counters(at)
        self._note_change(sn, at, None, "reset")
        return "genuine_counter_reset"

    async def _on_restored_register(self, _kind: str, args: dict[str, Any]) -> str:
        sn, at = args["sn"], self.now() + STEP
        self.meters[sn].restore_register(at, args["kwh"], args["row"])
        self._note_change(sn, at, args["row"], "restored")
        return f"restored_register_{args['kwh']}kWh"

    async def _on_rounded_restore(self, _kind: str, args: dict[str, Any]) -> str:
        """The export counter of the solar phase, rounded up for a while, the
        truth again (at night: held as the same value), then restored."""
        sn = args["sn"]
        row, start = self.meters[sn].solar_phase, self.now() + STEP
        self.meters[sn].round_up(start, start + timedelta(minutes=args["minutes"]), row)
        at = start + timedelta(minutes=args["restore_after"])
        self.meters[sn].restore_register(at, args["kwh"], row)
        self._note_change(sn, at, row, "restored")
        return "rounded_restore"

    async def _on_float_noise(self, _kind: str, args: dict[str, Any]) -> str:
        start = self.now() + STEP
        end = start + timedelta(minutes=args["minutes"])
        self.meters[args["sn"]].add_noise(start, end, every=args["every"])
        return "float_wobble" if args["every"] == 2 else "float_noise"

    async def _on_clock_ahead(self, _kind: str, args: dict[str, Any]) -> str:
        start = self.now() + STEP
        end = start + timedelta(minutes=args["minutes"])
        lead = timedelta(minutes=args["lead"])
        self.meters[args["sn"]].set_clock_lead(start, end, lead)
        return "future_reading" if args["minutes"] == 1 else "clock_ahead"

    async def _on_restart(self, kind: str, _args: dict[str, Any]) -> str:
        await self.restart(kind)
        return kind

    async def _on_reload(self, kind: str, _args: dict[str, Any]) -> str:
        await self.reload()
        return kind

    async def _on_restart_mid_update(
        self, _kind: str, _args: dict[str, Any]
    ) -> str | None:
        """A slow answer, and the restart while Home Assistant waits for it
        (counted when it happens)."""
        self.cloud.sim.faults.set("timeout", "meterdata2", 1)
        self._armed_mid_update = True
        return None

    async def _on_options(self, kind: str, args: dict[str, Any]) -> str:
        await self.change_options(args["interval"])
        return kind

    async def _on_meter_added(self, kind: str, args: dict[str, Any]) -> str:
        self.cloud.add_meter(args["sn"], args["name"], self.seed)
        self._added[args["sn"]] = self.now() + timedelta(minutes=ADD_WITHIN)
        return kind

    async def _on_connection_refused(self, kind: str, args: dict[str, Any]) -> str:
        """The port closes and the token expires: the entry's attempts, setups
        and a reconfiguration all end in "cannot connect" and cost no login."""
        self._read_log()
        self.cloud.sim.expire_tokens()
        await self.cloud.refuse_connections()
        await self.settle()
        hour, day = self._logins_held()
        self._refusing = (self.step + args["minutes"], hour, day)
        for _ in range(REFUSED_SUBMITS):
            await self._submit_refused(SOURCE_USER)
        await self._submit_refused("reconfigure")
        return kind

    async def _on_connection_refused_end(
        self, _kind: str, _args: dict[str, Any]
    ) -> str | None:
        self._check_refused_logins()
        self._refusing = None
        await self.cloud.accept_connections()
        now = self.now()
        if any(f.remaining is None for f in self.cloud.sim.faults.active.values()):
            # Fell into a lasting fault (a short campaign): its end expects data.
            self._expect.clear()
        for pending in self._expect:  # their time ran while the port was closed
            frees = max(now + 2 * self.interval, self._quota_frees(pending.sn, now))
            pending.deadline = max(pending.deadline, frees + SLACK)
        self.expect_all("end of connection_refused")
        return None

    def _logins_held(self) -> tuple[int, int]:
        """The logins the shared ledger counts on the server (hour, day)."""
        ledger = self.hass.data[DATA_STORE].ledger
        host, now = api_host(self.cloud.sim.base_url), self.now()
        return (
            ledger.used("login", host, now, HOUR),
            ledger.used("login", host, now, timedelta(days=1)),
        )

    def _check_refused_logins(self) -> None:
        """No login counted since the port closed (the windows only slide)."""
        if self._refusing is None:
            return
        _, hour, day = self._refusing
        held = self._logins_held()
        self.check(
            "a connection refused costs no login",
            held[0] <= hour and held[1] <= day,
            f"the ledger holds {held} logins (hour, day); {(hour, day)} when the "
            "port closed",
        )

    async def _submit_refused(self, source: str) -> None:
        """A setup (or a reconfiguration of the entry) with the right password
        against the closed port: "cannot connect", and as many logins left."""
        flows = self.hass.config_entries.flow
        if source == SOURCE_USER:
            form = await flows.async_init(DOMAIN, context={"source": SOURCE_USER})
        else:
            form = await self.entry.start_reconfigure_flow(self.hass)
        before = int(form["description_placeholders"]["logins_left"])
        result = await flows.async_configure(
            form["flow_id"],
            {
                CONF_USERNAME: USERNAME,
                CONF_PASSWORD: PASSWORD,
                CONF_ADVANCED: {CONF_API_URL: self.cloud.sim.base_url},
            },
        )
        flows.async_abort(form["flow_id"])
        self.check(
            "a closed port is 'cannot connect'",
            result.get("errors") == {"base": "cannot_connect"},
            f"{source}: {result.get('errors') or result.get('type')}",
        )
        after = int(result["description_placeholders"]["logins_left"])
        self.check(
            "a connection refused costs no login",
            after >= before,
            f"{source}: {before} logins left before the submit, {after} after",
        )
        self._check_refused_logins()

    async def _on_action(self, kind: str, args: dict[str, Any]) -> str:
        """A user's action, `action_<service>`."""
        return await self.call_action(kind.removeprefix("action_"), args)

    # What each kind of event of the schedule (tests/soak/schedule.py) does.
    EVENTS: ClassVar[dict[str, EventHandler]] = {
        "fault": _on_fault,
        "fault_end": _on_fault_end,
        "token_invalid_200": _on_token_invalid_200,
        "token_invalid_200_end": _on_token_invalid_200_end,
        "token_expiry": _on_token_expiry,
        "concurrent_refresh": _on_concurrent_refresh,
        "shape": _on_shape,
        "shape_end": _on_shape_end,
        "other_client_readings": _on_other_client_readings,
        "other_client_logins": _on_other_client_logins,
        "offline": _on_offline,
        "offline_end": _on_offline_end,
        "counter_reset": _on_counter_reset,
        "restored_register": _on_restored_register,
        "rounded_restore": _on_rounded_restore,
        "float_noise": _on_float_noise,
        "clock_ahead": _on_clock_ahead,
        "restart": _on_restart,
        "reload": _on_reload,
        "restart_mid_update": _on_restart_mid_update,
        "options": _on_options,
        "meter_added": _on_meter_added,
        "connection_refused": _on_connection_refused,
        "connection_refused_end": _on_connection_refused_end,
        "action_refresh": _on_action,
        "action_fetch_analytics": _on_action,
        "action_backfill": _on_action,
    }

    def _watch_freshness(
        self, sn: str, now: datetime, reading: datetime | None, fresh: bool
    ) -> None:
        """The minutes an empty answer costs; the data stay fresh after a burst
        of refreshes (unless something else keeps them from it)."""
        watch = self._gaps.get(sn)
        if watch is not None:
            watch.stale += 0 if fresh else 1
            if reading is not None and reading >= watch.since:
                del self._gaps[sn]
                waited = (now - watch.since).total_seconds() / 60
                self.stats.gaps.setdefault(watch.case, []).append((waited, watch.stale))
        until = self._keep_fresh.get(sn)
        if until is not None and now > until:
            del self._keep_fresh[sn]
        elif until is not None and reading is not None and not self._disturbed(sn, now):
            limit = max(SCHEDULE_MAX_GAP, self.interval) + SLACK
            self.check(
                "refreshes leave the scheduled updates their budget",
                now - reading <= limit,
                f"{sn}: the newest reading is {now - reading} old after refreshes",
            )

    def _disturbed(self, sn: str, now: datetime) -> bool:
        """Something else than refreshes may keep the data from being fresh."""
        if self.cloud.sim.faults.active or self._expect or sn in self._gaps:
            return True
        if self._refusing is not None:
            return True
        if self.entry.state is not ConfigEntryState.LOADED:
            return True
        minute = to_minute(now)
        if not all(
            self.meters[sn].is_online(m) for m in range(minute - 20, minute + 1)
        ):
            return True
        recent = [
            self._refused.get(sn),
            self._refused.get("login"),
            self._paused.get(sn),
        ]
        return any(t is not None and t > now - HOUR for t in recent)

    def _readings_since(self, mark: int, sn: str) -> int:
        """Our reading requests for `sn` after log entry `mark` that got one."""
        return sum(
            1
            for e in self.cloud.sim.log[mark:]
            if self.cloud.is_ours(e)
            and e.endpoint in LATEST
            and e.scope == sn
            and e.outcome in READ_OUTCOMES
        )

    async def refresh_at_once(self, sn: str, calls: int) -> str:
        """`calls` refresh actions at the same time: each one read the meter or
        failed with a translated error, and the data stay fresh afterwards."""
        device = find_device(self.hass, self.entry.entry_id, sn)
        assert device is not None
        mark = len(self.cloud.sim.log)

        async def all_at_once() -> list[BaseException | None]:
            return await asyncio.gather(
                *(
                    self.hass.services.async_call(
                        DOMAIN, "refresh", {"device_id": device.id}, blocking=True
                    )
                    for _ in range(calls)
                ),
                return_exceptions=True,
            )

        results = await self.drive(all_at_once())
        await self.settle()
        succeeded = 0
        for result in results:
            if result is None:
                succeeded += 1
                self.stats.refreshes["ok"] += 1
                continue
            translated = isinstance(result, HomeAssistantError) and bool(
                result.translation_key
            )
            self.check(
                "a refresh fails with a translated error", translated, repr(result)
            )
            assert isinstance(result, HomeAssistantError)
            self.check(
                "no secret in an action's error",
                not any(
                    s in f"{result} {result.translation_placeholders}"
                    for s in self.cloud.secrets
                ),
                "refresh",
            )
            self.stats.refreshes[str(result.translation_key)] += 1
        readings = self._readings_since(mark, sn)
        self.check(
            "a refresh succeeds only with a reading made for it",
            succeeded == readings,
            f"{sn}: {succeeded} of {calls} refreshes succeeded, {readings} readings",
        )
        reading = self._reading.get(sn)
        if reading is not None and self.now() - reading <= STALE_AFTER:
            self._keep_fresh[sn] = self.now() + HOUR
        return "concurrent_refresh"

    def _start_token_episode(self, label: str) -> None:
        self._read_log()
        self._token_episode = (label, len(self._login_times), self.now())

    def _end_token_episode(self) -> None:
        """A refused token costs one login (and one more an hour while the
        cloud refuses even new tokens), never the password."""
        self._read_log()
        if self._token_episode is None:
            return
        label, before, began = self._token_episode
        self._token_episode = None
        logins = len(self._login_times) - before
        allowed = 1 + int((self.now() - began) / FRESH_TOKEN_HOLD)
        self.check(
            "a login only when needed while tokens are refused",
            logins <= allowed,
            f"{logins} logins during {label} ({self.now() - began}, {allowed} allowed)",
        )

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
        """The options flow: the same meters (an added one too), another update
        interval."""
        flow = self.hass.config_entries.options
        result = await flow.async_init(self.entry.entry_id)
        result = await flow.async_configure(
            result["flow_id"], {"next_step_id": "settings"}
        )
        result = await flow.async_configure(
            result["flow_id"],
            {
                CONF_METERS: list(self.entry.options[CONF_METERS]),
                CONF_SCAN_INTERVAL: interval,
            },
        )
        self.check("options saved", result["type"] == "create_entry", str(result))
        await self.settle()
        self.expect_all("options")

    async def call_action(self, service: str, args: dict[str, Any]) -> str:
        """A user's action; it succeeds or refuses clearly, and tells the truth."""
        sn = args["sn"]
        device = find_device(self.hass, self.entry.entry_id, sn)
        assert device is not None
        data: dict[str, Any] = {"device_id": device.id}
        end = dt_util.now().date() - timedelta(days=args["back"])
        start = end - timedelta(days=args["days"] - 1)
        if service == "fetch_analytics":
            data |= {"start_date": str(start), "end_date": str(end)}
        elif service == "backfill":
            data["start_date"] = str(end)
        response = None
        mark = len(self.cloud.sim.log)
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
        if service == "refresh":
            readings = self._readings_since(mark, sn)
            self.check(
                "a refresh succeeds only with a reading made for it",
                readings == 1 if outcome == "ok" else readings == 0,
                f"{sn}: {outcome} with {readings} readings",
            )
            self.stats.refreshes[outcome] += 1
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
            == [
                {"value": power[k], "unit": "W"}
                for k in ("average", "dayTimeAverage", "minimum", "maximum")
            ]
            and response["offline"]["offline"]
            == {"value": offline["offlineCount"], "unit": "min"}
            and response["offline"]["total"]
            == {"value": offline["totalCount"], "unit": "min"},
            f"{sn} {start}..{end}: {response}, the cloud: {power} {offline}",
        )

    # -- recovery expectations ---------------------------------------------------
    def expect_all(self, label: str) -> None:
        """Both meters must show fresh data soon."""
        for sn in self.meters:
            self.expect(sn, label)

    def expect(self, sn: str, label: str, *, despite_faults: bool = False) -> None:
        """Fresh data for `sn` within two intervals, or when its quota frees."""
        self._read_log()
        now = self.now()
        if not self.meters[sn].is_online(to_minute(now)):
            return  # it has nothing new; the end of its outage expects it
        faults = self.cloud.sim.faults.active.values()
        if not despite_faults and any(f.remaining is None for f in faults):
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
            if self._refusing is not None:
                break  # the port's reopening sets the deadlines again
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
        self._check_added(now)
        logins = self.hass.states.get(self.logins_entity)
        self._check_new_state(self.logins_entity, logins)
        self._check_refused_logins()
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

    def _check_added(self, now: datetime) -> None:
        """A meter added to the account gets its device and entities in time
        (its readings are within the quota like every meter's: `_arrived`)."""
        registry = er.async_get(self.hass)
        for sn, deadline in list(self._added.items()):
            entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{sn}_power")
            state = self.hass.states.get(entity_id) if entity_id else None
            if (
                sn in self.entry.options.get(CONF_METERS, [])
                and state is not None
                and state.state not in GONE
            ):
                del self._added[sn]
                left = (deadline - now).total_seconds() / 60
                self.stats.added.append(ADD_WITHIN - left)
                continue
            self.check(
                "a meter added to the account gets its entities",
                now <= deadline,
                f"{sn}: no entities by {deadline.isoformat()}",
            )

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
            if self.cloud.is_ours(entry) and entry.endpoint in LATEST:
                self._answered_reading(entry)
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

    def _answered_reading(self, entry: LogEntry) -> None:
        """HTTP 429 pauses the meter's calls; an empty answer starts a watch."""
        if entry.status == 429:
            until = entry.time + self._retry_after
            self._paused[entry.scope] = until
            for pending in self._expect:
                if pending.sn == entry.scope:
                    deadline = until + self.interval + SLACK
                    pending.deadline = max(pending.deadline, deadline)
        elif entry.outcome == "fault:empty_body" and entry.scope not in self._gaps:
            self._gaps[entry.scope] = GapWatch(EMPTY_ONE_OFF, entry.time)

    def _arrived(self, entry: LogEntry) -> None:
        if entry.endpoint in LATEST and (until := self._paused.get(entry.scope)):
            self.check(
                "HTTP 429's Retry-After is honoured",
                entry.time >= until,
                f"{entry.scope}: a request at {entry.time}, paused until {until}",
            )
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
        reading = self._check_reading(sn, now)
        fresh = reading is not None and now - reading <= STALE_AFTER
        self._watch_freshness(sn, now, reading, fresh)
        connection = states.get(self.connection[sn])
        if connection is not None and connection.state not in GONE:
            self.check(
                "connection follows the reading's age",
                (connection.state == "on") == fresh,
                f"{sn}: {connection.state} with the reading of {reading}",
            )
        rows = self.truth.rows(sn, to_minute(reading)) if reading else None
        for entity_id in (self.last_reading[sn], self.connection[sn]):
            self._check_new_state(entity_id, states.get(entity_id))
        self._check_values(sn, now, reading, fresh, rows)

    def _check_reading(self, sn: str, now: datetime) -> datetime | None:
        """The meter's newest reading as shown (None: none shown)."""
        meter = self.meters[sn]
        shown = self.hass.states.get(self.last_reading[sn])
        if shown is None or shown.state in GONE:
            return None
        reading = dt_util.parse_datetime(shown.state)
        self.check("last reading parses", reading is not None, shown.state)
        assert reading is not None
        minute = to_minute(reading)
        self.check("reading not in the future", reading <= now, shown.state)
        # Dated ahead by the meter's clock, a reading counts as taken when
        # it was received: within the minute the meter sent it.
        ahead = meter.clock_lead(minute) > timedelta()
        self.check(
            "reading is one the meter sent",
            meter.is_online(minute) and (reading == from_minute(minute) or ahead),
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
        return reading

    def _check_values(
        self,
        sn: str,
        now: datetime,
        reading: datetime | None,
        fresh: bool,
        rows: tuple[tuple[float, ...], ...] | None,
    ) -> None:
        """The meter's entities against the truth of the reading they show."""
        totals: dict[int, float] = {}
        for item in self.specs[sn]:
            state = self.hass.states.get(item.entity_id)
            self._check_new_state(item.entity_id, state)
            if state is None or state.state in GONE:
                continue
            value = float(state.state)
            self.check("numeric state", math.isfinite(value), item.entity_id)
            match item.kind:
                case "analytics":
                    self._check_analytics(item, value, state.attributes)
                case "api_calls":
                    self._check_usage(
                        item.entity_id,
                        value,
                        state.last_updated,
                        self._latest_times[sn],
                        HOUR,
                    )
                case "live" | "total_power":
                    self._check_live(item, value, reading, fresh, rows)
                case _:
                    self._check_energy(item, value, now, rows, reading)
            if item.kind == "energy" and sn == SN3:
                totals[item.col] = totals.get(item.col, 0.0) + value
        if sn == SN3:
            self._check_totals(totals)

    def _check_live(
        self,
        item: Spec,
        value: float,
        reading: datetime | None,
        fresh: bool,
        rows: tuple[tuple[float, ...], ...] | None,
    ) -> None:
        self.check(
            "live values only while fresh",
            fresh,
            f"{item.entity_id} = {value} with the reading of {reading}",
        )
        assert rows is not None
        true = (
            rows[item.row][item.col] if item.kind == "live" else sum(r[2] for r in rows)
        )
        self.check(
            "live value is the truth",
            value == true,
            f"{item.entity_id} = {value}, the meter sent {true} at {reading}",
        )

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
        self._check_energy_grows(eid, value, last, now, reading)
        if item.kind != "energy" or rows is None or reading is None:
            return
        self._check_energy_truth(item, value, last, rows[item.row][item.col], reading)

    def _check_energy_grows(
        self,
        eid: str,
        value: float,
        last: float | None,
        now: datetime,
        reading: datetime | None,
    ) -> None:
        """Every energy sensor, phases too, only grows: a register change
        continues the series from where it was."""
        if last is not None and value != last:
            self.check(
                "energy never decreases", value > last, f"{eid}: {last} -> {value}"
            )
            self.check(
                "energy never returns to 0",
                value > 0 or last == 0,
                f"{eid}: {last} -> {value}",
            )
            self._energy_trace.setdefault(eid, []).append((now, reading or now))
        elif last is None:
            self._energy_trace.setdefault(eid, []).append((now, reading or now))
        self._energy[eid] = value

    def _check_energy_truth(
        self,
        item: Spec,
        value: float,
        last: float | None,
        true: float,
        reading: datetime,
    ) -> None:
        """A phase's energy is the meter's counter `true` (continued from where
        it was after a register change), or the guard's last value."""
        eid, book = item.entity_id, self.registers
        before, book.last_true[eid] = book.last_true.get(eid), true
        shift = book.shift.get(eid, 0.0)
        expected = self._above_floor(eid, round(true + shift, 3))
        nulled = self.cloud.sim.nulled.get((item.sn, to_minute(reading)), set())
        if (item.row, ENERGY_NAMES[item.col]) in nulled:
            # Sent as null with this reading: the counter keeps its last value.
            self.check(
                "a null counter keeps its last value",
                value <= expected,
                f"{eid} = {value}, the meter sent null (truly {true}) at {reading}",
            )
            return
        if abs(value - expected) < 1e-6:
            book.lower.pop(eid, None)
            book.held.pop(eid, None)
            self.stats.checks["energy is the truth"] += 1
            return
        held = book.held.setdefault(
            eid, (last if last is not None else value, true, reading)
        )
        if before is not None and self._changed_since(item, held[2], reading):
            # Held since a value the cloud rounded up: the guard judges the
            # register change against the register as last seen (`before`),
            # and counts the new register from its first value.
            book.hair[eid] = held[0] - round(before + shift, 3)
            held = book.held[eid] = (held[0], true, reading)
        if self._took_register(item, value, true, reading, held):
            return
        # The guard keeps a value only while the meter's counter is lower than it
        # (a glitch, or a register change not yet confirmed): never a higher one.
        self.check(
            "energy is the truth or the guard's last value",
            value > expected and abs(value - held[0]) < 1e-6,
            f"{eid} = {value}, the meter sent {true} at {reading}",
        )
        if value - expected <= NOISE_KWH + 1e-6 and eid not in book.hair:
            return  # the same value to the guard: the cloud's rounding
        self._check_lower_counter(item, value, true, reading)

    def _above_floor(self, eid: str, expected: float) -> float:
        """`expected`, or the value the sensor keeps until the new register's
        growth has made it up (`Registers.floor`)."""
        floor = self.registers.floor.get(eid)
        if floor is None:
            return expected
        if expected >= floor:
            del self.registers.floor[eid]
        return max(expected, floor)

    def _check_lower_counter(
        self, item: Spec, value: float, true: float, reading: datetime
    ) -> None:
        """A counter lower than the value shown persists only for a while."""
        eid = item.entity_id
        lower = self.registers.lower.setdefault(eid, set())
        lower.add(to_minute(reading))
        if true > 0:
            self.check(
                "a persisting lower counter is taken as a new register",
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

    def _changed_since(self, item: Spec, since: datetime, reading: datetime) -> bool:
        """A register change of the item's row after `since`, up to `reading`."""
        return any(
            since < at <= reading and row in (None, item.row)
            for at, row, _ in self.registers.changes.get(item.sn, [])
        )

    def _took_register(
        self,
        item: Spec,
        value: float,
        true: float,
        reading: datetime,
        held: tuple[float, float, datetime],
    ) -> bool:
        """Whether the sensor took the meter's new register (after a reset or a
        restored register), continuing from the value it held by exactly what
        the new register counted: from 0 after a reset, from its first value
        after a restored one."""
        eid, book = item.entity_id, self.registers
        events = [
            (index, kind)
            for index, (at, row, kind) in enumerate(book.changes.get(item.sn, []))
            if at <= reading
            and row in (None, item.row)
            and (eid, index) not in book.taken
        ]
        if not events:
            return False
        shown, first, _ = held
        counted = true - (0.0 if events[-1][1] == "reset" else first)
        hair = book.hair.get(eid)
        if hair is not None:
            # What the register counted, less the rounding already published.
            if abs(value - (shown + max(0.0, counted - hair))) > 5e-4:
                return False
        elif abs(value - (shown + counted)) > 0.011:
            return False
        if value == shown:
            # Nothing counted yet: taken or not, it shows the same. Not a
            # persisting lower counter either.
            return True
        issue = ir.async_get(self.hass).async_get_issue(
            DOMAIN, f"counter_reset_{item.sn}"
        )
        self.check("a register change raises its notice", issue is not None, eid)
        book.taken.update((eid, index) for index, _ in events)
        book.shift[eid] = value - true
        if hair is not None:
            book.shift[eid] = shown - hair - first
            book.floor[eid] = shown
            del book.hair[eid]
            self.stats.checks["a rounded-up value is not counted again"] += 1
        book.lower.pop(eid, None)
        book.held.pop(eid, None)
        self.stats.checks["a new register continues the series"] += 1
        return True

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
            expected = round(totals[item.col], 3)
            self.check(
                "three-phase total is the phases' sum",
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
    store = hass.data.pop(DATA_STORE)
    await store.async_save()
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
        "  minutes until a newer reading / with live values unavailable, after "
        + "; ".join(
            f"{case}: {_figures(values)}" for case, values in sorted(s.gaps.items())
        ),
        "  refresh actions: "
        + ", ".join(f"{k}={v}" for k, v in sorted(s.refreshes.items())),
        f"  recoveries: {len(s.recoveries)}, slowest "
        f"{max(s.recoveries, default=0):.0f} min after the fault",
        "  meters added to the account, minutes until their entities: "
        + (", ".join(f"{m:.0f}" for m in s.added) or "none"),
        f"  log records: {campaign.watch.records} " + str(dict(campaign.watch.levels)),
        "  time: "
        + ", ".join(f"{k}={v:.0f}s" for k, v in sorted(campaign.timing.items())),
        *examples,
    ]
    return "\n".join(lines)


def _figures(values: list[tuple[float, int]]) -> str:
    """n, mean and max of (minutes until new data, minutes unavailable)."""
    waited = [w for w, _ in values]
    stale = [x for _, x in values]
    each = " ".join(f"{w:.0f}/{x}" for w, x in values)
    return (
        f"n={len(values)} until new data avg {sum(waited) / len(waited):.1f} "
        f"max {max(waited):.0f}, unavailable avg {sum(stale) / len(stale):.1f} "
        f"max {max(stale)} (each: {each})"
    )


def _note(text: str) -> None:
    """Write past pytest's capture (to `SOAK_WATCHDOG_FILE`, if set)."""
    if path := os.environ.get("SOAK_WATCHDOG_FILE"):
        with open(path, "a", encoding="utf-8") as out:  # noqa: PTH123
            out.write(text + "\n")


def _wall() -> float:
    """Real elapsed seconds (the test's clocks are frozen)."""
    return os.times().elapsed
