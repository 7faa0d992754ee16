"""The integration's structure, read from its imports (no code is run).

Each module stands on a layer and imports only modules of the layers below it:
no import circle, no upward import (`TYPE_CHECKING` imports count too). Data
flows up: the cloud's answers (`api`) through the account and the coordinators
(which guard the energy) to the entities and actions.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "custom_components" / "iammeter_cloud"

LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(layer.split())
    for layer in (
        "api",  # the client library: HTTP, parsing, the quota ledger
        "const",
        "energy backfill.gaps",  # counters and guards; the gaps' hours
        "data backfill.series",  # what entities show; a gap's statistics
        "store",  # the one owner of the persisted state
        "helpers",
        "errors issues",  # our errors as Home Assistant's; repairs
        "account",  # login and reauth
        "coordinator",  # every coordinator, the runtime data
        "backfill.pending backfill.recorder",
        "backfill.run",
        "backfill.watcher",
        "backfill",
        "meters entity diagnostics energy_dashboard",
        "services sensor binary_sensor config_flow",
        "__init__",
    )
)
FREE_OF_HOME_ASSISTANT = ("api", "energy", "backfill.gaps", "backfill.series")


def module_name(path: Path) -> str:
    """`coordinator`, `backfill.run`, `backfill` (a package's face), `api`."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[0] == "api":
        return "api"
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found.setdefault(module_name(path), []).append(path)
    return found


@cache
def imports(name: str) -> tuple[set[str], set[str]]:
    """The integration's modules that module `name` imports, and the other
    top-level packages it imports."""
    ours: set[str] = set()
    others: set[str] = set()
    for path in modules()[name]:
        package = path.relative_to(PACKAGE).parent.parts
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                others.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                others.add((node.module or "").split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = list(package[: len(package) - node.level + 1])
                target = (
                    [*base, *(node.module or "").split(".")] if node.module else base
                )
                targets = (
                    [[*target, alias.name] for alias in node.names]
                    if not node.module
                    else [target]
                )
                ours.update(_resolve(t) for t in targets)
    ours.discard(name)
    return ours, others


def _resolve(parts: list[str]) -> str:
    """The module a dotted target names (a name imported from a package's face
    is the face)."""
    parts = [p for p in parts if p]
    if not parts:
        return "__init__"
    if parts[0] == "api":
        return "api"
    while parts and ".".join(parts) not in modules():
        parts.pop()
    return ".".join(parts) or "__init__"


def layer(name: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if name in names)


def test_every_module_has_a_layer() -> None:
    placed = set().union(*LAYERS)
    assert set(modules()) == placed


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_go_down_only(name: str) -> None:
    """No upward import, hence no circle."""
    ours, _ = imports(name)
    upward = sorted(t for t in ours if layer(t) >= layer(name))
    assert not upward, f"{name} (layer {layer(name)}) imports {upward}"


@pytest.mark.parametrize("name", FREE_OF_HOME_ASSISTANT)
def test_free_of_home_assistant(name: str) -> None:
    """These modules, and everything they import, know nothing of Home
    Assistant: they can be tested, reused or published on their own."""
    todo, seen = [name], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        ours, others = imports(current)
        assert "homeassistant" not in others, f"{current} imports homeassistant"
        todo.extend(ours)


def test_the_check_sees_real_imports() -> None:
    """The reading of imports works: known edges are found."""
    assert "coordinator" in imports("sensor")[0]
    assert "backfill.recorder" in imports("backfill.run")[0]
    assert "energy" in imports("backfill.series")[0]
    assert "api" in imports("store")[0]
    assert "homeassistant" in imports("coordinator")[1]
    assert "aiohttp" in imports("api")[1]
