"""`shoplens backbone import`: a local checkpoint → a checked image–text bundle, written whole or not at all."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch

from shoplens.backbones import checkpoint as ckpt
from shoplens.backbones.card import model_card
from shoplens.backbones.checks import check_against_transformers
from shoplens.backbones.config import (
    CARD,
    CONFIG,
    IMAGE_ENCODER,
    KIND,
    TEXT_ENCODER,
    TOKENIZER,
    BackboneConfig,
    ImageSpec,
    Scoring,
    TextSpec,
    config_from_dict,
)
from shoplens.backbones.cost import measure_cost
from shoplens.backbones.export import OPSET, export_towers
from shoplens.backbones.runtime import ImageTextBackbone
from shoplens.backbones.samples import SAMPLE_TEXTS, sample_images
from shoplens.backbones.signatures import (
    check_self_contained,
    describe_image_encoder,
    describe_text_encoder,
    logit_params,
)
from shoplens.errors import BundleError
from shoplens.files import NEW_DIR_MODE, sha256_file

DEFAULT_ROOT = Path("var/backbones")
ACTIVATION = {"clip": "softmax", "siglip": "sigmoid"}
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")  # a bundle's name is a folder's name, never a path


def import_backbone(
    path: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    name: str | None = None,
    source: str | None = None,
    licence: str | None = None,
    logit_scale: float | None = None,
    logit_bias: float | None = None,
    force: bool = False,
    measure: bool = True,
    root: str | os.PathLike = DEFAULT_ROOT,
) -> Path:
    """Import the checkpoint at PATH into OUTPUT (default ROOT/NAME) and return the bundle's folder.

    A transformers checkpoint is exported and compared with transformers; ONNX encoders are checked for their
    signatures. Everything is written into a temporary folder beside OUTPUT and renamed at the end, so a failure
    leaves nothing behind (and an existing OUTPUT untouched unless `force`).
    """
    found = ckpt.inspect(path, source)
    if found.route == "transformers" and (logit_scale is not None or logit_bias is not None):
        raise BundleError("--logit-scale/--logit-bias apply to ONNX imports; this checkpoint carries its own")
    if name is not None and not NAME.fullmatch(name):
        raise BundleError(
            f"bundle name {name!r}: letters, digits, '.', '_', '-', not starting with '.' or '-'"
        )
    name = name or _default_name(found)
    chosen = Path(output) if output is not None else Path(root) / name
    out = Path(os.path.abspath(chosen))  # so that `-o .` has a name
    if out.exists() and not force:
        raise BundleError(f"{out} already exists (pass --force to replace it)")
    if out.exists() and not _is_bundle(out):  # --force swaps out a bundle, never a folder of other things
        raise BundleError(
            f"{out} holds no image–text bundle: --force replaces only a bundle (choose another -o)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        overrides = {"name": name, "licence": licence, "logit_scale": logit_scale, "logit_bias": logit_bias}
        if found.route == "transformers":
            config = _from_transformers(found, tmp, overrides)
        else:
            config = _from_onnx(found, tmp, overrides)
        if measure:
            config = replace(config, extra={**config.extra, "cost": measure_cost(ImageTextBackbone(tmp))})
        _write_config(tmp, config)
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _from_transformers(found: ckpt.Checkpoint, tmp: Path, overrides: dict[str, Any]) -> BackboneConfig:
    """Export both towers, copy the tokenizer, then compare the bundle with transformers on sample inputs."""
    ckpt.require_files(found.path)
    model, tokenizer, processor = load_reference(found.path, found.family)
    text_cfg = model.config.text_config
    tok_path = found.path / TOKENIZER
    if not tok_path.is_file() and getattr(tokenizer, "backend_tokenizer", None) is not None:
        tokenizer.backend_tokenizer.save(str(tmp / TOKENIZER))  # a fast tokenizer built from vocab files
        tok_path = tmp / TOKENIZER
    image = ckpt.image_spec(found.path, found.family)
    text = ckpt.text_spec(found.path, found.family, text_cfg.max_position_embeddings, tok_path)
    if tok_path != tmp / TOKENIZER:
        shutil.copyfile(tok_path, tmp / TOKENIZER)
    try:
        export_towers(model, image.size, text, tmp / IMAGE_ENCODER, tmp / TEXT_ENCODER)
    except Exception as e:  # the exporter raises many unrelated types
        raise BundleError(f"{found.path}: ONNX export failed ({type(e).__name__}: {e})") from e
    bias = float(model.logit_bias.item()) if getattr(model, "logit_bias", None) is not None else 0.0
    scoring = Scoring(math.exp(float(model.logit_scale.item())), bias, ACTIVATION[found.family])
    imported = {
        "route": "transformers checkpoint, exported to ONNX and checked against transformers",
        "versions": f"transformers {_version('transformers')}, torch {torch.__version__}, opset {OPSET}",
    }
    config = _assemble(found, tmp, image, text, scoring, overrides, imported)
    checks = check_against_transformers(ImageTextBackbone(tmp), model, tokenizer, processor)
    return replace(config, extra={**config.extra, "checks": checks})


def load_reference(folder: Path, family: str) -> tuple[torch.nn.Module, Any, Any]:
    """The checkpoint's model (float32, eager attention), tokenizer and image processor, from local files only."""
    import transformers

    model_cls = {"clip": transformers.CLIPModel, "siglip": transformers.SiglipModel}[family]
    local = {"local_files_only": True, "trust_remote_code": False}
    try:
        model, info = model_cls.from_pretrained(
            folder, dtype=torch.float32, attn_implementation="eager", output_loading_info=True, **local
        )
    # OSError for missing files, ValueError/RuntimeError/SafetensorError for broken ones
    except Exception as e:
        raise BundleError(f"{folder}: transformers cannot load the weights ({type(e).__name__}: {e})") from e
    missing = list(info.get("missing_keys", [])) + list(info.get("mismatched_keys", []))
    if missing:
        raise BundleError(
            f"{folder}: {len(missing)} of the model's tensors are not in the weights (e.g. {missing[:3]})"
        )
    tokenizer = _load_part("tokenizer", transformers.AutoTokenizer, folder, local)
    processor = _load_part("image processor", transformers.AutoImageProcessor, folder, local)
    return model.eval(), tokenizer, processor


