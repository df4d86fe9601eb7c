"""Model versions on disk (<root>/<name>/<version>/ bundles, ACTIVE, history) and the handle a service serves from."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shoplens.errors import BundleError, VersionNotFoundError
from shoplens.files import file_lock, write_atomic
from shoplens.imaging import PreprocessConfig
from shoplens.inference.kinds import Device, Runtime
from shoplens.inference.predictor import Predictor
from shoplens.inference.runtime import load_predictor
from shoplens.models.bundle import CONFIG, METRICS, UNFINISHED, WEIGHTS, read_config

ACTIVE_FILE = "ACTIVE"
HISTORY_FILE = "HISTORY.json"
HISTORY_LIMIT = 20
CHANCE_MARGIN = 0.05  # activation wants test accuracy above 1/classes by this much (or 2 standard errors)
NO_ACTIVE_MODEL = "no active model: activate a version first (shoplens models activate VERSION)"
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

PredictorLoader = Callable[[Path], Predictor]
log = logging.getLogger(__name__)


class NoEarlierVersionError(BundleError):
    """Rollback asked for, but no earlier active version exists any more."""


class NotGoodEnoughError(BundleError):
    """Activation refused: the version's recorded evaluation is missing or near chance (override with force)."""


@dataclass(frozen=True)
class VersionInfo:
    """One version folder: when it was made, its test accuracy, and whether it is the active one."""

    version: str
    path: Path
    created: datetime
    accuracy: float | None
    active: bool


@dataclass(frozen=True)
class LoadedModel:
    """A version loaded and ready to predict; requests keep the one they started with."""

    name: str
    version: str
    path: Path
    predictor: Predictor
    loaded_at: float

    @property
    def preprocess(self) -> PreprocessConfig:
        """How photos become this model's input."""
        return self.predictor.bundle.preprocess


def predictor_loader(
    runtime: Runtime = "auto", threads: int | None = None, device: Device = "cpu"
) -> PredictorLoader:
    """A loader that builds a Predictor for a bundle folder on the chosen runtime and device."""
    return functools.partial(load_predictor, runtime=runtime, threads=threads, device=device)


