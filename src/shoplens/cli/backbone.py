"""`shoplens backbone import`: a locally downloaded CLIP/SigLIP checkpoint → an image–text bundle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from shoplens.cli.common import app, err, friendly_errors, out, stopped_cleanly_by_sigterm

backbone_app = typer.Typer(help="Image–text backbones (CLIP, SigLIP) from local files.", no_args_is_help=True)
app.add_typer(backbone_app, name="backbone")


@backbone_app.command("import")
@friendly_errors
def backbone_import(
    path: Annotated[
        Path,
        typer.Argument(
            help="A Hugging Face checkpoint folder (what `huggingface-cli download openai/clip-vit-base-patch32` "
            "leaves: a --local-dir folder or a models--org--name cache entry), or a folder of ONNX encoders with "
            "tokenizer.json and a config."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Bundle folder to write (default: var/backbones/NAME)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Bundle name (default: from the checkpoint).")] = None,
    source: Annotated[
        str | None, typer.Option(help="Where the checkpoint came from, for the model card (e.g. org/model).")
    ] = None,
    licence: Annotated[
        str | None, typer.Option(help="The licence, when the checkpoint's own model card does not state it.")
    ] = None,
    logit_scale: Annotated[
        float | None,
        typer.Option(help="ONNX imports only: multiplier of the cosine (exp of the stored value)."),
    ] = None,
    logit_bias: Annotated[float | None, typer.Option(help="ONNX imports only: SigLIP's logit bias.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing bundle at the output path.")] = False,
) -> None:
    """Export both encoders to ONNX, check them against transformers, and write the bundle (nothing is downloaded)."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces: every load also passes local_files_only=True
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from shoplens.backbones.importer import import_backbone
    from shoplens.backbones.runtime import load_backbone

    err.print(f"importing {path} …")
    with stopped_cleanly_by_sigterm():  # a stopped import leaves no half-made folder (as after Ctrl-C)
        bundle = import_backbone(
            path,
            output,
            name=name,
            source=source,
            licence=licence,
            logit_scale=logit_scale,
            logit_bias=logit_bias,
            force=force,
        )
    config = load_backbone(bundle).config
    checks = config.extra.get("checks", {})
    verdict = (
        "checked against transformers" if checks.get("reference") else "signatures checked (no reference)"
    )
    out.print(f"{bundle}: {config.family}, {config.embedding_dim}-d embeddings, {verdict}")
    for name_, diff in checks.get("max_abs_diff", {}).items():
        out.print(f"  max abs diff {name_}: {diff:.2g}")
