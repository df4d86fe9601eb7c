"""Search projections: fitted on features, stored with the bundle, narrowing the catalogue's search vectors."""

import numpy as np
import pytest

from shoplens.data.dataset import ImageDataset
from shoplens.errors import BundleError
from shoplens.inference import Predictor
from shoplens.inference.predictor import l2_normalize
from shoplens.inference.projection import (
    MIN_FIT_SAMPLES,
    MIN_PAIRS,
    SEARCH_FILE,
    SearchProjection,
    load_projection,
)
from shoplens.models.bundle import BundleSpec, load_bundle
from shoplens.training.ood_fit import PhotoSet
from shoplens.training.pipeline import fit_search_projection
from tests.support.bundles import bundle_at


def features_in_a_subspace(n: int, dim: int, rank: int, seed: int = 0) -> np.ndarray:
    """n unit rows of width dim that vary in only `rank` directions around a common offset."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((dim, rank)))[0]
    return (rng.standard_normal((n, rank)) @ basis.T + rng.standard_normal(dim)).astype(np.float32)


def test_fit_keeps_the_geometry_of_features_that_vary_in_fewer_directions_than_it_keeps() -> None:
    feats = features_in_a_subspace(600, 40, 6)
    projection = SearchProjection.fit(feats, width=8)
    assert projection is not None and projection.width == 8
    projected = projection.apply(feats)
    assert projected.shape == (600, 8) and projected.dtype == np.float32
    centred = feats - feats.mean(axis=0)
    np.testing.assert_allclose(projected @ projected.T, centred @ centred.T, atol=2e-3)


def test_fit_keeps_the_directions_of_most_variance_first() -> None:
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((800, 20)) * np.linspace(10, 1, 20)  # axis 0 varies most, axis 19 least
    projection = SearchProjection.fit(feats, width=3)
    assert projection is not None
    assert sorted(np.argmax(np.abs(projection.components), axis=0).tolist()) == [0, 1, 2]


def test_nothing_is_fitted_for_narrow_features_or_too_few_images() -> None:
    assert SearchProjection.fit(features_in_a_subspace(600, 8, 4), width=8) is None  # nothing to narrow
    assert SearchProjection.fit(features_in_a_subspace(MIN_FIT_SAMPLES - 1, 40, 6), width=8) is None


def categories_hidden_by_a_louder_spread(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n rows of width 6 in 3 categories that lie 2 apart along axis 0 (spread 0.3 there), under noise of spread
    5 along the other axes that says nothing about the category."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    feats = rng.standard_normal((n, 6)) * np.r_[0.3, np.full(5, 5.0)]
    feats[:, 0] += 2.0 * labels
    return feats.astype(np.float32), labels


def neighbours_agreeing(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose nearest other row by cosine is of its category."""
    unit = l2_normalize(vectors)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return float((labels[sims.argmax(axis=1)] == labels).mean())


def test_labels_whiten_the_spread_within_categories_so_neighbours_share_theirs() -> None:
    feats, labels = categories_hidden_by_a_louder_spread(MIN_FIT_SAMPLES + 100)
    whitened = SearchProjection.fit(feats, labels, width=16)
    assert whitened is not None and whitened.width == 6  # nothing to narrow, all to whiten
    test_feats, test_labels = categories_hidden_by_a_louder_spread(900, seed=1)
    assert (
        neighbours_agreeing(test_feats - whitened.mean, test_labels) < 0.65
    )  # unwhitened, the noise decides
    assert neighbours_agreeing(whitened.apply(test_feats), test_labels) > 0.9


def test_one_category_is_no_spread_to_whiten_against() -> None:
    feats, labels = categories_hidden_by_a_louder_spread(MIN_FIT_SAMPLES)
    assert SearchProjection.fit(feats, np.zeros(len(feats), np.int64), width=16) is None
    with pytest.raises(ValueError, match="labels for"):
        SearchProjection.fit(feats, labels[:-1], width=16)
    same = SearchProjection.fit(features_in_a_subspace(600, 40, 6), np.zeros(600, np.int64), width=8)
    plain = SearchProjection.fit(features_in_a_subspace(600, 40, 6), width=8)
    assert same is not None and plain is not None
    np.testing.assert_array_equal(same.components, plain.components)


