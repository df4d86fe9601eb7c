"""Model versions on disk: listing, activation (validated, near chance refused), rollback, the handle."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplens.cli import app
from shoplens.errors import BundleError, VersionNotFoundError
from shoplens.inference.store import ModelHandle, ModelStore, NoEarlierVersionError, NotGoodEnoughError
from tests.support.bundles import NAME, corrupt_bundle, make_bundle


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Two versions: v1 then v2 (newer, never evaluated)."""
    make_bundle(tmp_path, "v1", seed=1, accuracy=0.8)
    make_bundle(tmp_path, "v2", seed=2)
    (tmp_path / NAME / "v2" / "model.safetensors").touch()
    return tmp_path


def test_versions_newest_first_with_accuracy_and_none_active_until_activated(root: Path) -> None:
    store = ModelStore(root, NAME)
    infos = store.versions()
    assert [v.version for v in infos] == ["v2", "v1"]
    assert [v.accuracy for v in infos] == [None, 0.8]
    assert [v.active for v in infos] == [False, False]
    assert store.active_version() is None and store.candidates() == []
    store.activate("v1")
    assert [v.active for v in store.versions()] == [False, True] and store.active_version() == "v1"


def test_versions_are_ordered_by_the_recorded_creation_time_not_file_times(root: Path) -> None:
    store = ModelStore(root, NAME)
    recorded = {v: json.loads((root / NAME / v / "config.json").read_text())["created"] for v in ("v1", "v2")}
    assert recorded["v1"] < recorded["v2"]
    for name in ("model.safetensors", "config.json"):  # a copy or a restore makes v1's files the newest
        os.utime(root / NAME / "v1" / name, (2e9, 2e9))
    infos = store.versions()
    assert [v.version for v in infos] == ["v2", "v1"]
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
    assert store.activate("v2", force=True).version == "v2"  # never evaluated: only with force
    assert store.activate("v1").version == "v1"
    assert (root / NAME / "ACTIVE").read_text().strip() == "v1" and store.history() == ["v2"]
    assert store.rollback().version == "v2" and store.marked_active() == "v2"
    with pytest.raises(NoEarlierVersionError):
        store.rollback()


def test_a_broken_or_unknown_version_is_refused_and_the_active_one_stays(root: Path) -> None:
    store = ModelStore(root, NAME)
    store.activate("v1")
    corrupt_bundle(root, "v3")
    with pytest.raises(BundleError, match="its bytes are not those the bundle recorded"):
        store.activate("v3")
    with pytest.raises(VersionNotFoundError):
        store.activate("v9")
    with pytest.raises(VersionNotFoundError):
        store.activate("../v1")
    assert store.marked_active() == "v1"


def test_handle_serves_the_first_loadable_candidate_and_swaps(root: Path) -> None:
    store = ModelStore(root, NAME)
    store.activate("v2", force=True)
    corrupt_bundle(root, "v3")
    (root / NAME / "ACTIVE").write_text("v3\n")  # marked active, but broken: the earlier active one serves
    store._write_history(["v2"])
    handle = ModelHandle(store)
    assert handle.sync().version == "v2"
    assert handle.sync() is None  # nothing changed
    old = handle.current()
    assert handle.activate("v1").version == "v1" and handle.current() is not old
    with pytest.raises(BundleError):
        handle.activate("v3")
    assert handle.current().version == "v1"


@pytest.mark.parametrize("marked", ["no-such-version\n", "", None])
def test_an_active_file_naming_no_version_serves_no_earlier_one(root: Path, marked: str | None) -> None:
    """An ACTIVE file emptied, removed or naming no version is no reason to serve an earlier active version: a
    running server keeps what it serves, a starting one serves nothing (503: no active model)."""
    store = ModelStore(root, NAME)
    store.activate("v2", force=True)
    store.activate("v1")  # v2 is now in the history
    handle = ModelHandle(store)
    assert handle.sync().version == "v1"
    active = root / NAME / "ACTIVE"
    active.unlink() if marked is None else active.write_text(marked)
    assert store.candidates() == [] and handle.sync() is None and handle.current().version == "v1"
    fresh = ModelHandle(ModelStore(root, NAME))
    assert fresh.sync() is None and fresh.current() is None
    assert fresh.unavailable_reason().startswith("no active model")


