import functools
import gzip
import hashlib
import http.server
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from shoplens.data import CLASS_NAMES, load_fashion_mnist, read_idx, write_idx
from shoplens.data import fashion_mnist as fm
from shoplens.errors import DataFormatError, DataNotFoundError


def test_idx_round_trip_gzip_and_plain(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        write_idx(tmp_path / name, a)
        np.testing.assert_array_equal(read_idx(tmp_path / name), a)
    assert (tmp_path / "a.idx.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_bad_magic_is_named(tmp_path):
    (tmp_path / "x.idx").write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(DataFormatError, match=r"x\.idx: bad IDX magic"):
        read_idx(tmp_path / "x.idx")


def test_size_mismatch_is_reported(tmp_path):
    write_idx(tmp_path / "x.idx", np.zeros((4, 2, 2), np.uint8))
    data = (tmp_path / "x.idx").read_bytes()
    (tmp_path / "x.idx").write_bytes(data[:-3])
    with pytest.raises(DataFormatError, match=r"header says shape \(4, 2, 2\)"):
        read_idx(tmp_path / "x.idx")


def test_corrupt_gzip_is_reported(tmp_path):
    good = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 100) + bytes(100))
    (tmp_path / "x.gz").write_bytes(good[:30])
    with pytest.raises(DataFormatError, match="corrupt gzip"):
        read_idx(tmp_path / "x.gz")


def test_loads_split_with_class_names(fmnist_dir):
    ds = load_fashion_mnist("train", fmnist_dir, verify=False)
    assert ds.images.shape == (200, 1, 28, 28) and ds.images.dtype == np.uint8
    assert (
        ds.class_names == CLASS_NAMES
        and ds.class_names[0] == "T-shirt/top"
        and ds.class_names[9] == "Ankle boot"
    )
    assert len(ds.checksum) == 64


def test_verification_rejects_unofficial_files(fmnist_dir):
    with pytest.raises(DataFormatError, match="sha256 of the decompressed data"):
        load_fashion_mnist("train", fmnist_dir)


def test_image_label_count_mismatch(fmnist_dir):
    write_idx(fmnist_dir / "train-labels-idx1-ubyte.gz", np.zeros(150, np.uint8))
    with pytest.raises(DataFormatError, match=r"200 images .* but 150 labels"):
        load_fashion_mnist("train", fmnist_dir, verify=False)


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        fm.find_fashion_mnist()
    with pytest.raises(DataNotFoundError, match="lacks train-images"):
        fm.find_fashion_mnist(tmp_path)


def test_lookup_order_env_then_system(fmnist_dir, tmp_path, monkeypatch):
    other = tmp_path / "other"
    monkeypatch.setattr(fm, "SYSTEM_DIR", other)
    monkeypatch.setenv("SHOPLENS_DATA_DIR", str(fmnist_dir))
    assert fm.find_fashion_mnist() == fmnist_dir
    assert fm.candidate_dirs("/explicit")[0].as_posix() == "/explicit"
    assert fm.candidate_dirs()[-1] == fm.user_cache_dir()


def test_describe_reports_unverified_files(fmnist_dir):
    root, infos = fm.describe(fmnist_dir)
    assert root == fmnist_dir and len(infos) == 4
    assert not any(i.verified for i in infos)
    assert infos[0].shape == (200, 28, 28)


@contextmanager
def serving(files: dict[str, bytes], folder: Path) -> Iterator[str]:
    """The files gzipped in `folder`, served over HTTP on loopback while the block runs; yields the base URL."""
    folder.mkdir()
    for name, payload in files.items():
        (folder / name).write_bytes(gzip.compress(payload))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_download_keeps_only_matching_checksums(tmp_path):
    served = serving(dict.fromkeys(fm.SHA256, b"not the official data"), tmp_path / "served")
    with served as url, pytest.raises(DataFormatError, match="checksum mismatch"):
        fm.download(tmp_path / "dest", base_url=url, timeout=5)
    assert list((tmp_path / "dest").glob("*.gz")) == []


def test_download_writes_each_verified_file_in_one_step(tmp_path, monkeypatch):
    payloads = {name: f"idx payload of {name}".encode() for name in fm.SHA256}
    monkeypatch.setattr(fm, "SHA256", {n: hashlib.sha256(p).hexdigest() for n, p in payloads.items()})
    with serving(payloads, tmp_path / "served") as url:
        dest = fm.download(tmp_path / "dest", base_url=url, timeout=5)
    assert sorted(p.name for p in dest.iterdir()) == sorted(payloads)  # no temp file left beside them
    assert all(gzip.decompress((dest / n).read_bytes()) == p for n, p in payloads.items())
