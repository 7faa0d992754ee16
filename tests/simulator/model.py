"""Deterministic model of an IAMMETER meter, minute by minute."""

from array import array
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
import hashlib
from itertools import accumulate, islice
import math
import random
from zoneinfo import ZoneInfo

DAY = 1440  # minutes
HISTORY_DAYS = 35  # model epoch: this many days before the simulator's creation
OPEN = 1 << 62  # end minute of an offline period without an end
W_MIN_PER_KWH = 60_000.0  # 1 W during 1 minute = 1/60000 kWh


def to_minute(t: datetime) -> int:
    """Whole UTC minutes since the Unix epoch (floor)."""
    return int(t.timestamp() // 60)


def from_minute(m: int) -> datetime:
    """Aware UTC datetime of a minute index."""
    return datetime.fromtimestamp(m * 60, UTC)


def fmt_time(t: datetime) -> str:
    """Vendor time string, e.g. ``2020/8/28 5:27:33``."""
    return f"{t.year}/{t.month}/{t.day} {t.hour}:{t.minute:02d}:{t.second:02d}"


def _unit(*key: object) -> float:
    """Deterministic float in [0, 1) derived from ``key``."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


@dataclass(frozen=True)
class Reading:
    """Unrounded values of one row (a phase or the net total) at one minute."""

    voltage: float
    current: float
    power: float
    pf: float
    import_kwh: float
    export_kwh: float
    noise: float = 0.0
    """Float noise the cloud's JSON adds to the counters (after rounding)."""
    export_up: bool = False
    """The cloud sends the export counter rounded up to 2 decimals."""

    def row6(self, zero: bool = False) -> list[float]:
        """``[V, A, W, PF, import kWh, export kWh]`` rounded like the vendor."""
        if zero:
            return [0, 0, 0, 0, 0, 0]
        return [
            round(self.voltage, 2),
            round(self.current, 3),
            round(self.power),
            round(self.pf, 2),
            round(self.import_kwh, 3) - self.noise if self.import_kwh else 0.0,
            self._export(3) - self.noise if self.export_kwh else 0.0,
        ]

    def _export(self, decimals: int) -> float:
        value = round(self.export_kwh, decimals)
        return math.ceil(round(value * 100, 6)) / 100 if self.export_up else value

    def row5(self, zero: bool = False) -> list[float]:
        """``[V, A, W, import kWh, export kWh]`` (kWh with 2 decimals)."""
        if zero:
            return [0, 0, 0, 0, 0]
        return [
            round(self.voltage, 2),
            round(self.current, 3),
            round(self.power),
            round(self.import_kwh, 2) - self.noise if self.import_kwh else 0.0,
            self._export(2) - self.noise if self.export_kwh else 0.0,
        ]


class SimMeter:
    """A single- or three-phase meter whose data depend only on (sn, seed)."""

    def __init__(
        self,
        sn: str,
        phases: int = 1,
        name: str = "",
        seed: int = 0,
        nem_row: bool = False,
        *,
        solar: bool | None = None,
        tz: str = "Europe/Warsaw",
        upload_second: int = 0,
    ) -> None:
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        self.sn, self.phases, self.name, self.seed = sn, phases, name or sn, seed
        self.nem_row = nem_row and phases == 3
        self.solar = phases == 3 if solar is None else solar
        self.solar_phase = 1 if phases == 3 else 0
        self.tz = ZoneInfo(tz)
        # The second within each minute at which the meter uploads that minute's
        # reading (its `gmtTime`); until then the cloud holds the minute before.
        # May be changed while running (the meter's upload phase drifts).
        self.upload_second = upload_second
        self.start_m: int | None = None
        self.offline: list[tuple[int, int]] = []  # merged [start, end) minutes
        self.resets: list[int] = []  # sorted minutes
        # Phase index → a meter on a circuit behind that phase: its power flows
        # through the phase too (the demo's Garage behind House's phase A).
        self.circuits: dict[int, SimMeter] = {}
        # (minute, row, kWh): from then on the row's register is that much lower
        # (the meter restored an older register after a power cut).
        self.restores: list[tuple[int, int, float]] = []
        # (start, end) minutes whose counters the cloud sends 1e-6 kWh low
        # (float noise in its JSON); with `wobble_every` 2, every other minute.
        self.noise: list[tuple[int, int]] = []
        self.wobble_every = 1
        # (start, end, row): minutes whose export counter of that row the cloud
        # sends rounded up to 2 decimals (0.035 as 0.04).
        self.round_ups: list[tuple[int, int, int]] = []
        # (start, end, lead): readings of those minutes are dated `lead` late
        # (a meter or cloud clock that runs ahead).
        self.clock_leads: list[tuple[int, int, timedelta]] = []
        rng = random.Random(f"{sn}|{seed}")
        self._load: list[list[float]] = []
        for _ in range(phases):
            base, morning, evening = (
                rng.uniform(60, 220),
                rng.uniform(150, 600),
                rng.uniform(400, 1400),
            )
            peak = rng.uniform(18.5, 20.0)
            self._load.append(
                [
                    base + morning * _bump(h, 7.5, 0.8) + evening * _bump(h, peak, 1.6)
                    for h in (lm / 60 for lm in range(DAY))
                ]
            )
        peak_w = rng.uniform(2500, 4000)
        self._sun = [
            peak_w * max(0.0, math.sin(math.pi * (lm / 60 - 6) / 14)) ** 1.3
            for lm in range(DAY)
        ]
        rows = phases + (1 if self.nem_row else 0)
        self._base_imp = [rng.uniform(1500, 6000) for _ in range(rows)]
        self._base_exp = [
            rng.uniform(300, 2000) if self.solar and r == self.solar_phase else 0.0
            for r in range(rows)
        ]
        if self.nem_row:
            self._base_exp[-1] = rng.uniform(200, 1500)
        self._p: list[array[float]] = [array("d") for _ in range(phases)]
        self._t: array[float] = array("d")  # total signed power
        self._imp = [array("d", [0.0]) for _ in range(rows)]
        self._exp = [array("d", [0.0]) for _ in range(rows)]

    # -- events --------------------------------------------------------------
    def attach(self, created: datetime) -> None:
        """Fix the model epoch (HISTORY_DAYS before ``created``) once."""
        if self.start_m is None:
            self.start_m = to_minute(created - timedelta(days=HISTORY_DAYS))

    def set_offline(self, start: datetime, end: datetime | None = None) -> None:
        """Stop uploading from ``start`` until ``end`` (forever if None)."""
        spans = [
            *self.offline,
            (to_minute(start), OPEN if end is None else to_minute(end)),
        ]
        merged: list[tuple[int, int]] = []
        for s, e in sorted(sp for sp in spans if sp[0] < sp[1]):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
            else:
                merged.append((s, e))
        self.offline = merged

    def reset_counters(self, at: datetime) -> None:
        """Counters restart from 0 at that minute (meter replaced)."""
        self.resets = sorted({*self.resets, to_minute(at)})

    def restore_register(self, at: datetime, kwh: float, row: int = 0) -> None:
        """From that minute on, the row's counters read `kwh` lower (at least 0):
        the meter restored an older register after a power cut."""
        self.restores.append((to_minute(at), row, kwh))

    def add_noise(
        self, start: datetime, end: datetime | None = None, every: int = 1
    ) -> None:
        """The cloud sends the counters 1e-6 kWh low from `start` to `end`
        (every `every`-th minute: 2 makes them wobble)."""
        self.noise.append((to_minute(start), OPEN if end is None else to_minute(end)))
        self.wobble_every = every

    def round_up(self, start: datetime, end: datetime, row: int = 0) -> None:
        """The cloud sends the row's export counter rounded up to 2 decimals
        from `start` to `end`."""
        self.round_ups.append((to_minute(start), to_minute(end), row))

    def set_clock_lead(
        self, start: datetime, end: datetime | None, lead: timedelta
    ) -> None:
        """Readings from `start` to `end` are dated `lead` ahead of the truth."""
        stop = OPEN if end is None else to_minute(end)
        self.clock_leads.append((to_minute(start), stop, lead))

    def clock_lead(self, m: int) -> timedelta:
        """How far ahead the reading of minute `m` is dated."""
        return sum((d for s, e, d in self.clock_leads if s <= m < e), timedelta())

    # -- queries -------------------------------------------------------------
    @property
    def _start(self) -> int:
        if self.start_m is None:
            raise RuntimeError(f"meter {self.sn} is not attached to a simulator")
        return self.start_m

    def is_online(self, m: int) -> bool:
        """Whether the meter uploaded a reading for minute ``m``."""
        return not any(s <= m < e for s, e in self.offline)

    def uploaded_minute(self, now: datetime) -> int:
        """The newest minute whose reading the meter has uploaded by ``now``."""
        return to_minute(now - timedelta(seconds=self.upload_second))

    def upload_time(self, m: int) -> datetime:
        """When the reading of minute ``m`` was uploaded (its true `gmtTime`)."""
        return from_minute(m) + timedelta(seconds=self.upload_second)

    def reported_minute(self, now_m: int) -> int:
        """Minute of the latest reading the cloud holds at ``now_m``."""
        m = now_m
        for s, e in reversed(self.offline):
            if s <= m < e:
                m = s - 1
        return max(m, self._start)

    def offline_spans(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Offline periods clipped to ``[lo, hi)``."""
        return [(max(s, lo), min(e, hi)) for s, e in self.offline if s < hi and e > lo]

    def total_power(self, m: int) -> float:
        """Signed total active power (W, unrounded) during minute ``m``."""
        return self._t[self._ensure(m)]

    def local_minute(self, m: int) -> int:
        """Local minute of the day of minute ``m``."""
        t = from_minute(m).astimezone(self.tz)
        return t.hour * 60 + t.minute

    def readings(self, m: int) -> list[Reading]:
        """Rows at minute ``m``: one per phase, then the net row if enabled."""
        i = self._ensure(m)
        m = self._start + i
        reset = max((r for r in self.resets if r <= m), default=None)
        drift = 2.0 * math.sin(2 * math.pi * self.local_minute(m) / DAY)
        out: list[Reading] = []
        for ph in range(self.phases):
            p = self._p[ph][i]
            v = 230.0 + drift + 5.0 * (_unit(self.sn, self.seed, m, ph, "v") - 0.5)
            u = _unit(self.sn, self.seed, m, ph, "pf")
            pf = 0.97 + 0.03 * u if p < 0 else 0.5 + 0.49 * u
            imp, exp = self._served(ph, m, *self._counters(ph, i, reset))
            up = self._rounded_up(ph, m)
            out.append(
                Reading(v, abs(p) / (v * pf), p, pf, imp, exp, self._noise(m), up)
            )
        if self.nem_row:
            total = self._t[i]
            apparent = sum(r.voltage * r.current for r in out)
            pf = min(1.0, abs(total) / apparent) if apparent else 1.0
            imp, exp = self._served(
                self.phases, m, *self._counters(self.phases, i, reset)
            )
            volts = sum(r.voltage for r in out) / 3
            amps = sum(r.current for r in out)
            up = self._rounded_up(self.phases, m)
            out.append(Reading(volts, amps, total, pf, imp, exp, self._noise(m), up))
        return out

    def _served(self, row: int, m: int, imp: float, exp: float) -> tuple[float, float]:
        """Counters as the register holds them and the cloud sends them."""
        lower = sum(kwh for at, r, kwh in self.restores if r == row and at <= m)
        return max(imp - lower, 0.0), max(exp - lower, 0.0)

    def _rounded_up(self, row: int, m: int) -> bool:
        return any(s <= m < e and r == row for s, e, r in self.round_ups)

    def _noise(self, m: int) -> float:
        if any(s <= m < e for s, e in self.noise) and m % self.wobble_every == 0:
            return 1e-6
        return 0.0

    def _counters(self, row: int, i: int, reset: int | None) -> tuple[float, float]:
        imp, exp, k = self._imp[row], self._exp[row], W_MIN_PER_KWH
        if reset is None:
            return self._base_imp[row] + imp[i] / k, self._base_exp[row] + exp[i] / k
        j = max(reset - self._start, 0)
        return (imp[i] - imp[j]) / k, (exp[i] - exp[j]) / k

    # -- lazy per-minute integration -----------------------------------------
    def _ensure(self, m: int) -> int:
        """Compute the model up to minute ``m``; return its array index."""
        i = max(m - self._start, 0)
        while len(self._t) <= i:
            m0 = self._start + len(self._t)
            day, lo = divmod(m0, DAY)
            idx = _local_index(self.tz, day)
            blocks = [self._day(ph, day, idx)[lo:] for ph in range(self.phases)]
            totals = blocks[0]
            if self.phases == 3:
                totals = [a + b + c for a, b, c in zip(*blocks, strict=True)]
            self._t.fromlist(totals)
            flows = [*blocks, totals] if self.nem_row else blocks
            for row, block in enumerate(flows):
                if row < self.phases:
                    self._p[row].fromlist(block)
                _cumulate(self._imp[row], [x if x > 0.0 else 0.0 for x in block])
                _cumulate(self._exp[row], [-x if x < 0.0 else 0.0 for x in block])
        return i

    def _day(self, ph: int, day: int, idx: list[int]) -> list[float]:
        """Signed power (W) of phase ``ph`` for each minute of UTC day ``day``."""
        rng = random.Random(f"{self.sn}|{self.seed}|{ph}|{day}")
        tab, scale, rnd = self._load[ph], rng.uniform(0.8, 1.2), rng.random
        power = [tab[k] * scale * (0.7 + 0.6 * rnd()) for k in idx]
        for _ in range(rng.randint(1, 4)):  # kettle, oven, washing machine
            start, length, watts = (
                rng.randrange(DAY),
                rng.randint(3, 25),
                rng.uniform(800, 2200),
            )
            for j in range(start, min(start + length, DAY)):
                power[j] += watts
        if (circuit := self.circuits.get(ph)) is not None:
            behind = circuit._day(0, day, _local_index(circuit.tz, day))
            power = [p + q for p, q in zip(power, behind, strict=True)]
        if self.solar and ph == self.solar_phase:
            cloud = rng.uniform(0.3, 1.0)
            power = [
                p - cloud * self._sun[k] * (0.9 + 0.1 * rnd())
                for p, k in zip(power, idx, strict=True)
            ]
        return power


def _offset(tz: ZoneInfo, m: int) -> int:
    offset = from_minute(m).astimezone(tz).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


@cache
def _local_index(tz: ZoneInfo, day: int) -> list[int]:
    """Local minute of the day for each minute of UTC day ``day``."""
    first, last = day * DAY, day * DAY + DAY - 1
    if (off := _offset(tz, first)) == _offset(tz, last):
        return [(j + off) % DAY for j in range(DAY)]
    return [(j + _offset(tz, first + j)) % DAY for j in range(DAY)]  # DST day


def _cumulate(cum: array[float], watts: list[float]) -> None:
    """Append running totals (W x minutes) of per-minute powers to ``cum``."""
    if any(watts):
        cum.fromlist(list(islice(accumulate(watts, initial=cum[-1]), 1, None)))
    else:
        cum.fromlist([cum[-1]] * len(watts))