def _load_part(what: str, loader: Any, folder: Path, kwargs: dict[str, Any]) -> Any:
    """A tokenizer or image processor through its transformers Auto class; a BundleError says why not."""
    try:
        return loader.from_pretrained(folder, **kwargs)
    except Exception as e:  # OSError, ValueError, ImportError (e.g. sentencepiece missing) and more
        raise BundleError(f"{folder}: transformers cannot load the {what} ({type(e).__name__}: {e})") from e


def _from_onnx(found: ckpt.Checkpoint, tmp: Path, overrides: dict[str, Any]) -> BackboneConfig:
    """Copy ONNX encoders (a ShopLens bundle or an exported checkpoint's onnx/ folder), checking their signatures."""
    image_src = ckpt.find_onnx(found.path, ckpt.IMAGE_ONNX)
    text_src = ckpt.find_onnx(found.path, ckpt.TEXT_ONNX)
    if image_src is None or text_src is None:
        raise BundleError(
            f"{found.path}: no {IMAGE_ENCODER} and {TEXT_ENCODER} (or onnx/vision_model.onnx …)"
        )
    tokenizer = found.path / TOKENIZER
    ckpt.load_tokenizer(tokenizer)  # a clear error when it is missing or broken
    if found.route == "bundle":
        given = config_from_dict(found.config, str(found.path / CONFIG))
        image, text, scoring = given.image, given.text, given.scoring
        overrides = {"licence": given.licence, **{k: v for k, v in overrides.items() if v is not None}}
        scoring = _scoring(found, overrides, scoring)
    else:
        image = ckpt.image_spec(found.path, found.family)
        text = ckpt.text_spec(found.path, found.family)
        scoring = _scoring(found, overrides, None)
    for src in (image_src, text_src):
        check_self_contained(
            src
        )  # a damaged file is named where the user can replace it, not in the temp folder
    for src, dest in ((image_src, IMAGE_ENCODER), (text_src, TEXT_ENCODER), (tokenizer, TOKENIZER)):
        shutil.copyfile(src, tmp / dest)
    imported = {
        "route": f"ONNX encoders taken as given ({image_src.relative_to(found.path)}, "
        f"{text_src.relative_to(found.path)})",
        "versions": f"onnxruntime {onnxruntime.__version__}",
    }
    try:
        config = _assemble(found, tmp, image, text, scoring, overrides, imported)
    except BundleError as e:  # named by the user's files, not by their copies in the temporary folder
        said = (
            str(e)
            .replace(str(tmp / IMAGE_ENCODER), str(image_src))
            .replace(str(tmp / TEXT_ENCODER), str(text_src))
        )
        raise BundleError(said) from None
    backbone = ImageTextBackbone(tmp)
    img = backbone.embed_images(sample_images(image))
    txt = backbone.embed_texts(list(SAMPLE_TEXTS))
    scores = backbone.logits(img, txt)
    if not np.isfinite(scores).all():
        raise BundleError(f"{found.path}: the encoders give non-finite scores on sample inputs")
    checks = {
        "reference": None,
        "passed": True,
        "note": f"Both encoders ran on {len(img)} sample images and {len(txt)} sentences with finite, "
        f"{config.embedding_dim}-wide embeddings.",
    }
    if found.route == "bundle" and found.config.get("checks"):
        checks["at_first_import"] = found.config["checks"]
    return replace(config, extra={**config.extra, "checks": checks})


