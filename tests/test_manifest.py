"""HACS and hassfest rules for manifest.json, hacs.json, brand images and layout.

What the HACS action and hassfest check, as far as it can be checked offline
(GitHub topics, description and releases cannot). Translation keys used in code
are covered by test_translations.py; here only the files' layout and the services.
Plain tests over the files: no Home Assistant instance is started.
"""

from __future__ import annotations

from functools import cache
import json
from pathlib import Path
import re
from typing import Any
from urllib.parse import urlparse

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
import homeassistant
from homeassistant.const import __version__ as ha_version
from homeassistant.util.yaml import load_yaml_dict
from PIL import Image
import pytest

from custom_components.iammeter_cloud.const import DOMAIN

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "custom_components" / DOMAIN
BRAND = PACKAGE / "brand"
LANGUAGES = ("en", "pl")

# hassfest (script/hassfest/manifest.py): the keys a custom integration may use.
MANIFEST_KEYS = {
    "domain",
    "name",
    "after_dependencies",
    "bluetooth",
    "codeowners",
    "config_flow",
    "dependencies",
    "dhcp",
    "disabled",
    "documentation",
    "homekit",
    "import_executor",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "loggers",
    "mqtt",
    "quality_scale",
    "requirements",
    "single_config_entry",
    "ssdp",
    "usb",
    "version",
    "zeroconf",
}
IOT_CLASSES = {
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
}
INTEGRATION_TYPES = {
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
    "virtual",
}
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]
# HACS (custom_components/hacs/utils/validate.py): hacs.json may hold only these.
HACS_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "content_in_root": bool,
    "country": (str, list),
    "filename": str,
    "hacs": str,
    "hide_default_branch": bool,
    "homeassistant": str,
    "persistent_directory": str,
    "render_readme": bool,
    "zip_release": bool,
}
HACS_MANIFEST_REQUIRED = {
    "codeowners",
    "documentation",
    "domain",
    "issue_tracker",
    "name",
    "version",
}
# Top-level sections of a translation file that Home Assistant reads.
TRANSLATION_SECTIONS = {
    "title",
    "config",
    "options",
    "config_subentries",
    "entity",
    "entity_component",
    "device",
    "device_automation",
    "exceptions",
    "issues",
    "selector",
    "services",
    "system_health",
    "conversation",
    "common",
}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest fixture: these tests need no `hass`."""


@cache
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PACKAGE / "manifest.json").read_text())
    return data


@cache
def hacs() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "hacs.json").read_text())
    return data


def is_https_url(value: object) -> bool:
    parsed = urlparse(str(value))
    return parsed.scheme == "https" and bool(parsed.netloc) and " " not in str(value)


# --- manifest.json: hassfest ----------------------------------------------------------


def test_manifest_keys_are_known_and_sorted() -> None:
    """hassfest: only known keys; `domain`, `name`, then alphabetical order."""
    keys = list(manifest())
    assert not (unknown := set(keys) - MANIFEST_KEYS), f"unknown keys: {unknown}"
    assert keys[:2] == ["domain", "name"], keys
    assert keys[2:] == sorted(keys[2:]), f"not in alphabetical order: {keys[2:]}"


def test_manifest_domain_and_name() -> None:
    data = manifest()
    assert data["domain"] == DOMAIN == PACKAGE.name
    assert isinstance(data["name"], str)
    assert data["name"].strip()
    core = Path(homeassistant.__file__).parent / "components" / DOMAIN
    assert not core.exists(), "the domain collides with a core integration"


def test_manifest_values() -> None:
    """hassfest's custom-integration schema, value by value."""
    data = manifest()
    assert data["codeowners"], "codeowners is required"
    assert all(
        isinstance(owner, str) and owner.startswith("@") for owner in data["codeowners"]
    ), "code owners must be GitHub handles (@name)"
    assert is_https_url(data["documentation"])
    assert not data["documentation"].startswith(
        "https://www.home-assistant.io/integrations"
    ), "a custom integration documents itself"
    assert is_https_url(data["issue_tracker"])
    assert data["iot_class"] in IOT_CLASSES
    assert data["integration_type"] in INTEGRATION_TYPES
    assert isinstance(data.get("config_flow", False), bool)
    for key in ("requirements", "dependencies", "after_dependencies", "loggers"):
        value = data.get(key, [])
        assert isinstance(value, list), key
        assert all(isinstance(item, str) for item in value), key
    assert all("==" in req for req in data.get("requirements", [])), "pin requirements"


def test_manifest_version_parses() -> None:
    """Home Assistant refuses to load a custom integration without a valid version."""
    version = manifest()["version"]
    assert isinstance(version, str)
    parsed = AwesomeVersion(version, ensure_strategy=VERSION_STRATEGIES)
    assert parsed.strategy in VERSION_STRATEGIES


def test_config_flow_module_exists() -> None:
    if manifest().get("config_flow"):
        assert (PACKAGE / "config_flow.py").is_file()


# --- hacs.json and the repository layout: HACS ----------------------------------------


def test_hacs_json_keys_and_types() -> None:
    data = hacs()
    assert "name" in data
    assert not (unknown := set(data) - set(HACS_KEYS)), f"not allowed: {unknown}"
    wrong = {k: v for k, v in data.items() if not isinstance(v, HACS_KEYS[k])}
    assert not wrong, f"wrong types: {wrong}"


