"""Problems that name the integration in a Home Assistant log (scripts/canary).

    python scripts/canary_log.py home-assistant.log   → prints them; exit 1 if any

A problem is a record (a line with a time stamp and its continuation lines, such
as a traceback) at WARNING or above, or any record about a deprecation, whose text
names `iammeter_cloud`. Home Assistant's own notice that a custom integration is
not tested by Home Assistant is not a problem of ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
import re
import sys

DOMAIN = "iammeter_cloud"
RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d)? (?P<level>[A-Z]+) ",
    re.ASCII,
)
PROBLEM_LEVELS = {"WARNING", "ERROR", "CRITICAL", "FATAL"}
NOT_OURS = ("which has not been tested by Home Assistant",)


def records(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(level, text) of each record; lines before the first record are skipped."""
    level, text = "", ""
    for line in lines:
        if match := RECORD.match(line):
            if level:
                yield level, text
            level, text = match["level"], line
        elif level:
            text += line
    if level:
        yield level, text


def problems(lines: Iterable[str]) -> list[str]:
    """The records that name the integration and are a warning, an error or a
    deprecation."""
    found = []
    for level, text in records(lines):
        if DOMAIN not in text or any(known in text for known in NOT_OURS):
            continue
        if level in PROBLEM_LEVELS or "deprecat" in text.lower():
            found.append(text.rstrip("\n"))
    return found


def main(argv: list[str]) -> int:
    """Print the problems of the log `argv[0]`; 1 if there are any."""
    found = problems(
        Path(argv[0]).read_text(encoding="utf-8", errors="replace").splitlines(True)
    )
    for text in found:
        print(text)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
