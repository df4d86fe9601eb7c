"""Integers a request may carry, bounded by what the database holds: larger ones are a 422, never a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from shoplens.db.base import MAX_INT

ProductId = Annotated[int, Path(ge=1, le=MAX_INT, description="A product's id.")]
CampaignId = Annotated[int, Path(ge=1, le=MAX_INT, description="A campaign's id.")]
CreativeId = Annotated[int, Path(ge=1, le=MAX_INT, description="A creative's id.")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="Rows skipped before the page.")]
