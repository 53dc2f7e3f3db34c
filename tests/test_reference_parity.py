"""Parity with the golden vectors produced by running the official sgmse_crp code (../shared/golden)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from crpse.checkpoint import load_model
from crpse.losses import crp_loss
from crpse.sampling import time_grid
from crpse.sde import BBED
from crpse.spectral import SpecTransform
from tests.conftest import run_spec

NETWORK_TOL = 1e-4  # of each tensor's max |value|
CLOSED_FORM_TOL = 1e-5  # relative


def assert_close_to_max(actual: torch.Tensor, expected: torch.Tensor, tol: float = NETWORK_TOL) -> None:
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = expected.abs().max()
    err = (actual.to(expected.dtype) - expected).abs().max()
    assert err <= tol * scale, f"max error {err:.3g} > {tol} x max|expected| {scale:.3g}"


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, tol: float = CLOSED_FORM_TOL) -> None:
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    torch.testing.assert_close(actual.to(expected.dtype), expected, rtol=tol, atol=tol * float(expected.abs().max()))


@pytest.fixture(scope="module")
def reference_ckpt(golden: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("golden") / "public_checkpoint.ckpt"
    torch.save(golden["checkpoint"], path)
    return path


# -- spectral transform -------------------------------------------------------------------------------------------
# Compressing |z| ** 0.5 magnifies float32 FFT rounding near |z| = 0 (d sqrt(z) / dz is unbounded), and FFT
# rounding differs between CPUs, so the STFT is compared before compression (relative to its max) and the
# compression on the reference's own STFT. Together they pin down to_spec.
def test_stft_forward_and_padding(golden: dict) -> None:
    g = golden["stft"]
    transform = SpecTransform()
    torch.testing.assert_close(transform.window_tensor(), g["window"], rtol=0, atol=0)
    wave = g["wave"] / g["norm_factor"]
    assert_rel_close(transform.stft(wave), g["stft_raw"])
    compressed = SpecTransform.pad_frames(transform.compress(g["stft_raw"]).unsqueeze(1), 64)
    assert_rel_close(compressed, g["spec_fwd_padded"])
    ours = SpecTransform.pad_frames(transform.to_spec(wave), 64)
    assert ours.shape == g["spec_fwd_padded"].shape == (1, 1, 256, 128)
    assert_rel_close(transform.decompress(ours), transform.decompress(g["spec_fwd_padded"]))


def test_stft_inverse(golden: dict) -> None:
    g = golden["stft"]
    transform = SpecTransform()
    padded = g["spec_fwd_padded"]
    assert_rel_close(transform.to_wave(padded, 16000)[0], g["inverse_of_padded"])
    unpadded = padded[..., : transform.num_frames(16000)]
    assert_rel_close(transform.to_wave(unpadded, 16000)[0], g["inverse_of_unpadded"])
    random_audio = transform.to_wave(g["random_spec"][None, None], g["random_spec_length"])[0]
    assert_rel_close(random_audio, g["random_spec_to_audio"])


def test_data_spectrograms(golden: dict) -> None:
    d = golden["data"]
    transform = SpecTransform()
    for wave, spec in ((d["x_wave"], d["X"]), (d["y_wave"], d["Y"])):
        ours = transform.to_spec(wave[:, 0])
        assert ours.shape == spec.shape == (2, 1, 256, 64)
        assert_rel_close(transform.decompress(ours), transform.decompress(spec))


# -- SDE ----------------------------------------------------------------------------------------------------------
def test_bbed_closed_form_items(golden: dict) -> None:
    g, data = golden["sde"], golden["data"]
    sde = BBED(k=2.6, c=0.52, t_max=0.999, t_eps=0.03)
    frames = g["frames_stored"]
    for i, t in enumerate(g["t"]):
        tb = t * torch.ones(2)
        assert_rel_close(sde.mean(data["X"], tb, data["Y"])[..., :frames], g["mean"][i])
        assert_rel_close(sde.std(tb), g["std"][i])
        assert_rel_close(sde.drift(golden["score"]["x_t"], tb, data["Y"])[..., :frames], g["drift"][i])
        assert_rel_close(sde.diffusion(t), g["diffusion"][i])
    assert_rel_close(sde.std(torch.full((2,), sde.t_max)), g["prior_std_at_T_sampling"])


def test_bbed_std_float64(golden: dict) -> None:
    # std_from_float64_t: the reference formula evaluated on float64 t (0.03, 0.1, 0.5, 0.999 exactly)
    g = golden["sde"]
    t64 = torch.tensor([0.03, 0.1, 0.5, 0.999], dtype=torch.float64)
    for i, t in enumerate(t64):
        std = BBED().std(t * torch.ones(2, dtype=torch.float64))
        assert std.dtype == torch.float64
        torch.testing.assert_close(std, g["std_from_float64_t"][i], rtol=1e-9, atol=0)


# -- network ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ema", [False, True])
def test_score(golden: dict, reference_ckpt: Path, ema: bool) -> None:
    s = golden["score"]
    model = load_model(reference_ckpt, ema=ema)
    with torch.no_grad():
        score = model(s["x_t"], s["y"], s["t"])
    assert_close_to_max(score, s["score_ema" if ema else "score"])


@pytest.mark.parametrize("precision", ["fp32"])
def test_score_on_the_faithful_inference_backend(golden: dict, reference_ckpt: Path, precision: str) -> None:
    """The path `crpse enhance` runs by default (crpse.backends: channels-last on CPU) matches eager NCHW fp32 to a
    max relative error of 1e-4, and the golden vectors as closely as eager does."""
    from crpse.backends import select_backend

    s = golden["score"]
    eager = load_model(reference_ckpt, ema=True)
    backend = select_backend("auto", precision, "cpu")
    assert backend.faithful
    fast = backend.prepare(load_model(reference_ckpt, ema=True))
    with torch.inference_mode():
        expected = eager(s["x_t"], s["y"], s["t"])
        with backend.autocast(torch.device("cpu")):
            got = fast(s["x_t"], s["y"], s["t"])
    assert_close_to_max(got, expected, tol=1e-4)
    assert_close_to_max(got, s["score_ema"])


def test_official_pickle_loads_and_matches(golden_dir: Path, golden: dict) -> None:
    model = load_model(golden_dir / "public_official_pickle.ckpt", ema=True)
    assert model.config.stage == "crp"
    assert model.inference.steps == 1 and model.inference.t_start == 0.5
    assert model.sde == BBED(k=2.6, c=0.52, t_max=0.999, t_eps=0.03)
    assert model.num_parameters() == golden["config"]["param_count"]
    s = golden["score"]
    with torch.no_grad():
        assert_close_to_max(model(s["x_t"], s["y"], s["t"]), s["score_ema"])


# -- CRP reverse run, loss and gradients ---------------------------------------------------------------------------
def _reverse_noise(r: dict) -> list[torch.Tensor]:
    return [r["z_prior"], *r["z_steps"]]


def test_reverse_grid(golden: dict) -> None:
    r = golden["reverse"]
    times, sizes = time_grid(r["t_rsp"], r["t_eps"], r["N"], r["Y"])
    torch.testing.assert_close(times, r["timesteps"], rtol=0, atol=0)
    torch.testing.assert_close(sizes, r["dt"], rtol=0, atol=0)
    sde = BBED()
    assert_rel_close(sde.std(torch.full((2,), r["t_rsp"])), r["std_t_rsp"])
    assert_rel_close(sde.prior(r["Y"], torch.full((2,), r["t_rsp"]), noise=r["z_prior"]), r["X_t_init"])
    for i, t in enumerate(r["timesteps"]):
        assert_rel_close(sde.diffusion(t), r["diffusion"][i])


def test_reverse_run_states_and_final(golden: dict, reference_ckpt: Path) -> None:
    r = golden["reverse"]
    model = load_model(reference_ckpt, ema=False)  # the training step runs on the raw weights
    states: list[torch.Tensor] = []
    with torch.no_grad():
        final, nfe = run_spec(
            model, r["Y"], steps=r["N"], t_start=r["t_rsp"], noise=_reverse_noise(r),
            callback=lambda info: states.append(info["x"]),
        )
    assert nfe == r["N"]
    for i in range(r["N"] - 1):
        assert_close_to_max(states[i], r["states_after_noisy_steps"][i])
    assert_close_to_max(final, r["final"])


def test_crp_loss_and_gradients(golden: dict, reference_ckpt: Path) -> None:
    r = golden["reverse"]
    model = load_model(reference_ckpt, ema=False).train()
    loss = crp_loss(model, r["X"], r["Y"], steps=r["N"], t_start=r["t_rsp"], noise=_reverse_noise(r))
    torch.testing.assert_close(loss, r["loss"], rtol=1e-5, atol=0)
    loss.backward()
    params = dict(model.named_parameters())
    assert len(r["grads"]) == 10
    for name, expected in r["grads"].items():
        assert_close_to_max(params[name].grad, expected)
