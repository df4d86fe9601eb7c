"""Reading a checkpoint folder someone downloaded elsewhere: where it is, what it holds, its preprocessing and text."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from shoplens.backbones.config import (
    FAMILIES,
    IMAGE_ENCODER,
    KIND,
    TEXT_ENCODER,
    TOKENIZER,
    ImageSpec,
    TextSpec,
)
from shoplens.errors import BundleError

WEIGHTS = ("model.safetensors", "pytorch_model.bin")
SLOW_TOKENIZER_FILES = ("vocab.json", "spiece.model")  # CLIP's BPE vocabulary, SigLIP's SentencePiece model
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
IMAGE_ONNX = (IMAGE_ENCODER, "onnx/vision_model.onnx", "vision_model.onnx")
TEXT_ONNX = (TEXT_ENCODER, "onnx/text_model.onnx", "text_model.onnx")
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_MAX_LENGTH = {"clip": 77, "siglip": 64}  # transformers' CLIPTextConfig / SiglipTextConfig defaults
PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}
DOWNLOAD_HINT = (
    "e.g. `huggingface-cli download openai/clip-vit-base-patch32 --local-dir DIR` on a machine online"
)


@dataclass(frozen=True)
class Checkpoint:
    """A located checkpoint folder: its config.json, which family, and how it can be imported."""

    path: Path
    config: dict[str, Any]
    route: str  # "transformers" (weights to export), "onnx" (encoders given) or "bundle" (a ShopLens bundle)
    family: str
    source: str


def locate(path: str | os.PathLike) -> Path:
    """The folder holding config.json: PATH itself, or the snapshot in a hub cache entry (models--org--name)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise BundleError(f"{path} is not a folder ({DOWNLOAD_HINT})")
    snapshots = path / "snapshots"
    if not (path / "config.json").is_file() and snapshots.is_dir():
        ref = path / "refs" / "main"
        if ref.is_file() and (snapshots / ref.read_text().strip()).is_dir():
            return snapshots / ref.read_text().strip()
        found = sorted(p for p in snapshots.iterdir() if p.is_dir())
        if len(found) != 1:
            raise BundleError(
                f"{path}: {len(found)} snapshots and no refs/main; pass the snapshot folder itself"
            )
        return found[0]
    return path


_OPEN_CLIP = (
    "{folder}: these are open_clip weights ({what}: code that calls open_clip, which needs torchvision); plain "
    "transformers cannot load them. Import the checkpoint's ONNX encoders instead: download its "
    "onnx/vision_model.onnx and onnx/text_model.onnx into the same folder"
)


