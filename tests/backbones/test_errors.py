"""Import error paths: missing or partial checkpoints, wrong families, open_clip weights, broken ONNX folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplens.backbones.importer import import_backbone
from shoplens.cli import app
from shoplens.errors import BundleError

pytestmark = pytest.mark.slow

runner = CliRunner()


def copy(src: Path, dest: Path, *, drop: tuple[str, ...] = ()) -> Path:
    """A copy of a checkpoint folder without some of its files."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*drop))
    return dest


def test_missing_folder_and_config(tmp_path: Path) -> None:
    """No folder, or a folder without config.json, says what was expected."""
    with pytest.raises(BundleError, match="is not a folder"):
        import_backbone(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(BundleError, match=r"no config\.json"):
        import_backbone(tmp_path, tmp_path / "out")


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (("model.safetensors",), "no model.safetensors or pytorch_model.bin"),
        (("tokenizer.json",), "no tokenizer.json"),
        (("preprocessor_config.json",), "no preprocessor_config.json"),
    ],
)
def test_partial_checkpoint(checkpoints: dict, tmp_path: Path, drop: tuple[str, ...], message: str) -> None:
    """A download missing its weights, tokenizer or preprocessing fails clearly and writes nothing."""
    src = copy(checkpoints["clip"], tmp_path / "ckpt", drop=drop)
    with pytest.raises(BundleError, match=message):
        import_backbone(src, tmp_path / "out" / "b")
    assert list((tmp_path / "out").iterdir()) == []


def test_truncated_weights_and_missing_shard(checkpoints: dict, tmp_path: Path) -> None:
    """An interrupted download (truncated safetensors, a shard missing from the index) is refused."""
    src = copy(checkpoints["siglip"], tmp_path / "ckpt")
    data = (src / "model.safetensors").read_bytes()
    (src / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="cannot load the weights"):
        import_backbone(src, tmp_path / "out")
    (src / "model.safetensors").unlink()
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (src / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(BundleError, match="partial download, missing weight shards"):
        import_backbone(src, tmp_path / "out")


def test_weights_missing_a_tensor(checkpoints: dict, tmp_path: Path) -> None:
    """A weights file without one of the model's tensors is refused, not filled with random values."""
    from safetensors.torch import load_file, save_file

    src = copy(checkpoints["clip"], tmp_path / "ckpt")
    tensors = load_file(str(src / "model.safetensors"))
    dropped = next(k for k in tensors if k.endswith("visual_projection.weight"))
    save_file({k: v for k, v in tensors.items() if k != dropped}, str(src / "model.safetensors"))
    with pytest.raises(BundleError, match="1 of the model's tensors are not in the weights"):
        import_backbone(src, tmp_path / "out")


def test_wrong_family(checkpoints: dict, tmp_path: Path) -> None:
    """A model type other than CLIP or SigLIP is named in the error."""
    src = copy(checkpoints["clip"], tmp_path / "ckpt")
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**config, "model_type": "blip"}))
    with pytest.raises(BundleError, match="model_type 'blip' is not supported"):
        import_backbone(src, tmp_path / "out")


def test_open_clip_weights_without_onnx(tmp_path: Path) -> None:
    """Marqo-style open_clip checkpoints (custom code) cannot be loaded by plain transformers: said so."""
    config = {"auto_map": {"AutoModel": "x.Y"}, "open_clip_model_name": "hf-hub:x/y", "model_type": "siglip"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "open_clip_model.safetensors").write_bytes(b"")
    with pytest.raises(BundleError, match="open_clip weights"):
        import_backbone(tmp_path, tmp_path / "out")
    bare = tmp_path / "bare"  # open_clip's own layout: no config.json at all
    bare.mkdir()
    (bare / "open_clip_config.json").write_text(json.dumps({"model_cfg": {}}))
    (bare / "open_clip_pytorch_model.bin").write_bytes(b"")
    with pytest.raises(BundleError, match="open_clip weights"):
        import_backbone(bare, tmp_path / "out2")


def test_broken_onnx_folder(bundles: dict, tmp_path: Path) -> None:
    """ONNX folders with a corrupt file, swapped towers or no logit scale are refused before writing."""
    src = copy(bundles["clip"], tmp_path / "onnx")
    (src / "text_encoder.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(BundleError, match=r"text_encoder\.onnx: not a readable ONNX file") as refused:
        import_backbone(src, tmp_path / "out")
    assert str(refused.value).startswith(str(src / "text_encoder.onnx"))  # the file to fix, not a temp copy
    shutil.copyfile(bundles["clip"] / "image_encoder.onnx", src / "text_encoder.onnx")
    with pytest.raises(BundleError, match="expected inputs input_ids"):
        import_backbone(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_logit_scale_only_for_onnx(checkpoints: dict, tmp_path: Path) -> None:
    """A transformers checkpoint carries its own logit scale; overriding it would break the check."""
    with pytest.raises(BundleError, match="apply to ONNX imports"):
        import_backbone(checkpoints["clip"], tmp_path / "out", logit_scale=50.0)


def test_cli_import_and_errors(checkpoints: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`shoplens backbone import` prints the check results; errors are one line and exit 2, no traceback."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # the command sets them; restored after the test
        monkeypatch.setenv(name, "1")
    assert runner.invoke(app, ["backbone", "import", "--help"]).exit_code == 0
    result = runner.invoke(app, ["backbone", "import", str(checkpoints["siglip"]), "-o", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "siglip" in result.output and "checked against transformers" in result.output
    again = runner.invoke(app, ["backbone", "import", str(checkpoints["siglip"]), "-o", str(tmp_path / "b")])
    assert again.exit_code == 2 and "already exists" in again.output and "Traceback" not in again.output
    missing = runner.invoke(app, ["backbone", "import", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "is not a folder" in missing.output
