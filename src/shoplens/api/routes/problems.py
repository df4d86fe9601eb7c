"""GET /problems/{code}: what a problem type means (a problem's `type` URI resolves here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from shoplens.api.errors import HTTPProblem
from shoplens.api.openapi import problems
from shoplens.api.problems import PROBLEM_TYPES, ProblemTypePublic

router = APIRouter(tags=["problems"])


@router.get(
    "/problems/{code}",
    response_model=ProblemTypePublic,
    operation_id="getProblemType",
    summary="Describe a problem type",
    responses=problems(404),
)
async def problem_type(
    code: Annotated[str, Path(max_length=64, description="A problem's `code`.")],
) -> ProblemTypePublic:
    """The status, title and meaning of the problems with this code."""
    kind = PROBLEM_TYPES.get(code)
    if kind is None:
        raise HTTPProblem(404, f"no problem type {code[:64]!r}; known: {', '.join(sorted(PROBLEM_TYPES))}")
    return ProblemTypePublic(
        type=kind.uri, code=kind.code, status=kind.status, title=kind.title, description=kind.description
    )
