"""The OpenAPI document, declaring exactly what is sent: every error status a route can answer, as a problem.

A route's error statuses are gathered from three places, so that none is forgotten and none is made up:
- its own `responses` (statuses its body raises: `responses=problems(404, 409)`);
- its dependencies: a dependency marked with `@raises(401, 403)` adds those to every route that uses it, however
  deep (an API key check, the catalogue opening its database);
- what the app does to every request: 422 when it has parameters or a body to validate, 408 and 413 when it
  takes a body (the body timeout, the body limit), 400 (a malformed body or header, a NUL character in the URL)
  and 500 (a bug) everywhere, and 429 and 503 everywhere but the probes (the per-caller limit, shutting down).
FastAPI's own 422 (a list) is replaced: every 4xx and 5xx is `application/problem+json`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from shoplens.api.problems import PROBLEM_JSON, Problem, ValidationProblem

F = TypeVar("F", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
PROBES = frozenset({"/livez", "/readyz"})
DESCRIPTIONS = {
    400: "The request cannot be read: a malformed body, form, JSON or header, or a NUL character in the URL",
    401: "No API key, or an invalid one",
    403: "The key's role (or merchant) may not do this",
    404: "No such resource",
    408: "The body was not received within the body timeout",
    409: "Clashes with what exists",
    413: "The body (or an image in it) is too large",
    415: "Not a media type (or image format) this route accepts",
    422: "Invalid input: `errors` lists each problem",
    429: "Too many requests from this key; see Retry-After",
    500: "A bug; `instance` is the request id to report",
    503: "Not now (busy, no model, a dependency down, shutting down); see Retry-After",
    504: "Not answered within the request deadline",
    507: "The image store is full: nothing was stored",
}
HEADERS = {
    401: {"WWW-Authenticate": "How to authenticate (Bearer)"},
    405: {"Allow": "The methods the path accepts"},
    429: {"Retry-After": "Seconds to wait"},
    503: {"Retry-After": "Seconds to wait"},
}


_COMPONENTS: dict[str, Any] = {}  # schemas of bodies routes read themselves (see `component`)


def component(name: str, schema: dict[str, Any]) -> dict[str, str]:
    """Add a JSON schema (made with ref_template REF) and its $defs to the document's components; its $ref."""
    schema = dict(schema)
    _COMPONENTS.update(schema.pop("$defs", {}))
    _COMPONENTS[name] = schema
    return {"$ref": REF.format(model=name)}


def raises(*statuses: int) -> Callable[[F], F]:
    """Mark a dependency with the error statuses it can answer; every route using it declares them."""

    def mark(fn: F) -> F:
        fn.problem_statuses = (*getattr(fn, "problem_statuses", ()), *statuses)  # type: ignore[attr-defined]
        return fn

    return mark


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's `responses` for the error statuses its own code answers (described in the document)."""
    return {
        status: {"description": DESCRIPTIONS.get(status, HTTPStatus(status).phrase)} for status in statuses
    }


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    """A dependant and all its sub-dependencies, depth first."""
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _validates(dependant: Dependant) -> bool:
    """Whether the dependant itself takes parameters or a body that FastAPI validates."""
    d = dependant
    return bool(d.path_params or d.query_params or d.header_params or d.cookie_params or d.body_params)


def _takes_body(route: APIRoute) -> bool:
    """Whether the route reads a request body (a model parameter or one declared in openapi_extra)."""
    return route.body_field is not None or "requestBody" in (route.openapi_extra or {})


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """The app's API routes as the document sees them (with what their routers add, on FastAPIs that keep
    included routers as route contexts)."""
    contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if contexts is None:
        yield from (r for r in app.routes if isinstance(r, APIRoute))
        return
    for context in contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context  # an APIRoute to every attribute read here


def route_problems(route: APIRoute) -> set[int]:
    """Every error status a route can answer (see the module's docstring)."""
    statuses = {int(k) for k in route.responses if str(k).isdigit() and int(k) >= 400}
    for sub in _dependants(route.dependant):
        statuses.update(getattr(sub.call, "problem_statuses", ()))
        if _validates(sub):
            statuses.add(422)
    if _takes_body(route):
        statuses.update((408, 413))
    statuses.update((400, 500))  # 400 also for a NUL character in any URL
    if route.path not in PROBES:
        statuses.update((429, 503))
    return statuses


def _problem_response(status: int, description: str | None) -> dict[str, Any]:
    """The document's entry for one error status."""
    schema = ValidationProblem if status == 422 else Problem
    entry: dict[str, Any] = {
        "description": description or DESCRIPTIONS.get(status) or HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema.__name__}"}}},
    }
    if status in HEADERS:
        entry["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in HEADERS[status].items()
        }
    return entry


def _problem_schemas() -> dict[str, Any]:
    """The problem models' JSON schemas, as components."""
    found: dict[str, Any] = {}
    for model in (Problem, ValidationProblem):
        schema = model.model_json_schema(ref_template=REF)
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def build_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with every route's problems (cached until routes are added)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        statuses = route_problems(route)
        for method in route.methods:
            responses = doc["paths"][route.path_format][method.lower()]["responses"]
            for key in [k for k in responses if k.isdigit() and int(k) >= 400 and int(k) not in statuses]:
                del responses[key]  # FastAPI's own 422 where nothing is validated
            for status in sorted(statuses):
                described = responses.get(str(status), {}).get("description")
                responses[str(status)] = _problem_response(status, described)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 list, never sent
        schemas.pop(name, None)
    schemas.update(_problem_schemas())
    schemas.update(_COMPONENTS)
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    """Serve `build_document` as the app's /openapi.json."""
    app.openapi = lambda: build_document(app)  # type: ignore[method-assign]
