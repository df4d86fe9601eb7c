"""ONNX encoders taken as given: their inputs and outputs checked, and run once on sample inputs."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx

from shoplens.backbones.config import TEXT_INPUTS, Encoder, ImageSpec, TextSpec
from shoplens.backbones.preprocess import TextTokenizer
from shoplens.backbones.runtime import onnx_session
from shoplens.backbones.samples import SAMPLE_TEXTS
from shoplens.errors import BundleError

IMAGE_OUTPUTS = ("image_embeds", "embeddings", "pooler_output")
TEXT_OUTPUTS = ("text_embeds", "embeddings", "pooler_output")


def check_self_contained(path: Path) -> None:
    """Refuse ONNX files whose weights live in separate external-data files (a bundle copies one file per tower)."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise BundleError(f"{path}: not a readable ONNX file ({type(e).__name__}: {e})") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise BundleError(f"{path}: its weights are in external-data files; save it as one file first")


def _pick_output(names: list[str], ranks: list[int], preferred: tuple[str, ...], path: Path) -> str:
    """The embedding output: a conventional name, else the only rank-2 output."""
    for name in preferred:
        if name in names:
            return name
    two_d = [n for n, r in zip(names, ranks) if r == 2]
    if len(two_d) != 1:
        raise BundleError(f"{path}: cannot tell which output is the embedding among {names}")
    return two_d[0]


def _dynamic(dim: object) -> bool:
    return not isinstance(dim, int)


def _embedding(out: np.ndarray, batch: int, path: Path) -> tuple[int, bool]:
    """(width, unit length?) of an encoder's output on a probe batch; a BundleError when it is not (batch, D)."""
    if out.ndim != 2 or out.shape[0] != batch or not np.all(np.isfinite(out)):
        raise BundleError(
            f"{path}: on a batch of {batch} it gave {out.shape} (finite: {np.isfinite(out).all()})"
        )
    return int(out.shape[1]), bool(np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-3))


def describe_image_encoder(path: Path, spec: ImageSpec) -> tuple[Encoder, int]:
    """The image encoder's signature (one float32 (N, 3, H, W) input, dynamic N) and its embedding width."""
    check_self_contained(path)
    session = onnx_session(path)
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 4:
        got = [(i.name, i.type, i.shape) for i in inputs]
        raise BundleError(f"{path}: expected one float32 (N, 3, H, W) input, got {got}")
    shape = inputs[0].shape
    want = (3, *spec.size)
    if not _dynamic(shape[0]) or any(not _dynamic(d) and d != w for d, w in zip(shape[1:], want)):
        raise BundleError(
            f"{path}: input shape {shape}, expected (dynamic batch, {', '.join(map(str, want))})"
        )
    outputs = session.get_outputs()
    output = _pick_output([o.name for o in outputs], [len(o.shape) for o in outputs], IMAGE_OUTPUTS, path)
    probe = np.random.default_rng(0).standard_normal((3, *want)).astype(np.float32)
    dim, unit = _embedding(session.run([output], {inputs[0].name: probe})[0], 3, path)
    return Encoder(path.name, (inputs[0].name,), output, unit), dim


def describe_text_encoder(path: Path, tokenizer_path: Path, spec: TextSpec) -> tuple[Encoder, TextSpec, int]:
    """The text encoder's signature (int64 input_ids [, attention_mask]), the TextSpec it implies, its width."""
    check_self_contained(path)
    session = onnx_session(path)
    inputs = {i.name: i for i in session.get_inputs()}
    if "input_ids" not in inputs or not set(inputs) <= set(TEXT_INPUTS):
        raise BundleError(f"{path}: expected inputs input_ids [and attention_mask], got {list(inputs)}")
    for i in inputs.values():
        if i.type != "tensor(int64)" or len(i.shape) != 2 or not _dynamic(i.shape[0]):
            raise BundleError(
                f"{path}: input {i.name} is {i.type} {i.shape}, expected int64 (dynamic batch, L)"
            )
    length = inputs["input_ids"].shape[1]
    if not _dynamic(length):
        if length > spec.max_length and spec.padding == "max_length":
            raise BundleError(f"{path}: takes {length} tokens but the context is {spec.max_length}")
        spec = replace(spec, max_length=length, padding="max_length")
    spec = replace(spec, inputs=tuple(n for n in TEXT_INPUTS if n in inputs))
    outputs = session.get_outputs()
    output = _pick_output([o.name for o in outputs], [len(o.shape) for o in outputs], TEXT_OUTPUTS, path)
    feeds = TextTokenizer(tokenizer_path, spec)(list(SAMPLE_TEXTS))
    dim, unit = _embedding(session.run([output], feeds)[0], len(SAMPLE_TEXTS), path)
    return Encoder(path.name, spec.inputs, output, unit), spec, dim


def logit_params(folder: Path) -> tuple[float, float] | None:
    """(exp(logit_scale), logit_bias) read from the checkpoint's safetensors files, if one holds them."""
    from safetensors import safe_open

    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="numpy") as f:
                keys = list(f.keys())
                scale = next((k for k in keys if k.split(".")[-1] == "logit_scale"), None)
                if scale is None:
                    continue
                bias = next((k for k in keys if k.split(".")[-1] == "logit_bias"), None)
                value = float(np.asarray(f.get_tensor(scale)).reshape(-1)[0])
                offset = float(np.asarray(f.get_tensor(bias)).reshape(-1)[0]) if bias else 0.0
        except (OSError, ValueError, RuntimeError) as e:
            raise BundleError(f"{path}: unreadable safetensors file ({e})") from None
        if math.isfinite(value) and math.isfinite(offset):
            return math.exp(value), offset
    return None
