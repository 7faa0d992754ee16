"""quality_scale.yaml: exactly the rules of the quality scale, and honest claims.

The rule list is hassfest's; many `done` (and `exempt`) claims are re-checked
against the code and the README where that is cheap. A claim that is not
checked here (e.g. config-flow-test-coverage, which needs a coverage run) is
listed in UNCHECKED, so that a new rule cannot slip through unlooked-at.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
import json
from pathlib import Path
import re
import tomllib
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud.const import DOMAIN

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "custom_components" / DOMAIN
QUALITY_SCALE = PACKAGE / "quality_scale.yaml"
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Copied from Home Assistant core, script/hassfest/quality_scale.py (`ALL_RULES`,
# commit 008538e822535b1d6155c91f6642127afa184ed1), by tier.
RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}
ALL_RULES = [rule for tier in RULES.values() for rule in tier]
STATUSES = {"done", "exempt", "todo"}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest fixture: most tests here need no `hass`."""


def rules() -> dict[str, Any]:
    data = load_yaml_dict(str(QUALITY_SCALE))
    assert set(data) == {"rules"}
    result: dict[str, Any] = data["rules"]
    return result


def status(rule: str) -> str:
    value = rules()[rule]
    return value if isinstance(value, str) else str(value["status"])


def tally() -> dict[str, int]:
    counts = dict.fromkeys(sorted(STATUSES), 0)
    for rule in rules():
        counts[status(rule)] += 1
    return counts


# --- the file ----------------------------------------------------------------------


def test_lists_exactly_the_rules_once() -> None:
    assert len(ALL_RULES) == len(set(ALL_RULES)) == 54
    assert set(rules()) == set(ALL_RULES)
    # YAML keeps the last of two equal keys: count the keys in the text too.
    keys = re.findall(r"^  ([a-z-]+):", QUALITY_SCALE.read_text(), re.MULTILINE)
    assert sorted(keys) == sorted(ALL_RULES)


@pytest.mark.parametrize("rule", ALL_RULES)
def test_status_is_valid(rule: str) -> None:
    """As hassfest's schema: a status, or a status with a comment."""
    value = rules()[rule]
    if isinstance(value, str):
        assert value in {"done", "todo"}, f"{rule}: {value} needs a comment"
        return
    assert isinstance(value, dict)
    assert set(value) == {"status", "comment"}, rule
    assert value["status"] in STATUSES, rule
    assert isinstance(value["comment"], str), rule
    assert value["comment"].strip(), rule


def test_every_todo_says_why() -> None:
    todo = {rule for rule in rules() if status(rule) == "todo"}
    assert all(isinstance(rules()[rule], dict) for rule in todo), todo


def test_readme_states_the_tally() -> None:
    counts = tally()
    expected = (
        f"of its {len(ALL_RULES)} rules, **{counts['done']} done, "
        f"{counts['exempt']} exempt, {counts['todo']} todo**"
    )
    assert expected in " ".join(README.split())


# --- the claims, where cheap to check ----------------------------------------------


def module(name: str) -> ast.Module:
    return ast.parse((PACKAGE / name).read_text(encoding="utf-8"))


