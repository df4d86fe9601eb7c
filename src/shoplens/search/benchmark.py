"""Vector-search benchmark building blocks: synthetic clustered embeddings, per-query latency and recall."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shoplens.search.index import APPROX_METHOD, HNSW_DEFAULTS, IVF_DEFAULTS, FaissIndex
from shoplens.search.protocol import VectorIndex

APPROX_PARAMS = MappingProxyType({"hnsw": HNSW_DEFAULTS, "ivf": IVF_DEFAULTS})
_CHUNK = 50_000  # vectors per add() while building: bounds temporary memory and drives the progress bar


def synthetic_embeddings(
    n: int, queries: int, dim: int, *, seed: int = 0, clusters: int = 1000, noise: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Index vectors (n, dim) and held-out queries (queries, dim) from one clustered mixture, L2-normalised.

    The mixture imitates image embeddings of a catalogue: `clusters` centres drawn uniformly on the unit
    sphere (think product types), with uneven sizes (log-normal weights, so a few categories are large).
    A point is its centre plus anisotropic gaussian noise: per-axis std ∝ 1/√(axis+1) in a random rotation
    (an intrinsic dimension near 18 of 128, as real embeddings have), scaled so the expected squared noise
    norm is `noise`² (noise=1: cosine to the centre ≈ 0.7), then the point is L2-normalised. Queries are
    fresh draws of the same mixture, so none of them is in the index.
    """
    if n < 1 or queries < 0 or dim < 2:
        raise ValueError(f"need n ≥ 1, queries ≥ 0 and dim ≥ 2, got n={n} queries={queries} dim={dim}")
    rng = np.random.default_rng(seed)
    clusters = max(1, min(clusters, n))
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.lognormal(0.0, 1.0, clusters)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    scale = 1.0 / np.sqrt(np.arange(1, dim + 1))
    axes = (scale[:, None] * rotation.T * (noise / np.linalg.norm(scale))).astype(np.float32)

    total = n + queries
    out = np.empty((total, dim), np.float32)
    for start in range(0, total, _CHUNK):
        m = min(_CHUNK, total - start)
        which = rng.choice(clusters, m, p=weights / weights.sum())
        x = centres[which] + rng.standard_normal((m, dim), dtype=np.float32) @ axes
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out[:n], out[n:]


