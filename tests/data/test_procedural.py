"""Drawing helpers shared by the renderers."""

from __future__ import annotations

import numpy as np
import pytest

from shoplens.data.procedural import CUT_SIDES, cut_by_frame, paste_clipped


def test_cut_by_frame_leaves_the_share_asked_for_outside_past_its_side() -> None:
    alpha = np.zeros((100, 60), np.float32)
    alpha[5:95, 10:50] = 1.0  # a 90 × 40 garment
    seen = set()
    for seed in range(40):
        top, left, side, share = cut_by_frame(alpha, 200, 150, (0.2, 0.3), np.random.default_rng(seed))
        seen.add(side)
        inside = np.zeros((200, 150), np.float32)
        paste_clipped(inside, alpha, left, top)
        assert share == pytest.approx(1 - inside.sum() / alpha.sum())
        assert 0.2 <= share <= 0.3 + 1 / 40  # whole lines are cut: at most one line's worth over
        # the garment's box (rows 5..94, columns 10..49 of its layer) past each edge of the photo
        past = {"top": top + 5 < 0, "bottom": top + 95 > 200, "left": left + 10 < 0, "right": left + 50 > 150}
        cut = {name for name, hit in past.items() if hit}
        assert len(cut) == 2 if side == "corner" else cut == {side}
    assert seen == set(CUT_SIDES)
