"""The release zip (scripts/release) and the GitHub workflows that build and check it.

scripts/release runs as the release workflow runs it, in a subprocess; the cases
that must fail run on a copy of the files it reads. The workflows are parsed:
every `run:` step calls a script of this repository, so these tests and the
repository's own checks exercise what CI runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shlex
import shutil
import subprocess
import sys
from typing import Any
import zipfile

import pytest
import yaml

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "custom_components" / "iammeter_cloud"
WORKFLOWS = ROOT / ".github" / "workflows"
VERSION = json.loads((PACKAGE / "manifest.json").read_text())["version"]
ZIP_NAME = json.loads((ROOT / "hacs.json").read_text())["filename"]
EPOCH = (1980, 1, 1, 0, 0, 0)  # every entry's time


def release(root: Path, tag: str, dist: Path) -> subprocess.CompletedProcess[str]:
    """scripts/release of the repository (or copy) at `root`."""
    script = root / "scripts" / "release"
    return subprocess.run(  # noqa: S603
        [sys.executable, str(script), tag, "--dist", str(dist)],
        capture_output=True,
        text=True,
        check=False,
    )


def integration_files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` but Python's caches, by its relative path."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if not name.endswith((".pyc", ".pyo")):
                path = Path(dirpath) / name
                found[path.relative_to(folder).as_posix()] = path.read_bytes()
    return found


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """What scripts/release reads, copied, with Python caches in the integration."""
    copy = tmp_path / "repo"
    for name in ("CHANGELOG.md", "hacs.json", "pyproject.toml", "scripts/release"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    package = copy / "custom_components" / PACKAGE.name
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    shutil.copytree(PACKAGE, package, ignore=ignore)
    for cache in (package / "__pycache__", package / "api" / "__pycache__"):
        cache.mkdir()
        (cache / "const.cpython-314.pyc").write_bytes(b"\x00cache")
    (package / "stray.pyc").write_bytes(b"\x00cache")
    return copy


def test_zip_holds_exactly_the_integration(repo_copy: Path, tmp_path: Path) -> None:
    """HACS extracts the zip into custom_components/iammeter_cloud/."""
    result = release(repo_copy, f"v{VERSION}", tmp_path / "dist")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "dist" / ZIP_NAME) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == sorted(names)
        assert {name: archive.read(name) for name in names} == integration_files(
            PACKAGE
        )
        assert "manifest.json" in names
        assert "__init__.py" in names
        assert {info.date_time for info in archive.infolist()} == {EPOCH}
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["version"] == VERSION
    assert manifest["domain"] == PACKAGE.name
    notes = (tmp_path / "dist" / "release-notes.md").read_text()
    assert notes.startswith("### "), "the changelog section, without its heading"


def test_version_is_the_same_everywhere() -> None:
    """The tag is v + this version; pyproject.toml and the changelog agree."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'\nversion = "{VERSION}"\n' in pyproject
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"\n## [{VERSION}] - " in changelog
    assert "\n## [Unreleased]\n" in changelog


def test_wrong_tag_fails(tmp_path: Path) -> None:
    result = release(ROOT, "v0.0.1", tmp_path / "dist")
    assert result.returncode != 0
    assert f"tag 'v0.0.1' is not 'v{VERSION}'" in result.stderr
    assert not (tmp_path / "dist").exists()


def test_version_missing_from_changelog_fails(repo_copy: Path, tmp_path: Path) -> None:
    changelog = repo_copy / "CHANGELOG.md"
    text = changelog.read_text()
    changelog.write_text(text.replace(f"## [{VERSION}]", "## [0.0.0]"))
    result = release(repo_copy, f"v{VERSION}", tmp_path / "dist")
    assert result.returncode != 0
    assert f"CHANGELOG.md has no section '## [{VERSION}]" in result.stderr
    assert not (tmp_path / "dist").exists()


def test_build_is_reproducible(repo_copy: Path, tmp_path: Path) -> None:
    """Same tree, same bytes: file times and build order do not matter."""
    assert release(repo_copy, f"v{VERSION}", tmp_path / "one").returncode == 0
    for path in (repo_copy / "custom_components").rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    assert release(repo_copy, f"v{VERSION}", tmp_path / "two").returncode == 0
    first = (tmp_path / "one" / ZIP_NAME).read_bytes()
    assert first == (tmp_path / "two" / ZIP_NAME).read_bytes()


# --- the workflows --------------------------------------------------------------------


def workflow(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def triggers(data: dict[Any, Any]) -> dict[str, Any]:
    """`on:` (YAML 1.1 reads the bare key as True)."""
    on: dict[str, Any] = data.get("on", data.get(True))
    return on


def steps(data: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in data["jobs"].values() for step in job["steps"]]


def test_workflows_run_only_scripts_of_this_repository() -> None:
    names = sorted(p.name for p in WORKFLOWS.iterdir())
    assert names == ["release.yml", "tests.yml", "validate.yml"]
    for name in names:
        for step in steps(workflow(name)):
            assert ("uses" in step) != ("run" in step), (name, step)
            for line in step.get("run", "").splitlines():
                if not (words := shlex.split(line, comments=True)):
                    continue
                script = ROOT / words[0]
                assert script.is_file(), f"{name}: {line!r} calls no script here"
                assert os.access(script, os.X_OK), f"{script} is not executable"


def test_tests_workflow_runs_ci() -> None:
    data = workflow("tests.yml")
    assert {"push", "pull_request"} <= set(triggers(data))
    assert [s["run"] for s in steps(data) if "run" in s] == [".ci/run"]
    python = next(s for s in steps(data) if "setup-python" in s.get("uses", ""))
    assert python["with"]["python-version"].split() == ["3.13", "3.14"]


def test_validate_workflow_runs_hassfest_and_hacs() -> None:
    data = workflow("validate.yml")
    assert {"push", "pull_request", "schedule"} <= set(triggers(data))
    uses = {s["uses"].split("@")[0]: s for s in steps(data) if "uses" in s}
    assert "home-assistant/actions/hassfest" in uses
    assert uses["hacs/action"]["with"] == {"category": "integration"}


def test_release_workflow_uploads_the_zip_hacs_installs() -> None:
    data = workflow("release.yml")
    assert triggers(data) == {"push": {"tags": ["v*"]}}
    runs = [s["run"] for s in steps(data) if "run" in s]
    assert runs == ['scripts/release "$GITHUB_REF_NAME"']
    upload = next(s for s in steps(data) if "action-gh-release" in s.get("uses", ""))
    assert upload["with"]["files"] == f"dist/{ZIP_NAME}"
    assert upload["with"]["body_path"] == "dist/release-notes.md"
