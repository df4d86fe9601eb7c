"""Model versions on disk: listing, activation (validated), rollback, the newest-by-default rule, the handle."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplens.cli import app
from shoplens.errors import BundleError, VersionNotFoundError
from shoplens.inference.store import ModelHandle, ModelStore, NoEarlierVersionError
from tests.api.conftest import NAME, corrupt_bundle, make_bundle


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Two versions: v1 then v2 (newer)."""
    make_bundle(tmp_path, "v1", seed=1, accuracy=0.8)
    make_bundle(tmp_path, "v2", seed=2)
    (tmp_path / NAME / "v2" / "model.safetensors").touch()
    return tmp_path


def test_versions_newest_first_with_accuracy_and_the_newest_active_by_default(root: Path) -> None:
    store = ModelStore(root, NAME)
    infos = store.versions()
    assert [v.version for v in infos] == ["v2", "v1"]
    assert [v.accuracy for v in infos] == [None, 0.8]
    assert [v.active for v in infos] == [True, False]
    assert store.marked_active() is None and store.active_version() == "v2"


def test_versions_are_ordered_by_the_recorded_creation_time_not_file_times(root: Path) -> None:
    store = ModelStore(root, NAME)
    recorded = {v: json.loads((root / NAME / v / "config.json").read_text())["created"] for v in ("v1", "v2")}
    assert recorded["v1"] < recorded["v2"]
    for name in ("model.safetensors", "config.json"):  # a copy or a restore makes v1's files the newest
        os.utime(root / NAME / "v1" / name, (2e9, 2e9))
    infos = store.versions()
    assert [v.version for v in infos] == ["v2", "v1"] and store.active_version() == "v2"
    assert infos[1].created == datetime.fromisoformat(recorded["v1"]) and infos[1].created.tzinfo == UTC


def test_bundles_without_a_recorded_time_fall_back_to_their_weights_mtime(root: Path) -> None:
    for version, stamp in (("v1", 2e9), ("v2", 1e9)):
        config = root / NAME / version / "config.json"
        kept = {k: v for k, v in json.loads(config.read_text()).items() if k != "created"}
        config.write_text(json.dumps(kept))
        os.utime(root / NAME / version / "model.safetensors", (stamp, stamp))
    infos = ModelStore(root, NAME).versions()
    assert [v.version for v in infos] == ["v1", "v2"]
    assert infos[0].created == datetime.fromtimestamp(2e9, UTC)


def test_activate_marks_and_rollback_returns(root: Path) -> None:
    store = ModelStore(root, NAME)
    assert store.activate("v1").version == "v1"
    assert (root / NAME / "ACTIVE").read_text().strip() == "v1" and store.history() == ["v2"]
    assert store.rollback().version == "v2" and store.marked_active() == "v2"
    with pytest.raises(NoEarlierVersionError):
        store.rollback()


def test_a_broken_or_unknown_version_is_refused_and_the_active_one_stays(root: Path) -> None:
    store = ModelStore(root, NAME)
    store.activate("v1")
    corrupt_bundle(root, "v3")
    with pytest.raises(BundleError, match="cannot load"):
        store.activate("v3")
    with pytest.raises(VersionNotFoundError):
        store.activate("v9")
    with pytest.raises(VersionNotFoundError):
        store.activate("../v1")
    assert store.marked_active() == "v1"


def test_handle_serves_the_first_loadable_candidate_and_swaps(root: Path) -> None:
    corrupt_bundle(root, "v3")  # newest, but broken: the newest *valid* one serves
    handle = ModelHandle(ModelStore(root, NAME))
    assert handle.sync().version == "v2"
    assert handle.sync() is None  # nothing changed
    old = handle.current()
    assert handle.activate("v1").version == "v1" and handle.current() is not old
    with pytest.raises(BundleError):
        handle.activate("v3")
    assert handle.current().version == "v1"


def test_cli_versions_activate_rollback(root: Path) -> None:
    runner = CliRunner()
    args = ["--models-dir", str(root)]
    result = runner.invoke(app, ["models", "versions", *args])
    assert result.exit_code == 0 and "v1" in result.output and "0.8000" in result.output
    assert runner.invoke(app, ["models", "activate", "v1", *args]).exit_code == 0
    assert ModelStore(root, NAME).marked_active() == "v1"
    assert runner.invoke(app, ["models", "rollback", *args]).exit_code == 0
    assert ModelStore(root, NAME).marked_active() == "v2"
    missing = runner.invoke(app, ["models", "activate", "nope", *args])
    assert missing.exit_code == 2 and "no version 'nope'" in missing.output
