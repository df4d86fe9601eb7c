"""Bundles: what serving reads without torch (labels, preprocessing, calibration, embedding width)."""

from __future__ import annotations

import json

import pytest
import torch

from shoplens.data.source import DataSource
from shoplens.errors import BundleError, DataFormatError
from shoplens.imaging import PreprocessConfig
from shoplens.inference.export import export_onnx
from shoplens.inference.runtime import load_predictor
from shoplens.models import create_model, read_bundle_spec
from tests.support.bundles import bundle_at

PRE = PreprocessConfig(mean=(0.3,), std=(0.4,))


def bundle(tmp_path, name: str = "shopnet"):
    """A freshly initialised `name` saved with three labels, a temperature and a review threshold; and the model."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=3)
    path = bundle_at(
        tmp_path / "m" / "v1",
        model=model,
        architecture=name,
        labels=["a", "b", "c"],
        preprocess=PRE,
        train_config={"seed": 4},
        data={"kind": "folder", "path": "/photos", "test_fraction": 0.2},
        temperature=1.5,
        review_threshold=0.7,
    )
    return path, model


@pytest.mark.parametrize("name", ["shopnet", "seed_cnn"])
def test_the_bundle_records_its_embedding_width_and_serving_reads_it_back(tmp_path, name) -> None:
    path, model = bundle(tmp_path, name)
    spec = read_bundle_spec(path)
    assert spec.embedding_dim == model.num_features
    assert (spec.labels, spec.temperature, spec.review_threshold, spec.preprocess) == (
        ["a", "b", "c"],
        1.5,
        0.7,
        PRE,
    )
    assert load_predictor(path).embedding_dim == model.num_features


def test_older_bundles_take_the_width_from_their_exported_graph(tmp_path) -> None:
    path, model = bundle(tmp_path)
    config = json.loads((path / "config.json").read_text())
    del config["embedding_dim"]  # as bundles saved before it was recorded
    (path / "config.json").write_text(json.dumps(config))
    assert read_bundle_spec(path).embedding_dim is None
    assert load_predictor(path).embedding_dim == model.num_features  # torch knows its network
    export_onnx(path)
    assert read_bundle_spec(path).embedding_dim == model.num_features  # the export's record of the graph
    config = json.loads((path / "config.json").read_text())
    del config["onnx"]
    (path / "config.json").write_text(json.dumps(config))
    assert (
        load_predictor(path, runtime="onnxruntime").embedding_dim == model.num_features
    )  # the graph's shape


def test_a_training_data_record_names_its_source_new_or_old() -> None:
    record = DataSource("manifest", "/shop/photos.csv", test_fraction=0.2).record()
    assert DataSource.from_record(record) == DataSource("manifest", "/shop/photos.csv", test_fraction=0.2)
    assert DataSource.from_record({"source": "folder:/photos"}) == DataSource("folder", "/photos")
    old_fmnist = DataSource.from_record({"source": "fashion-mnist:train:/usr/share/datasets/fashion-mnist"})
    assert old_fmnist == DataSource("fashion-mnist", "/usr/share/datasets/fashion-mnist")
    assert DataSource.from_record({}) == DataSource()  # nothing recorded: Fashion-MNIST, found as usual
    with pytest.raises(DataFormatError, match="unknown training data source"):
        DataSource.from_record({"source": "test"})


def damage(path) -> None:
    """Flip bytes in the middle of a file, as a bad disk or copy would."""
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, len(data) // 2, 7):
        data[i] ^= 0x7F
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["model.safetensors", "model.onnx"])
def test_damaged_weights_are_refused_where_they_are_read(tmp_path, name) -> None:
    path, _ = bundle(tmp_path)
    export_onnx(path)
    runtime = "onnxruntime" if name == "model.onnx" else "torch"
    load_predictor(path, runtime=runtime)  # intact: loads
    damage(path / name)
    with pytest.raises(BundleError, match=f"{name}: its bytes are not those the bundle recorded"):
        load_predictor(path, runtime=runtime)


def test_a_truncated_weights_file_of_an_older_bundle_is_a_bundle_error(tmp_path) -> None:
    path, _ = bundle(tmp_path)
    config = json.loads((path / "config.json").read_text())
    del config["weights_sha256"]  # saved before digests were recorded
    (path / "config.json").write_text(json.dumps(config))
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(BundleError, match="cannot load the bundle"):
        load_predictor(path, runtime="torch")


@pytest.mark.parametrize(
    ("labels", "why"),
    [(["a", "b"], "names 2 labels for a network of 3 outputs"), (["a", "b", "a"], "'a' twice")],
)
def test_labels_that_do_not_fit_the_network_are_refused(tmp_path, labels, why) -> None:
    path, _ = bundle(tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["labels"] = labels
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match=why):
        read_bundle_spec(path)
