"""Energy: the counter keys, the energy guard, and the guards of one meter.

Counters are keyed `{row}_{kind}`: row `a`, `b`, `c` (phases) or `net`, kind
`import` or `export`. Free of Home Assistant: the coordinator offers each
reading here, and shows what comes out.

Sums: `total_{kind}` counts the growth of the grid phases' counters, and each
phase with another role counts its own (`b_solar_energy`: phase B's export).
A sum (`Tally`) only ever adds the growth of the counters it follows while it
follows them: a phase that changes its role leaves one sum and joins another
without a step in either, and a sum that comes back continues where it stopped.

The energy guard: energy counters that never fall, never spike, never read 0.

Home Assistant takes a drop of a `total_increasing` sensor to below 90 % of its
last value as a new meter cycle (and counts the whole new value as new energy),
and a smaller drop as a negative hour. So one transient 0 or lower value from the
cloud becomes a spike of thousands of kWh, or a negative bar, in the Energy
dashboard. Every counter value passes through a `CounterGuard` before an entity
shows it, and what an entity shows is `published`: the meter's register plus an
`offset`, a series that only grows, and only by energy the meter counted.

The rules, for each new value of a counter:
- Not newer than the last accepted one: ignored.
- Within `NOISE_KWH` below the last accepted value: the same value (float noise,
  the cloud's rounding). Held, never logged; the counter's next growth is counted
  from the held value (so such a drop, if it was real, loses less than
  `NOISE_KWH` once).
- Growth a meter can deliver in the elapsed time (`allowed_growth`): accepted.
- Anything else (a 0, a drop, an impossible jump) is held and remembered as a
  candidate for a new register: a meter that restored an older register after a
  power cut, a reset or replaced meter, a register set higher. Values that go on
  from it like a counting register (never falling, plausible growth) confirm it;
  after `RESET_CONFIRMATIONS` of them over at least `RESET_MIN_SPAN` the new
  register is taken: `offset` moves by the size of the change (the register as
  last seen minus the candidate's first value), so the published series
  continues from where it was and grows by what the new register counted since
  its first value (a value the cloud rounded up and then showed lower was
  published a hair high: the new register's growth makes that up first). A
  new register from 0 (a reset or replaced meter: its first value is below
  90 % of the last one, as Home Assistant itself judges a new cycle, and small
  enough to have been counted since the last accepted value) contributes its
  whole value, counted from 0. Otherwise (a register restored a little
  lower, or set higher) the energy of the one interval in which the register
  changed is not known (the meter was off) and is not invented.
- A candidate that the register grows through (back at or above the last
  accepted value) before it is confirmed was a glitch: it is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from .api import Reading
from .const import (
    CONF_ROLES,
    LOGGER,
    MAX_PHASE_POWER_W,
    PHASES,
    RESET_CONFIRMATIONS,
    RESET_MIN_SPAN,
    Role,
)

KINDS: Final = ("import", "export")
NET: Final = "net"
TOTAL: Final = "total"

type Counters = dict[str, float]

NOISE_KWH: Final = 0.01
"""A drop this small is no drop: the cloud sends 2-3 decimals (rounding moves a
value by up to 0.005 kWh, and two roundings of one counter by up to 0.01) and
its JSON floats carry noise of about 1e-6. Larger drops are register changes."""

_ROUNDING_KWH: Final = 0.02
"""Counters are rounded to 0.01 kWh by the cloud: growth may exceed physics by
two roundings."""

RESET_RATIO: Final = 0.9
"""Home Assistant's rule for a new meter cycle: a drop to below 90 %."""

_MAX_PENDING: Final = 500
"""Candidate values kept (for the backfill's hindsight); the first always."""


class Verdict(StrEnum):
    """What the guard did with a value."""

    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
    REJECTED_ZERO = "rejected_zero"
    REJECTED_LOWER = "rejected_lower"
    REJECTED_JUMP = "rejected_jump"
    RESET = "reset"
    """A new register was confirmed; the published series continues."""


