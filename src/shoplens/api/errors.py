"""Every error as JSON {"detail": "..."} with a 4xx/5xx status; user-facing errors mapped to their HTTP status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from shoplens.errors import ShopLensError
from shoplens.inference.batcher import DeadlineExceededError, QueueFullError

RETRY_AFTER_S = 1


def http_error(exc: ShopLensError, prefix: str = "") -> HTTPException:
    """The HTTPException a user-facing error becomes (its class says the status)."""
    return HTTPException(exc.http_status, f"{prefix}{exc}")


def busy() -> HTTPException:
    """503 with Retry-After: the service is overloaded for now."""
    return HTTPException(
        503, "the service is busy; retry shortly", headers={"Retry-After": str(RETRY_AFTER_S)}
    )


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        problems.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)


async def _shoplens_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShopLensError)
    return await _http_exception(request, http_error(exc))


async def _queue_full(request: Request, exc: Exception) -> JSONResponse:
    return await _http_exception(request, busy())


async def _deadline(request: Request, exc: Exception) -> JSONResponse:
    return await _http_exception(request, HTTPException(504, str(exc)))


def add_exception_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on an app."""
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ShopLensError, _shoplens_error)
    app.add_exception_handler(QueueFullError, _queue_full)
    app.add_exception_handler(DeadlineExceededError, _deadline)
