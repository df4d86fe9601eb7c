"""The servers the serving benchmarks start: a bundle to serve, `shoplens serve` or the naive peer as a
subprocess on a free loopback port, and the multipart request both answer."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from shoplens.errors import ShopLensError
from shoplens.inference.store import ModelStore
from shoplens.models.bundle import read_config

NAME = "fashion-mnist"
BOUNDARY = "shoplensbench"


def sample_png() -> tuple[bytes, str]:
    """A 28×28 shop-style PNG: Fashion-MNIST test image 0 if the data is here, else a generated one."""
    try:
        from shoplens.data import load_fashion_mnist

        pixels, source = 255 - load_fashion_mnist("test", verify=False).images[0, 0], "fashion-mnist test[0]"
    except ShopLensError:
        pixels = np.full((28, 28), 255, np.uint8)
        pixels[6:22, 9:19], source = 40, "generated"
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue(), source


def sample_photo() -> tuple[bytes, str]:
    """A shop photo as a merchant sends it: the photo benchmark's first rendering of a Fashion-MNIST test garment."""
    from shoplens.data import load_fashion_mnist
    from shoplens.data.shop_photos import shop_photos

    test = load_fashion_mnist("test", verify=False)
    photo = next(iter(shop_photos(test.images[:, 0], test.labels, 1, seed=0)))
    size = Image.open(io.BytesIO(photo.data)).size
    return photo.data, f"shop photo 0 of bench/photos.py's set ({size[0]}×{size[1]})"


def prepare_models(workdir: Path, export: bool, whole: bool = False) -> tuple[Path, str]:
    """A private models folder with a copy of the newest valid bundle (or a new tiny one), with ONNX as
    `make demo` serves it, or torch only when export is False; `whole`: everything the bundle holds (its
    not-a-product detector and search projection too), not only the model. Returns (root, description)."""
    root = workdir / "models"
    store = ModelStore(Path("var/models"), NAME)
    version = next((v for v in store.candidates() if _loads(store, v)), None)
    if version is None:
        version, source = "untrained", "a freshly initialised shopnet (no valid bundle in var/models)"
        _tiny_bundle(root / NAME / version)
    elif whole:
        source = f"var/models/{NAME}/{version}, whole"
        shutil.copytree(
            store.folder / version, root / NAME / version, ignore=shutil.ignore_patterns("checkpoints")
        )
    else:
        source = f"var/models/{NAME}/{version}"
        (root / NAME / version).mkdir(parents=True)
        for name in ("config.json", "model.safetensors", "metrics.json") + (
            ("model.onnx",) if export else ()
        ):
            if (store.folder / version / name).is_file():
                shutil.copy2(store.folder / version / name, root / NAME / version / name)
    dst = root / NAME / version
    if export and not (dst / "model.onnx").is_file():
        from shoplens.inference.export import export_onnx

        export_onnx(dst)
    ModelStore(root, NAME).activate(version, force=True)  # only an activated version is served
    runtime = "ONNX Runtime" if (dst / "model.onnx").is_file() else "torch"
    tta = " with flip TTA" if read_config(dst).get("tta_flip") else ""
    return root, f"{source} ({runtime}{tta})"


def _tiny_bundle(path: Path) -> None:
    """A freshly initialised shopnet bundle with Fashion-MNIST preprocessing."""
    import torch

    from shoplens.data.fashion_mnist import CLASS_NAMES
    from shoplens.imaging import PreprocessConfig
    from shoplens.models import create_model, save_bundle

    torch.manual_seed(0)
    pre = PreprocessConfig(size=(28, 28), mode="L", trim=True, invert=True, mean=(0.286,), std=(0.353,))
    save_bundle(
        path,
        create_model("shopnet", num_classes=10),
        architecture="shopnet",
        model_kwargs={},
        labels=list(CLASS_NAMES),
        preprocess=pre,
        train_config={},
        data={},
    )


def _loads(store: ModelStore, version: str) -> bool:
    """Whether a version loads (an experiment's unregistered architecture does not)."""
    try:
        store.load(version)
    except ShopLensError as e:
        print(f"skipping {version}: {e}", flush=True)
        return False
    return True


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoplens_command(port: int, models: Path, batching: bool, workers: int = 1) -> list[str]:
    """`shoplens serve` on a loopback port, anonymous, from a private models folder, with `workers` processes."""
    return [
        sys.executable,
        "-m",
        "shoplens.cli",
        "serve",
        "--open",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--models-dir",
        str(models),
        "--batching" if batching else "--no-batching",
        "--workers",
        str(workers),
    ]


def wait_for_workers(base: str, workers: int, timeout: float = 120) -> None:
    """Poll /readyz on fresh connections until each of `workers` worker processes has answered ready."""
    seen: set[int | None] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only workers {sorted(seen, key=str)} of {workers} became ready within {timeout} s"
            )
        r = httpx.get(f"{base}/readyz", timeout=5)
        if r.status_code == 200:
            seen.add(r.json().get("worker"))
        else:
            time.sleep(0.05)


def peer_command(port: int, models: Path, threads: int) -> list[str]:
    """The naive peer service on the same bundle, with the same inference threads."""
    (bundle,) = (p for p in (models / NAME).iterdir() if p.is_dir())  # the version (beside ACTIVE)
    return [
        sys.executable,
        str(Path(__file__).with_name("naive_service.py")),
        str(bundle),
        str(port),
        str(threads),
    ]


@contextmanager
def running_server(
    command: Callable[[int], list[str]], env_extra: dict[str, str], log: Path, ready_path: str = "/readyz"
) -> Iterator[str]:
    """A server subprocess (`command(port)`) until the block ends (SIGTERM, then wait); yields its base URL."""
    port = free_port()
    env = {  # the load generator is one caller: the per-caller limit would refuse most of its clients
        **os.environ,
        "SHOPLENS_RELOAD_INTERVAL_S": "0",
        "SHOPLENS_MAX_INFLIGHT_PER_CALLER": "100000",
        **env_extra,
    }
    with open(log, "a") as fh:
        proc = subprocess.Popen(command(port), stdout=fh, stderr=fh, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}{ready_path}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}; see {log}")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the server was not ready within 120 s; see {log}")
        yield base
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM (a graceful drain), then SIGKILL if the process is still there after `timeout` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def multipart_body(image: bytes) -> tuple[bytes, dict[str, str]]:
    """The request body for one PNG or JPEG file, encoded once."""
    kind = "jpeg" if image.startswith(b"\xff\xd8") else "png"
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="sample.{kind}"\r\n'
    body = (
        (head + f"Content-Type: image/{kind}\r\n\r\n").encode() + image + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
