"""Zero-shot models: an image–text backbone plus a taxonomy of prompts, served like a trained bundle.

A zero-shot model version is a folder in the model store (`<models_dir>/<name>/zs-<hash>/config.json`, kind
"zero-shot") that names its backbone bundle and holds its taxonomy; the hash covers both, so a changed prompt
is a new version (with its own catalogue vector index, as for trained models). `ZeroShotPredictor` answers
`run`, `prediction` and the rest of `Predictor` from ONNX Runtime, without torch.

Scores (README "Image–text backbones"): category logits are the backbone's own (scale · cosine + bias) against
each category's mean prompt embedding; probabilities are softmax(logits / temperature) over the categories;
`ood_score` is the softmax mass that the "not a product" prompts take when they compete with the categories.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shoplens.backbones.config import CONFIG
from shoplens.backbones.config import read_config as read_backbone_config
from shoplens.backbones.preprocess import image_to_pixels, images_to_pixels
from shoplens.backbones.runtime import ImageTextBackbone, logits
from shoplens.backbones.taxonomy import AttributeGroup, ZeroShotTaxonomy, read_taxonomy, taxonomy_from_dict
from shoplens.errors import BundleError
from shoplens.files import write_atomic
from shoplens.imaging import PreprocessConfig
from shoplens.inference.kinds import ZERO_SHOT as KIND
from shoplens.inference.ood import NEEDS_REVIEW, NOT_RECOGNISED, RECOGNISED, review_reasons
from shoplens.inference.predictor import Prediction, Predictor, l2_normalize, softmax
from shoplens.models.bundle import BundleSpec


@dataclass(frozen=True)
class _Attribute:
    """An attribute group with its values' embeddings."""

    group: AttributeGroup
    embeddings: np.ndarray  # (V, D)
    centre: bool


