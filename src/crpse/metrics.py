"""Intrusive speech-quality metrics on numpy arrays: SI-SDR / SI-SIR / SI-SAR, PESQ and ESTOI.

Every function takes ``(reference, estimate, ...)`` in that order: the clean reference first, the
signal being judged second. Inputs are 1-D arrays of samples ``[L]`` at the same rate and of the same
length (crop or pad beforehand). ``pesq`` and ``pystoi`` are imported on first use only, so importing
this module costs nothing and the training loop can call the functions in-process.

The scale-invariant ratios follow the official CRP evaluation (``energy_ratios`` in the reference
``utils.py``): no mean removal, and the target and the noise projections are computed separately::

    s_target = <x_hat, x> / ||x||^2 * x
    e_noise  = <x_hat, n> / ||n||^2 * n          (n = noisy - clean)
    e_art    = x_hat - s_target - e_noise
    SI-SDR = 10 log10(||s_target||^2 / ||e_noise + e_art||^2)
    SI-SIR = 10 log10(||s_target||^2 / ||e_noise||^2)
    SI-SAR = 10 log10(||s_target||^2 / ||e_art||^2)
"""

from __future__ import annotations

import math

import numpy as np

from crpse.audio import SCORING_RESAMPLE_QUALITY, resample

#: metric column -> (display name, decimals in summaries), in report order: the one list of crpse's metrics
#: (``crpse evaluate`` columns, bench tables, training validation)
METRICS: dict[str, tuple[str, int]] = {
    "pesq": ("PESQ", 2),
    "estoi": ("ESTOI", 2),
    "si_sdr": ("SI-SDR", 1),
    "si_sir": ("SI-SIR", 1),
    "si_sar": ("SI-SAR", 1),
    "dnsmos_sig": ("DNSMOS SIG", 2),
    "dnsmos_bak": ("DNSMOS BAK", 2),
    "dnsmos_ovrl": ("DNSMOS OVRL", 2),
    "dnsmos_p808": ("DNSMOS P.808", 2),
}
#: the metrics of an estimate and its clean reference alone (no noisy input, no DNSMOS): what validation logs
PAIR_METRICS: tuple[str, ...] = ("pesq", "estoi", "si_sdr")

__all__ = ["energy_ratios", "estoi_score", "pesq_score", "si_sdr", "PESQ_RATES"]

#: Rates the ``pesq`` package accepts: 8 kHz is scored narrow-band, 16 kHz wide-band.
PESQ_RATES = (8000, 16000)


def _as_pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert a (reference, estimate) pair to float64 1-D arrays of equal length."""
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if reference.ndim != 1 or estimate.ndim != 1:
        raise ValueError(
            f"metrics take 1-D signals [L]; got shapes {reference.shape} and {estimate.shape}. "
            "Select or average the channels first."
        )
    if reference.shape != estimate.shape:
        raise ValueError(
            f"reference and estimate must have the same length; got {reference.shape[0]} and "
            f"{estimate.shape[0]} samples. Crop both to the shorter one first."
        )
    return reference, estimate


def _ratio_db(numerator: float, denominator: float) -> float:
    """``10 log10(numerator / denominator)`` with +inf for a zero denominator and NaN for 0/0."""
    if denominator == 0.0:
        return math.inf if numerator > 0.0 else math.nan
    if numerator == 0.0:
        return -math.inf
    return 10.0 * math.log10(numerator / denominator)


def _project(signal: np.ndarray, onto: np.ndarray) -> np.ndarray:
    """Projection of ``signal`` onto the line spanned by ``onto`` (NaNs if ``onto`` is all zeros)."""
    energy = float(np.dot(onto, onto))
    if energy == 0.0:
        return np.full_like(onto, np.nan)
    return (float(np.dot(signal, onto)) / energy) * onto


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (no mean removal).

    Args:
        reference: clean signal ``[L]``.
        estimate: signal being judged ``[L]``.

    Returns:
        ``10 log10(||s_t||^2 / ||estimate - s_t||^2)`` with ``s_t = <estimate, reference> / ||reference||^2
        * reference``. ``+inf`` for a perfect (scaled) estimate, NaN for a silent reference.
    """
    reference, estimate = _as_pair(reference, estimate)
    target = _project(estimate, reference)
    if np.isnan(target).any():
        return math.nan
    error = estimate - target
    return _ratio_db(float(np.dot(target, target)), float(np.dot(error, error)))