def read_json(path: Path, required: bool = True) -> dict[str, Any]:
    """A JSON object from a checkpoint file; {} for an optional file that is absent."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if required:
            raise BundleError(
                f"{path.parent}: no {path.name} — an incomplete download? ({DOWNLOAD_HINT})"
            ) from None
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path}: unreadable ({e}) — an interrupted download?") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: expected a JSON object")
    return data


def inspect(path: str | os.PathLike, source: str | None = None) -> Checkpoint:
    """What PATH holds and how to import it; a BundleError names what is missing or unsupported."""
    folder = locate(path)
    bare_open_clip = not (folder / "config.json").is_file() and (folder / "open_clip_config.json").is_file()
    if bare_open_clip and not (find_onnx(folder, IMAGE_ONNX) and find_onnx(folder, TEXT_ONNX)):
        raise BundleError(_OPEN_CLIP.format(folder=folder, what="open_clip_config.json and no config.json"))
    config = read_json(folder / "config.json")
    source = source or _source(Path(path), folder, config)
    if config.get("kind") == KIND:
        return Checkpoint(
            folder, config, "bundle", str(config.get("family")), str(config.get("source", source))
        )
    family = str(config.get("model_type", ""))
    if family not in FAMILIES:
        raise BundleError(
            f"{folder}: model_type {family or None!r} is not supported; ShopLens imports {' and '.join(FAMILIES)} "
            "checkpoints (CLIPModel, SiglipModel)"
        )
    has_onnx = find_onnx(folder, IMAGE_ONNX) is not None and find_onnx(folder, TEXT_ONNX) is not None
    plain = ("text_config" in config or "vision_config" in config) and "open_clip_model_name" not in config
    if plain and (has_weights(folder) or not has_onnx):
        return Checkpoint(folder, config, "transformers", family, source)
    if has_onnx:
        return Checkpoint(folder, config, "onnx", family, source)
    if "open_clip_model_name" in config or (folder / "open_clip_config.json").is_file():
        raise BundleError(_OPEN_CLIP.format(folder=folder, what="config.json pointing at custom code"))
    raise BundleError(
        f"{folder}: config.json has no text_config/vision_config and there are no ONNX encoders"
    )


def has_weights(folder: Path) -> bool:
    """Whether the weights are all there; a sharded checkpoint with a missing shard is an error, not False."""
    for index in WEIGHT_INDEXES:
        if (folder / index).is_file():
            shards = set(read_json(folder / index).get("weight_map", {}).values())
            missing = sorted(s for s in shards if not (folder / s).is_file())
            if missing:
                raise BundleError(f"{folder}: partial download, missing weight shards {missing}")
            return True
    return any((folder / name).is_file() for name in WEIGHTS)


def require_files(folder: Path) -> None:
    """Before loading anything: the weights, the image preprocessing and a tokenizer are all present."""
    if not has_weights(folder):
        raise BundleError(f"{folder}: no {' or '.join(WEIGHTS)} — an incomplete download? ({DOWNLOAD_HINT})")
    read_json(folder / "preprocessor_config.json")
    if not any((folder / f).is_file() for f in (TOKENIZER, *SLOW_TOKENIZER_FILES)):
        raise BundleError(f"{folder}: no {TOKENIZER} (nor vocabulary files) — an incomplete download?")


def find_onnx(folder: Path, candidates: tuple[str, ...]) -> Path | None:
    """The first of the usual ONNX encoder file names present in the folder."""
    return next((folder / c for c in candidates if (folder / c).is_file()), None)


def image_spec(folder: Path, family: str) -> ImageSpec:
    """The preprocessing in preprocessor_config.json as an ImageSpec (only what the runtime can reproduce)."""
    pre = read_json(folder / "preprocessor_config.json")
    where = folder / "preprocessor_config.json"
    if pre.get("do_resize", True) is False:
        raise BundleError(f"{where}: do_resize false (images of any size) is not supported")
    resample = PIL_RESAMPLE.get(pre.get("resample", 3))
    if resample is None:
        raise BundleError(f"{where}: resample {pre.get('resample')!r} is not supported")
    size, crop = pre.get("size", 224), pre.get("crop_size", 224)
    do_crop = bool(pre.get("do_center_crop", family == "clip"))
    if isinstance(size, int):
        size = {"shortest_edge": size} if do_crop else {"height": size, "width": size}
    if isinstance(crop, int):
        crop = {"height": crop, "width": crop}
    defaults = (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD) if family == "clip" else ((0.5,) * 3, (0.5,) * 3)
    normalise = pre.get("do_normalize", True)
    common = {
        "resample": resample,
        "rescale": float(pre.get("rescale_factor", 1 / 255)) if pre.get("do_rescale", True) else 1.0,
        "mean": tuple(pre.get("image_mean", defaults[0])) if normalise else (0.0, 0.0, 0.0),
        "std": tuple(pre.get("image_std", defaults[1])) if normalise else (1.0, 1.0, 1.0),
    }
    try:
        if set(size) == {"shortest_edge"} and do_crop:
            final = (int(crop["height"]), int(crop["width"]))
            return ImageSpec("shortest_edge", final, shortest_edge=int(size["shortest_edge"]), **common)
        if set(size) == {"height", "width"} and not do_crop:
            return ImageSpec("exact", (int(size["height"]), int(size["width"])), **common)
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{where}: {e}") from None
    raise BundleError(f"{where}: size {size} with do_center_crop={do_crop} is not a supported preprocessing")


def text_spec(
    folder: Path, family: str, max_length: int | None = None, tokenizer_path: Path | None = None
) -> TextSpec:
    """The family's text handling with the checkpoint's pad token and context length."""
    tokenizer = load_tokenizer(tokenizer_path or folder / TOKENIZER)
    if max_length is None:
        max_length = int(
            read_json(folder / "config.json").get("text_config", {}).get("max_position_embeddings", 0)
        )
        open_clip = read_json(folder / "open_clip_config.json", required=False)
        max_length = max_length or open_clip.get("model_cfg", {}).get("text_cfg", {}).get("context_length")
        max_length = max_length or DEFAULT_MAX_LENGTH[family]
    pad = special_token(folder, "pad_token") or special_token(folder, "eos_token")
    pad_id = tokenizer.token_to_id(pad) if pad else None
    if pad_id is None:
        raise BundleError(f"{folder}: the tokenizer names no pad (or eos) token that tokenizer.json knows")
    if family == "clip":
        return TextSpec(max_length, "longest", pad_id, ("input_ids", "attention_mask"))
    return TextSpec(max_length, "max_length", pad_id, ("input_ids",), lowercase=True, strip_punctuation=True)


def load_tokenizer(path: Path) -> Tokenizer:
    """The checkpoint's tokenizer.json (the runtime reads nothing else)."""
    if not path.is_file():
        raise BundleError(
            f"{path.parent}: no {TOKENIZER}; ShopLens serves text with the `tokenizers` library, which reads only that "
            "file (SentencePiece-only checkpoints: take tokenizer.json from a later revision of the same model)"
        )
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises plain Exception subclasses
        raise BundleError(f"{path}: not a readable tokenizer.json ({e})") from None


def special_token(folder: Path, name: str) -> str | None:
    """A special token's text from tokenizer_config.json or special_tokens_map.json."""
    for file in ("tokenizer_config.json", "special_tokens_map.json"):
        value = read_json(folder / file, required=False).get(name)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            return value
    return None


def licence(folder: Path) -> str:
    """The licence the checkpoint's model card declares in its front matter, or says that it declares none."""
    try:
        card = (folder / "README.md").read_text(errors="replace")
    except OSError:
        return "not stated in the checkpoint's files"
    front = card.split("---", 2)[1] if card.startswith("---") and card.count("---") >= 2 else ""
    found = dict(re.findall(r"^(license(?:_name|_link)?):\s*(.+?)\s*$", front, re.M))
    if "license" not in found:
        return "not stated in the checkpoint's files"
    extra = [found[k] for k in ("license_name", "license_link") if k in found]
    return found["license"] + (f" ({', '.join(extra)})" if extra else "")


def _source(given: Path, folder: Path, config: dict[str, Any]) -> str:
    """Where the checkpoint came from: the hub id in a cache path, config's _name_or_path, else the folder name."""
    for part in (given.resolve(), *given.resolve().parents):
        if part.name.startswith("models--"):
            return part.name.removeprefix("models--").replace("--", "/")
    name = str(config.get("_name_or_path", ""))
    if re.fullmatch(r"[\w.-]+/[\w.-]+", name) and not Path(name).exists():
        return name
    return folder.name