def photos_of_products(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n products' features of width 6, spread 1 every way; photos of them, moved by 2 along axes 0 and 1 as
    lighting and backdrop move them, and by 0.1 every way)."""
    rng = np.random.default_rng(seed)
    products = rng.standard_normal((n, 6))
    photos = products + 0.1 * rng.standard_normal((n, 6))
    photos[:, :2] += 2.0 * rng.standard_normal((n, 2))
    return products.astype(np.float32), photos.astype(np.float32)


def own_product_nearest(photos: np.ndarray, products: np.ndarray) -> float:
    """Share of photos whose nearest product by cosine is the one they show (row i of products)."""
    sims = l2_normalize(photos) @ l2_normalize(products).T
    return float((sims.argmax(axis=1) == np.arange(len(photos))).mean())


def test_photo_product_pairs_whiten_what_photos_add_so_a_photo_finds_its_own_product() -> None:
    products, photos = photos_of_products(MIN_FIT_SAMPLES)
    whitened = SearchProjection.fit(products, width=16, pairs=(photos, products))
    assert whitened is not None and whitened.width == 6
    test_products, test_photos = photos_of_products(300, seed=1)
    plain = own_product_nearest(test_photos - whitened.mean, test_products - whitened.mean)
    found = own_product_nearest(whitened.apply(test_photos), whitened.apply(test_products))
    assert plain < 0.3 and found > 0.8


def test_too_few_or_mismatched_pairs() -> None:
    products, photos = photos_of_products(MIN_FIT_SAMPLES)
    few = MIN_PAIRS - 1
    assert SearchProjection.fit(products, width=16, pairs=(photos[:few], products[:few])) is None
    with pytest.raises(ValueError, match="pairs must be"):
        SearchProjection.fit(products, width=16, pairs=(photos, products[:-1]))


def test_a_projection_survives_the_bundle_folder_and_refuses_inconsistent_shapes(tmp_path) -> None:
    assert load_projection(tmp_path) is None
    projection = SearchProjection.fit(features_in_a_subspace(600, 40, 6), width=8)
    assert projection is not None
    assert projection.save(tmp_path) == tmp_path / SEARCH_FILE
    loaded = load_projection(tmp_path)
    assert loaded is not None
    np.testing.assert_array_equal(loaded.components, projection.components)
    np.testing.assert_array_equal(loaded.mean, projection.mean)
    with pytest.raises(ValueError, match="inconsistent"):
        SearchProjection.from_dict({"mean": [0.0] * 39, "components": projection.components.tolist()})


def tiny_bundle(tmp_path) -> BundleSpec:
    return load_bundle(bundle_at(tmp_path / "v1", labels=list("abcd")))


def test_a_bundle_with_a_projection_searches_with_its_projected_features(tmp_path) -> None:
    bundle = tiny_bundle(tmp_path)
    x = np.random.default_rng(2).integers(0, 256, (MIN_FIT_SAMPLES + 88, 1, 28, 28), dtype=np.uint8)
    plain = Predictor(bundle)
    probs, feats = plain.run(x)
    assert plain.search_dim == bundle.embedding_dim + 4
    assert plain.search_vectors(probs, feats).shape == (len(x), plain.search_dim)

    val = ImageDataset(x, np.zeros(len(x), np.int64), ["a", "b", "c", "d"])
    assert fit_search_projection(bundle.path, val, width=8) == 8
    projected = Predictor(bundle)
    vectors = projected.search_vectors(probs, feats)
    assert projected.search_dim == 12 and vectors.shape == (len(x), 12) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert projected.projection is not None
    narrowed = l2_normalize(projected.projection.apply(feats))
    np.testing.assert_allclose(vectors, l2_normalize(np.concatenate([narrowed, probs], axis=1)), atol=1e-6)


def test_photos_of_validation_garments_are_paired_with_the_garment_each_shows(tmp_path) -> None:
    bundle = tiny_bundle(tmp_path)
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (MIN_FIT_SAMPLES + 88, 1, 28, 28), dtype=np.uint8)
    val = ImageDataset(x, np.arange(len(x)) % 4, ["a", "b", "c", "d"])
    sources = rng.permutation(len(x))[: MIN_PAIRS + 40]
    no_cues = [{}] * len(sources)

    def fitted(arrays: np.ndarray) -> np.ndarray:
        photos = PhotoSet(arrays, no_cues, val.labels[sources], sources)
        assert fit_search_projection(bundle.path, val, width=8, photos=photos) == 8
        projection = load_projection(bundle.path)
        assert projection is not None
        return projection.components

    assert fit_search_projection(bundle.path, val, width=8) == 8
    by_category = load_projection(bundle.path).components
    # photos that show their garment exactly add no spread: the projection is the categories' alone
    np.testing.assert_allclose(fitted(x[sources]), by_category, rtol=1e-4, atol=1e-5)
    assert not np.allclose(fitted(255 - x[sources]), by_category, atol=1e-3)


def test_a_broken_or_mismatched_projection_is_a_bundle_error(tmp_path) -> None:
    bundle = tiny_bundle(tmp_path)
    (bundle.path / SEARCH_FILE).write_text("{not json")
    with pytest.raises(BundleError, match="unreadable search projection"):
        Predictor(bundle)
    wrong = SearchProjection.fit(features_in_a_subspace(600, bundle.embedding_dim + 1, 6), width=8)
    assert wrong is not None
    wrong.save(bundle.path)
    with pytest.raises(BundleError, match=f"projects {bundle.embedding_dim + 1} features"):
        Predictor(bundle)


def test_too_few_validation_images_leave_the_bundle_searching_with_whole_features(tmp_path) -> None:
    bundle = tiny_bundle(tmp_path)
    x = np.zeros((20, 1, 28, 28), np.uint8)
    assert (
        fit_search_projection(bundle.path, ImageDataset(x, np.zeros(20, np.int64), list("abcd")), width=8)
        is None
    )
    assert not (bundle.path / SEARCH_FILE).exists()
    assert Predictor(bundle).search_dim == bundle.embedding_dim + 4
