"""The API client is a library of its own: no Home Assistant, no integration."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from custom_components.iammeter_cloud import api

PACKAGE = Path(api.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
INTEGRATION = "custom_components.iammeter_cloud"


def imports_of(text: str, package: str) -> list[str]:
    """The absolute names a module of `package` imports (modules, and the
    names taken from them), relative imports resolved."""
    names = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{module}" if module else base
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def refused(names: list[str]) -> list[str]:
    """Home Assistant, and anything of the integration outside `api`."""
    return [
        name
        for name in names
        if name.split(".")[0] == "homeassistant"
        or (
            (name == INTEGRATION or name.startswith(f"{INTEGRATION}."))
            and not (
                name == f"{INTEGRATION}.api" or name.startswith(f"{INTEGRATION}.api.")
            )
        )
    ]


def test_every_module_is_checked() -> None:
    assert {p.name for p in MODULES} >= {
        "__init__.py",
        "client.py",
        "exceptions.py",
        "models.py",
        "quota.py",
    }
    assert (PACKAGE / "py.typed").is_file()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_home_assistant_and_nothing_of_the_integration(path: Path) -> None:
    parts = path.relative_to(PACKAGE).parts[:-1]
    package = ".".join([INTEGRATION, "api", *parts])
    names = imports_of(path.read_text(encoding="utf-8"), package)
    assert names  # the check reads something
    assert refused(names) == []


@pytest.mark.parametrize(
    "line",
    [
        "import homeassistant",
        "import homeassistant.core as ha",
        "from homeassistant.util import dt",
        "from .. import const",
        "from ..const import DOMAIN",
        "from ..storage import IammeterStorage",
        "from custom_components.iammeter_cloud import storage",
        "import custom_components.iammeter_cloud.const",
        "def f():\n    from homeassistant.core import HomeAssistant",
    ],
)
def test_the_check_refuses(line: str) -> None:
    assert refused(imports_of(line, f"{INTEGRATION}.api"))


@pytest.mark.parametrize(
    "line",
    [
        "from .models import Reading",
        "from . import quota",
        "from custom_components.iammeter_cloud.api import Reading",
        "import aiohttp",
    ],
)
def test_the_check_allows(line: str) -> None:
    assert refused(imports_of(line, f"{INTEGRATION}.api")) == []
