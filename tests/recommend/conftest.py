"""Fixtures for recommendations: the catalogue fixtures and the small shop of the behaviour tests."""

from __future__ import annotations

from tests.behaviour.conftest import shop, stock_shop  # noqa: F401  (fixtures and the shop builder)
from tests.catalog.conftest import catalog, models_root, models_template, photos, png  # noqa: F401  (fixtures)
