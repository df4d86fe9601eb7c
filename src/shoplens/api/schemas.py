"""Request and response shapes of the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from shoplens.fields import check_text


def _aware(value: datetime) -> datetime:
    """A time with its zone: the database keeps UTC, and SQLite drops the zone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _in_utc(value: datetime) -> datetime:
    """A sent time in UTC (no zone: UTC); ValueError when UTC cannot hold it (9999-12-31T23:00-14:00)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range in UTC (years 1 to 9999)") from None


def omitted_not_null(schema: dict[str, Any]) -> None:
    """The schema of an update field that may be left out but not sent as null (its None default: not sent)."""
    schema.pop("default", None)


NOT_NULL: dict[str, Any] = {"json_schema_extra": omitted_not_null}  # Field(None, **NOT_NULL, …)


class TextIn(BaseModel):
    """A request body whose texts are refused (422) when they hold a NUL character, which PostgreSQL cannot store."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """The value, unless it is a text holding a NUL character."""
        if isinstance(value, str):
            check_text(value, "the text")
        return value


Timestamp = Annotated[datetime, AfterValidator(_aware)]  # sent as RFC 3339 (with its offset), as documented
TimeIn = Annotated[datetime, AfterValidator(_in_utc)]  # a time a request sends


class LabelScorePublic(BaseModel):
    """One category and its calibrated probability."""

    label: str
    probability: float = Field(ge=0, le=1)


class ColourPublic(BaseModel):
    """A dominant colour of the product: a clothing-colour name, the measured hex, its share of the product."""

    name: str
    hex: str
    share: float


class AttributeScorePublic(BaseModel):
    """One attribute value that fits the image, with its score (sigmoid of its centred logit)."""

    value: str
    score: float = Field(ge=0, le=1)


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
        description="recognised; needs_review (unsure); not_recognised (not a product: by the model's detector, "
        "or for a zero-shot model when its 'not a product' prompts win)."
    )
    ood_score: float | None = Field(
        None,
        ge=0,
        le=1,
        description="How unlike a product the photo is (0..1), for models with a detector; for zero-shot models "
        "the share the 'not a product' prompts take.",
    )
    review_reasons: list[Literal["low_confidence", "unlike_products"]] | None = Field(
        None,
        description="Why a person should check (only when needs_review): low_confidence (the top probability is "
        "under its category's review threshold), unlike_products (the 'not a product' score reached its review "
        "level); both may hold.",
    )
    embedding: list[float] | None = Field(None, description="L2-normalised embedding (with ?embed=true).")
    colours: list[ColourPublic] | None = Field(
        None, description="The product's dominant colours, largest share first (with ?colours=true)."
    )
    attributes: dict[str, list[AttributeScorePublic]] | None = Field(
        None,
        description="Zero-shot models with attribute prompts: per group, the values that fit, best first.",
    )


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
    created: Timestamp
    accuracy: float | None = Field(None, description="Test accuracy from the bundle's metrics.json.")
    active: bool = Field(description="Marked active (or the newest, when none is marked).")
    serving: bool = Field(description="Loaded and answering requests in this process.")


class RuntimeCandidatePublic(BaseModel):
    """One runtime the load-time calibration tried, checked against FP32 ONNX Runtime and timed if accurate."""

    runtime: str
    passed: bool
    top1_agreement: float | None = None
    max_prob_diff: float | None = None
    images_per_second: float | None = None
    reason: str | None = None


class RuntimePublic(BaseModel):
    """How the serving version runs in this process: its runtime and, under `auto`, the calibration behind it."""

    runtime: str
    chosen_by: str = Field(description="calibration, the only candidate that passed, or the settings.")
    rule: str | None = None
    cpu_flags: list[str] = Field(
        default_factory=list, description="The CPU's flags that matter to inference."
    )
    candidates: list[RuntimeCandidatePublic] = Field(default_factory=list)


class ModelListPublic(BaseModel):
    """The versions of the served model name, newest first."""

    name: str
    active: str | None
    serving: str | None
    versions: list[ModelVersionPublic]
    runtime: RuntimePublic | None = Field(
        None, description="The serving version's runtime here (None: none)."
    )


class ActivationPublic(BaseModel):
    """The result of an activation or rollback."""

    name: str
    version: str
    previous: str | None


class StatusPublic(BaseModel):
    """Liveness / readiness answer."""

    status: str
    model: ModelRefPublic | None = None
    worker: int | None = Field(
        None, description="The server process that answered (0..N-1 with --workers N)."
    )