def names(tree: ast.Module) -> set[str]:
    """Top-level functions, classes and assigned names of a module."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Assign):
            found |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return found


def methods(tree: ast.Module) -> set[str]:
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def calls(tree: ast.Module) -> set[str]:
    result = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                result.add(func.attr)
            elif isinstance(func, ast.Name):
                result.add(func.id)
    return result


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PACKAGE / "manifest.json").read_text())
    return data


def readme_section(title: str) -> bool:
    return re.search(rf"^##+ {title}", README, re.MULTILINE) is not None


def package_sources(*, skip: str | None = None) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8")
        for p in PACKAGE.rglob("*.py")
        if skip is None or skip not in p.relative_to(PACKAGE).parts
    )


DISCOVERY_KEYS = {"bluetooth", "dhcp", "homekit", "mqtt", "ssdp", "usb", "zeroconf"}
CHECKS: dict[str, Callable[[], bool]] = {
    "action-setup": lambda: "async_setup" in names(module("__init__.py")),
    "config-flow": lambda: manifest()["config_flow"] is True,
    "dependency-transparency": lambda: manifest()["requirements"] == [],
    "docs-actions": lambda: readme_section("Actions"),
    "docs-conditions": lambda: not (PACKAGE / "device_condition.py").exists(),
    "docs-triggers": lambda: not (PACKAGE / "device_trigger.py").exists(),
    "docs-high-level-description": lambda: README.startswith("# IAMMETER Cloud"),
    "docs-installation-instructions": lambda: readme_section("Install"),
    "docs-removal-instructions": lambda: readme_section("Removal"),
    "docs-installation-parameters": lambda: readme_section("Setup"),
    "docs-configuration-parameters": lambda: "**Options**" in README,
    "docs-data-update": lambda: readme_section("Quotas and update timing"),
    "docs-examples": lambda: readme_section("Automation blueprint"),
    "docs-known-limitations": lambda: readme_section("Known limitations"),
    "docs-supported-devices": lambda: readme_section("Supported devices"),
    "docs-supported-functions": lambda: readme_section("Entities"),
    "docs-troubleshooting": lambda: readme_section("Troubleshooting"),
    "docs-use-cases": lambda: readme_section("Use cases"),
    "runtime-data": lambda: (
        "entry.runtime_data = " in (PACKAGE / "__init__.py").read_text()
    ),
    "test-before-setup": lambda: (
        "async_config_entry_first_refresh" in calls(module("__init__.py"))
    ),
    "unique-config-entry": lambda: (
        "_abort_if_unique_id_configured" in calls(module("config_flow.py"))
    ),
    "config-entry-unloading": lambda: (
        "async_unload_entry" in names(module("__init__.py"))
    ),
    "integration-owner": lambda: bool(manifest()["codeowners"]),
    "parallel-updates": lambda: all(
        "PARALLEL_UPDATES" in names(module(f"{platform}.py"))
        for platform in ("sensor", "binary_sensor")
    ),
    "reauthentication-flow": lambda: (
        {"async_step_reauth", "async_step_reauth_confirm"}
        <= methods(module("config_flow.py"))
    ),
    "reconfiguration-flow": lambda: (
        "async_step_reconfigure" in methods(module("config_flow.py"))
    ),
    "diagnostics": lambda: (
        {"async_get_config_entry_diagnostics", "async_get_device_diagnostics"}
        <= names(module("diagnostics.py"))
    ),
    "discovery": lambda: (
        manifest()["iot_class"].startswith("cloud_")
        and not DISCOVERY_KEYS & set(manifest())
    ),
    "discovery-update-info": lambda: not DISCOVERY_KEYS & set(manifest()),
    "repair-issues": lambda: "async_create_issue" in calls(module("issues.py")),
    "stale-devices": lambda: (
        "async_remove_config_entry_device" in names(module("__init__.py"))
    ),
    "inject-websession": lambda: (
        "async_get_clientsession" in calls(module("helpers.py"))
        # The api library opens a session of its own only when none is given.
        and "ClientSession(" not in package_sources(skip="api")
    ),
    "strict-typing": lambda: (
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["strict"]
        is True
    ),
    "async-dependency": lambda: (
        manifest()["requirements"] == [] and "import requests" not in package_sources()
    ),
}

# Claims checked by the entities test below, elsewhere, or not mechanically.
CHECKED_WITH_ENTITIES = {
    "has-entity-name",
    "entity-unique-id",
    "devices",
    "entity-category",
    "icon-translations",
}
UNCHECKED = {
    "entity-device-class",  # a judgement; tests/snapshots/test_sensor.ambr shows them
    "entity-disabled-by-default",  # tests/test_sensor.py counts them per model
    "entity-translations",  # tests/test_translations.py
    "exception-translations",  # tests/test_translations.py
    "appropriate-polling",  # tests/api/test_quota.py and the soak count the calls
    "brands",  # tests/test_manifest.py checks the images
    "common-modules",
    "config-flow-test-coverage",  # needs a coverage run
    "entity-event-setup",
    "entity-unavailable",  # tests/test_sensor.py
    "action-exceptions",  # tests/test_services.py
    "test-before-configure",  # tests/test_config_flow.py
    "test-coverage",  # scripts/test enforces 95 %
    "dynamic-devices",  # tests/test_meters.py
    "log-when-unavailable",  # tests/test_coordinator.py
}


def test_every_rule_is_checked_or_said_not_to_be() -> None:
    assert set(CHECKS) | CHECKED_WITH_ENTITIES | UNCHECKED == set(ALL_RULES)
    assert not set(CHECKS) & (CHECKED_WITH_ENTITIES | UNCHECKED)


@pytest.mark.parametrize("rule", sorted(CHECKS))
def test_claim(rule: str) -> None:
    """A `done` or `exempt` claim agrees with the code (or the README)."""
    assert status(rule) in {"done", "exempt"}
    assert CHECKS[rule](), f"{rule} is claimed {status(rule)}, the code disagrees"


@pytest.mark.usefixtures(
    "recorder_mock", "enable_custom_integrations", "entity_registry_enabled_by_default"
)
async def test_entity_claims(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """has-entity-name, entity-unique-id, devices, entity-category, icons.

    Every entity (all enabled) has a name from its translation key, a unique id
    and a device; one without a device class has an icon in icons.json, and so
    has every action.
    """
    for rule in CHECKED_WITH_ENTITIES:
        assert status(rule) == "done", rule
    icons = json.loads((PACKAGE / "icons.json").read_text())
    entries = er.async_entries_for_config_entry(
        entity_registry, init_integration.entry_id
    )
    assert entries
    categories = set()
    for entry in entries:
        assert entry.has_entity_name, entry.entity_id
        assert entry.translation_key, entry.entity_id
        assert entry.unique_id, entry.entity_id
        assert entry.device_id, entry.entity_id
        categories.add(entry.entity_category)
        if entry.original_device_class is None:
            path = ("entity", entry.domain, entry.translation_key, "default")
            node: Any = icons
            for key in path:
                assert key in node, f"{entry.entity_id}: no icon {'.'.join(path)}"
                node = node[key]
    assert None in categories
    assert len(categories) == 2  # diagnostic ones too
    services = set(hass.services.async_services_for_domain(DOMAIN))
    assert services
    assert services <= set(icons["services"])
