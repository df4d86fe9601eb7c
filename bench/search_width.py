"""Search vectors 202 wide (the default model's whole features) against 138 (its search projection), in one run.

    .venv/bin/python bench/search_width.py            # 10k and 1M vectors, two rounds each (≈ 4 min)
    .venv/bin/python bench/search_width.py --quick    # 10k and 100k

Times single-query exact and IVF search over the same synthetic clustered vectors at both widths, the widths
alternating round by round so that a machine growing busier slows both alike, and weighs the saved index file.
Writes bench/results/search_width.json; ratios are 138-wide over 202-wide.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

from shoplens.search.benchmark import measure_latency, synthetic_embeddings
from shoplens.search.index import FaissIndex

WHOLE, PROJECTED = 202, 138  # 192 features + 10 probabilities; 128 projected features + 10


def index_bytes_per_vector(n: int, dim: int) -> float:
    """Size of a saved exact index of n synthetic vectors, per vector."""
    vectors, _ = synthetic_embeddings(n, 1, dim)
    index = FaissIndex(dim, "exact")
    index.add(np.arange(n, dtype=np.int64), vectors)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.faiss"
        index.save(path)
        return path.stat().st_size / n


def main() -> None:
    """Measure both widths, alternating, and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k vectors")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per width and size (default 2)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be ≥ 1")
    sizes = (10_000, 100_000) if args.quick else (10_000, 1_000_000)
    rows: list[dict[str, Any]] = []
    for n in sizes:
        for round_ in range(args.rounds):
            for dim in (WHOLE, PROJECTED) if round_ % 2 == 0 else (PROJECTED, WHOLE):
                for row in measure_latency(n, dim, seed=round_, progress=True):
                    rows.append({"round": round_, "dim": dim, **row})
    summary = []
    for n in sizes:
        for method in ("exact", "approx"):
            p50 = {
                dim: float(
                    np.median(
                        [
                            r["p50_ms"]
                            for r in rows
                            if (r["vectors"], r["method"], r["dim"]) == (n, method, dim)
                        ]
                    )
                )
                for dim in (WHOLE, PROJECTED)
            }
            summary.append(
                {
                    "vectors": n,
                    "method": method,
                    f"p50_ms_{WHOLE}": round(p50[WHOLE], 4),
                    f"p50_ms_{PROJECTED}": round(p50[PROJECTED], 4),
                    "p50_ratio": round(p50[PROJECTED] / p50[WHOLE], 3),
                }
            )
    sizes_bytes = {dim: index_bytes_per_vector(10_000, dim) for dim in (WHOLE, PROJECTED)}
    results = {
        "machine": machine_info(),
        "what": f"single-query search over the same synthetic clustered vectors, {WHOLE} vs {PROJECTED} wide; "
        "ratios are the projected width over the whole, medians of each width's rounds",
        "summary": summary,
        "index_bytes_per_vector": {str(dim): round(b, 1) for dim, b in sizes_bytes.items()},
        "index_size_ratio": round(sizes_bytes[PROJECTED] / sizes_bytes[WHOLE], 3),
        "rows": rows,
    }
    print(write_results("search_width", results))
    for row in summary:
        print(row)
    print("index bytes per vector:", results["index_bytes_per_vector"], "ratio", results["index_size_ratio"])


if __name__ == "__main__":
    main()
