"""Request and response shapes of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class LabelScorePublic(BaseModel):
    """One category and its calibrated probability."""

    label: str
    probability: float = Field(ge=0, le=1)


class ClassificationPublic(BaseModel):
    """The answer for one uploaded image."""

    index: int = Field(description="Position of the image in the request (0-based).")
    filename: str | None = Field(
        None, description="The upload's file name, reduced to a safe base name; never used."
    )
    top: list[LabelScorePublic]
    needs_review: bool = Field(
        description="A person should check: the top probability is below the review threshold, or the photo "
        "does not look like a product."
    )
    status: Literal["recognised", "needs_review", "not_recognised"] = Field(
        description="recognised; needs_review (unsure); not_recognised (not a product, by the model's detector)."
    )
    ood_score: float | None = Field(
        None, ge=0, le=1, description="How unlike a product the photo is (0..1), for models with a detector."
    )
    embedding: list[float] | None = Field(None, description="L2-normalised embedding (with ?embed=true).")


class ModelRefPublic(BaseModel):
    """Which model version answered."""

    name: str
    version: str


class ClassifyPublic(BaseModel):
    """Results in upload order, the model version used, and where the time went."""

    results: list[ClassificationPublic]
    model: ModelRefPublic
    timing_ms: dict[str, float]


class ModelVersionPublic(BaseModel):
    """One version of the model."""

    version: str
    created: datetime
    accuracy: float | None = Field(None, description="Test accuracy from the bundle's metrics.json.")
    active: bool = Field(description="Marked active (or the newest, when none is marked).")
    serving: bool = Field(description="Loaded and answering requests in this process.")


class ModelListPublic(BaseModel):
    """The versions of the served model name, newest first."""

    name: str
    active: str | None
    serving: str | None
    versions: list[ModelVersionPublic]


class ActivationPublic(BaseModel):
    """The result of an activation or rollback."""

    name: str
    version: str
    previous: str | None


class StatusPublic(BaseModel):
    """Liveness / readiness answer."""

    status: str
    model: ModelRefPublic | None = None
