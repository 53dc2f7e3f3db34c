"""The fp32 arithmetic ceiling of this CPU: the rate of one large matrix product (torch.mm), a practical upper bound
for any faithful fp32 path through a convolution network (BENCHMARKS.md, section 22.2).

Usage: python benchmarks/matmul_ceiling.py [--size 4096] [--threads 2] [--repeats 5]
Prints the CPU model, its ISA flags, and the median and best GFLOP/s after two warm-up products.
"""

from __future__ import annotations

import argparse
import time

import torch

from crpse.bench.speed import cpu_flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="square matrices of this size")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed products after two warm-ups")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(args.size, args.size, generator=generator)
    b = torch.randn(args.size, args.size, generator=generator)
    for _ in range(2):
        torch.mm(a, b)
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    times.sort()
    flop = 2 * args.size**3
    model, isa = cpu_flags()
    print(f"{model}; ISA: {' '.join(isa)}; {args.threads} threads; torch {torch.__version__}")
    print(f"fp32 matrix product {args.size}^3: median {times[len(times) // 2]:.3f} s = "
          f"{flop / times[len(times) // 2] / 1e9:.1f} GFLOP/s, best {flop / times[0] / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
