"""Zero-shot categories and attributes through the real app: a tiny CLIP or SigLIP bundle plus a taxonomy file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shoplens.api import create_app
from shoplens.backbones import load_backbone
from shoplens.backbones.taxonomy import TaxonomyError, read_taxonomy
from shoplens.cli import app as cli
from shoplens.config import Settings
from shoplens.inference.predictor import l2_normalize, softmax
from tests.support.process import run_python
from tests.support.service import serving
from tests.support.zeroshot import TAXONOMY, photos, write, zero_shot_settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # builds tiny CLIP/SigLIP bundles
FAMILIES = ("clip", "siglip")
FASHION = Path(__file__).parents[2] / "src/shoplens/backbones/taxonomies/fashion.yaml"


def png(img: Image.Image) -> bytes:
    """PNG bytes of an image."""
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def expected(bundle: Path, img: Image.Image, taxonomy: dict[str, Any]) -> dict[str, Any]:
    """What the answer must be, computed straight from the runtime: prompts by hand, centroids, the family's logits."""
    backbone = load_backbone(bundle)
    scoring = backbone.config.scoring
    emb = backbone.embed_images([img])[0]

    def centroid(prompts: list[str]) -> np.ndarray:
        return l2_normalize(backbone.embed_texts(prompts).mean(axis=0))

    def logit(prompts: list[str]) -> float:
        return float(scoring.logit_scale * emb @ centroid(prompts) + scoring.logit_bias)

    cats = {  # the templates written out by hand
        "dress": [
            "a photo of a red summer dress",
            "red summer dress with a slim fit",
            "green floral midi skirt",
        ],
        "jeans": ["a photo of a blue denim jeans", "blue denim jeans with a slim fit"],
        "boots": [
            "a photo of a black leather ankle boots",
            "a photo of a silver sandals",
            "black leather ankle boots with a slim fit",
            "silver sandals with a slim fit",
        ],
        "sweater": ["a photo of a striped wool sweater", "striped wool sweater with a slim fit"],
    }
    z = np.array([logit(p) for p in cats.values()])
    probs = softmax(z, taxonomy["calibration"]["temperature"])
    centre = scoring.activation != "sigmoid"
    attributes = {}
    for group, values in (("colour", {"red": ["red cotton"], "blue": ["blue cotton"]}),):
        a = np.array([logit(p) for p in values.values()])
        s = 1 / (1 + np.exp(-(a - a.mean() if centre else a)))
        attributes[group] = {v: float(x) for v, x in zip(values, s)}
    material = {v: [f"a photo of a {v}", f"{v} with a slim fit"] for v in ("wool", "leather", "denim")}
    a = np.array([logit(p) for p in material.values()])
    attributes["material"] = {
        v: float(x) for v, x in zip(material, 1 / (1 + np.exp(-(a - a.mean() if centre else a))))
    }
    return {
        "labels": list(cats),
        "probs": probs,
        "cosine": [emb @ centroid(p) for p in cats.values()],
        **attributes,
    }


