"""Bundles: what serving reads without torch (labels, preprocessing, calibration, embedding width)."""

from __future__ import annotations

import json

import pytest
import torch

from shoplens.data.source import DataSource
from shoplens.errors import DataFormatError
from shoplens.imaging import PreprocessConfig
from shoplens.inference.export import export_onnx
from shoplens.inference.runtime import load_predictor
from shoplens.models import create_model, read_bundle_spec, save_bundle

PRE = PreprocessConfig(mean=(0.3,), std=(0.4,))


def bundle(tmp_path, name: str = "shopnet"):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3)
    path = save_bundle(
        tmp_path / "m" / "v1",
        model,
        architecture=name,
        model_kwargs={},
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