def _scoring(found: ckpt.Checkpoint, overrides: dict[str, Any], given: Scoring | None) -> Scoring:
    """Logit scale and bias: the options, else what a bundle config says, else the checkpoint's safetensors."""
    scale, bias = overrides.get("logit_scale"), overrides.get("logit_bias")
    stored_bias = given.logit_bias if given else 0.0
    if scale is None and given is not None:
        scale = given.logit_scale
    elif scale is None:
        stored = logit_params(found.path)
        if stored is None:
            raise BundleError(
                f"{found.path}: the ONNX files do not carry the zero-shot logit scale and no safetensors file "
                "here holds logit_scale; pass --logit-scale (and --logit-bias for SigLIP)"
            )
        scale, stored_bias = stored
    try:
        return Scoring(float(scale), float(stored_bias if bias is None else bias), ACTIVATION[found.family])
    except ValueError as e:
        raise BundleError(str(e)) from None


def _assemble(
    found: ckpt.Checkpoint,
    tmp: Path,
    image: ImageSpec,
    text: TextSpec,
    scoring: Scoring,
    overrides: dict[str, Any],
    imported: dict[str, str],
) -> BackboneConfig:
    """Describe the encoders now in TMP, agree their widths, and write a first config.json there."""
    image_enc, image_dim = describe_image_encoder(tmp / IMAGE_ENCODER, image)
    text_enc, text, text_dim = describe_text_encoder(tmp / TEXT_ENCODER, tmp / TOKENIZER, text)
    if image_dim != text_dim:
        raise BundleError(f"{found.path}: image embeddings are {image_dim} wide, text embeddings {text_dim}")
    try:
        config = BackboneConfig(
            family=found.family,
            name=overrides["name"],
            embedding_dim=image_dim,
            image=image,
            text=text,
            scoring=scoring,
            image_encoder=replace(image_enc, file=IMAGE_ENCODER, sha256=sha256_file(tmp / IMAGE_ENCODER)),
            text_encoder=replace(text_enc, file=TEXT_ENCODER, sha256=sha256_file(tmp / TEXT_ENCODER)),
            source=found.source,
            licence=overrides.get("licence") or ckpt.licence(found.path),
            extra={"imported": {**imported, "from": str(found.path)}},
        )
    except ValueError as e:
        raise BundleError(f"{found.path}: {e}") from None
    _write_config(tmp, config)
    return config


def _write_config(folder: Path, config: BackboneConfig) -> None:
    """config.json and the model card README.md."""
    (folder / CONFIG).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    (folder / CARD).write_text(model_card(config))


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished folder to OUT; an existing OUT is swapped out first and removed afterwards."""
    tmp.chmod(NEW_DIR_MODE)  # mkdtemp's 0700 kept a server running as another user out of the bundle
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _is_bundle(folder: Path) -> bool:
    """Whether a folder holds an image–text bundle (a config.json of that kind)."""
    try:
        return json.loads((folder / CONFIG).read_text()).get("kind") == KIND
    except (OSError, ValueError, AttributeError):  # no file, no JSON, JSON but no object
        return False


def _default_name(found: ckpt.Checkpoint) -> str:
    """A bundle's own name, else one from the source: `openai/clip-vit-base-patch32` → `clip-vit-base-patch32`."""
    if found.route == "bundle" and found.config.get("name"):
        return str(found.config["name"])
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", found.source.rstrip("/").split("/")[-1]).strip("-.")
    return name or f"{found.family}-backbone"


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
