"""Each epoch's training batches for this process: slices of an in-memory array, or photos decoded in workers.

One process shuffles with the run's generator (as it always did); several share each epoch through a
DistributedSampler (reshuffled per epoch by `set_epoch`), each taking batch_size / world images a step so
the global batch, and so the optimisation, stays that of one process.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from shoplens.data import ImageDataset
from shoplens.data.stream import FileDataset
from shoplens.errors import ShopLensError
from shoplens.training.distributed import Dist


class _EpochOrder(Sampler[int]):
    """The indices the current epoch reads, set before each pass (the loader's workers persist between epochs)."""

    def __init__(self) -> None:
        self.indices: list[int] = []

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def collate_uint8(batch: list[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (B, C, H, W), labels int64) from a list of decoded samples."""
    images = torch.from_numpy(np.stack([x for x, _ in batch]))
    return images, torch.tensor([y for _, y in batch], dtype=torch.int64)


class EpochFeed:
    """This rank's batches of one epoch: (uint8 images (B, C, H, W), int64 labels)."""

    def __init__(
        self,
        train: ImageDataset | FileDataset,
        batch_size: int,
        gen: torch.Generator,
        seed: int,
        dist: Dist,
        workers: int = 2,
    ) -> None:
        if batch_size < dist.world:
            raise ShopLensError(f"a batch of {batch_size} cannot be shared by {dist.world} processes")
        self.train, self.gen, self.seed, self.dist = train, gen, seed, dist
        self.batch = batch_size // dist.world
        self.sampler = (
            DistributedSampler(train, dist.world, dist.rank, shuffle=True, seed=seed, drop_last=True)
            if dist.world > 1
            else None
        )
        # drop the ragged last batch (BatchNorm); every rank takes the same number of steps
        self.steps = max(1, len(train) // dist.world // self.batch)
        self.loader = None
        if isinstance(train, FileDataset):
            self._order = _EpochOrder()
            self.loader = DataLoader(
                train,
                batch_size=self.batch,
                sampler=self._order,
                num_workers=workers,
                collate_fn=collate_uint8,
                persistent_workers=workers > 0,
            )
        else:
            self.x_all, self.y_all = torch.from_numpy(train.images), torch.from_numpy(train.labels)

    def indices(self, epoch: int) -> torch.Tensor:
        """The epoch's sample order for this rank (one process: a permutation from the run's generator)."""
        if self.sampler is None:
            return torch.randperm(len(self.train), generator=self.gen)
        self.sampler.set_epoch(epoch)
        self.gen.manual_seed(self.seed + 1_000_003 * epoch + self.dist.rank)  # augmentations, per rank
        return torch.tensor(list(self.sampler), dtype=torch.int64)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches, `steps` of them, in order."""
        idx = self.indices(epoch)[: self.steps * self.batch]
        if self.loader is not None:
            self._order.indices = idx.tolist()
            yield from self.loader
            return
        for b in range(self.steps):
            i = idx[b * self.batch : (b + 1) * self.batch]
            yield self.x_all[i], self.y_all[i]
