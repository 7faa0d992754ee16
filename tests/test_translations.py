"""Translations: Polish matches English, and every key the code uses exists.

Plain tests over the JSON files and the integration's source; only the test of
the entities' state attributes starts Home Assistant.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.components.sensor import (
    ATTR_LAST_RESET,
    ATTR_OPTIONS,
    ATTR_STATE_CLASS,
)
from homeassistant.const import (
    ATTR_ATTRIBUTION,
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    ATTR_ICON,
    ATTR_UNIT_OF_MEASUREMENT,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iammeter_cloud import binary_sensor, sensor
from custom_components.iammeter_cloud.api import PhaseValues, Reading
from custom_components.iammeter_cloud.const import Role
from custom_components.iammeter_cloud.data import MeterData

PACKAGE = Path(__file__).parents[1] / "custom_components" / "iammeter_cloud"
TRANSLATIONS = PACKAGE / "translations"
LANGUAGES = ("en", "pl")
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# Abort reasons Home Assistant's flow helpers produce, by the helper that does.
HELPER_ABORTS = {
    "_abort_if_unique_id_configured": "already_configured",
    "_abort_if_unique_id_mismatch": "unique_id_mismatch",
}
# `async_update_reload_and_abort` answers by the flow's source.
UPDATE_ABORTS = {"reauth": "reauth_successful", "reconfigure": "reconfigure_successful"}
STANDARD_ABORTS = {
    "already_configured",
    "reauth_successful",
    "reconfigure_successful",
    "unique_id_mismatch",
}

type KeyPath = tuple[str, ...]
type Function = ast.FunctionDef | ast.AsyncFunctionDef
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest fixture: these tests need no `hass`."""


# --- helpers ---------------------------------------------------------------------


