"""The runtime `auto` picks at load: each candidate timed on a few batches, checked against FP32 ONNX Runtime.

A candidate is a runtime name (session.py opens it): ONNX Runtime FP32 (the reference), OpenVINO bf16 on AMX, and
the bundle's int8 QDQ model under both runtimes on CPUs with int8 dot products (VNNI). OpenVINO FP32 is not a
candidate of `auto` (ask for it by name): it brings no cheaper arithmetic, and on the AVX2 machine it was measured
on it was slower than ONNX Runtime at batches 1 and 32 (bench/results/inference.json) while loading it cost a
serving process 70 MiB and 0.7 s — so on a CPU with neither AMX nor VNNI, `auto` is ONNX Runtime with no timing.
The fastest candidate whose top-1 agrees with the reference on at least MIN_AGREEMENT of
the calibration images, with no probability further than MAX_PROB_DIFF from it, serves; the record says why.
"""

from __future__ import annotations

import importlib.util
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoplens.errors import BundleError
from shoplens.imaging import normalize
from shoplens.inference.cpu import has_amx_bf16, has_vnni, inference_flags
from shoplens.inference.predictor import softmax
from shoplens.inference.session import INT8_NAME, InferenceSession, open_onnx
from shoplens.models.bundle import BundleSpec

log = logging.getLogger(__name__)

REFERENCE = "onnxruntime"
MIN_AGREEMENT = 0.97  # top-1 agreement with the FP32 reference on the calibration images
MAX_PROB_DIFF = 0.05  # largest difference of any class probability from the reference
CALIBRATION_IMAGES = 64
TIMED_BATCHES = (1, 32)  # one round: a lone image (serving latency) and a batch (throughput)
MIN_ROUNDS, MAX_ROUNDS, BUDGET_S = 3, 15, 1.5  # rounds after a warm-up; more only while within the budget
RULE = (
    f"fastest candidate with top-1 agreement ≥ {MIN_AGREEMENT} and max probability difference ≤ {MAX_PROB_DIFF} "
    f"against FP32 ONNX Runtime on {CALIBRATION_IMAGES} calibration images; speed: median round of batches "
    f"{'+'.join(map(str, TIMED_BATCHES))}, candidates interleaved"
)


@dataclass(frozen=True)
class Candidate:
    """A runtime to try: its name and how to open its session."""

    runtime: str
    open: Callable[[], InferenceSession]


def candidate_runtimes(bundle: BundleSpec, flags: frozenset[str] | None = None) -> list[str]:
    """The runtimes worth trying for this bundle on this CPU, the FP32 ONNX Runtime reference first."""
    names = [REFERENCE]
    openvino = importlib.util.find_spec("openvino") is not None
    int8 = (bundle.path / INT8_NAME).is_file() and has_vnni(flags)
    if openvino and has_amx_bf16(flags):
        names.append("openvino-bf16")
    if int8:
        names += ["onnxruntime-int8", *(["openvino-int8"] if openvino else [])]
    return names


def calibration_inputs(bundle: BundleSpec, n: int = CALIBRATION_IMAGES, seed: int = 0) -> np.ndarray:
    """`n` normalised inputs of the bundle's shape: smooth random shapes plus noise, like photos more than noise."""
    pre = bundle.preprocess
    height, width = pre.size
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, pre.in_chans, 4, 4))
    rows, cols = np.linspace(0, 3, height).round().astype(int), np.linspace(0, 3, width).round().astype(int)
    images = coarse[:, :, rows][:, :, :, cols] + rng.normal(0, 12, (n, pre.in_chans, height, width))
    return normalize(images.clip(0, 255).astype(np.uint8), pre)


def probabilities(session: InferenceSession, x: np.ndarray) -> np.ndarray:
    """Class probabilities of a session for normalised inputs, in batches of the largest timed size."""
    step = max(TIMED_BATCHES)
    return np.concatenate([softmax(session.run(x[i : i + step])[0]) for i in range(0, len(x), step)])


def _time_rounds(sessions: Sequence[InferenceSession], x: np.ndarray) -> list[float]:
    """Images/s of each session at its median round; rounds interleave sessions so other load hits all alike."""
    batches = [x[:size] for size in TIMED_BATCHES]
    images = sum(len(b) for b in batches)
    times: list[list[float]] = [[] for _ in sessions]
    started = time.monotonic()
    for round_ in range(MAX_ROUNDS + 1):
        for k, session in enumerate(sessions):
            start = time.perf_counter()
            for batch in batches:
                session.run(batch)
            if round_:  # round 0 warms up
                times[k].append(time.perf_counter() - start)
        if round_ >= MIN_ROUNDS and time.monotonic() - started > BUDGET_S:
            break
    return [images / statistics.median(t) for t in times]


def calibrate(
    bundle: BundleSpec, candidates: Sequence[Candidate], x: np.ndarray | None = None
) -> tuple[InferenceSession, dict[str, Any]]:
    """The fastest candidate that passes the accuracy check (the first is the reference), and the record of why."""
    x = calibration_inputs(bundle) if x is None else x
    rows: list[dict[str, Any]] = []
    opened: list[tuple[InferenceSession, dict[str, Any]]] = []
    reference: np.ndarray | None = None
    for candidate in candidates:
        row: dict[str, Any] = {"runtime": candidate.runtime}
        rows.append(row)
        try:
            session = candidate.open()
            probs = probabilities(session, x)
        except (BundleError, RuntimeError, ValueError) as e:
            if reference is None:
                raise  # the reference itself must load
            row.update(passed=False, reason=f"cannot run: {e}")
            continue
        reference = probs if reference is None else reference
        agreement = float((probs.argmax(1) == reference.argmax(1)).mean())
        diff = float(np.abs(probs - reference).max())
        passed = agreement >= MIN_AGREEMENT and diff <= MAX_PROB_DIFF
        row.update(top1_agreement=round(agreement, 4), max_prob_diff=round(diff, 6), passed=passed)
        if passed:
            opened.append((session, row))
        else:
            row["reason"] = "less accurate than the rule allows"
    if len(opened) > 1:
        for (_, row), speed in zip(opened, _time_rounds([s for s, _ in opened], x)):
            row["images_per_second"] = round(speed, 1)
    chosen, chosen_row = max(opened, key=lambda pair: pair[1].get("images_per_second", 0.0))
    record = {
        "runtime": chosen_row["runtime"],
        "chosen_by": "calibration" if len(opened) > 1 else "the only candidate that passed",
        "rule": RULE,
        "cpu_flags": inference_flags(),
        "candidates": rows,
    }
    return chosen, record


def choose_session(
    bundle: BundleSpec, threads: int | None = None, runtimes: Sequence[str] | None = None
) -> InferenceSession:
    """The session `auto` serves a bundle's ONNX model with; its `calibration` attribute records the choice."""
    names = candidate_runtimes(bundle) if runtimes is None else list(runtimes)
    candidates = [Candidate(name, lambda name=name: open_onnx(bundle, name, threads)) for name in names]
    session, record = calibrate(bundle, candidates)
    session.calibration = record  # type: ignore[attr-defined]
    speeds = {row["runtime"]: row.get("images_per_second") for row in record["candidates"]}
    log.info(
        "runtime for %s: %s",
        bundle.path,
        record["runtime"],
        extra={"fields": {"runtime": record["runtime"], "images_per_second": speeds}},
    )
    return session
