"""The model card (README.md) written into every image–text bundle."""

from __future__ import annotations

from typing import Any

from shoplens.backbones.config import BackboneConfig

FAMILY_NOTES = {
    "clip": "CLIP (contrastive image–text pre-training): zero-shot scores are a softmax over the prompts given, so "
    "they say which prompt fits best, not whether any fits.",
    "siglip": "SigLIP (sigmoid loss image–text pre-training): each prompt gets its own sigmoid score, so several "
    "can be high or none; text is lowercased and stripped of punctuation before tokenising, as SigLIP was trained.",
}


def model_card(config: BackboneConfig) -> str:
    """Markdown: source, licence, intended use, limits, how it was checked, what it costs here."""
    extra = config.extra
    img, txt, score = config.image, config.text, config.scoring
    resize = (
        f"shortest side → {img.shortest_edge}, centre crop {img.size[0]}×{img.size[1]}"
        if img.resize == "shortest_edge"
        else f"resized to {img.size[0]}×{img.size[1]} (aspect ratio not kept)"
    )
    bias = f" + {score.logit_bias:.4g}" if score.logit_bias else ""
    lines = [
        f"# {config.name}: image–text backbone ({config.family.upper()})",
        "",
        f"- **Source**: {config.source}",
        f"- **Licence**: {config.licence} — check it before serving this model commercially.",
        f"- **Imported from**: {extra.get('imported', {}).get('route', 'unknown')}"
        f" ({extra.get('imported', {}).get('versions', '')})",
        f"- **Embedding width**: {config.embedding_dim}",
        f"- **Image input**: {resize}, {img.resample} resampling, mean {list(img.mean)}, std {list(img.std)}",
        f"- **Text input**: at most {txt.max_length} tokens, padded to the {txt.padding.replace('_', ' ')},"
        f" inputs {', '.join(txt.inputs)}",
        f"- **Zero-shot logits**: {score.logit_scale:.4g} × cosine{bias}, then {score.activation}",
        "",
        "## What it is for",
        "",
        "Embedding product photos and text into one space: text-to-image search, zero-shot categories and attributes "
        "from prompts, and frozen features for few-shot heads. ShopLens serves it with ONNX Runtime and the "
        "`tokenizers` library, without torch.",
        "",
        FAMILY_NOTES[config.family],
        "",
        "## Limits",
        "",
        "- Scores reflect the data the model was pre-trained on (web images and captions unless the source says "
        "otherwise), with its biases; they are not calibrated probabilities of being right. Calibrate on your own "
        "labelled photos before acting on them.",
        f"- Text beyond {txt.max_length} tokens is cut off; images are seen at {img.size[0]}×{img.size[1]} pixels, "
        "so small details (labels, stitching) may be lost.",
        "- Prompt wording changes scores: test prompt templates on your own categories.",
        "",
        "## How it was checked",
        "",
        *_checks(extra.get("checks", {})),
        "",
        "## What it costs on this machine",
        "",
        *_cost(extra.get("cost", {})),
        "",
    ]
    return "\n".join(lines)


def _checks(checks: dict[str, Any]) -> list[str]:
    if checks.get("reference") == "transformers":
        diffs = ", ".join(f"{k} {v:.2g}" for k, v in checks.get("max_abs_diff", {}).items())
        tol = checks.get("tolerance", {})
        return [
            f"At import, {len(checks.get('images', []))} random images of different shapes and "
            f"{checks.get('texts')} sentences went through this bundle (numpy preprocessing, `tokenizers`, ONNX "
            "Runtime) and through transformers (the checkpoint's own image processor, tokenizer and model). "
            "Token ids were identical, zero-shot rankings identical.",
            "",
            f"Largest absolute differences: {diffs}. Tolerances: pixels {tol.get('pixels')}, unit-length embeddings "
            f"{tol.get('embeddings')} per component, logits {tol.get('logits')}.",
        ]
    lines = [
        "The ONNX encoders were imported as given, without the original weights, so they were not compared with "
        f"a reference model. {checks.get('note', '')}".strip()
    ]
    if checks.get("at_first_import"):
        lines += ["", "When the bundle was first made:", "", *_checks(checks["at_first_import"])]
    return lines


def _cost(cost: dict[str, Any]) -> list[str]:
    if not cost:
        return ["Not measured."]
    rows = ["| step | ms per item |", "|---|---|"]
    rows += [f"| {k.replace('_', ' ')} | {v:.2f} |" for k, v in cost.get("ms_per_item", {}).items()]
    return [
        *rows,
        "",
        f"Measured at import on {cost.get('cpu')} ({cost.get('threads')} threads), ONNX Runtime "
        f"{cost.get('onnxruntime')}; {cost.get('note', '')}.",
    ]
