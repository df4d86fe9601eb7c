"""Errors as RFC 9457 problem details: the problem types (one stable `code` each), their JSON shape, and how
they are sent — from a route (a Response) or straight from ASGI middleware (`send_problem`), byte for byte alike.

A problem's `type` is the relative URI `/problems/<code>`: it resolves against the service that answered, which
serves the type's description there (`GET /problems/{code}`). `instance` is the request id (also sent as
`X-Request-ID`), so a problem a client reports can be found in the access log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.types import Scope, Send

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "/problems/"
RETRY_AFTER_S = 1  # what a 503 without its own Retry-After asks for


@dataclass(frozen=True)
class ProblemType:
    """One kind of error: its stable code, HTTP status, short title and what it means."""

    code: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        """The `type` member of its problems."""
        return TYPE_PREFIX + self.code


_TYPES = (  # the first type of each status is that status's default
    ProblemType(
        "bad_request", 400, "Bad request", "The request cannot be read as sent (form, JSON, header)."
    ),
    ProblemType("corrupt_image", 400, "Corrupt image", "The bytes claim an image format but do not decode."),
    ProblemType(
        "unauthorized", 401, "Unauthorized", "No API key, or one that is not valid (see WWW-Authenticate)."
    ),
    ProblemType("forbidden", 403, "Forbidden", "The key's role or merchant may not do this."),
    ProblemType("not_found", 404, "Not found", "No such resource (or path)."),
    ProblemType(
        "method_not_allowed", 405, "Method not allowed", "The path exists; the method does not (see Allow)."
    ),
    ProblemType(
        "request_timeout", 408, "Request timeout", "The request body was not received in time (slow sender)."
    ),
    ProblemType(
        "conflict", 409, "Conflict", "The request clashes with what exists (a reused Idempotency-Key…)."
    ),
    ProblemType(
        "payload_too_large", 413, "Payload too large", "The body (or a batch in it) is over the limit."
    ),
    ProblemType(
        "image_too_large",
        413,
        "Image too large",
        "An image declares more pixels, frames or bytes than allowed.",
    ),
    ProblemType(
        "unsupported_media_type",
        415,
        "Unsupported media type",
        "The Content-Type is not one this route reads.",
    ),
    ProblemType(
        "unsupported_image_format",
        415,
        "Unsupported image format",
        "The bytes are not an accepted image format.",
    ),
    ProblemType(
        "validation_error", 422, "Validation error", "Some input is invalid; `errors` lists each problem."
    ),
    ProblemType(
        "image_fetch_failed",
        422,
        "Image fetch failed",
        "An image URL was refused by the fetch policy or failed.",
    ),
    ProblemType("invalid_model_bundle", 422, "Invalid model bundle", "The model version cannot be loaded."),
    ProblemType(
        "too_many_requests", 429, "Too many requests", "This key sends too much at once; see Retry-After."
    ),
    ProblemType(
        "request_header_fields_too_large",
        431,
        "Request header fields too large",
        "The request line and headers are over the limit; the connection is closed.",
    ),
    ProblemType(
        "internal_error", 500, "Internal error", "A bug: report it with the instance (the request id)."
    ),
    ProblemType(
        "service_unavailable",
        503,
        "Service unavailable",
        "Cannot answer now (a dependency is down); see Retry-After.",
    ),
    ProblemType("busy", 503, "Busy", "Too much work in flight or queued; retry after Retry-After."),
    ProblemType(
        "no_model", 503, "No model loaded", "No model version is loaded yet; retry after Retry-After."
    ),
    ProblemType("shutting_down", 503, "Shutting down", "This instance is stopping; retry on another one."),
    ProblemType(
        "deadline_exceeded", 504, "Deadline exceeded", "The request was not answered within its deadline."
    ),
    ProblemType("insufficient_storage", 507, "Insufficient storage", "The image store is full."),
)
PROBLEM_TYPES: dict[str, ProblemType] = {t.code: t for t in _TYPES}
_DEFAULTS: dict[int, ProblemType] = {}
for _t in _TYPES:
    _DEFAULTS.setdefault(_t.status, _t)


def default_type(status: int) -> ProblemType:
    """The problem type of a status when nothing more precise is known (HTTP's reason phrase for rare ones)."""
    known = _DEFAULTS.get(status)
    if known is not None:
        return known
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Client error" if status < 500 else "Server error"
    return ProblemType(f"http_{status}", status, phrase, phrase)


def problem_type(status: int, code: str | None = None) -> ProblemType:
    """The type of a problem: `code`'s when it is registered for this status, else the status's default."""
    found = PROBLEM_TYPES.get(code) if code else None
    return found if found is not None and found.status == status else default_type(status)


class ErrorItem(BaseModel):
    """One invalid input: where (`loc`, as FastAPI names it: `query`, `path`, `body`… then the field), what, why."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details, `application/problem+json`), the same shape for every 4xx and 5xx."""

    type: str = Field(
        description="`/problems/<code>`, relative to the service; it describes the problem type."
    )
    title: str = Field(description="The problem type's short summary (the same for every problem of a type).")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="What went wrong in this request, for a person.")
    instance: str = Field(description="The request id (also the X-Request-ID response header).")
    code: str = Field(description="The stable machine-readable problem code (the last part of `type`).")
    errors: list[ErrorItem] | None = Field(None, description="With 422: each invalid input.")


class ValidationProblem(Problem):
    """A 422 problem: always lists the invalid inputs."""

    errors: list[ErrorItem]  # type: ignore[assignment]


class ProblemTypePublic(BaseModel):
    """A problem type, as `GET /problems/{code}` describes it."""

    type: str
    code: str
    status: int
    title: str
    description: str


def problem_body(
    status: int,
    detail: str,
    instance: str,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> bytes:
    """The JSON of a problem; a 422 always carries `errors` (one item made from `detail` when none are given)."""
    kind = problem_type(status, code)
    body: dict[str, Any] = {
        "type": kind.uri,
        "title": kind.title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": kind.code,
    }
    if errors is None and status == 422:
        errors = [{"loc": [], "msg": detail, "type": kind.code}]
    if errors is not None:
        body["errors"] = errors
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def request_id_of(scope: Scope) -> str:
    """The id RequestContextMiddleware gave this request ('' outside it)."""
    return str(scope.get("state", {}).get("request_id", ""))


def _headers(status: int, headers: dict[str, str] | None) -> dict[str, str]:
    """The headers of a problem response: a 503 always says when to retry."""
    out = dict(headers or {})
    if status == 503 and not any(k.lower() == "retry-after" for k in out):
        out["Retry-After"] = str(RETRY_AFTER_S)
    return out


def problem_response(
    scope: Scope,
    status: int,
    detail: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response:
    """A problem as a Starlette response (for exception handlers)."""
    body = problem_body(status, detail, request_id_of(scope), code, errors)
    return Response(body, status_code=status, headers=_headers(status, headers), media_type=PROBLEM_JSON)


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    detail: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer with a problem straight from ASGI (middleware that refuses before the app runs)."""
    body = problem_body(status, detail, request_id_of(scope), code)
    head = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in _headers(status, headers).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