@pytest.mark.parametrize("family", FAMILIES)
async def test_classify_with_a_backbone_answers_what_the_runtime_computes(
    family: str, bundles: dict, tmp_path: Path
) -> None:
    """Top-k categories, probabilities, status and attributes equal an independent computation from the runtime."""
    taxonomy = write(tmp_path, TAXONOMY)
    app = create_app(zero_shot_settings(tmp_path, bundles[family], taxonomy))
    images = photos(3, seed=7)
    async with serving(app) as c:
        r = await c.post(
            "/v1/classify",
            params={"top_k": 4},
            files=[("files", (f"{i}.png", png(img), "image/png")) for i, img in enumerate(images)],
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"]["version"].startswith("zs-")
        assert (await c.get("/v1/models")).json()["serving"] == body["model"]["version"]
    for img, got in zip(images, body["results"]):
        want = expected(bundles[family], img, TAXONOMY)
        order = np.argsort(-want["probs"])
        assert [t["label"] for t in got["top"]] == [want["labels"][i] for i in order]
        np.testing.assert_allclose([t["probability"] for t in got["top"]], want["probs"][order], atol=2e-5)
        # the ranking is the cosine ranking against the categories' mean prompt embeddings
        assert [want["labels"][i] for i in np.argsort(-np.array(want["cosine"]))] == [
            t["label"] for t in got["top"]
        ]
        top = float(want["probs"].max())
        assert got["needs_review"] is (top < 0.3)
        assert got["status"] == ("needs_review" if top < 0.3 else "recognised") and got["ood_score"] == 0
        colour = {a["value"]: a["score"] for a in got["attributes"]["colour"]}
        assert colour == pytest.approx({v: s for v, s in want["colour"].items() if s >= 0.4}, abs=2e-5)
        material = [a["value"] for a in got["attributes"]["material"]]  # threshold 0: every value, best first
        assert material == sorted(want["material"], key=lambda v: -want["material"][v])


async def test_not_a_product_prompts_and_the_review_threshold_decide_the_status(
    bundles: dict, tmp_path: Path
) -> None:
    """Rejects that repeat every category's prompt take at least half the mass: not recognised, for any photo."""
    cats = {"dress": ["red summer dress"], "jeans": ["blue denim jeans"]}
    rejecting = {
        "categories": cats,
        "not_a_product": [*(p[0] for p in cats.values()), "grey hooded sweatshirt"],
    }
    strict = {"categories": cats, "calibration": {"review_threshold": 1.0}}
    lenient = {"categories": cats, "calibration": {"review_threshold": 0.0}}
    statuses = {}
    for name, taxonomy in (("rejecting", rejecting), ("strict", strict), ("lenient", lenient)):
        app = create_app(
            zero_shot_settings(tmp_path / name, bundles["siglip"], write(tmp_path / name, taxonomy))
        )
        async with serving(app) as c:
            r = await c.post("/v1/classify", files={"file": ("a.png", png(photos(1)[0]), "image/png")})
        assert r.status_code == 200, r.text
        result = r.json()["results"][0]
        statuses[name] = (result["status"], result["ood_score"], result.get("review_reasons"))
    assert statuses["rejecting"][0] == "not_recognised" and statuses["rejecting"][1] >= 0.5
    assert "unlike_products" in statuses["rejecting"][2]
    assert statuses["strict"] == ("needs_review", 0, ["low_confidence"])
    assert statuses["lenient"] == ("recognised", 0, None)


async def test_a_zero_shot_not_a_product_is_one_on_every_path(bundles: dict, tmp_path: Path) -> None:
    """classify, ingestion, search by photo and `shoplens predict` give the taxonomy's status for one photo."""
    cats = {"dress": ["red summer dress"], "jeans": ["blue denim jeans"]}
    taxonomy = {
        "categories": cats,
        "not_a_product": [*(p[0] for p in cats.values()), "grey hooded sweatshirt"],
    }
    settings = zero_shot_settings(tmp_path, bundles["siglip"], write(tmp_path, taxonomy))
    photo = png(photos(1)[0])
    async with serving(create_app(settings)) as c:
        answer = (await c.post("/v1/classify", files={"file": ("a.png", photo, "image/png")})).json()[
            "results"
        ][0]
        assert answer["status"] == "not_recognised" and answer["needs_review"] is True  # never "fine" with it
        product = {"sku": "s1", "title": "Thing", "merchant": "m"}
        files = [
            ("product", (None, json.dumps(product), "application/json")),
            ("files", ("a.png", photo, "image/png")),
        ]
        stored = (await c.post("/v1/products", files=files)).json()
        assert "not_a_product" in stored["images"][0]["quality_flags"]
        similar = (await c.post("/v1/search/similar", files={"file": ("a.png", photo, "image/png")})).json()
        assert similar["results"] == [] and similar["reason"]
        version = (await c.get("/v1/models")).json()["active"]
    bundle = settings.models_dir / settings.model_name / version
    (tmp_path / "a.png").write_bytes(photo)
    said = CliRunner().invoke(cli, ["predict", str(bundle), str(tmp_path / "a.png"), "--json"])
    assert said.exit_code == 0 and json.loads(said.stdout)["status"] == "not_recognised", said.output


def test_the_same_backbone_and_taxonomy_are_one_version_a_changed_prompt_is_another(
    bundles: dict, tmp_path: Path
) -> None:
    """The version name hashes backbone and taxonomy: restarting reuses it, editing a prompt makes a new one."""
    from shoplens.backbones.serving import model_loader, use_backbone
    from shoplens.inference.store import ModelStore

    store = ModelStore(tmp_path / "models", "zs", model_loader())
    first, loaded = use_backbone(store, bundles["clip"], write(tmp_path / "a", TAXONOMY))
    assert loaded is not None and loaded.version == first  # activated, so loaded once
    assert use_backbone(store, bundles["clip"], write(tmp_path / "b", TAXONOMY)) == (first, None)
    changed = {**TAXONOMY, "categories": {**TAXONOMY["categories"], "jeans": ["blue jeans"]}}
    second, _ = use_backbone(store, bundles["clip"], write(tmp_path / "c", changed))
    assert second != first and store.marked_active() == second and store.history() == [first]


def test_a_backbone_moved_or_copied_elsewhere_is_served_from_where_it_is_given(
    bundles: dict, tmp_path: Path
) -> None:
    """The same bytes at another path make another version that reads that path: serving B used A's files (and
    never became ready once A was moved to B)."""
    import shutil

    from shoplens.backbones.zeroshot import create_zero_shot_version, load_zero_shot

    taxonomy = write(tmp_path / "t", TAXONOMY)
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(bundles["clip"], a)
    first = create_zero_shot_version(tmp_path / "models", "zs", a, taxonomy)
    assert create_zero_shot_version(tmp_path / "models", "zs", a, taxonomy) == first  # a restart reuses it
    a.rename(b)  # moved
    moved = create_zero_shot_version(tmp_path / "models", "zs", b, taxonomy)
    assert moved != first and json.loads((moved / "config.json").read_text())["backbone"] == str(b.resolve())
    load_zero_shot(moved)
    assert create_zero_shot_version(tmp_path / "models", "zs", b, taxonomy) == moved


def test_a_version_is_refused_once_its_backbone_was_imported_again(bundles: dict, tmp_path: Path) -> None:
    """The catalogue's vectors of a version came from its backbone: another backbone under that path is not it."""
    import shutil

    from shoplens.backbones.zeroshot import create_zero_shot_version, load_zero_shot
    from shoplens.errors import BundleError

    backbone = tmp_path / "clip"
    shutil.copytree(bundles["clip"], backbone)
    version = create_zero_shot_version(tmp_path / "models", "zs", backbone, write(tmp_path / "t", TAXONOMY))
    load_zero_shot(version)
    other = json.loads((backbone / "config.json").read_text())
    (backbone / "config.json").write_text(json.dumps({**other, "name": "another import"}))
    with pytest.raises(BundleError, match="changed since this version was made"):
        load_zero_shot(version)


def test_the_shipped_fashion_taxonomy_reads() -> None:
    """The example taxonomy: ten categories in two languages, six attribute groups, templates expanded."""
    tax = read_taxonomy(FASHION)
    assert len(tax.labels) == 10 and tax.labels[3] == "Dress"
    assert "ein Foto von einem Kleid." in tax.categories[3].prompts
    assert "a product photo of a dress." in tax.categories[3].prompts
    names = [g.name for g in tax.attributes]
    assert names == ["colour", "pattern", "sleeve length", "neckline", "material", "style"]
    assert "a red garment." in next(v for v in tax.attributes[0].values if v.label == "red").prompts


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"categories": {"only": ["one"]}}, "at least two"),
        ({"templates": {"en": ["no slot"]}}, "must contain {} once"),
        ({"categories": {"a": ["x"], "b": []}}, r"categories\.b has no phrases"),
        ({"calibration": {"temperature": 0}}, "temperature must be > 0"),
        (
            {"categories": {"a": {"fr": ["une robe"]}, "b": ["y"]}},
            r"categories\.a\.fr: no templates in that language",
        ),
        ({"calibration": {"warmth": 1}}, "unexpected keyword argument 'warmth'"),
        ({"attributes": {"colour": {"threshold": 0.5}}}, "attributes.colour needs 'values'"),
        ({"colours": {}}, r"unknown keys \['colours'\]"),
    ],
)
def test_a_bad_taxonomy_is_a_clear_error(tmp_path: Path, change: dict, message: str) -> None:
    """Each mistake is named with the file it is in."""
    raw = {"categories": {"a": ["x"], "b": ["y"]}, **change}
    with pytest.raises(TaxonomyError, match=message):
        read_taxonomy(write(tmp_path, raw))
    (tmp_path / "bad.yaml").write_text("categories: [unclosed")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        read_taxonomy(tmp_path / "bad.yaml")