def test_a_version_in_training_or_stopped_is_no_version(root: Path) -> None:
    """A bundle whose evaluation is not written yet (training, or a killed run) is neither listed nor activated,
    even forced: it was listed with an Activate button and served without its detector or calibration."""
    from shoplens.models.bundle import UNFINISHED

    path = make_bundle(root, "v7", seed=7, accuracy=0.9)
    (path / UNFINISHED).touch()
    store = ModelStore(root, NAME)
    assert "v7" not in store.version_names() and "v7" not in [v.version for v in store.versions()]
    with pytest.raises(VersionNotFoundError, match="unfinished"):
        store.activate("v7", force=True)
    (path / UNFINISHED).unlink()
    assert store.activate("v7").version == "v7"


def test_nothing_serves_until_a_version_is_activated_and_new_versions_wait(root: Path) -> None:
    handle = ModelHandle(ModelStore(root, NAME))
    assert handle.sync() is None and handle.current() is None
    assert handle.unavailable_reason().startswith("no active model")
    handle.activate("v1")
    make_bundle(root, "v4", seed=4, accuracy=0.9)  # trained while serving: newest, evaluated, not activated
    assert handle.sync() is None and handle.current().version == "v1"
    assert ModelStore(root, NAME).versions()[0].version == "v4"


@pytest.mark.parametrize(
    ("accuracy", "samples", "refused"),
    [(0.1, None, True), (0.15, None, True), (0.16, None, False), (0.18, 50, True), (0.2, 50, False)],
)
def test_activation_refuses_a_version_near_chance_unless_forced(
    root: Path, accuracy: float, samples: int | None, refused: bool
) -> None:
    path = make_bundle(root, "v5", seed=5)
    (path / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "num_samples": samples}))
    store = ModelStore(root, NAME)
    if refused:  # 10 classes: chance 0.1, bar 0.15, or 0.185 with 50 test images (2 standard errors)
        with pytest.raises(NotGoodEnoughError, match="near chance"):
            store.activate("v5")
        assert store.marked_active() is None
    assert store.activate("v5", force=refused).version == "v5" and store.marked_active() == "v5"


def test_a_version_without_an_evaluation_needs_force(root: Path) -> None:
    store = ModelStore(root, NAME)
    with pytest.raises(NotGoodEnoughError, match="no recorded evaluation"):
        store.activate("v2")
    assert store.marked_active() is None


def test_cli_versions_activate_rollback(root: Path) -> None:
    runner = CliRunner()
    args = ["--models-dir", str(root)]
    result = runner.invoke(app, ["models", "versions", *args])
    assert result.exit_code == 0 and "v1" in result.output and "0.8000" in result.output
    assert runner.invoke(app, ["models", "activate", "v1", *args]).exit_code == 0
    assert ModelStore(root, NAME).marked_active() == "v1"
    refused = runner.invoke(app, ["models", "activate", "v2", *args])
    assert refused.exit_code == 2 and "--force" in refused.output
    assert runner.invoke(app, ["models", "activate", "v2", "--force", *args]).exit_code == 0
    assert runner.invoke(app, ["models", "rollback", *args]).exit_code == 0
    assert ModelStore(root, NAME).marked_active() == "v1"
    missing = runner.invoke(app, ["models", "activate", "nope", *args])
    assert missing.exit_code == 2 and "no version 'nope'" in missing.output
    unknown = runner.invoke(app, ["models", "versions", "--name", "nosuch", *args])  # an empty table before
    assert unknown.exit_code == 2 and f"no model 'nosuch' in {root}; its models: {NAME}" in unknown.output
