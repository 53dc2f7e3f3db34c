"""LightningDataModule over :mod:`crpse.data`: endless shuffled training crops and centre-cropped validation.

Training uses :class:`crpse.data.InfiniteShuffleSampler` (no epochs: one endless stream, sharded over ranks by
the sampler itself, so Lightning's distributed sampler is switched off). The stream resumes at the module's batch
counter (``EnhancementModule.batches_seen``, restored from the full-state checkpoint before the loader is built),
so a resumed run sees the same crops in the same order as an uninterrupted one. Validation batches are the centre
crops of the validation files, each rank taking every ``world_size``-th file.

Loader workers are started from a fresh process (``forkserver``, or ``spawn`` where there is none), not forked from
the training process: a forked worker shares the trainer's pages only until the trainer writes them, so a worker
forked after the model and optimiser exist ends up holding a private copy of much of the trainer's memory. Measured
on the tiny network (trainer 1.2-1.3 GiB, batch 4): forked, the training worker held 329 MiB and the validation
worker, which Lightning keeps alive between validations, 903 MiB after the first validation and 1058 MiB after the
second (1.8-1.9 GiB per run in the batch-8 runs of issue 16); from the forkserver each worker holds 231 MiB.
Crops depend only on (seed, draw, file index), never on which process loads them.
"""

from __future__ import annotations

import multiprocessing
from typing import Any, Literal

import lightning as L
import torch
from torch.utils.data import DataLoader, Subset

from crpse.data import InfiniteShuffleSampler, PairedSpeechDataset, SpeechPair


def worker_options(num_workers: int) -> dict[str, Any]:
    """DataLoader keywords for ``num_workers`` worker processes started from a fresh process (module docstring)."""
    if num_workers == 0:
        return {"num_workers": 0}
    methods = multiprocessing.get_all_start_methods()
    method = "forkserver" if "forkserver" in methods else "spawn"
    return {"num_workers": num_workers, "multiprocessing_context": method}


class PairedSpeechDataModule(L.LightningDataModule):
    """Data of one run.

    Args:
        train_pairs, valid_pairs: from :func:`crpse.data.find_pairs`.
        sample_rate: the model's rate.
        num_samples: crop length in samples.
        batch_size: per process.
        num_workers: loader worker processes (0: load in the training process).
        seed: shuffling and crop seed.
        downmix, normalize: see :class:`crpse.data.PairedSpeechDataset`.
    """

    def __init__(
        self,
        train_pairs: list[SpeechPair],
        valid_pairs: list[SpeechPair],
        sample_rate: int,
        num_samples: int,
        batch_size: int,
        num_workers: int = 0,
        seed: int = 0,
        downmix: Literal["mean", "first"] = "mean",
        normalize: Literal["noisy", "clean", "none"] = "noisy",
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.train_set = PairedSpeechDataset(train_pairs, sample_rate, num_samples, True, seed, downmix, normalize)
        self.valid_set = PairedSpeechDataset(valid_pairs, sample_rate, num_samples, False, seed, downmix, normalize)
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_and_world()
        module = self.trainer.lightning_module if self.trainer is not None else None
        start = int(getattr(module, "batches_seen", 0)) * self.batch_size
        sampler = InfiniteShuffleSampler(len(self.train_set), self.seed, rank, world, start)
        return DataLoader(
            self.train_set, batch_size=self.batch_size, sampler=sampler, pin_memory=torch.cuda.is_available(),
            drop_last=True, persistent_workers=False, **worker_options(self.num_workers),
        )

    def val_dataloader(self) -> DataLoader:
        rank, world = self._rank_and_world()
        # every rank needs at least one batch: validation ends with a collective over all ranks
        indices = list(range(rank, len(self.valid_set), world)) or [rank % len(self.valid_set)]
        return DataLoader(
            Subset(self.valid_set, indices), batch_size=self.batch_size, shuffle=False,
            pin_memory=torch.cuda.is_available(), **worker_options(self.num_workers),
        )