@dataclass(slots=True)
class CounterGuard:
    """One energy counter: the last accepted value and a candidate register."""

    max_power_w: float
    value: float | None = None
    """The meter's register as last accepted."""
    time: datetime | None = None
    """When the register was accepted at `value` (growth is measured from it)."""
    seen: datetime | None = None
    """The newest reading that still showed `value` (or a hair below)."""
    held: float | None = None
    """What that reading showed: the register as last seen, which a value the
    cloud rounded up (`value`) may lie a hair above."""
    published: float | None = None
    """The value entities show: never falling, energy conserved. Kept, not
    derived, so that float rounding can never make it fall."""
    pending: list[tuple[datetime, float]] = field(default_factory=list)
    """Values of a candidate new register (time, value), oldest first."""

    @property
    def offset(self) -> float:
        """What `published` adds to `value`: the accepted register changes."""
        if self.value is None or self.published is None:
            return 0.0
        return self.published - self.value

    def offer(self, value: float, time: datetime) -> Verdict:
        """Judge `value` read at `time`: accept, hold, or take a new register."""
        last, since = self.value, self.time
        if last is None or since is None:
            self.published = value
            return self._accept(value, time)
        if time <= (self.seen or since):
            return Verdict.UNCHANGED  # not newer: a duplicate or out of order
        change = value - last
        if -NOISE_KWH <= change <= allowed_growth(self.max_power_w, time - since):
            return self._grow(value, time, change)
        return self._hold(value, time, last, change)

    def _grow(self, value: float, time: datetime, change: float) -> Verdict:
        """A plausible value: counted (growth), or the same register (noise)."""
        self.pending.clear()
        if change > 0:
            self.published = (self.published or 0.0) + change
            return self._accept(value, time)
        self.seen, self.held = time, value  # the register read `last` then
        return Verdict.UNCHANGED

    def _hold(
        self, value: float, time: datetime, last: float, change: float
    ) -> Verdict:
        """An implausible value: a candidate for a new register until confirmed."""
        self._add_candidate(value, time, last)
        if self._confirmed():
            return self._take_register(time, last)
        if change > 0:
            return Verdict.REJECTED_JUMP
        return Verdict.REJECTED_ZERO if value == 0 else Verdict.REJECTED_LOWER

    def _add_candidate(self, value: float, time: datetime, last: float) -> None:
        """Go on with the candidate register, or start a new one at `value`.

        A candidate goes on while it counts like a register (never falling,
        plausible growth) on one side of the accepted value: a lower register
        that grows past it was a glitch.
        """
        if self.pending:
            (first, start), (then, before) = self.pending[0], self.pending[-1]
            growth = allowed_growth(self.max_power_w, time - first)
            if time == then:
                return  # a duplicate
            if (
                time > then
                and (start < last) == (value < last)
                and value >= before - NOISE_KWH
                and value - start <= growth
            ):
                self.pending.append((time, max(value, before)))
                if len(self.pending) > _MAX_PENDING:
                    del self.pending[1]
                return
        # Falling, implausible, or older than its newest value (the backfill
        # replays the history before it): a new candidate starts here.
        self.pending[:] = [(time, value)]

    def _confirmed(self) -> bool:
        """Enough values over enough time, and the register has left 0."""
        (first, _), (newest, value) = self.pending[0], self.pending[-1]
        return (
            value > 0
            and len(self.pending) >= RESET_CONFIRMATIONS
            and newest - first >= RESET_MIN_SPAN
        )

    def _take_register(self, time: datetime, last: float) -> Verdict:
        """Go on with the candidate register, counting what it counted.

        The old register is judged as last seen (`held`): a value the cloud
        rounded up and then showed lower was published a hair high. That hair
        is not counted again: the new register's growth first makes it up.
        """
        (began, start), newest = self.pending[0], self.pending[-1][1]
        seen = self.seen or self.time or began
        held = last if self.held is None else min(self.held, last)
        if start < RESET_RATIO * held and start <= allowed_growth(
            self.max_power_w, began - seen
        ):
            start = 0.0  # a new register from 0: all it shows was counted since
        self.published = (self.published or 0.0) + max(0.0, newest - start)
        self.pending.clear()
        self._accept(newest + (last - held), time)
        self.held = newest  # `value` is this, or a hair above it
        return Verdict.RESET

    def not_after(self, moment: datetime) -> None:
        """Bring times beyond `moment` (a clock that ran ahead) back to it."""
        if self.time is not None and self.time > moment:
            self.time = moment
        if self.seen is not None and self.seen > moment:
            self.seen = moment

    def _accept(self, value: float, time: datetime) -> Verdict:
        self.value, self.time, self.seen, self.held = value, time, time, value
        return Verdict.ACCEPTED

    def export(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return {
            "value": self.value,
            "time": None if self.time is None else self.time.isoformat(),
            "offset": self.offset,  # what versions before 0.2 read
            "published": self.published,
        }

    @classmethod
    def restore(cls, max_power_w: float, data: object) -> CounterGuard:
        """Rebuild from `export`; anything malformed gives an empty guard."""
        guard = cls(max_power_w)
        if not isinstance(data, dict):
            return guard
        value, time, offset = data.get("value"), data.get("time"), data.get("offset")
        published = data.get("published")
        if not isinstance(value, int | float) or not isinstance(time, str):
            return guard
        try:
            guard.value, guard.time = float(value), datetime.fromisoformat(time)
            guard.seen = guard.time
        except ValueError:
            return cls(max_power_w)
        guard.published = guard.value
        if isinstance(published, int | float) and published >= guard.value:
            guard.published = float(published)
        elif isinstance(offset, int | float):
            guard.published = guard.value + float(offset)
        return guard


def allowed_growth(max_power_w: float, elapsed: timedelta) -> float:
    """kWh a counter may grow by in `elapsed` (for messages and tests)."""
    return max_power_w / 1000 * elapsed.total_seconds() / 3600 + _ROUNDING_KWH


# --- counter keys ------------------------------------------------------------------


def counter_key(row: str, kind: str) -> str:
    """The key of a counter (`a_import`, `net_export`) or a total (`total_import`)."""
    return f"{row}_{kind}"


def max_power(key: str) -> float:
    """The most power a counter may see: net and total counters see all phases."""
    return MAX_PHASE_POWER_W * (3 if key.startswith((NET, TOTAL)) else 1)


def counters(reading: Reading) -> Counters:
    """A reading's counters by key (`a_import`, `net_export`...).

    A counter the cloud sent as `null` is left out (the reading has no value
    for it), never taken as 0.
    """
    rows = [*zip(PHASES, reading.phases, strict=False)]
    if reading.net is not None:
        rows.append((NET, reading.net))
    values: Counters = {}
    for row, phase in rows:
        for kind, value in zip(
            KINDS, (phase.energy_import, phase.energy_export), strict=True
        ):
            if value is not None:
                values[counter_key(row, kind)] = value
    return values


@dataclass(frozen=True, slots=True)
class EnergySensor:
    """An energy sensor of a meter: its key, and the counters it adds up."""

    key: str
    """The sensor's key: its unique id is `{SN}_{key}`."""
    shown: str
    """The published energy it shows (a counter key, or `total_{kind}`)."""
    counters: tuple[str, ...]
    """The guarded counters it is made of: one, or the three phases."""


def energy_sensors(
    phases: int, *, net: bool, roles: Mapping[str, Role] | None = None
) -> list[EnergySensor]:
    """The energy sensors of a meter of `phases` phases (with a net row or not),
    its phases in `roles` (all grid where not given)."""
    roles = roles or {}
    sums = role_sums(roles)
    sensors = []
    for kind in KINDS:
        if phases == 1:
            key = counter_key(PHASES[0], kind)
            sensors.append(EnergySensor(sensor_key(None, kind), key, (key,)))
            continue
        total = counter_key(TOTAL, kind)
        sensors.append(EnergySensor(sensor_key(None, kind), total, sums[total]))
        rows = [*PHASES, NET] if net else list(PHASES)
        for row in rows:
            key = counter_key(row, kind)
            sensors.append(EnergySensor(sensor_key(row, kind), key, (key,)))
    for row in PHASES[:phases]:
        for energy in ROLE_ENERGY.get(roles.get(row, Role.GRID), ()):
            shown = f"{row}_{energy.key}"
            key = role_sensor_key(row, energy.key, phases)
            sensors.append(EnergySensor(key, shown, sums[shown]))
    return sensors


def sensor_key(row: str | None, kind: str) -> str:
    """The key of an energy sensor: `energy_import` (the meter's), `a_energy_import`."""
    return f"energy_{kind}" if row is None else f"{row}_energy_{kind}"


# --- phase roles ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleEnergy:
    """An energy sensor a phase's role adds: `{row}_{key}`, following a counter."""

    key: str
    kind: str
    """The phase's counter it follows: `import` or `export`."""


ROLE_ENERGY: Final[Mapping[Role, tuple[RoleEnergy, ...]]] = {
    Role.SOLAR: (RoleEnergy("solar_energy", "export"),),
    Role.BATTERY: (
        RoleEnergy("battery_charge_energy", "import"),
        RoleEnergy("battery_discharge_energy", "export"),
    ),
    Role.DEVICE: (RoleEnergy("device_energy", "import"),),
}
"""The energy a role adds. The meter counts power into the phase's circuit as
import: a battery's charge, a device's consumption; and out of it as export: a
PV inverter's production, a battery's discharge."""

ROLE_POWER: Final[Mapping[Role, tuple[str, float]]] = {
    Role.SOLAR: ("solar_power", -1.0),
    Role.BATTERY: ("battery_power", -1.0),
    Role.DEVICE: ("device_power", 1.0),
}
"""The power sensor a role adds, and the sign it gives the phase's power (which
is positive into the circuit): production is positive; a battery's power is
positive while it discharges (the Energy dashboard's convention); a device's
consumption is positive."""


_ROLES: Final = frozenset(Role)


def roles_of(options: Mapping[str, Any], sn: str) -> dict[str, Role]:
    """Each phase's role from an entry's options (`grid` where not set or
    unreadable)."""
    every = options.get(CONF_ROLES)
    meter = every.get(sn) if isinstance(every, Mapping) else None
    roles = {}
    for row in PHASES:
        value = meter.get(row) if isinstance(meter, Mapping) else None
        roles[row] = (
            Role(value) if isinstance(value, str) and value in _ROLES else Role.GRID
        )
    return roles


def role_sensor_key(row: str, key: str, phases: int) -> str:
    """The key of a role's sensor: `b_solar_energy`, or `solar_energy` for a
    single-phase meter."""
    return key if phases == 1 else f"{row}_{key}"


def role_sums(roles: Mapping[str, Role]) -> dict[str, tuple[str, ...]]:
    """The sums shown, and the counters each follows: the totals (the grid
    phases), and each role's energy (`b_solar_energy`: `b_export`)."""
    grid = [row for row in PHASES if roles.get(row, Role.GRID) is Role.GRID]
    sums = {
        counter_key(TOTAL, kind): tuple(counter_key(row, kind) for row in grid)
        for kind in KINDS
    }
    for row in PHASES:
        for energy in ROLE_ENERGY.get(roles.get(row, Role.GRID), ()):
            sums[f"{row}_{energy.key}"] = (counter_key(row, energy.kind),)
    return sums


@dataclass(slots=True)
class Tally:
    """A sum of counters' growth: never falls, never steps when its counters
    change."""

    value: float | None = None
    """None until its counters first have values."""
    follows: dict[str, float] = field(default_factory=dict)
    """The counters followed, at the published value last counted."""

    def follow(self, keys: Sequence[str], published: Mapping[str, float]) -> None:
        """Add the growth of `keys` since last counted; a counter newly
        followed starts where it is, one no longer followed is forgotten."""
        present = {key: published[key] for key in keys if key in published}
        if self.value is None:
            if present:
                self.value = sum(present.values())
                self.follows = present
            return
        growth = 0.0
        for key, value in present.items():
            last = self.follows.get(key)
            if last is not None and value > last:
                growth += value - last
            present[key] = value if last is None else max(value, last)
        self.follows = present
        self.value += growth

    def export(self) -> dict[str, Any]:
        """The JSON form."""
        return {"value": self.value, "follows": self.follows}

    @classmethod
    def restore(cls, data: object) -> Tally:
        """From `export`; what is unreadable starts anew."""
        if not isinstance(data, Mapping):
            return cls()
        value = data.get("value")
        follows = data.get("follows")
        return cls(
            value=float(value) if isinstance(value, int | float) else None,
            follows={
                str(key): float(number)
                for key, number in (
                    follows.items() if isinstance(follows, Mapping) else ()
                )
                if isinstance(number, int | float)
            },
        )


# --- the guards of one meter -------------------------------------------------------


class MeterEnergy:
    """The energy guards of one meter, what they publish, and their log lines."""

    def __init__(
        self,
        sn: str,
        on_reset: Callable[[], None],
        roles: Mapping[str, Role] | None = None,
    ) -> None:
        """`on_reset` is called when a counter went on with a new register;
        `roles`: each phase's (all grid where not given)."""
        self.sn = sn
        self.roles: dict[str, Role] = dict(roles or {})
        self.guards: dict[str, CounterGuard] = {}
        self.sums: dict[str, Tally] = {}
        self._on_reset = on_reset
        self._rejected: set[str] = set()

    def restore(
        self,
        states: Mapping[str, object],
        not_after: datetime,
        sums: Mapping[str, object] | None = None,
    ) -> None:
        """The guards and sums as exported; times beyond `not_after` are
        brought back. A sum that the roles no longer show forgets its counters
        (it continues from its value when it is shown again)."""
        for key, state in states.items():
            guard = CounterGuard.restore(max_power(key), state)
            guard.not_after(not_after)  # stored by a version that trusted the clock
            self.guards[key] = guard
        self.sums = {key: Tally.restore(state) for key, state in (sums or {}).items()}
        shown = role_sums(self.roles)
        for key, tally in self.sums.items():
            if key not in shown:
                tally.follows.clear()
        self._count()

    def export(self) -> dict[str, dict[str, Any]]:
        """Every guard's state (for the store)."""
        return {key: guard.export() for key, guard in self.guards.items()}

    def export_sums(self) -> dict[str, dict[str, Any]]:
        """Every sum's state, shown or not (for the store)."""
        return {key: tally.export() for key, tally in self.sums.items()}

    def offer(self, values: Mapping[str, float], time: datetime) -> None:
        """A reading's counters (taken at `time`), each through its guard."""
        for key, value in values.items():
            guard = self.guards.setdefault(key, CounterGuard(max_power(key)))
            self._judge(key, guard, guard.offer(value, time), value)
        self._count()

    def _count(self) -> None:
        """The sums the roles show take the growth of their counters."""
        published = {
            key: guard.published
            for key, guard in self.guards.items()
            if guard.published is not None
        }
        for key, follows in role_sums(self.roles).items():
            self.sums.setdefault(key, Tally()).follow(follows, published)

    @property
    def energy(self) -> Counters:
        """What the energy sensors show: the guards' published series, the
        totals and the roles' energy."""
        energy = {
            key: round(published, 3)
            for key, guard in self.guards.items()
            if (published := guard.published) is not None
        }
        for key in role_sums(self.roles):
            tally = self.sums.get(key)
            if tally is not None and tally.value is not None:
                energy[key] = round(tally.value, 3)
        return energy

    def catch_up(
        self,
        points: Sequence[tuple[datetime, Mapping[str, float]]],
        publish: Callable[[], None],
    ) -> set[str]:
        """Offer missed counter values to the guards awaiting a new register.

        A register change during a gap is then confirmed by the history and
        counted from the counter's last value before it, which is published
        (`publish`) first so that the recorder counts the energy up to the
        change. Returns the counters that took values; the others are left alone.
        """
        waiting = {key for key, guard in self.guards.items() if guard.pending}
        taken: set[str] = set()
        unshown = False
        for time, values in points:
            for key in sorted(waiting & values.keys()):
                guard, value = self.guards[key], values[key]
                if guard.time is None or time <= guard.time:
                    continue
                if unshown and not guard.pending and value < (guard.value or 0.0):
                    self._count()
                    publish()
                    unshown = False
                verdict = guard.offer(value, time)
                if verdict is Verdict.RESET:
                    self._judge(key, guard, verdict, value)
                if verdict in (Verdict.ACCEPTED, Verdict.RESET):
                    taken.add(key)
                    unshown = True
        if unshown:
            self._count()
            publish()
        return taken

    def _judge(
        self, key: str, guard: CounterGuard, verdict: Verdict, value: float
    ) -> None:
        """Log what the guard did (a rejection once, until plausible again)."""
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
            self._on_reset()
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