def measure_latency(
    n: int,
    dim: int,
    methods: Sequence[str] = ("exact", "approx"),
    queries: int = 200,
    k: int = 10,
    seed: int = 0,
    approx: str = APPROX_METHOD,
    params: dict[str, Any] | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Build each index over n synthetic embeddings and time single-query searches; one dict per method.

    Each entry: vectors, method ("exact" | "approx"), index (faiss structure and search parameters), p50_ms
    and p99_ms (one query per search() call, as a request makes it, after a short warm-up), recall_at_10
    (top-10 overlap with exact search for the same queries; 1.0 for exact), build_s (all add() calls in
    chunks of 50k, IVF training included). `approx` picks "hnsw" or "ivf"; `params` overrides its defaults
    (e.g. {"ef_search": 96}). Memory: about 3 × n × dim × 4 bytes (vectors, exact index, approx index).
    """
    unknown = set(methods) - {"exact", "approx"}
    if unknown or approx not in APPROX_PARAMS:
        raise ValueError(f"methods must be exact/approx and approx hnsw/ivf, got {methods}, {approx!r}")
    if k < 10 or queries < 1:
        raise ValueError(f"recall_at_10 needs k ≥ 10 and at least one query, got k={k} queries={queries}")
    console = Console(stderr=True)
    base, qs = synthetic_embeddings(n, queries, dim, seed=seed)
    ids = np.arange(n, dtype=np.int64)

    exact = FaissIndex(dim, "exact", threads=threads)
    exact, exact_build = _build(exact, ids, base, "exact", progress, console)
    truth = exact.search(qs, 10)[1]
    results = []
    for method in methods:
        if method == "exact":
            index, build_s = exact, exact_build
        else:
            kwargs = {**APPROX_PARAMS[approx], **(params or {})}
            index = FaissIndex(dim, approx, threads=threads, **kwargs)
            index, build_s = _build(index, ids, base, approx, progress, console)
        results.append(_row(index, qs, truth, k, build_s, method))
        if progress:
            console.print(results[-1])
    return results


def measure_milvus(
    n: int,
    dim: int,
    uri: str,
    method: str = "hnsw",
    queries: int = 200,
    k: int = 10,
    seed: int = 0,
    threads: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """A Milvus index of `method` over the n synthetic embeddings of measure_latency, timed the same way.

    The entry has measure_latency's keys (recall against exact faiss search for the same queries; build_s
    includes the final flush that seals segments and builds their index) and the engine's version. threads
    sets faiss's threads for the process (milvus-lite's engine runs on faiss in this process too).
    """
    from pymilvus import __version__ as pymilvus_version

    from shoplens.search.milvus import MilvusIndex, client_for, is_local

    console = Console(stderr=True)
    base, qs = synthetic_embeddings(n, queries, dim, seed=seed)
    ids = np.arange(n, dtype=np.int64)
    exact, _ = _build(FaissIndex(dim, "exact", threads=threads), ids, base, "exact", progress, console)
    truth = exact.search(qs, 10)[1]
    del exact
    name = f"bench_{n}_{method}"
    if client_for(uri).has_collection(name):
        client_for(uri).drop_collection(name)
    index = MilvusIndex(dim, method, uri=uri, collection=name)
    index, build_s = _build(index, ids, base, f"Milvus {method}", progress, console)
    start = time.perf_counter()
    index.flush()
    row = _row(index, qs, truth, k, build_s + time.perf_counter() - start, method)
    if is_local(uri):
        from milvus_lite import __version__ as lite_version

        row["engine"] = f"milvus-lite {lite_version}, pymilvus {pymilvus_version}"
    else:
        row["engine"] = f"Milvus at {uri}, pymilvus {pymilvus_version}"
    index.drop()
    return row


def _row(
    index: VectorIndex, queries: np.ndarray, truth: np.ndarray, k: int, build_s: float, method: str
) -> dict[str, Any]:
    """One result entry: single-query latency percentiles and recall@10 against the exact ids."""
    latencies, found = time_queries(index, queries, k)
    hits = [np.intersect1d(f[:10], t).size for f, t in zip(found, truth)]
    return {
        "vectors": len(index),
        "dim": index.dim,
        "method": method,
        "index": index.description,  # type: ignore[attr-defined]
        "queries": len(queries),
        "k": k,
        "p50_ms": round(float(np.percentile(latencies, 50)), 4),
        "p99_ms": round(float(np.percentile(latencies, 99)), 4),
        "recall_at_10": 1.0 if method == "exact" else round(float(np.mean(hits)) / 10, 4),
        "build_s": round(build_s, 2),
    }


def _build(
    index: VectorIndex, ids: np.ndarray, vectors: np.ndarray, label: str, progress: bool, console: Console
) -> tuple[VectorIndex, float]:
    """Add all vectors in chunks; returns the index and the seconds it took."""
    start = time.perf_counter()
    with _bar(progress, console, f"building {label}", len(ids)) as advance:
        for lo in range(0, len(ids), _CHUNK):
            index.add(ids[lo : lo + _CHUNK], vectors[lo : lo + _CHUNK])
            advance(min(_CHUNK, len(ids) - lo))
    return index, time.perf_counter() - start


def time_queries(index: VectorIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds per single-query search (after 10 warm-up calls) and the ids found, one row per query."""
    for q in queries[:10]:
        index.search(q[None], k)
    latencies = np.empty(len(queries))
    found = np.empty((len(queries), k), np.int64)
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        found[i] = index.search(q[None], k)[1][0]
        latencies[i] = (time.perf_counter() - t0) * 1e3
    return latencies, found


@contextmanager
def _bar(enabled: bool, console: Console, description: str, total: int) -> Iterator[Any]:
    """A transient Rich progress bar yielding advance(n); a no-op when disabled."""
    if not enabled:
        yield lambda _n: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
