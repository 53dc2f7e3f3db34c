"""The training data module: loader workers start from a fresh process and load exactly what the trainer would."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import torch

from crpse.data import find_pairs
from crpse.training.datamodule import PairedSpeechDataModule, worker_options


def _module(corpus: Path, workers: int) -> PairedSpeechDataModule:
    return PairedSpeechDataModule(find_pairs(corpus / "train"), find_pairs(corpus / "valid"), sample_rate=16000,
                                  num_samples=4096, batch_size=2, num_workers=workers, seed=3)


def test_workers_are_not_forked_from_the_trainer() -> None:
    assert worker_options(0) == {"num_workers": 0}
    options = worker_options(2)
    assert options["num_workers"] == 2
    assert options["multiprocessing_context"] in ("forkserver", "spawn")
    if "forkserver" in multiprocessing.get_all_start_methods():
        assert options["multiprocessing_context"] == "forkserver"


def test_a_worker_loads_the_batches_the_trainer_would(corpus: Path) -> None:
    in_process, with_worker = _module(corpus, 0), _module(corpus, 1)
    for a, b in ((in_process.train_dataloader(), with_worker.train_dataloader()),
                 (in_process.val_dataloader(), with_worker.val_dataloader())):
        assert b.multiprocessing_context is not None and b.multiprocessing_context.get_start_method() != "fork"
        for (clean_a, noisy_a), (clean_b, noisy_b), _ in zip(a, b, range(3)):
            assert clean_a.shape == (2, 4096)
            assert torch.equal(clean_a, clean_b) and torch.equal(noisy_a, noisy_b)
