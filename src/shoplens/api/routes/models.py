"""Model versions: list them, activate one (hot reload), roll back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shoplens.api.deps import AdminDep, ReaderDep, ServiceDep
from shoplens.api.errors import HTTPProblem, http_error
from shoplens.api.schemas import ActivationPublic, ModelListPublic, ModelVersionPublic, RuntimePublic
from shoplens.errors import BundleError, VersionNotFoundError
from shoplens.inference.store import LoadedModel, ModelHandle, NoEarlierVersionError

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get(
    "",
    response_model=ModelListPublic,
    operation_id="listModelVersions",
    summary="Versions of the served model",
)
def list_versions(_caller: ReaderDep, service: ServiceDep) -> ModelListPublic:
    """Every version, newest first, with accuracy, the active flag and which one serves here."""
    handle = service.handle
    serving = handle.current()
    versions = handle.store.versions()
    return ModelListPublic(
        name=handle.store.name,
        active=next((v.version for v in versions if v.active), None),
        serving=serving.version if serving else None,
        versions=[
            ModelVersionPublic(
                version=v.version,
                created=v.created,
                accuracy=v.accuracy,
                active=v.active,
                serving=serving is not None and serving.version == v.version,
            )
            for v in versions
        ],
        runtime=_runtime(serving),
    )


def _runtime(serving: LoadedModel | None) -> RuntimePublic | None:
    """The serving model's runtime and, under auto, the calibration record that chose it."""
    session = getattr(serving.predictor, "session", None) if serving else None
    if session is None:
        return None
    record = getattr(session, "calibration", None)
    return RuntimePublic(**record) if record else RuntimePublic(runtime=session.runtime, chosen_by="settings")


def _activation(handle: ModelHandle, previous: LoadedModel | None, loaded: LoadedModel) -> ActivationPublic:
    """What changed."""
    return ActivationPublic(
        name=handle.store.name, version=loaded.version, previous=previous.version if previous else None
    )


@router.post(
    "/{version}/activate",
    response_model=ActivationPublic,
    operation_id="activateModelVersion",
    summary="Validate, mark active and serve a version",
    responses={
        404: {"description": "No such version"},
        422: {"description": "The bundle cannot be loaded, or its evaluation is near chance (see force)"},
    },
)
def activate(
    version: str,
    _caller: AdminDep,
    service: ServiceDep,
    force: Annotated[bool, Query(description="Activate even a version evaluated near chance.")] = False,
) -> ActivationPublic:
    """Load the version fully (a broken or near-chance bundle is refused, the current one keeps serving), swap."""
    handle = service.handle
    previous = handle.current()
    try:
        loaded = handle.activate(version, force=force)
    except VersionNotFoundError as e:
        raise http_error(e) from e
    except BundleError as e:
        raise http_error(e, "not activated: ") from e
    return _activation(handle, previous, loaded)


@router.post(
    "/rollback",
    response_model=ActivationPublic,
    operation_id="rollbackModelVersion",
    summary="Serve the previously active version again",
    responses={409: {"description": "No earlier version"}, 422: {"description": "It cannot be loaded"}},
)
def rollback(_caller: AdminDep, service: ServiceDep) -> ActivationPublic:
    """Make the previously active version active again and serve it."""
    handle = service.handle
    previous = handle.current()
    try:
        loaded = handle.rollback()
    except NoEarlierVersionError as e:
        raise HTTPProblem(409, str(e), "conflict") from e
    except BundleError as e:
        raise http_error(e, "not rolled back: ") from e
    return _activation(handle, previous, loaded)
