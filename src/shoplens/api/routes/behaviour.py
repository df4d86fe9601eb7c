"""Shopper behaviour: events in, profiles, recommendations, related products, category trends, erasure."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["behaviour"])
