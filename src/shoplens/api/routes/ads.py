"""Ads: campaigns and creatives (recognised on upload), selection for a shopper and a page, reports."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/ads", tags=["ads"])
