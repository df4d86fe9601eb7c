"""Zero-shot taxonomies: categories, "not a product" prompts and attribute groups as text, read from YAML or JSON.

A phrase list is expanded with prompt templates per language (`"a photo of {}."` × `"a red dress"`); a category
or attribute value is represented by the mean of its prompts' unit embeddings (prompt ensembling, as in CLIP's
paper). See README "Image–text backbones" for the file format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoplens.errors import ShopLensError

SLOT = "{}"
DEFAULT_TEMPLATES = {"en": [SLOT]}


class TaxonomyError(ShopLensError):
    """A zero-shot taxonomy file is missing, unreadable or malformed (the message names the field)."""

    exit_code = 2


@dataclass(frozen=True)
class PromptSet:
    """A category or attribute value and every prompt that describes it (templates applied)."""

    label: str
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class AttributeGroup:
    """One attribute (colour, pattern, …): its values, and how a value's logit becomes a 0..1 score.

    score = sigmoid((logit − offset) / temperature); offset is the mean logit of the group's values for that
    image when `centre` is true (CLIP's default: its logits have no absolute zero), else 0 (SigLIP's default:
    its logits carry the bias it was trained with). Values scoring at least `threshold` are reported.
    """

    name: str
    values: tuple[PromptSet, ...]
    threshold: float = 0.5
    temperature: float = 1.0
    centre: bool | None = None  # None: the backbone family's default


@dataclass(frozen=True)
class Calibration:
    """How category logits become probabilities and the status of an answer (the trained models' rules)."""

    temperature: float = 1.0  # probabilities = softmax(logits / temperature) over the categories
    review_threshold: float = 0.5  # top probability below this: needs review
    not_recognised: float = 0.5  # share of "not a product" prompts at or above this: not recognised
    review_ood: float = 0.3  # … at or above this (below not_recognised): needs review


@dataclass(frozen=True)
class ZeroShotTaxonomy:
    """Everything a zero-shot model knows, as text; `raw` is the parsed file (stored with the model version)."""

    name: str
    categories: tuple[PromptSet, ...]
    not_a_product: tuple[str, ...] = ()
    attributes: tuple[AttributeGroup, ...] = ()
    calibration: Calibration = field(default_factory=Calibration)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def labels(self) -> list[str]:
        """Category names in file order."""
        return [c.label for c in self.categories]


def read_taxonomy(path: str | os.PathLike) -> ZeroShotTaxonomy:
    """Read and check a taxonomy file (.yaml/.yml or .json)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TaxonomyError(f"{path}: cannot read the taxonomy ({e})") from None
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise TaxonomyError(f"{path}: not valid JSON ({e})") from None
    else:
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise TaxonomyError(f"{path}: not valid YAML ({e})") from None
    return taxonomy_from_dict(raw, default_name=path.stem, where=str(path))


def taxonomy_from_dict(
    raw: Any, default_name: str = "zero-shot", where: str = "taxonomy"
) -> ZeroShotTaxonomy:
    """Check a parsed taxonomy and expand its phrases with their templates."""
    try:
        return _parse(raw, default_name)
    except (TypeError, ValueError, KeyError) as e:
        raise TaxonomyError(f"{where}: {e}") from None


def _parse(raw: Any, default_name: str) -> ZeroShotTaxonomy:
    _need(isinstance(raw, dict), "the file must hold a mapping with 'categories'")
    unknown = set(raw) - {"name", "templates", "categories", "not_a_product", "attributes", "calibration"}
    _need(not unknown, f"unknown keys {sorted(unknown)}")
    templates = _templates(raw.get("templates", DEFAULT_TEMPLATES), "templates")
    categories = _prompt_sets(raw.get("categories"), templates, "categories")
    _need(len(categories) >= 2, "categories: give at least two")
    rejects = _expand(raw.get("not_a_product", []), templates, "not_a_product")
    groups = raw.get("attributes", {}) or {}
    _need(isinstance(groups, dict), "attributes must map a name to {values: …}")
    attributes = tuple(_group(name, spec, templates) for name, spec in groups.items())
    cal = raw.get("calibration", {}) or {}
    _need(isinstance(cal, dict), "calibration must be a mapping")
    calibration = Calibration(**{k: _number(v, f"calibration.{k}") for k, v in cal.items()})
    _need(calibration.temperature > 0, "calibration.temperature must be > 0")
    for key in ("review_threshold", "not_recognised", "review_ood"):
        _need(0 <= getattr(calibration, key) <= 1, f"calibration.{key} must lie in 0..1")
    name = str(raw.get("name") or default_name)
    return ZeroShotTaxonomy(name, categories, rejects, attributes, calibration, raw)


def _group(name: str, spec: Any, templates: dict[str, tuple[str, ...]]) -> AttributeGroup:
    _need(isinstance(spec, dict) and "values" in spec, f"attributes.{name} needs 'values'")
    unknown = set(spec) - {"values", "templates", "threshold", "temperature", "centre"}
    _need(not unknown, f"attributes.{name}: unknown keys {sorted(unknown)}")
    own = _templates(spec["templates"], f"attributes.{name}.templates") if "templates" in spec else templates
    values = _prompt_sets(spec["values"], own, f"attributes.{name}.values")
    threshold = _number(spec.get("threshold", 0.5), f"attributes.{name}.threshold")
    temperature = _number(spec.get("temperature", 1.0), f"attributes.{name}.temperature")
    _need(0 <= threshold <= 1 and temperature > 0, f"attributes.{name}: threshold in 0..1, temperature > 0")
    centre = spec.get("centre")
    _need(centre is None or isinstance(centre, bool), f"attributes.{name}.centre must be true or false")
    return AttributeGroup(str(name), values, threshold, temperature, centre)


def _templates(spec: Any, where: str) -> dict[str, tuple[str, ...]]:
    """{language: templates}; a plain list is English."""
    if isinstance(spec, list):
        spec = {"en": spec}
    _need(isinstance(spec, dict) and spec, f"{where} must map a language to a list of templates")
    out = {}
    for lang, items in spec.items():
        _need(isinstance(items, list) and items, f"{where}.{lang} must be a non-empty list")
        for t in items:
            _need(
                isinstance(t, str) and t.count(SLOT) == 1, f"{where}.{lang}: {t!r} must contain {SLOT} once"
            )
        out[str(lang)] = tuple(items)
    return out


def _prompt_sets(spec: Any, templates: dict[str, tuple[str, ...]], where: str) -> tuple[PromptSet, ...]:
    _need(isinstance(spec, dict) and spec, f"{where} must map each name to its phrases")
    sets = tuple(
        PromptSet(str(label), _expand(p, templates, f"{where}.{label}")) for label, p in spec.items()
    )
    for s in sets:
        _need(s.prompts, f"{where}.{s.label} has no phrases")
    return sets


def _expand(phrases: Any, templates: dict[str, tuple[str, ...]], where: str) -> tuple[str, ...]:
    """Every template of a language filled with every phrase of that language (a list: the first language)."""
    if isinstance(phrases, (list, str)):
        phrases = {next(iter(templates)): phrases}
    _need(isinstance(phrases, dict), f"{where} must be a list of phrases or {{language: phrases}}")
    prompts: list[str] = []
    for lang, items in phrases.items():
        items = [items] if isinstance(items, str) else items
        ok = isinstance(items, list) and all(isinstance(p, str) and p.strip() for p in items)
        _need(ok, f"{where}.{lang} must be a list of non-empty phrases")
        known = ", ".join(templates)
        _need(str(lang) in templates, f"{where}.{lang}: no templates in that language (they are in {known})")
        forms = templates[str(lang)]
        prompts += [t.replace(SLOT, p.strip()) for t in forms for p in items]
    return tuple(dict.fromkeys(prompts))


def _number(value: Any, where: str) -> float:
    _need(isinstance(value, (int, float)) and not isinstance(value, bool), f"{where} must be a number")
    return float(value)


def _need(ok: object, message: str) -> None:
    if not ok:
        raise ValueError(message)
