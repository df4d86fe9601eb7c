"""Demo shoppers for the console: simulated browsing histories recorded through the real event path."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np

from shoplens.catalog.service import Catalog
from shoplens.db.base import utcnow
from shoplens.recommend.simulate import SimConfig, load_world, record_log, simulate_log


def seed_demo_shoppers(catalog: Catalog, users: int = 40, days: int = 14, seed: int = 0) -> int:
    """Simulate `users` shoppers over the last `days` days (the benchmark's simulator); events recorded."""
    cfg = replace(SimConfig(), users=users, days=days, test_days=0)
    rng = np.random.default_rng(seed)
    world = load_world(catalog, catalog.model().version, cfg.appeal_sd, rng)
    log = simulate_log(world, cfg, rng)
    start = utcnow() - timedelta(days=days, minutes=10)
    return record_log(catalog, log, np.ones(len(log.t), dtype=bool), world, start)
