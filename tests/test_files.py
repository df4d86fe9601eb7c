"""Atomic replacement: concurrent writers of one file never collide or leave half a file; modes; failures."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from shoplens.files import write_atomic
from shoplens.models.bundle import write_json
from shoplens.training.loop import save_checkpoint

WRITERS, ROUNDS = 4, 25


def race(write: Callable[[int], None], read: Callable[[], int]) -> tuple[list[BaseException], set[int]]:
    """WRITERS threads each write their own version ROUNDS times while a reader reads; (errors, versions seen)."""
    errors: list[BaseException] = []
    seen: set[int] = set()
    start, done = threading.Barrier(WRITERS + 1), threading.Event()

    def writer(i: int) -> None:
        start.wait()
        try:
            for _ in range(ROUNDS):
                write(i)
        except BaseException as e:
            errors.append(e)

    def reader() -> None:
        start.wait()
        while not done.is_set():
            try:
                seen.add(read())
            except FileNotFoundError:  # before the first write lands
                continue
            except BaseException as e:
                errors.append(e)
                return

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    watcher = threading.Thread(target=reader)
    for t in [*threads, watcher]:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    return errors, seen


def test_concurrent_writers_of_one_bundle_json_never_collide(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    payloads = [{"writer": i, "labels": [f"{i}-{n}" for n in range(5_000)]} for i in range(WRITERS)]

    def read() -> int:
        data = json.loads(path.read_text())  # a half-written file fails to parse
        assert data == payloads[data["writer"]]
        return data["writer"]

    errors, seen = race(lambda i: write_json(path, payloads[i]), read)
    assert errors == []
    assert read() in range(WRITERS) and seen <= set(range(WRITERS))
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left behind


def test_concurrent_checkpoint_writers_never_collide(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints" / "last.pt"
    path.parent.mkdir()
    states = [{"epoch": i, "weights": torch.full((32, 1024), float(i))} for i in range(WRITERS)]

    def read() -> int:
        state = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)  # a half file does not load
        assert torch.equal(state["weights"], states[state["epoch"]]["weights"])
        return state["epoch"]

    errors, seen = race(lambda i: save_checkpoint(path, states[i]), read)
    assert errors == []
    assert read() in range(WRITERS) and seen <= set(range(WRITERS))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_mode_is_set_before_the_file_appears(tmp_path: Path) -> None:
    secret, plain, opened = tmp_path / "keys.json", tmp_path / "sub" / "plain.txt", tmp_path / "opened.txt"
    write_atomic(secret, b"{}", mode=0o600)
    write_atomic(plain, b"x")  # the folder is created
    opened.write_bytes(b"x")
    assert secret.stat().st_mode & 0o777 == 0o600
    assert plain.stat().st_mode & 0o777 == opened.stat().st_mode & 0o777  # as open() makes it, not 0600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    write_atomic(path, b"old")

    def broken(fh: io.BufferedWriter) -> None:
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, broken)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert write_atomic(path, lambda fh: fh.write(b"new!"), fsync=True) == 4 and path.read_bytes() == b"new!"