def test_a_backbone_needs_a_taxonomy(tmp_path: Path) -> None:
    """Half a zero-shot configuration is refused before anything starts."""
    with pytest.raises(ValueError, match="both a backbone bundle and a taxonomy file"):
        Settings(backbone=tmp_path)


def test_serving_a_backbone_imports_no_training_stack(bundles: dict, tmp_path: Path) -> None:
    """A zero-shot server classifies without torch, transformers, scipy, sklearn or the trainer loaded."""
    taxonomy = write(tmp_path, TAXONOMY)
    out = run_python(f"""
        import io, sys, time
        from fastapi.testclient import TestClient
        from PIL import Image
        from shoplens.api import create_app
        from shoplens.config import Settings

        settings = Settings(models_dir={str(tmp_path / "models")!r}, catalog_dir={str(tmp_path / "c")!r},
                            api_keys_file={str(tmp_path / "k.json")!r}, open_mode=True,
                            backbone={str(bundles["siglip"])!r}, taxonomy_file={str(taxonomy)!r})
        buf = io.BytesIO()
        Image.new("RGB", (50, 40), (200, 10, 10)).save(buf, "PNG")
        with TestClient(create_app(settings), base_url="http://localhost") as client:
            deadline = time.monotonic() + 60
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.02)
            r = client.post("/v1/classify", files={{"file": ("a.png", buf.getvalue(), "image/png")}})
            assert r.status_code == 200 and r.json()["results"][0]["status"], r.text
        heavy = ("torch", "transformers", "scipy", "sklearn", "shoplens.training")
        print([m for m in heavy if m in sys.modules])
    """)
    assert out.strip() == "[]"
