"""Every error as a problem (`application/problem+json`, see `problems`): the exception routes raise with a code,
and the app's handlers that turn exceptions — HTTP, validation, user-facing, overload, deadline — into problems.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from shoplens.api.problems import RETRY_AFTER_S, problem_response
from shoplens.errors import ShopLensError
from shoplens.inference.batcher import DeadlineExceededError, QueueFullError


class HTTPProblem(HTTPException):
    """An HTTP error with a stable problem code (see `problems.PROBLEM_TYPES`) and, for 422, its invalid inputs."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers)
        self.code = code
        self.errors = errors


def http_error(exc: ShopLensError, prefix: str = "") -> HTTPProblem:
    """The HTTP problem a user-facing error becomes (its class says the status and the code)."""
    return HTTPProblem(exc.http_status, f"{prefix}{exc}", exc.code)


def busy() -> HTTPProblem:
    """503 with Retry-After: the service is overloaded for now."""
    return HTTPProblem(
        503, "the service is busy; retry shortly", "busy", headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def invalid(where: tuple[str | int, ...], message: str, kind: str = "value_error") -> HTTPProblem:
    """422 for one invalid input at `where` (`("body", "images", 0, "url")`…), listed in `errors`."""
    shown = ".".join(str(p) for p in where if p != "body")
    detail = f"{shown}: {message}" if shown else message
    return HTTPProblem(
        422, detail, "validation_error", errors=[{"loc": list(where), "msg": message, "type": kind}]
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code < 400:  # 304 and friends: not a problem, no body
        return Response(status_code=exc.status_code, headers=exc.headers)
    code, errors = getattr(exc, "code", None), getattr(exc, "errors", None)
    return problem_response(request.scope, exc.status_code, str(exc.detail), code, exc.headers, errors)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors, lines = [], []
    for err in exc.errors():
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        msg = str(err.get("msg", "invalid"))
        errors.append({"loc": loc, "msg": msg, "type": str(err.get("type", "value_error"))})
        where = ".".join(str(p) for p in loc if p != "body")
        lines.append(f"{where}: {msg}" if where else msg)
    detail = "; ".join(lines) or "invalid request"
    return problem_response(request.scope, 422, detail, "validation_error", errors=errors)


async def _shoplens_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShopLensError)
    return await _http_exception(request, http_error(exc))


async def _queue_full(request: Request, exc: Exception) -> Response:
    return await _http_exception(request, busy())


async def _deadline(request: Request, exc: Exception) -> Response:
    return await _http_exception(request, HTTPProblem(504, str(exc), "deadline_exceeded"))


def add_exception_handlers(app: FastAPI) -> None:
    """Register the problem handlers on an app."""
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ShopLensError, _shoplens_error)
    app.add_exception_handler(QueueFullError, _queue_full)
    app.add_exception_handler(DeadlineExceededError, _deadline)
