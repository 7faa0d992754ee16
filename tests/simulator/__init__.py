"""Local simulator of the IAMMETER cloud HTTP API (aiohttp, deterministic)."""

from .model import Reading, SimMeter, fmt_time, from_minute, to_minute
from .server import (
    Account,
    CloudSimulator,
    Fault,
    Faults,
    FrontRequest,
    LogEntry,
    RedirectFront,
    Shapes,
    Site,
)

__all__ = [
    "Account",
    "CloudSimulator",
    "Fault",
    "Faults",
    "FrontRequest",
    "LogEntry",
    "Reading",
    "RedirectFront",
    "Shapes",
    "SimMeter",
    "Site",
    "fmt_time",
    "from_minute",
    "to_minute",
]
