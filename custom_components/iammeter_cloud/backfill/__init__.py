"""Backfill: the hours Home Assistant could not record, from the cloud's history.

While Home Assistant is down, or the cloud answers nothing, the meter keeps
uploading to the cloud. The energy sensors then stand still, and when readings
return the whole gap's energy arrives at once. The recorder compiles the hourly
statistics of a `total_increasing` sensor from its 5-minute statistics, each
continuing the `sum` of the newest 5-minute row with the change of the sensor's
state: the first hour compiled after a gap already ends at the right cumulative
`sum`, and only the hours before it are flat, missing or (the hour the gap began)
partial. Importing those hours with the counter at each hour's end as `state`
and the continued `sum` puts the gap's energy into the hours it was used in; the
next compiled hour then holds its own energy only. Nothing else changes: the
5-minute statistics, the hours before the gap and the hours from the one that
received the readings again on are never touched.

The package, in the order data flows: `watcher` (notes each reading, finds
gaps, keeps them in the store through `pending`, retries), `run` (one history
call, the hours of each gap, one import), `gaps` and `series` (the arithmetic,
free of Home Assistant) and `recorder` (everything that touches the recorder).

- Gaps: every reading's time is noted in the store. A reading more than 15
  minutes (at start) or an hour (while running) after the previous one, with an
  hour boundary between them, is a gap `(last reading before, first reading
  after)`; the hours from the one holding the last reading before up to the one
  before the first reading after are repaired. Gaps stay in the store until
  repaired, so a restart in the middle of a backfill repairs them again, with
  the same result.
- One `meterdatalist2` call per meter covers all pending gaps (interval chosen
  for at most 2000 points, back to at most the days the cloud keeps); the
  ledger allows 6 a day per meter (`history`).
- Each statistic continues from its last hourly row before the gap (`anchor`,
  never rewritten). A copy of the energy guard replays the history (no negative
  steps; a register change continues by its size, a reset counts the new
  counter from 0). Every sensor's hours are anchored backwards from the value
  the sensor shows now (the guard's published series, which never falls), so
  that they end exactly where the recorder continues. Missed readings are also
  offered to the live guards (`async_catch_up`): a register change during the
  gap is then counted as the sensor will count it. That is the backfill's one
  command to the coordinator; everything else it only reads.
- Only hours the recorder has finished compiling are imported (a row it would
  compile later would collide with an imported one); the rest follow when it has.
"""

from __future__ import annotations

from .gaps import Gap
from .run import BackfillResult, async_backfill
from .watcher import async_start_backfill, async_watch_meter

__all__ = [
    "BackfillResult",
    "Gap",
    "async_backfill",
    "async_start_backfill",
    "async_watch_meter",
]