class ModelStore:
    """The versions of one model name: list, load, activate (validated first), roll back."""

    def __init__(self, root: str | os.PathLike, name: str, loader: PredictorLoader | None = None) -> None:
        if not VERSION_PATTERN.match(name):
            raise BundleError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-'")
        self.root = Path(root)
        self.name = name
        self.folder = self.root / name
        self.loader = loader or predictor_loader()

    def version_names(self) -> list[str]:
        """Folders holding a config.json, newest first (by creation time, then name)."""
        if not self.folder.is_dir():
            return []
        found = []
        for child in self.folder.iterdir():
            if (
                VERSION_PATTERN.match(child.name)
                and (child / CONFIG).is_file()
                and not (child / UNFINISHED).exists()
            ):
                found.append((_created(child), child.name))
        return [name for _, name in sorted(found, reverse=True)]

    def marked_active(self) -> str | None:
        """The version named in ACTIVE, if that version still exists."""
        try:
            version = (self.folder / ACTIVE_FILE).read_text().strip()
        except OSError:
            return None
        return version if version in self.version_names() else None

    def active_version(self) -> str | None:
        """The version that should serve: the one marked ACTIVE (a newly trained version waits for activation)."""
        return self.marked_active()

    def history(self) -> list[str]:
        """Previously active versions, most recent first."""
        try:
            data = json.loads((self.folder / HISTORY_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return []
        return [v for v in data.get("previous", []) if isinstance(v, str)]

    def versions(self) -> list[VersionInfo]:
        """Every version, newest first, with accuracy from metrics.json and the active flag."""
        active = self.active_version()
        infos = []
        for name in self.version_names():
            path = self.folder / name
            created = datetime.fromtimestamp(_created(path), UTC)
            infos.append(VersionInfo(name, path, created, _accuracy(path), name == active))
        return infos

    def candidates(self) -> list[str]:
        """Versions to try serving, in order: the active one, then (should it not load) earlier active ones; none
        while ACTIVE names no version (missing, empty, or naming none there is), never an unactivated one."""
        names = self.version_names()
        active = self.marked_active()
        if active is None:
            return []
        return list(dict.fromkeys(v for v in [active, *self.history()] if v in names))

    def path_of(self, version: str) -> Path:
        """The folder of an existing version; VersionNotFoundError otherwise."""
        if not VERSION_PATTERN.match(version) or version not in self.version_names():
            if VERSION_PATTERN.match(version) and (self.folder / version / UNFINISHED).exists():
                raise VersionNotFoundError(
                    f"{version!r} of model {self.name!r} is unfinished: its training is running, or stopped before its "
                    "evaluation (finish it: `shoplens train --resume …/checkpoints/last.pt`; or delete the folder)"
                )
            known = ", ".join(self.version_names()) or "none"
            raise VersionNotFoundError(f"no version {version!r} of model {self.name!r} (versions: {known})")
        return self.folder / version

    def load(self, version: str) -> LoadedModel:
        """Load a version fully (weights into the model, runtime session); BundleError if it is broken."""
        path = self.path_of(version)
        try:
            predictor = self.loader(path)
        except BundleError:
            raise
        except Exception as e:  # a runtime may fail in its own way (a truncated ONNX file, a bad shape)
            raise BundleError(f"{path}: cannot load the bundle ({type(e).__name__}: {e})") from e
        return LoadedModel(self.name, version, path, predictor, time.time())

    def activate(self, version: str, force: bool = False) -> LoadedModel:
        """Load a version (refusing a broken or, unless forced, a near-chance one; ACTIVE unchanged), mark it active."""
        loaded = self.load(version)
        if not force:
            check_evaluation(loaded.path)
        with self._locked():
            previous = self.active_version()
            if previous and previous != version:
                self._write_history([previous, *self.history()])
            write_atomic(self.folder / ACTIVE_FILE, f"{version}\n".encode())
        return loaded

    def rollback(self) -> LoadedModel:
        """Make the previously active version active again; BundleError if there is none or it is broken."""
        names = self.version_names()
        earlier = [v for v in self.history() if v in names and v != self.active_version()]
        if not earlier:
            raise NoEarlierVersionError(f"model {self.name!r} has no earlier active version to roll back to")
        loaded = self.load(earlier[0])
        with self._locked():
            write_atomic(self.folder / ACTIVE_FILE, f"{earlier[0]}\n".encode())
            self._write_history(earlier[1:])
        return loaded

    def _write_history(self, versions: list[str]) -> None:
        """Store the previous active versions (most recent first, capped)."""
        unique = list(dict.fromkeys(versions))[:HISTORY_LIMIT]
        write_atomic(self.folder / HISTORY_FILE, (json.dumps({"previous": unique}, indent=2) + "\n").encode())

    def _locked(self) -> AbstractContextManager[None]:
        """An exclusive file lock so a CLI and a server never interleave writes to ACTIVE and the history."""
        return file_lock(self.folder / ".lock")


class ModelHandle:
    """The model serving now: readers take a snapshot without locking; a reload swaps it under a short lock."""

    def __init__(self, store: ModelStore, model: LoadedModel | None = None) -> None:
        self.store = store
        self._current = model
        self._swap_lock = threading.Lock()
        self._reload_lock = threading.Lock()  # one load at a time; requests never take it
        self._failed: dict[str, float] = {}  # version -> config mtime when it last failed to load

    def current(self) -> LoadedModel | None:
        """The model to use for a request that starts now (it keeps it to the end)."""
        return self._current

    def unavailable_reason(self) -> str:
        """Why no model serves: none is active, or the active one has not loaded (yet)."""
        return "no model loaded yet" if self.store.candidates() else NO_ACTIVE_MODEL

    def swap(self, model: LoadedModel) -> LoadedModel | None:
        """Serve `model` from now on; returns the one it replaces."""
        with self._swap_lock:
            old, self._current = self._current, model
        return old

    def activate(self, version: str, force: bool = False) -> LoadedModel:
        """Validate and mark a version active, then serve it; on error the current model keeps serving."""
        with self._reload_lock:
            loaded = self.store.activate(version, force=force)
            self._failed.pop(version, None)
            self.swap(loaded)
        return loaded

    def rollback(self) -> LoadedModel:
        """Go back to the previously active version and serve it."""
        with self._reload_lock:
            loaded = self.store.rollback()
            self.swap(loaded)
        return loaded

    def sync(self) -> LoadedModel | None:
        """Serve what the store says should serve (first loadable candidate); returns a newly loaded model."""
        with self._reload_lock:
            for version in self.store.candidates():
                current = self._current
                if current is not None and current.version == version:
                    return None
                stamp = _config_mtime(self.store.folder / version)
                if self._failed.get(version) == stamp:
                    continue
                try:
                    loaded = self.store.load(version)
                except BundleError as e:
                    self._failed[version] = stamp
                    log.error("cannot serve version %s: %s", version, e)
                    continue
                self.swap(loaded)
                log.info("serving %s version %s", self.store.name, version)
                return loaded
        return None


def chance_bar(num_classes: int, num_samples: int | None) -> float:
    """The test accuracy a version must beat to be activated: chance plus a margin (wider on small test sets)."""
    chance = 1.0 / max(num_classes, 1)
    noise = 2 * math.sqrt(chance * (1 - chance) / num_samples) if num_samples else 0.0
    return chance + max(CHANCE_MARGIN, noise)


def check_evaluation(path: Path) -> None:
    """NotGoodEnoughError unless the bundle's metrics.json shows test accuracy clearly above chance."""
    metrics = _metrics(path)
    accuracy = metrics.get("accuracy")
    hint = "; force it to activate it anyway (--force, or ?force=true over HTTP)"
    if not isinstance(accuracy, (int, float)):
        raise NotGoodEnoughError(f"{path.name} has no recorded evaluation (metrics.json){hint}")
    num_classes = len(read_config(path).get("labels") or ())  # any kind of version: trained, few-shot
    samples = metrics.get("num_samples")
    bar = chance_bar(num_classes, samples if isinstance(samples, int) else None)
    if accuracy <= bar:
        raise NotGoodEnoughError(
            f"{path.name} is near chance: test accuracy {accuracy:.4f} <= {bar:.4f} "
            f"(1/{num_classes} classes plus margin){hint}"
        )


def _metrics(path: Path) -> dict:
    """A bundle's metrics.json as a dict ({} when missing or unreadable)."""
    try:
        data = json.loads((path / METRICS).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _accuracy(path: Path) -> float | None:
    """Test accuracy recorded in a bundle's metrics.json, if any."""
    value = _metrics(path).get("accuracy")
    return float(value) if isinstance(value, (int, float)) else None


def _created(path: Path) -> float:
    """When a version was made (POSIX seconds): the time its config.json records, else its weights' mtime.

    Bundles saved before the time was recorded fall back to the weights' mtime (export and evaluation rewrite
    config.json, never the weights); a copy or a restore from backup changes mtimes, never the recorded time.
    """
    try:
        return datetime.fromisoformat(json.loads((path / CONFIG).read_text())["created"]).timestamp()
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    for name in (WEIGHTS, CONFIG):
        try:
            return (path / name).stat().st_mtime
        except OSError:
            continue
    return 0.0


def _config_mtime(path: Path) -> float:
    """When a version's config.json last changed (0 if it is gone)."""
    try:
        return (path / CONFIG).stat().st_mtime
    except OSError:
        return 0.0