class ZeroShotPredictor(Predictor):
    """Categories, "not a product" and attributes from prompts; photos in as the backbone's float pixels."""

    def __init__(self, bundle: BundleSpec, backbone: ImageTextBackbone, taxonomy: ZeroShotTaxonomy) -> None:
        self.bundle = bundle
        self.session = None  # type: ignore[assignment]  # the backbone's own sessions run instead
        self.top_k = min(3, len(bundle.labels))
        self.backbone = backbone
        self.taxonomy = taxonomy
        self.scoring = backbone.config.scoring
        self.classes = self._centroids([c.prompts for c in taxonomy.categories])
        self.rejects = backbone.embed_texts(list(taxonomy.not_a_product))
        family_centres = self.scoring.activation != "sigmoid"  # CLIP's logits have no absolute zero
        self.attributes = [
            _Attribute(
                g,
                self._centroids([v.prompts for v in g.values]),
                family_centres if g.centre is None else g.centre,
            )
            for g in taxonomy.attributes
        ]

    def _centroids(self, prompt_sets: list[tuple[str, ...]]) -> np.ndarray:
        """(K, D): each set's prompts embedded, averaged, back to unit length."""
        flat = [p for prompts in prompt_sets for p in prompts]
        emb = self.backbone.embed_texts(flat)
        bounds = np.cumsum([0, *(len(p) for p in prompt_sets)])
        means = [emb[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)]
        return l2_normalize(np.stack(means)).astype(np.float32)

    def read(self, img: Image.Image) -> tuple[np.ndarray, dict[str, float]]:
        """The photo as this model's input; no photo-reader cues (its own preprocessing)."""
        return self.to_input(img), {}

    def read_batch(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Photos as this model's input batch; no photo-reader cues."""
        return self.to_batch(list(images)), [{} for _ in images]

    @property
    def reading(self) -> None:
        """None: photos are read by this model's own preprocessing, never elsewhere."""
        return None

    def to_input(self, img: Image.Image) -> np.ndarray:
        """The backbone's float32 (3, H, W) pixels (its own resize, crop and normalisation)."""
        return image_to_pixels(img, self.backbone.config.image)

    def to_batch(self, images: list[Image.Image]) -> np.ndarray:  # type: ignore[override]
        """The backbone's float32 (N, 3, H, W) pixels."""
        return images_to_pixels(images, self.backbone.config.image)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Category probabilities (N, K) and unit image embeddings (N, D) for (N, 3, H, W) pixels."""
        emb = self.backbone.embed_pixels(batch)
        return self.category_probabilities(emb), emb

    def category_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """softmax(backbone logits / temperature) over the categories, for unit image embeddings."""
        scores = logits(embeddings, self.classes, self.scoring)
        return softmax(scores, self.taxonomy.calibration.temperature).astype(np.float32)

    def search_vectors(self, probs: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The image embeddings themselves: the space text queries are embedded into."""
        return l2_normalize(features).astype(np.float32)

    @property
    def search_dim(self) -> int:
        """The backbone's embedding width."""
        return self.backbone.dim

    def embed_query(self, text: str) -> np.ndarray:
        """A unit (D,) embedding of a search phrase, comparable with `search_vectors`."""
        return self.backbone.embed_texts([text])[0]

    def ood_score(self, embedding: np.ndarray) -> float:
        """Share of probability the "not a product" prompts take from the categories (0 without such prompts)."""
        if len(self.rejects) == 0:
            return 0.0
        both = np.concatenate([self.classes, self.rejects])
        p = softmax(logits(embedding[None], both, self.scoring), self.taxonomy.calibration.temperature)[0]
        return float(p[len(self.classes) :].sum())

    def attribute_scores(self, embedding: np.ndarray) -> dict[str, list[dict[str, Any]]]:
        """Per attribute group, the values scoring at least the group's threshold, best first."""
        out = {}
        for attr in self.attributes:
            z = logits(embedding[None], attr.embeddings, self.scoring)[0].astype(np.float64)
            if attr.centre:
                z = z - z.mean()
            scores = 1 / (1 + np.exp(-z / attr.group.temperature))
            order = np.argsort(-scores)
            out[attr.group.name] = [
                {"value": attr.group.values[i].label, "score": round(float(scores[i]), 6)}
                for i in order
                if scores[i] >= attr.group.threshold
            ]
        return out

    def prediction(
        self,
        p: np.ndarray,
        embedding: np.ndarray | None = None,
        top_k: int | None = None,
        cues: Mapping[str, float] | None = None,
        score: float | None = None,
    ) -> Prediction:
        """Top-k, with the status and "not a product" score the taxonomy's calibration gives (from the embedding):
        every path — /v1/classify, the catalogue, `shoplens predict` — answers alike, and `needs_review` is true
        whenever the status is not `recognised`."""
        base = super().prediction(p, None, top_k)
        if embedding is None:
            return base
        cal = self.taxonomy.calibration
        ood = self.ood_score(embedding)
        low, unlike = float(p.max()) < cal.review_threshold, ood >= min(cal.review_ood, cal.not_recognised)
        if ood >= cal.not_recognised:
            status = NOT_RECOGNISED
        elif low or unlike:
            status = NEEDS_REVIEW
        else:
            status = RECOGNISED
        why = review_reasons(low, unlike)
        return Prediction(base.top, status != RECOGNISED, embedding, round(ood, 6), status, why)

    def details(self, probs: np.ndarray, embedding: np.ndarray) -> dict[str, Any]:
        """The attributes of one image (its status and ood_score come with `prediction`)."""
        return {"attributes": self.attribute_scores(embedding)} if self.attributes else {}


def create_zero_shot_version(
    models_dir: str | os.PathLike, name: str, backbone: str | os.PathLike, taxonomy: str | os.PathLike
) -> Path:
    """Write (once) the model version for this backbone and taxonomy; its folder."""
    backbone = Path(backbone).resolve()
    config = read_backbone_config(backbone)  # a clear error before anything is written
    tax = read_taxonomy(taxonomy)
    described = (backbone / CONFIG).read_bytes()  # it names the ONNX files' sha256
    made_with = hashlib.sha256(described).hexdigest()
    digest = hashlib.sha256(described)
    digest.update(json.dumps(tax.raw, sort_keys=True, ensure_ascii=False).encode())
    version = f"zs-{digest.hexdigest()[:12]}"
    folder = Path(models_dir) / name / version
    if (folder / "config.json").is_file() and _backbone_of(folder) != str(backbone):
        # that version serves a copy elsewhere (or where this one was before a move): this path gets its own
        digest.update(str(backbone).encode())
        version = f"zs-{digest.hexdigest()[:12]}"
        folder = Path(models_dir) / name / version
    if (folder / "config.json").is_file():
        return folder
    body = {
        "kind": KIND,
        "format_version": 1,
        "name": name,
        "version": version,
        "backbone": str(backbone),
        "backbone_sha256": made_with,  # the catalogue's vectors of this version came from this backbone
        "backbone_name": config.name,
        "family": config.family,
        "taxonomy": tax.raw,
        "labels": tax.labels,
        "embedding_dim": config.embedding_dim,
        "created": datetime.now(UTC).isoformat(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "config.json", (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode())
    return folder


def _backbone_of(version: Path) -> str | None:
    """The backbone path a zero-shot version's config.json records (None when unreadable)."""
    try:
        raw = json.loads((version / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return raw.get("backbone") if isinstance(raw, dict) else None


def load_zero_shot(path: str | os.PathLike, threads: int | None = None) -> ZeroShotPredictor:
    """Open a zero-shot model version: its backbone bundle and its taxonomy, prompts embedded."""
    path = Path(path)
    try:
        raw = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: unreadable config.json ({e})") from None
    if raw.get("kind") != KIND or "backbone" not in raw or "taxonomy" not in raw:
        raise BundleError(f"{path}: not a zero-shot model version")
    from shoplens.backbones.runtime import load_backbone

    made_with = raw.get("backbone_sha256")
    config_file = Path(raw["backbone"]) / CONFIG
    now = hashlib.sha256(config_file.read_bytes()).hexdigest() if config_file.is_file() else made_with
    if made_with is not None and now != made_with:
        raise BundleError(
            f"{path}: its backbone {raw['backbone']} changed since this version was made (imported again "
            "there): serve the backbone again, which makes a new version, then `shoplens reindex` onto it"
        )
    backbone = load_backbone(raw["backbone"], threads)
    taxonomy = taxonomy_from_dict(raw["taxonomy"], where=str(path / "config.json"))
    side = backbone.config.image.size
    spec = BundleSpec(
        path=path,
        config=raw,
        preprocess=PreprocessConfig(
            size=side, mode="RGB"
        ),  # describes the input shape; to_input does the work
        labels=taxonomy.labels,
        temperature=taxonomy.calibration.temperature,
        review_threshold=taxonomy.calibration.review_threshold,
        embedding_dim=backbone.dim,
    )
    return ZeroShotPredictor(spec, backbone, taxonomy)