def energy_ratios(reference: np.ndarray, estimate: np.ndarray, noise: np.ndarray) -> tuple[float, float, float]:
    """SI-SDR, SI-SIR and SI-SAR in dB, exactly as the official CRP evaluation computes them.

    Args:
        reference: clean signal ``x`` ``[L]``.
        estimate: enhanced signal ``x_hat`` ``[L]``.
        noise: the interference ``n = noisy - clean`` ``[L]``.

    Returns:
        ``(si_sdr, si_sir, si_sar)``; see the module docstring for the formulas. A silent reference
        gives NaNs; a silent ``noise`` makes SI-SIR NaN (the other two stay defined).
    """
    reference, estimate = _as_pair(reference, estimate)
    noise = np.asarray(noise, dtype=np.float64)
    if noise.shape != reference.shape:
        raise ValueError(
            f"noise must have the reference's shape {reference.shape}; got {noise.shape}. "
            "Compute it as noisy - clean after cropping both to a common length."
        )
    s_target = _project(estimate, reference)
    if np.isnan(s_target).any():
        return math.nan, math.nan, math.nan
    e_noise = _project(estimate, noise)
    if np.isnan(e_noise).any():
        e_noise = np.zeros_like(noise)
        noise_silent = True
    else:
        noise_silent = False
    e_art = estimate - s_target - e_noise
    target_energy = float(np.dot(s_target, s_target))
    distortion = e_noise + e_art
    sdr = _ratio_db(target_energy, float(np.dot(distortion, distortion)))
    sir = math.nan if noise_silent else _ratio_db(target_energy, float(np.dot(e_noise, e_noise)))
    sar = _ratio_db(target_energy, float(np.dot(e_art, e_art)))
    return sdr, sir, sar


def pesq_score(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """PESQ (ITU-T P.862) with the ``pesq`` package.

    8 kHz material is scored narrow-band at 8 kHz; anything else is resampled to 16 kHz (soxr) and
    scored wide-band (P.862.2), as the field reports it.

    Args:
        reference: clean signal ``[L]`` at ``sample_rate``.
        estimate: signal being judged ``[L]`` at ``sample_rate``.
        sample_rate: rate of both signals in Hz.

    Returns:
        MOS-LQO score, or NaN when PESQ cannot score the pair (silent reference, too short).
    """
    reference, estimate = _as_pair(reference, estimate)
    from pesq import PesqError, pesq

    if sample_rate == 8000:
        rate, mode = 8000, "nb"
    else:
        rate, mode = 16000, "wb"
        if sample_rate != rate:
            reference = resample(reference, sample_rate, rate, SCORING_RESAMPLE_QUALITY)
            estimate = resample(estimate, sample_rate, rate, SCORING_RESAMPLE_QUALITY)
    peak = max(float(np.max(np.abs(reference), initial=0.0)), float(np.max(np.abs(estimate), initial=0.0)))
    if peak == 0.0 or not np.isfinite(peak):
        return math.nan
    try:
        return float(pesq(rate, reference, estimate, mode))
    except PesqError:
        return math.nan


def estoi_score(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Extended STOI (Jensen & Taal 2016) with ``pystoi`` at the signals' own rate.

    Args:
        reference: clean signal ``[L]``.
        estimate: signal being judged ``[L]``.
        sample_rate: rate of both signals in Hz (pystoi resamples internally to 10 kHz).

    Returns:
        ESTOI (about 0 to 1); NaN for an all-zero reference (pystoi itself returns 1e-5 when fewer
        than 30 non-silent frames remain).
    """
    import warnings

    reference, estimate = _as_pair(reference, estimate)
    if not np.any(reference):
        return math.nan
    from pystoi import stoi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stoi(reference, estimate, sample_rate, extended=True))
