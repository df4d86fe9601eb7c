"""The training feed: streamed photos arrive as the in-memory batches did; ranks share each epoch."""

import torch

from shoplens.data.folder import load_image_folder
from shoplens.imaging import PreprocessConfig
from shoplens.training.distributed import Dist
from shoplens.training.feed import EpochFeed
from tests.support.data import write_image_folder

CFG = PreprocessConfig(size=(16, 16), mode="L", resize="pad")


def test_streamed_batches_equal_in_memory_batches(tmp_path):
    root = write_image_folder(tmp_path / "shop", 50)
    streamed, loaded = load_image_folder(root, CFG, stream=True), load_image_folder(root, CFG)
    fed = [
        EpochFeed(ds, 8, torch.Generator().manual_seed(3), 0, Dist(), workers=2) for ds in (streamed, loaded)
    ]
    assert fed[0].steps == fed[1].steps == 6  # 50 // 8: the ragged last batch is dropped
    for epoch in range(2):  # the workers persist; the second epoch is reshuffled
        pairs = list(zip(fed[0].epoch(epoch), fed[1].epoch(epoch), strict=True))
        assert len(pairs) == 6
        for (xs, ys), (xm, ym) in pairs:
            assert xs.dtype == torch.uint8 and xs.shape == (8, 1, 16, 16)
            assert torch.equal(xs, xm) and torch.equal(ys, ym)


def test_ranks_share_each_epoch_without_overlap(tmp_path):
    loaded = load_image_folder(write_image_folder(tmp_path / "shop", 40), CFG)
    ranks = [EpochFeed(loaded, 8, torch.Generator(), 0, Dist(rank=r, world=2)) for r in (0, 1)]
    assert [f.steps for f in ranks] == [5, 5] and ranks[0].batch == 4  # the global batch stays 8
    seen = [[ranks[r].indices(e) for e in (0, 1)] for r in (0, 1)]
    assert set(seen[0][0].tolist()).isdisjoint(seen[1][0].tolist())
    assert sorted(seen[0][0].tolist() + seen[1][0].tolist()) == list(range(40))
    assert not torch.equal(seen[0][0], seen[0][1])  # set_epoch reshuffles
