"""ONNX Runtime's graph optimisation levels on a sampler graph: what its layout transformations are worth.

Usage::

    python benchmarks/ort_levels.py [--graph src/crpse/assets/default.onnx] [--frames 768] [--threads 1] [--rounds 7]

Loads the same exported graph (the bundled model's ships as ``crpse/assets/default.onnx``) three times, at
``ORT_ENABLE_ALL`` (crpse's setting, ONNX Runtime's default: includes the NCHWc blocked-layout transformer),
``ORT_ENABLE_EXTENDED`` and ``ORT_ENABLE_BASIC``, runs one random input of ``--frames`` STFT frames through each in
turn for ``--rounds`` rounds, and prints the median wall time per call (first round dropped) and the largest
absolute difference of each output to the basic level's. Needs ``crpse[onnx]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """Run the comparison; returns ``{level: (median seconds per call, max abs. difference to basic)}``."""
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="src/crpse/assets/default.onnx", help="an exported sampler graph")
    parser.add_argument("--frames", type=int, default=768, help="STFT frames of the input (a multiple of 64)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads")
    parser.add_argument("--rounds", type=int, default=7, help="rounds, one call per level each (at least 2)")
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the first round is not timed)")
    levels = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    }
    sessions = {}
    for name, level in levels.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = level
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions[name] = ort.InferenceSession(args.graph, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    bins = sessions["basic"].get_inputs()[0].shape[2]  # frequency bins: static in crpse's graphs
    bins = bins if isinstance(bins, int) else 256
    feeds = {"y": rng.standard_normal((1, 2, bins, args.frames), dtype=np.float32)}
    if len(sessions["basic"].get_inputs()) > 1:
        feeds["noise"] = rng.standard_normal((1, 1, 2, bins, args.frames), dtype=np.float32)
    reference = sessions["basic"].run(["x"], feeds)[0]
    times: dict[str, list[float]] = {name: [] for name in sessions}
    outputs = {}
    for _ in range(args.rounds):
        for name, session in sessions.items():
            start = time.perf_counter()
            outputs[name] = session.run(["x"], feeds)[0]
            times[name].append(time.perf_counter() - start)
    results = {}
    for name in sessions:
        error = float(np.abs(outputs[name] - reference).max())
        results[name] = (statistics.median(times[name][1:]), error)
        print(f"{name:9s} {results[name][0]:.3f} s per call, max abs. difference to basic {error:.1e}")
    return results


if __name__ == "__main__":
    main()
