"""`--engine local|ray` and its options, shared by the commands that run bulk work (ingest, reindex,
classify-batch), and Ray for the length of a command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated

import typer


class Engine(str, Enum):
    local = "local"
    ray = "ray"


EngineOption = Annotated[
    Engine,
    typer.Option(help="Where the work runs: this process, or Ray Data (actor pool, one model per actor)."),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray for this job).",
        envvar="RAY_ADDRESS",
    ),
]
Workers = Annotated[int, typer.Option(min=1, max=1024, help="Ray: model actors (one model each).")]
IngestWorkers = Annotated[
    int,
    typer.Option(
        min=1,
        max=1024,
        help="Ray: model actors (one model each). Local: processes that decode and read the images while this "
        "one runs the model and writes (at most one per CPU; 1: all in this process).",
    ),
]


@contextmanager
def on_engine(engine: Engine, address: str | None) -> Iterator[None]:
    """Ray for the block when the engine is ray (joined at `address`, or started here and stopped after)."""
    if engine is not Engine.ray:
        yield
        return
    from shoplens.catalog.ray_jobs import ray_cluster

    with ray_cluster(address):
        yield
