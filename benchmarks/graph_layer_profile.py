"""Where a sampler graph spends its time: OpenVINO's per-layer counters next to ONNX Runtime's kernel profile.

Usage::

    python benchmarks/graph_layer_profile.py [--graph src/crpse/assets/default.onnx] [--frames 768] [--repeats 3]
        [--threads 1] [--top 12]

Runs the same exported graph (``crpse.backends``; the bundled model's ships as ``crpse/assets/default.onnx``) on
one input of ``--frames`` STFT frames with both runtimes in fp32 (OpenVINO with ``INFERENCE_PRECISION_HINT=f32``, as
``--backend openvino`` does), alternating calls after two warm-ups, and prints the CPU time per call of each
(``time.process_time``) and each runtime's time per layer type as a share of its profiled total, summed over the
timed calls. The per-layer times are wall-clock, so on a busy machine read the shares, not the milliseconds.
Needs ``crpse[onnx,openvino]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_GRAPH = Path(__file__).resolve().parents[1] / "src" / "crpse" / "assets" / "default.onnx"


def feeds(frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs of a one-step sampler graph: ``y`` ``[1, 2, 256, frames]`` and ``noise`` ``[1, 1, 2, 256, frames]``."""
    rng = np.random.default_rng(seed)
    return {"y": (0.3 * rng.standard_normal((1, 2, 256, frames))).astype(np.float32),
            "noise": rng.standard_normal((1, 1, 2, 256, frames)).astype(np.float32)}


def main() -> None:
    import onnxruntime as ort
    import openvino as ov

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", type=Path, default=DEFAULT_GRAPH)
    parser.add_argument("--frames", type=int, default=768)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    inputs = feeds(args.frames)

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    session = ort.InferenceSession(str(args.graph), options, providers=["CPUExecutionProvider"])
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(args.graph)), "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": args.threads, "PERF_COUNT": True,
        "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    for _ in range(2):
        session.run(None, inputs)
        request.infer(inputs)

    cpu = {"onnxruntime": 0.0, "openvino": 0.0}
    ov_layers: collections.Counter = collections.Counter()
    for _ in range(args.repeats):
        start = time.process_time()
        session.run(None, inputs)
        cpu["onnxruntime"] += time.process_time() - start
        start = time.process_time()
        request.infer(inputs)
        cpu["openvino"] += time.process_time() - start
        for layer in request.profiling_info:  # the counters of the last call
            ov_layers[f"{layer.node_type} ({layer.exec_type})"] += layer.real_time.total_seconds()

    trace = session.end_profiling()
    events = json.loads(Path(trace).read_text())
    os.remove(trace)
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])[2:]  # timed calls
    ort_layers: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            if any(run["ts"] <= event["ts"] <= run["ts"] + run["dur"] for run in runs):
                ort_layers[event["args"]["op_name"]] += event["dur"] * 1e-6

    print(f"graph {args.graph.name}, {args.frames} frames, {args.threads} thread(s), {args.repeats} timed calls each")
    for name in cpu:
        print(f"CPU per call, {name}: {cpu[name] / args.repeats:.3f} s")
    for name, layers in (("openvino", ov_layers), ("onnxruntime", ort_layers)):
        total = sum(layers.values())
        print(f"\n{name}: share of profiled layer time")
        for layer, seconds in layers.most_common(args.top):
            print(f"  {layer:52s} {100 * seconds / total:5.1f} %")


if __name__ == "__main__":
    main()
