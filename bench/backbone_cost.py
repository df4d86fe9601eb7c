"""What an image–text backbone costs on this CPU: tiny models measured, full-size ViT-B/32 CLIP and SigLIP base too.

    .venv/bin/python bench/backbone_cost.py [--repeats 10] [--skip-full] [--realtime]

Writes bench/results/backbone_cost.json. Nothing is downloaded: the full-size models are transformers' default
CLIPConfig (= openai/clip-vit-base-patch32's shapes) and SiglipConfig (= google/siglip-base-patch16-224's) with
random weights, which cost exactly what trained weights cost. Each goes through `shoplens backbone import` (export
to ONNX + the check against transformers) and is then timed through the serving runtime. FLOPs per image and per
prompt are counted with torch's FlopCounterMode on the same model; the FLOP-based estimate divides them by the
GFLOP/s ONNX Runtime reaches here on a ViT-sized matrix product. With --realtime (root) only the timed parts run
under SCHED_FIFO priority 10 (what `chrt -f 10` does for the other benchmarks), so that other work on a shared
machine cannot take their cores; checkpoints, export and checks run at normal priority.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import onnx
import onnxruntime as ort
import torch
from common import machine_info, write_results
from onnx import TensorProto, helper
from torch.utils.flop_counter import FlopCounterMode

from shoplens.backbones import load_backbone
from shoplens.backbones.cost import measure_cost, timings
from shoplens.backbones.export import ImageTower, TextTower
from shoplens.backbones.importer import import_backbone, load_reference
from shoplens.backbones.tiny import save_checkpoint

FULL = {"clip": "ViT-B/32 CLIP (openai/clip-vit-base-patch32 shapes)", "siglip": "ViT-B/16 SigLIP at 224 px"}
PROMPT = "a photo of a red summer dress"


@contextlib.contextmanager
def timed_priority(realtime: bool):
    """SCHED_FIFO 10 for this thread and the ONNX Runtime threads it starts inside the block (root only)."""
    if not realtime:
        yield
        return
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    try:
        yield
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def ort_matmul_gflops(m: int = 197, k: int = 768, n: int = 3072, repeats: int = 20) -> dict:
    """GFLOP/s of ONNX Runtime on one (m × k) @ (k × n) product, the size of a ViT-B MLP layer on one image."""
    w = helper.make_tensor(
        "w", TensorProto.FLOAT, [k, n], np.random.default_rng(0).standard_normal(k * n).tolist()
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
    times = timings(lambda: session.run(["y"], {"x": x}), repeats)
    flops = 2 * m * k * n
    return {
        "shape": [m, k, n],
        "gflops_best": round(flops / min(times) / 1e9, 1),
        "gflops_median": round(flops / float(np.median(times)) / 1e9, 1),
    }


def count_flops(folder: Path, family: str) -> dict:
    """FLOPs of one image and of one prompt through the transformers model (every matmul and convolution)."""
    model, tokenizer, _ = load_reference(folder, family)
    side = model.config.vision_config.image_size
    length = model.config.text_config.max_position_embeddings
    padding = "max_length" if family == "siglip" else "longest"
    tokens = tokenizer([PROMPT], padding=padding, max_length=length, truncation=True, return_tensors="pt")
    feeds = [tokens["input_ids"]] + ([tokens["attention_mask"]] if family == "clip" else [])
    counts = {}
    with torch.no_grad():
        for name, tower, args in (
            ("image", ImageTower(model), (torch.zeros(1, 3, side, side),)),
            ("text", TextTower(model), tuple(feeds)),
        ):
            with FlopCounterMode(display=False) as counter:
                tower(*args)
            counts[f"gflops_per_{name}"] = round(counter.get_total_flops() / 1e9, 3)
    counts["text_tokens"] = int(tokens["input_ids"].shape[1])
    counts["params_millions"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 1)
    return counts


def run_family(family: str, size: str, root: Path, args: argparse.Namespace, gflops: float | None) -> dict:
    """Build a checkpoint, import it (timed), then time the bundle through the serving runtime."""
    checkpoint = save_checkpoint(root / f"{size}-{family}", family, size=size)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    bundle = import_backbone(checkpoint, root / f"bundle-{size}-{family}", measure=False)
    result = {
        "import_seconds": round(time.perf_counter() - wall0, 1),
        "import_cpu_seconds": round(time.process_time() - cpu0, 1),
        "onnx_mb": {p.name: round(p.stat().st_size / 2**20, 1) for p in sorted(bundle.glob("*.onnx"))},
        "check_max_abs_diff": load_backbone(bundle).config.extra["checks"]["max_abs_diff"],
        **count_flops(checkpoint, family),
    }
    # sessions made inside the block: their thread pools inherit the scheduling policy
    with timed_priority(args.realtime):
        result["cost"] = measure_cost(load_backbone(bundle), batch=8, repeats=args.repeats)
    best = result["cost"]["ms_per_item_best"]
    for tower in ("image", "text"):
        achieved = result[f"gflops_per_{tower}"] / (best[f"{tower}_batch_8"] / 1e3)
        result[f"achieved_gflops_{tower}_batch_8"] = round(achieved, 1)
        if gflops:
            result[f"estimate_ms_per_{tower}_from_flops"] = round(
                result[f"gflops_per_{tower}"] / gflops * 1e3, 2
            )
    result["peak_rss_gib_so_far"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return result


def main() -> None:
    """Measure and write bench/results/backbone_cost.json."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--skip-full", action="store_true", help="tiny models only (seconds instead of minutes)"
    )
    parser.add_argument("--realtime", action="store_true", help="time under SCHED_FIFO 10 (needs root)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with timed_priority(args.realtime):
        matmul = ort_matmul_gflops()
    print(f"ONNX Runtime matmul: {matmul}", flush=True)
    payload = {
        "machine": machine_info(),
        "onnx": onnx.__version__,
        "realtime_timing": args.realtime,
        "ort_matmul": matmul,
        "tiny": {},
        "full": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("clip", "siglip"):
            payload["tiny"][family] = run_family(family, "tiny", Path(tmp), args, None)
            print(f"tiny {family}: {payload['tiny'][family]['cost']['ms_per_item']}", flush=True)
        for family in () if args.skip_full else ("clip", "siglip"):
            result = run_family(family, "base", Path(tmp), args, matmul["gflops_best"])
            payload["full"][family] = {"model": FULL[family], **result}
            print(f"full {family}: {result}", flush=True)
    payload["load_average"] = {"before": [round(v, 2) for v in load_before], "after": list(os.getloadavg())}
    payload["method"] = __doc__.split("\n\n", 2)[2].replace("\n", " ").strip()
    print(f"wrote {write_results('backbone_cost', payload)}")


if __name__ == "__main__":
    main()
