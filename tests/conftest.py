"""Shared fixtures: golden reference vectors, tiny models, analytic score models."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest
import torch

from crpse.sde import BBED, OUVE
from crpse.sampler_spec import SamplerSpec

# one thread: small CPU tests gain nothing from more, and spinning threads are very slow on a shared machine
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _graph_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exported ONNX graphs go to a cache of this test session, never the user's (crpse.backends.ort)."""
    monkeypatch.setenv("CRPSE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "graph-cache"))



def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_sources(*names): skip unless these corpus sources (`crpse data sources`) are installed; the skip "
        "reason names the packages to install",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip tests marked ``needs_sources`` whose system sources are absent (before their fixtures run)."""
    marker = item.get_closest_marker("needs_sources")
    if marker is not None:
        reason = missing_sources_reason(marker.args)
        if reason is not None:
            pytest.skip(reason)


def missing_sources_reason(names: tuple[str, ...]) -> str | None:
    """Why the corpus sources ``names`` cannot be used here, naming their packages; ``None`` when all are usable."""
    from crpse.corpus.sources import SOURCE_SPECS, SourcePaths, missing_reason

    paths = SourcePaths()
    missing = [(name, reason) for name in names if (reason := missing_reason(name, paths)) is not None]
    if not missing:
        return None
    packages = [package for name, _ in missing for package in SOURCE_SPECS[name].apt]
    packages += [package for name, _ in missing for package in SOURCE_SPECS[name].pip if not _installed(package)]
    details = "; ".join(f"{name}: {reason}" for name, reason in missing)
    return (
        f"needs the package(s) {', '.join(dict.fromkeys(packages))} ({details}); "
        "install them with `sh tests/system-packages.sh` as root, or see `crpse data sources`"
    )


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


GOLDEN_DIR = Path(os.environ.get("CRPSE_GOLDEN_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "golden"))


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not (GOLDEN_DIR / "public.pt").is_file():
        pytest.skip(f"golden vectors not found in {GOLDEN_DIR} (set CRPSE_GOLDEN_DIR)")
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def golden(golden_dir: Path) -> dict:
    return torch.load(golden_dir / "public.pt")


class OracleScore:
    """Exact score of the SDE marginal around a known clean spectrogram x0 (a point-mass data distribution).

    ``s(x_t, y, t) = -(x_t - mean(x0, t, y)) / std(t)**2``. Counts its calls and the calls made with grad enabled.
    """

    def __init__(self, sde: BBED | OUVE, x0: torch.Tensor, inference: SamplerSpec | None = None) -> None:
        self.sde, self.x0 = sde, x0
        self.inference = inference or SamplerSpec()
        self.calls = 0

    def __call__(self, x_t: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        std = self.sde.std(t).reshape(-1, 1, 1, 1)
        return -(x_t - self.sde.mean(self.x0, t, y)) / std**2


def run_spec(
    model, y: torch.Tensor, *, noise=None, generator=None, callback=None, **spec_fields
) -> tuple[torch.Tensor, int]:
    """Run the sampler setting ``SamplerSpec(**spec_fields)`` (``t_start=None``: the SDE's ``t_max``) on ``y``."""
    from crpse.sampling import sample

    spec = SamplerSpec(**spec_fields).with_time_range(model.sde.t_eps, model.sde.t_max)
    return sample(model, y, spec, noise=noise, generator=generator, callback=callback)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised ``tiny`` score model saved as a crpse checkpoint."""
    from crpse.checkpoint import save_model
    from crpse.score_model import build_model

    path = tmp_path_factory.mktemp("models") / "tiny.ckpt"
    save_model(path, build_model("tiny", seed=0))
    return path


@pytest.fixture
def oracle_factory():
    return OracleScore


def complex_randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))