@cache
def load(language: str) -> dict[str, Any]:
    """A translation file."""
    text = (TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def flatten(
    node: Mapping[str, Any], prefix: KeyPath = ()
) -> Iterator[tuple[KeyPath, Any]]:
    """Every leaf of a translation file with its key path."""
    for key, value in node.items():
        if isinstance(value, Mapping):
            yield from flatten(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def strings(language: str) -> dict[str, Any]:
    """`a.b.c` -> leaf value."""
    return {".".join(path): value for path, value in flatten(load(language))}


def lookup(language: str, *path: str) -> Any:
    """The node at `path`, or None."""
    node: Any = load(language)
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def missing(keys: set[str], *section: str) -> dict[str, list[str]]:
    """Per language, the `keys` that have no non-empty entry under `section`."""
    result = {}
    for language in LANGUAGES:
        node = lookup(language, *section)
        absent = sorted(
            k for k in keys if not isinstance(node, Mapping) or k not in node
        )
        if absent:
            result[language] = absent
    return result


@cache
def source(name: str) -> ast.Module:
    """The parsed module `custom_components/iammeter_cloud/{name}`."""
    return ast.parse((PACKAGE / name).read_text(encoding="utf-8"), filename=name)


def sources() -> list[str]:
    """The integration's own modules (the `api` package has no translations)."""
    return sorted(p.name for p in PACKAGE.glob("*.py"))


def call_name(call: ast.Call) -> str:
    """`f(...)` / `x.f(...)` -> `f`."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def dict_keys(node: ast.expr | None) -> set[str] | None:
    """The keys of a `{"a": ...}` literal; None if not a literal dict."""
    if not isinstance(node, ast.Dict):
        return None
    keys = {literal(k) for k in node.keys if k is not None}
    return None if None in keys else {k for k in keys if k is not None}


def placeholders(text: object) -> set[str]:
    return set(PLACEHOLDER.findall(text)) if isinstance(text, str) else set()


# --- the two files match ---------------------------------------------------------


def test_same_key_paths() -> None:
    """pl.json has exactly the keys of en.json."""
    english, polish = set(strings("en")), set(strings("pl"))
    assert english == polish, (
        f"only in en.json: {sorted(english - polish)}; "
        f"only in pl.json: {sorted(polish - english)}"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_leaf_is_a_non_empty_string(language: str) -> None:
    bad = [k for k, v in strings(language).items() if not (isinstance(v, str) and v)]
    assert not bad, f"{language}.json: empty or non-string values at {bad}"


def test_same_placeholders() -> None:
    """Every string of both files uses the same {placeholders}."""
    english, polish = strings("en"), strings("pl")
    differing = {
        key: (sorted(placeholders(text)), sorted(placeholders(polish[key])))
        for key, text in english.items()
        if key in polish and placeholders(text) != placeholders(polish[key])
    }
    assert not differing, f"placeholders differ (en, pl): {differing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_braces_are_balanced(language: str) -> None:
    """A `{` without its `}` (or `{{x}}`) would not be a placeholder."""
    bad = [
        key
        for key, text in strings(language).items()
        if PLACEHOLDER.sub("", text).count("{") or PLACEHOLDER.sub("", text).count("}")
    ]
    assert not bad, f"{language}.json: stray braces in {bad}"


# --- entities --------------------------------------------------------------------

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ROW = PhaseValues(230.0, 1.0, 230.0, 1.0, 100.0, 10.0)


def meter(phases: int, *, net: bool = False) -> MeterData:
    reading = Reading(T0, None, (ROW,) * phases, ROW if net else None)
    return MeterData(reading, {})


KINDS = {
    "single-phase": meter(1),
    "three-phase": meter(3),
    "three-phase with net row": meter(3, net=True),
}


def sensor_descriptions() -> list[Any]:
    """Every sensor description: the meters', the daily analytics' and the
    quota usage's."""
    meters = [d for data in KINDS.values() for d in sensor.descriptions(data)]
    return [
        *meters,
        *sensor.ANALYTICS_SENSORS,
        *sensor.USAGE_SENSORS,
        *sensor.ACCOUNT_SENSORS,
        *sensor.HISTORY_SENSORS,
    ]


def class_translation_keys(module: str) -> set[str]:
    """`_attr_translation_key = "..."` of the entity classes in a module."""
    return {
        text
        for node in ast.walk(source(module))
        if isinstance(node, ast.Assign)
        and any(
            isinstance(t, ast.Name) and t.id == "_attr_translation_key"
            for t in node.targets
        )
        and (text := literal(node.value)) is not None
    }


def test_class_translation_keys_exist() -> None:
    """No entity class names its own translation key: descriptions do."""
    assert class_translation_keys("sensor.py") == set()
    assert class_translation_keys("binary_sensor.py") == set()
    usage = {
        d.translation_key for d in (*sensor.USAGE_SENSORS, *sensor.ACCOUNT_SENSORS)
    }
    assert usage == {"api_calls_last_hour", "logins_last_day"}
    assert not (absent := missing(usage, "entity", "sensor")), absent


def test_every_kind_of_meter_has_sensors() -> None:
    """The fakes above really are the three kinds `descriptions` tells apart."""
    counts = {kind: len(sensor.descriptions(data)) for kind, data in KINDS.items()}
    assert len(set(counts.values())) == len(counts), counts


def test_sensor_translation_keys_exist() -> None:
    keys = {d.translation_key for d in sensor_descriptions()}
    assert None not in keys, "a sensor without a translation_key"
    assert not (absent := missing({k for k in keys if k}, "entity", "sensor")), (
        f"sensor translation keys missing under entity.sensor: {absent}"
    )


def test_binary_sensor_translation_keys_exist() -> None:
    """Every `translation_key=` of binary_sensor.py, read from the source."""
    keys = {binary_sensor.CLOUD_CONNECTION.translation_key}
    for node in ast.walk(source("binary_sensor.py")):
        if isinstance(node, ast.Call) and (value := keyword(node, "translation_key")):
            text = literal(value)
            assert text is not None, f"not a literal: {ast.unparse(value)}"
            keys.add(text)
    assert None not in keys
    assert not (absent := missing({k for k in keys if k}, "entity", "binary_sensor")), (
        f"binary sensor translation keys missing under entity.binary_sensor: {absent}"
    )


# Attributes every entity may have, which Home Assistant itself translates.
HA_ATTRIBUTES = {
    ATTR_ATTRIBUTION,
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    ATTR_ICON,
    ATTR_UNIT_OF_MEASUREMENT,
    ATTR_LAST_RESET,
    ATTR_OPTIONS,
    ATTR_STATE_CLASS,
}


@pytest.mark.freeze_time("2026-06-15 10:00:30+00:00")
@pytest.mark.usefixtures(
    "recorder_mock", "enable_custom_integrations", "entity_registry_enabled_by_default"
)
async def test_every_state_attribute_is_translated(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Each attribute of our entities has a name in both languages.

    Read from the running entities (all enabled), so an attribute added in the
    code without a translation fails here.
    """
    absent: dict[str, set[str]] = {}
    seen = 0
    for entry in er.async_entries_for_config_entry(
        entity_registry, init_integration.entry_id
    ):
        state = hass.states.get(entry.entity_id)
        assert state is not None, entry.entity_id
        for attribute in set(state.attributes) - HA_ATTRIBUTES:
            seen += 1
            path = ("entity", entry.domain, entry.translation_key)
            for language in LANGUAGES:
                if not lookup(language, *path, "state_attributes", attribute, "name"):
                    absent.setdefault(language, set()).add(
                        f"{entry.translation_key}.{attribute}"
                    )
    assert seen, "no entity has an attribute of its own: the test sees nothing"
    assert not absent, f"state attributes without a translated name: {absent}"


# hassfest's rules for the text of translations (script/hassfest/translations.py).
URL = re.compile(
    r"(((ftp|ftps|scp|http|https|mqtt|mqtts|socket|socks5):\/\/|www\.)[^\s/$.?#].[^\s]*)"
)
HTML = re.compile(r"<[a-z/][^>]*>", re.IGNORECASE)
KEY = re.compile(r"^[a-z0-9_]+$")


@pytest.mark.parametrize("language", LANGUAGES)
def test_translation_text_follows_hassfest_rules(language: str) -> None:
    """Lower-case keys; no URLs, HTML or outer spaces in the text; every
    `data_description` describes a field of its step's `data`."""
    data = load(language)
    texts = strings(language)
    wrong = [
        f"{path}: {why}"
        for path, text in texts.items()
        for why, bad in (
            ("a URL (use a placeholder)", URL.search(text)),
            ("HTML", HTML.search(text)),
            ("spaces around", text != text.strip()),
            ("empty", not text),
        )
        if bad
    ]
    wrong += [
        f"{path}: key {key!r} is not lower case"
        for path in texts
        for key in path.split(".")
        if not KEY.match(key)
    ]

    def steps(node: Any, path: str = "") -> None:
        if not isinstance(node, dict):
            return
        if isinstance(node.get("data_description"), dict):
            fields = set(node.get("data", {}))
            extra = set(node["data_description"]) - fields
            wrong.extend(f"{path}.data_description.{k}: no such field" for k in extra)
        for key, value in node.items():
            steps(value, f"{path}.{key}")

    steps(data)
    assert not wrong, wrong


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("platform", "descriptions"),
    [
        ("sensor", sensor_descriptions()),
        ("binary_sensor", [binary_sensor.CLOUD_CONNECTION]),
    ],
)
def test_entity_names_have_the_placeholders_the_entities_fill(
    language: str, platform: str, descriptions: list[Any]
) -> None:
    """Per-phase sensors fill {phase}; all others fill nothing."""
    wrong = {}
    for description in descriptions:
        given = {"phase"} if getattr(description, "phase", None) else set()
        name = lookup(language, "entity", platform, description.translation_key, "name")
        if not name or placeholders(name) != given:
            wrong[description.translation_key] = (name, sorted(given))
    assert not wrong, f"{language}.json entity.{platform} (name, filled): {wrong}"


def test_fakes_produce_every_sensor_translation_key_of_the_source() -> None:
    """Each `translation_key=` of sensor.py is produced by one of the fake meters.

    f-strings become patterns: a new template (or a new kind of meter the
    fakes above do not cover) fails here instead of going unchecked.
    """
    produced = {d.translation_key for d in sensor_descriptions()}
    unmatched = []
    for node in ast.walk(source("sensor.py")):
        if not isinstance(node, ast.Call) or not (
            value := keyword(node, "translation_key")
        ):
            continue
        if isinstance(value, ast.JoinedStr):
            pattern = "".join(
                re.escape(text) if (text := literal(part)) is not None else r"\w*"
                for part in value.values
            )
        elif (text := literal(value)) is not None:
            pattern = re.escape(text)
        else:
            pattern = ast.unparse(value)
            unmatched.append(pattern)
            continue
        if not any(k and re.fullmatch(pattern, k) for k in produced):
            unmatched.append(ast.unparse(value))
    assert not unmatched, f"no fake meter produces: {unmatched}"


# --- exceptions and issues -------------------------------------------------------

ENTITY_MODULES = {"sensor.py", "binary_sensor.py"}  # checked through their objects


def parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {
        child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
    }


def used_translation_keys() -> tuple[dict[str, list[ast.Call]], list[str]]:
    """`translation_key="..."` literals by section; and those not understood.

    A key belongs to `issues` when passed to `async_create_issue`, to
    `exceptions` when passed to an exception that is raised (or whose name says
    it is one), and to `entity` in the entity platforms.
    """
    found: dict[str, list[ast.Call]] = {
        "exceptions": [],
        "issues": [],
        "selector": [],
    }
    unknown = []
    for name in sources():
        tree = source(name)
        up = parents(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not (
                value := keyword(node, "translation_key")
            ):
                continue
            where = f"{name}:{node.lineno} {call_name(node)}"
            raised = isinstance(up.get(node), ast.Raise)
            if name in ENTITY_MODULES:
                continue
            if literal(value) is None:
                unknown.append(f"{where}: not a literal ({ast.unparse(value)})")
            elif call_name(node) == "async_create_issue":
                found["issues"].append(node)
            elif call_name(node) == "SelectSelectorConfig":
                found["selector"].append(node)
            elif raised or re.search(r"(Error|Failed|Exception)$", call_name(node)):
                found["exceptions"].append(node)
            else:
                unknown.append(f"{where}: neither an issue nor an exception")
    return found, unknown


def test_source_translation_keys_are_understood() -> None:
    """Every `translation_key=` outside the entity platforms can be checked."""
    found, unknown = used_translation_keys()
    assert not unknown, unknown
    assert found["exceptions"], "no exception translation keys found: regex broken?"
    assert found["issues"], "no issue translation keys found: regex broken?"


def test_source_translation_keys_match_the_regex() -> None:
    """The plain-text view agrees: no `translation_key="x"` the AST scan missed."""
    pattern = re.compile(r"""translation_key\s*=\s*["'](\w+)["']""")
    by_regex = {
        key
        for name in sources()
        if name not in ENTITY_MODULES
        for key in pattern.findall((PACKAGE / name).read_text(encoding="utf-8"))
    }
    found, _ = used_translation_keys()
    by_ast = {
        literal(keyword(c, "translation_key"))
        for calls in found.values()
        for c in calls
    }
    assert by_regex == by_ast


@pytest.mark.parametrize(
    ("section", "leaf"), [("exceptions", "message"), ("issues", "title")]
)
def test_exception_and_issue_keys_exist(section: str, leaf: str) -> None:
    found, _ = used_translation_keys()
    keys = {literal(keyword(c, "translation_key")) or "" for c in found[section]}
    absent = missing(keys, section)
    assert not absent, f"translation keys missing under {section}: {absent}"
    empty = [
        (language, key)
        for language in LANGUAGES
        for key in keys
        if not lookup(language, section, key, leaf)
    ]
    assert not empty, f"{section} entries without a {leaf}: {empty}"


def test_selector_options_are_translated() -> None:
    """A select with a translation key: each of its options has a label."""
    found, _ = used_translation_keys()
    assert found["selector"], "no selector translation keys found: regex broken?"
    keys = {literal(keyword(c, "translation_key")) or "" for c in found["selector"]}
    assert keys == {"role"}
    wanted = {role.value for role in Role}
    for language in LANGUAGES:
        options = lookup(language, "selector", "role", "options") or {}
        assert set(options) == wanted, language


@pytest.mark.parametrize("section", ["exceptions", "issues"])
def test_exception_and_issue_placeholders_are_filled(section: str) -> None:
    """The `translation_placeholders` passed are the ones the strings use."""
    found, _ = used_translation_keys()
    wrong = []
    for call in found[section]:
        key = literal(keyword(call, "translation_key")) or ""
        given = dict_keys(keyword(call, "translation_placeholders")) or set()
        entry = lookup("en", section, key) or {}
        used = set().union(*(placeholders(v) for v in entry.values()))
        if used - given:
            wrong.append(
                f"{key} (line {call.lineno}): "
                f"uses {sorted(used)}, given {sorted(given)}"
            )
    assert not wrong, wrong


# --- config and options flows ----------------------------------------------------


class Flow:
    """What one flow class of config_flow.py can show: steps, errors, aborts."""

    def __init__(self, tree: ast.Module, cls: ast.ClassDef) -> None:
        functions: dict[str, Function] = {
            f.name: f for f in tree.body if isinstance(f, FUNCTIONS)
        }
        # The flows' errors of the client's errors are made in errors.py.
        functions |= {
            f.name: f
            for f in source("errors.py").body
            if isinstance(f, FUNCTIONS) and f.name == "form_error"
        }
        methods: dict[str, Function] = {
            f.name: f for f in cls.body if isinstance(f, FUNCTIONS)
        }
        self.functions = functions
        self.steps: dict[str, ast.Call] = {}
        self.errors: set[str] = set()
        self.aborts: set[str] = set()
        seen: set[tuple[str, str]] = set()
        todo = [(m, m.name) for m in methods.values()]
        while todo:
            function, step = todo.pop()
            if (function.name, step) in seen:
                continue
            seen.add((function.name, step))
            for node in ast.walk(function):
                if isinstance(node, ast.Call):
                    name = call_name(node)
                    target = methods.get(name) or functions.get(name)
                    if target is not None and not name.startswith("async_step_"):
                        todo.append((target, step))
                    self._call(node, name, step)
                elif isinstance(node, ast.Assign):
                    self._assign(node)

    def _call(self, call: ast.Call, name: str, step: str) -> None:
        if step_id := literal(keyword(call, "step_id")):
            self.steps[step_id] = call
        if reason := literal(keyword(call, "reason")):
            self.aborts.add(reason)
        if name in HELPER_ABORTS:
            self.aborts.add(HELPER_ABORTS[name])
        if name == "async_update_reload_and_abort":
            flow_source = step.removeprefix("async_step_").removesuffix("_confirm")
            self.aborts.update(
                [UPDATE_ABORTS[flow_source]]
                if flow_source in UPDATE_ABORTS
                else UPDATE_ABORTS.values()
            )

    def _assign(self, node: ast.Assign) -> None:
        """`errors[...] = "x"`, or `= f(...)` where f returns string literals."""
        if not any(
            isinstance(t, ast.Subscript)
            and isinstance(t.value, ast.Name)
            and t.value.id == "errors"
            for t in node.targets
        ):
            return
        if (text := literal(node.value)) is not None:
            self.errors.add(text)
        elif isinstance(node.value, ast.Call) and (
            helper := self.functions.get(call_name(node.value))
        ):
            self.errors.update(
                text
                for n in ast.walk(helper)
                if isinstance(n, ast.Return) and (text := literal(n.value)) is not None
            )


def flows() -> dict[str, Flow]:
    """`config` and `options`: the flow classes by their base class."""
    tree = source("config_flow.py")
    result = {}
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef):
            bases = " ".join(ast.unparse(b) for b in cls.bases)
            if "Flow" not in bases:  # a helper class (a selector, a cache)
                continue
            section = "options" if "OptionsFlow" in bases else "config"
            assert section not in result, f"two {section} flow classes"
            result[section] = Flow(tree, cls)
    return result


def test_the_flows_are_found() -> None:
    """The scan sees what config_flow.py obviously does."""
    found = flows()
    assert set(found) == {"config", "options"}
    assert {"user", "reauth_confirm", "reconfigure"} <= set(found["config"].steps)
    assert "init" in found["options"].steps
    assert {"invalid_auth", "invalid_url", "no_meters"} <= found["config"].errors
    assert "no_meters" in found["options"].errors
    # form_error's, from errors.py
    assert {"cannot_connect", "not_iammeter"} <= found["config"].errors
    assert {"cannot_connect", "not_iammeter"} <= found["options"].errors
    assert "interval_out_of_range" in found["options"].errors


@pytest.mark.parametrize("section", ["config", "options"])
def test_flow_errors_exist(section: str) -> None:
    flow = flows()[section]
    absent = missing(flow.errors, section, "error")
    assert not absent, f"errors missing under {section}.error: {absent}"


@pytest.mark.parametrize("section", ["config", "options"])
def test_flow_aborts_exist(section: str) -> None:
    flow = flows()[section]
    absent = missing(flow.aborts, section, "abort")
    assert not absent, f"abort reasons missing under {section}.abort: {absent}"


def test_standard_aborts_exist() -> None:
    """The reasons Home Assistant's helpers use, whether or not the scan sees them."""
    absent = missing(STANDARD_ABORTS, "config", "abort")
    assert not absent, f"standard abort reasons missing under config.abort: {absent}"


@pytest.mark.parametrize("section", ["config", "options"])
def test_flow_steps_exist_with_a_title(section: str) -> None:
    steps = flows()[section].steps
    assert steps, f"no step_id found for {section}"
    absent = missing(set(steps), section, "step")
    assert not absent, f"steps missing under {section}.step: {absent}"
    untitled = [
        (language, step)
        for language in LANGUAGES
        for step in steps
        if not lookup(language, section, "step", step, "title")
    ]
    assert not untitled, f"steps without a title: {untitled}"


# --- the README quotes the product ----------------------------------------------

README = PACKAGE.parents[1] / "README.md"


def _entity_names() -> set[str]:
    """Every entity name as Home Assistant shows it (a phase's for phase A)."""
    en = load("en")
    return {
        node["name"].replace("{phase}", "A")
        for platform in ("sensor", "binary_sensor")
        for node in en["entity"][platform].values()
    }


def test_readme_quotes_entity_names_and_repair_titles() -> None:
    """Every entity name and every repair title (placeholders as `…`) appears in
    the README word for word, and every name in its entity tables is one."""
    text = README.read_text(encoding="utf-8")
    flat = " ".join(text.split())
    titles = {PLACEHOLDER.sub("…", i["title"]) for i in load("en")["issues"].values()}
    assert not sorted(q for q in _entity_names() | titles if q not in flat)
    section = text[text.index("\n## Entities") : text.index("\n### Actions")]
    quoted = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0].startswith(("`", "\N{EN DASH}")):
            for part in re.split(r"[;,]", cells[-4]):
                name = re.sub(r" \((NEM|08:00\W20:00)\)$", "", part.strip())
                quoted.add(name.removesuffix(" \N{HORIZONTAL ELLIPSIS} C"))
    assert len(quoted) >= 20
    assert not sorted(quoted - _entity_names())
