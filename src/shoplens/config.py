"""Service settings: one typed source, read from SHOPLENS_* environment variables and overridden by the CLI."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shoplens.inference.kinds import Device, Runtime

MiB = 2**20


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Everything `shoplens serve` can be told; each field is also SHOPLENS_<FIELD> in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="SHOPLENS_",
        extra="ignore",
        frozen=True,
        protected_namespaces=(),
        populate_by_name=True,
        allow_inf_nan=False,  # SHOPLENS_BODY_TIMEOUT_S=inf switched the slow-client guard off without a word
    )

    models_dir: Path = Field(Path("var/models"), description="Root of <name>/<version>/ model bundles.")
    model_name: str = Field("fashion-mnist", description="Model name: its versions are models_dir/<name>/.")
    host: str = Field("127.0.0.1", description="Address the server binds.")
    port: int = Field(8000, ge=0, le=65535, description="Port the server listens on (0: any free one).")
    runtime: Runtime = Field(
        "auto",
        description="auto: the fastest of ONNX Runtime and OpenVINO (bf16 on AMX, int8 on VNNI) that matches FP32 "
        "ONNX Runtime on a short calibration at load, when the bundle has model.onnx; else torch.",
    )
    threads: int | None = Field(None, ge=1, description="Inference threads (default: the runtime's choice).")
    device: Device = Field(
        "auto", description="Where models train and run: auto (CUDA when available, else CPU), cpu or cuda."
    )
    backbone: Path | None = Field(
        None,
        description="Serve zero-shot: an image–text bundle (`shoplens backbone import`), with taxonomy_file.",
    )
    taxonomy_file: Path | None = Field(
        None, description="Zero-shot categories, attributes and their prompts (YAML or JSON), with backbone."
    )
    max_upload_bytes: int = Field(10 * MiB, ge=1024, description="Largest request body accepted.")
    max_files: int = Field(16, ge=1, description="Most images in one classify request.")
    max_parts: int = Field(32, ge=1, description="Most non-file multipart fields in one request.")
    max_pixels: int = Field(40_000_000, ge=1, description="Largest image (width × height) decoded.")
    image_fetch_hosts: str = Field(
        "",
        description="Hosts image URLs in JSON requests may name, comma-separated (*.example.com: subdomains).",
    )
    image_fetch_private: bool = Field(
        False, description="Let image URLs reach loopback and private addresses (a private CDN, tests)."
    )
    max_request_pixels: int = Field(
        64_000_000,
        ge=1,
        description="Most pixels the images of one request may declare together (decoding is bounded in time).",
    )
    batching: bool = Field(
        True, description="Group concurrent images into one model call (off: batch size 1)."
    )
    batch_max_size: int = Field(16, ge=1)
    batch_max_wait_ms: float = Field(2.0, ge=0)
    inline_inference_ms: float = Field(
        1.0,
        ge=0,
        description="Model calls expected to take less than this run on the event loop (0: always a thread).",
    )
    queue_max: int = Field(256, ge=1, description="Images waiting for the model before requests get 503.")
    max_inflight: int = Field(
        64, ge=1, description="Classify requests handled at once; more get 503 at once."
    )
    request_deadline_ms: float = Field(
        5000, gt=0, description="A classify request not answered by then gets 504."
    )
    max_inflight_per_caller: int = Field(
        16,
        ge=1,
        description="Requests one API key (or, without a valid key, one client address) may have in flight; "
        "more get 429.",
    )
    body_timeout_s: float = Field(
        15.0, gt=0, description="A request body not received in full by then gets 408 (slow senders)."
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="A connection that has not sent a request's headers by then is closed."
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="An idle keep-alive connection is closed after this long."
    )
    max_connections: int = Field(
        2048, ge=1, description="Open connections (or requests) at once; past it new ones get 503."
    )
    max_top_k: int = Field(10, ge=1)
    api_keys_file: Path = Field(
        Path("var/api-keys.json"), description="Hashed API keys (`shoplens keys create`)."
    )
    open_mode: bool = Field(
        False,
        description="Allow anonymous use (only on a loopback host): read-only, loopback Host names only.",
    )
    open_write: bool = Field(
        False,
        description="In open mode, let anonymous callers change things too (products, campaigns, models).",
    )
    reload_interval_s: float = Field(
        2.0, ge=0, description="How often to look for a newly activated version (0: never)."
    )
    workers: int = Field(
        1,
        ge=1,
        description="Server processes on the one port; each loads the model, max_inflight holds across all.",
    )
    malloc_mmap_threshold_kib: int = Field(
        256,
        ge=0,
        description="Blocks above this many KiB are returned to the system when freed, and glibc's heaps are "
        "trimmed past twice it (0: glibc's own sliding threshold, which lets RSS keep freed memory).",
    )
    drain_timeout_s: float = Field(
        30.0, ge=0, description="On SIGTERM, how long in-flight requests may take."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # The catalogue (products, images, vector indexes).
    catalog_dir: Path = Field(
        Path("var/catalog"), description="Catalogue data: SQLite database, images, vector indexes."
    )
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "SHOPLENS_DATABASE_URL"),
        description="postgresql://user@host:port/db (psycopg 3); default: SQLite under catalog_dir.",
    )
    taxonomy: str = Field(
        "fashion-mnist", description="The catalogue's category taxonomy (created from the model's labels)."
    )
    search_threads: int = Field(
        1, ge=1, description="faiss threads per search in the server (one request, one search)."
    )
    index_method: Literal["exact", "hnsw", "ivf"] = Field(
        "exact", description="Vector index: exact inner product, HNSW or IVF."
    )
    store_max_side: int = Field(
        0,
        ge=0,
        description="Longest side of the catalogue's stored copy of an image: larger ones are shrunk when stored "
        "(0: stored full size). Nothing reads more than 224 px of it; a 12-MP phone photo is a 22 MB PNG in full.",
    )
    vector_backend: Literal["faiss", "milvus"] = Field(
        "faiss", description="Where vector indexes live: faiss files, or Milvus collections."
    )
    milvus_uri: str | None = Field(
        None,
        description="Milvus server (http://host:19530) or a milvus-lite folder ending in .db; "
        "default: milvus-lite in <catalog_dir>/index/milvus.db (one process at a time).",
    )
    milvus_token: SecretStr | None = Field(None, description="Milvus credentials (user:password or a token).")
    blur_faces_merchant: bool = Field(False, description="Blur faces in merchant product photos.")
    blur_faces_shopper: bool = Field(True, description="Blur faces in shopper uploads (review photos).")
    mismatch_min_confidence: float = Field(
        0.8, ge=0, le=1, description="Flag a declared category only when this sure."
    )
    mismatch_max_declared: float = Field(
        0.01, ge=0, le=1, description="…and the declared category gets at most this."
    )
    duplicate_max_hamming: int = Field(
        8, ge=0, le=64, description="Perceptual-hash bits near-duplicates may differ in."
    )
    user_id_secret: SecretStr | None = Field(
        None,
        description="Key for pseudonymising shopper ids on the way in (HMAC-SHA256); unset: ids kept as sent.",
    )
    shopper_cache_ttl_s: float = Field(
        600.0,
        gt=0,
        le=30 * 86400,
        description="Seconds a shopper's cached profile and recommendations are kept (then computed again).",
    )
    ad_token_secret: SecretStr | None = Field(
        None,
        description="Key signing the impression tokens of served ads (set it when several processes serve; "
        "unset: the user id secret, else a key of this process).",
    )
    duplicate_min_similarity: float = Field(
        0.8, ge=-1, le=1, description="Embedding cosine that confirms a duplicate."
    )

    @model_validator(mode="after")
    def _open_only_on_loopback(self) -> Settings:
        """Refuse anonymous access on a host reachable from other machines."""
        if self.open_mode and not is_loopback(self.host):
            raise ValueError(f"open mode (no API keys) is only allowed on a loopback host, not {self.host!r}")
        return self

    @model_validator(mode="after")
    def _workers_follow_activations(self) -> Settings:
        """Several workers each watch the model store: with reload_interval_s 0 they would drift apart."""
        if self.workers > 1 and self.reload_interval_s <= 0:
            raise ValueError("several workers need reload_interval_s > 0 to follow model activations")
        return self

    @model_validator(mode="after")
    def _backbone_with_taxonomy(self) -> Settings:
        """A backbone is served with a taxonomy of prompts, and a taxonomy needs a backbone."""
        if (self.backbone is None) != (self.taxonomy_file is None):
            raise ValueError("zero-shot serving needs both a backbone bundle and a taxonomy file")
        return self

    @property
    def effective_batch_size(self) -> int:
        """The batch size the worker uses (1 when batching is off)."""
        return self.batch_max_size if self.batching else 1
