"""OpenVINO beside ONNX Runtime: same predictions, CPU flags, and the calibration `auto` runs at load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shoplens.errors import BundleError
from shoplens.inference import load_predictor
from shoplens.inference.calibrate import Candidate, calibrate, candidate_runtimes, choose_session
from shoplens.inference.cpu import cpu_flags, has_amx_bf16, has_bf16_dot, has_vnni, inference_flags
from shoplens.inference.export import export_onnx
from shoplens.inference.openvino_session import OpenVinoSession
from shoplens.inference.session import open_onnx
from shoplens.models.bundle import read_bundle_spec
from tests.support.bundles import make_bundle

AMX_XEON = frozenset({"avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8"})


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A tiny shopnet bundle with model.onnx."""
    path = make_bundle(tmp_path_factory.mktemp("models"), "v1", seed=0)
    export_onnx(path)
    return path


class _Confident:
    """A candidate that answers at once, sure of class 0 whatever the image: faster than any runtime, and wrong."""

    runtime = "confident"

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = np.zeros((len(x), 10), np.float32)
        logits[:, 0] = 20.0
        return logits, np.zeros((len(x), 128), np.float32)


def uint8_images(n: int, seed: int) -> np.ndarray:
    """Random uint8 model inputs (N, 1, 28, 28)."""
    return np.random.default_rng(seed).integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)


def test_openvino_predicts_like_onnxruntime(exported):
    ov = load_predictor(exported, runtime="openvino")
    ort = load_predictor(exported, runtime="onnxruntime")
    assert isinstance(ov.session, OpenVinoSession) and ov.session.runtime == "openvino"
    assert ov.embedding_dim == ort.embedding_dim == 128
    x = uint8_images(12, seed=4)
    (ov_probs, ov_emb), (ort_probs, ort_emb) = ov.run(x), ort.run(x)
    np.testing.assert_allclose(ov_probs, ort_probs, atol=1e-5)
    np.testing.assert_allclose(ov_emb, ort_emb, rtol=1e-4, atol=1e-5)
    assert (ov.probabilities(x).argmax(1) == ort.probabilities(x).argmax(1)).all()


def test_auto_calibrates_and_records_its_choice(exported):
    session = load_predictor(exported).session
    record = session.calibration
    assert [row["runtime"] for row in record["candidates"]] == candidate_runtimes(read_bundle_spec(exported))
    assert record["cpu_flags"] == inference_flags() and record["runtime"] == session.runtime


def test_calibration_times_the_candidates_that_pass_and_keeps_the_fastest(exported):
    session = choose_session(read_bundle_spec(exported), runtimes=["onnxruntime", "openvino"])
    record = session.calibration
    assert [row["runtime"] for row in record["candidates"]] == ["onnxruntime", "openvino"]
    assert all(row["passed"] and row["top1_agreement"] == 1.0 for row in record["candidates"])
    chosen = next(row for row in record["candidates"] if row["runtime"] == record["runtime"])
    assert chosen["images_per_second"] == max(row["images_per_second"] for row in record["candidates"])
    assert record["chosen_by"] == "calibration" and session.runtime == record["runtime"]


def test_calibration_rejects_a_fast_candidate_that_disagrees(exported):
    spec = read_bundle_spec(exported)
    reference = open_onnx(spec, "onnxruntime")
    candidates = [Candidate("onnxruntime", lambda: reference), Candidate("confident", _Confident)]
    session, record = calibrate(spec, candidates)
    confident = record["candidates"][1]
    assert session is reference and record["runtime"] == "onnxruntime"
    assert not confident["passed"] and confident["max_prob_diff"] > 0.05 and "accurate" in confident["reason"]
    assert "images_per_second" not in confident  # a rejected candidate is not timed at all


def test_calibration_skips_a_candidate_that_cannot_load(exported):
    spec = read_bundle_spec(exported)
    _, record = calibrate(
        spec,
        [
            Candidate("onnxruntime", lambda: open_onnx(spec, "onnxruntime")),
            Candidate("openvino-int8", lambda: open_onnx(spec, "openvino-int8")),
        ],
    )
    assert record["runtime"] == "onnxruntime" and record["chosen_by"] == "the only candidate that passed"
    assert "model.int8.onnx" in record["candidates"][1]["reason"]


def test_candidates_follow_the_cpu(exported, tmp_path):
    spec = read_bundle_spec(exported)
    assert candidate_runtimes(spec, frozenset({"avx2"})) == ["onnxruntime"]  # nothing cheaper to try
    assert candidate_runtimes(spec, AMX_XEON) == ["onnxruntime", "openvino-bf16"]  # no int8 file
    (exported / "model.int8.onnx").write_bytes((exported / "model.onnx").read_bytes())
    try:
        assert candidate_runtimes(spec, AMX_XEON)[-2:] == ["onnxruntime-int8", "openvino-int8"]
        assert "onnxruntime-int8" not in candidate_runtimes(
            spec, frozenset({"avx2"})
        )  # no VNNI: not worth it
    finally:
        (exported / "model.int8.onnx").unlink()
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni amx_bf16 amx_tile\n")
    flags = cpu_flags(str(cpuinfo))
    assert has_vnni(flags) and has_amx_bf16(flags) and not has_vnni(frozenset({"avx2"}))
    assert inference_flags(flags) == ["avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_bf16"]


def test_bf16_dot_products_come_from_avx512_bf16_or_amx():
    zen5 = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})  # AMD EPYC: no AMX, native bf16
    assert has_bf16_dot(zen5) and not has_amx_bf16(zen5)
    assert has_bf16_dot(AMX_XEON)
    assert not has_bf16_dot(frozenset({"avx2", "fma", "avx512f", "avx512_vnni"}))  # bf16 would be emulated


def test_openvino_names_a_missing_int8_model(exported):
    with pytest.raises(BundleError, match="--int8"):
        load_predictor(exported, runtime="openvino-int8")


def _default_threads_on_one_cpu(_: int) -> tuple[int, int]:
    """ONNX Runtime's default thread count, and the CPUs this process may run on, once pinned to one CPU."""
    import os

    from shoplens.inference.onnx_session import session_options

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return session_options().intra_op_num_threads, len(os.sched_getaffinity(0))


def test_runtimes_start_a_thread_per_cpu_this_process_may_use() -> None:
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:  # not os.cpu_count(): 2-3× slower when pinned
        assert pool.apply(_default_threads_on_one_cpu, (0,)) == (1, 1)


def test_torch_on_the_cpu_takes_as_many_threads_as_the_cpu_quota_allows(exported, monkeypatch) -> None:
    import torch

    import shoplens.inference.runtime as runtime

    before = torch.get_num_threads()
    monkeypatch.setattr(runtime, "usable_cpus", lambda: 1)  # a container's quota of 1 CPU on a larger host
    try:
        torch.set_num_threads(3)  # torch's own default follows the CPU affinity only
        load_predictor(exported, runtime="torch")
        assert torch.get_num_threads() == 1
        load_predictor(exported, runtime="torch", threads=2)  # an explicit count still wins
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