def test_hacs_minimum_home_assistant_version() -> None:
    """The version we test against; the README states the same."""
    minimum = hacs()["homeassistant"]
    assert AwesomeVersion(minimum).strategy != AwesomeVersionStrategy.UNKNOWN
    assert AwesomeVersion(minimum) <= AwesomeVersion(ha_version)
    # The oldest release scripts/test runs is the floor itself.
    table = (ROOT / "scripts" / "env").read_text(encoding="utf-8")
    tested = re.findall(r"^(\d{4}\.\d+) +3\.1\d ", table, re.MULTILINE)
    assert min(tested, key=AwesomeVersion) == minimum.rsplit(".", 1)[0]
    if ha_version.startswith(f"{minimum.rsplit('.', 1)[0]}."):
        assert ha_version == minimum
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"Home Assistant {minimum} or newer" in readme


def test_hacs_integration_manifest() -> None:
    """HACS's own check of manifest.json."""
    data = manifest()
    assert not (missing := HACS_MANIFEST_REQUIRED - set(data)), missing
    assert isinstance(data["codeowners"], list)
    assert is_https_url(data["documentation"])
    assert is_https_url(data["issue_tracker"])
    assert hacs()["name"] == data["name"]


def test_repository_layout() -> None:
    """HACS installs the single folder under custom_components/; README renders.

    From the release's zip of that folder (scripts/release, tests/test_release.py).
    """
    assert not hacs().get("content_in_root")
    assert hacs().get("zip_release") is True
    assert hacs()["filename"] == f"{DOMAIN}.zip"
    folders = [p.name for p in (ROOT / "custom_components").iterdir() if p.is_dir()]
    assert folders == [DOMAIN]
    assert (PACKAGE / "__init__.py").is_file()
    assert (ROOT / "README.md").is_file()
    assert hacs().get("render_readme") is True


# --- brand images: Home Assistant serves custom_components/<domain>/brand/ ------------


@pytest.mark.parametrize(("name", "size"), [("icon.png", 256), ("icon@2x.png", 512)])
def test_brand_icons(name: str, size: int) -> None:
    with Image.open(BRAND / name) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)
        assert image.mode == "RGBA"
        assert image.getpixel((0, 0))[3] == 0, "the background must be transparent"
        assert image.getbbox() == (0, 0, size, size), "trimmed: no empty border"


@pytest.mark.parametrize("name", ["logo.png", "dark_logo.png"])
def test_brand_logos(name: str) -> None:
    """Landscape, shortest side 128 to 256 px, transparent, trimmed."""
    if name.startswith("dark_") and not (BRAND / name).exists():
        pytest.skip("optional")
    with Image.open(BRAND / name) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        width, height = image.size
        assert 128 <= height <= 256
        assert width >= height
        assert image.getpixel((width - 1, 0))[3] == 0
        alpha = image.getchannel("A")
        assert alpha.getbbox() is not None
        left, top, right, bottom = alpha.getbbox()
        assert (left, top) == (0, 0)
        assert bottom == height
        assert right >= width - 16, "trimmed on the right"


def allowed_brand_images() -> set[str]:
    """The images Home Assistant serves from `brand/` (2026.3 and later)."""
    try:
        from homeassistant.components.brands.const import (  # noqa: PLC0415
            ALLOWED_IMAGES,
        )
    except ImportError:  # before 2026.3: no `brand/` folder, the same names
        return {
            f"{dark}{kind}{size}.png"
            for dark in ("", "dark_")
            for kind in ("icon", "logo")
            for size in ("", "@2x")
        }
    return set(ALLOWED_IMAGES)


def test_brand_folder_holds_only_known_images() -> None:
    names = {p.name for p in BRAND.iterdir()}
    assert {"icon.png", "icon@2x.png", "logo.png"} <= names
    assert not (unknown := names - allowed_brand_images()), f"not served: {unknown}"
    for path in BRAND.iterdir():
        assert path.stat().st_size < 300_000, f"{path.name} is too large"


# --- translations layout and services: hassfest ---------------------------------------


def test_translation_files() -> None:
    """translations/<language>.json only; no strings.json for a custom integration."""
    files = sorted(p.name for p in (PACKAGE / "translations").iterdir())
    assert files == [f"{language}.json" for language in sorted(LANGUAGES)]
    assert not (PACKAGE / "strings.json").exists()
    for language in LANGUAGES:
        data = json.loads((PACKAGE / "translations" / f"{language}.json").read_text())
        assert isinstance(data, dict)
        assert not (unknown := set(data) - TRANSLATION_SECTIONS), (language, unknown)


def test_services_have_translations() -> None:
    """Each service in services.yaml, and each field, has a name and description."""
    if not (PACKAGE / "services.yaml").exists():
        pytest.skip("no services")
    services = load_yaml_dict(str(PACKAGE / "services.yaml"))
    missing = []
    for language in LANGUAGES:
        strings = json.loads(
            (PACKAGE / "translations" / f"{language}.json").read_text()
        )
        for service, spec in services.items():
            entry = strings.get("services", {}).get(service, {})
            if not (entry.get("name") and entry.get("description")):
                missing.append(f"{language}: services.{service}")
            for field in (spec or {}).get("fields", {}):
                texts = entry.get("fields", {}).get(field, {})
                if not (texts.get("name") and texts.get("description")):
                    missing.append(f"{language}: services.{service}.fields.{field}")
    assert not missing, missing
