"""Is data loading ever the bottleneck of pretraining? Share of each step spent producing the batch.

Usage::

    python benchmarks/data_loading.py [FASTA] [--length 1024] [--batch-size 8] [--steps 30] [--device cpu]

Runs :class:`dnaestim.HyenaPretrainer` (tiny-1k shape by default) on a genome (default: the bundled one) and
times, for every optimiser step, the batch preparation (window sampling from the indexed FASTA, tokenisation,
targets) against the whole step. Batches are prepared in the training process, between steps, so on a GPU this
share is the time the device waits for data (the step itself queues its kernels without waiting for them).
"""

from __future__ import annotations

import argparse
import statistics
import time

from dnaestim import HyenaPretrainer
from dnaestim.genome import bundled_genome_path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fasta", nargs="?", default=str(bundled_genome_path()))
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    batch_seconds, step_starts = [], []
    original_batch, original_step = HyenaPretrainer._batch, HyenaPretrainer._optimizer_step

    def timed_batch(self, *a, **kw):
        start = time.perf_counter()
        out = original_batch(self, *a, **kw)
        batch_seconds.append(time.perf_counter() - start)
        return out

    def timed_step(self, *a, **kw):
        step_starts.append(time.perf_counter())
        return original_step(self, *a, **kw)

    HyenaPretrainer._batch, HyenaPretrainer._optimizer_step = timed_batch, timed_step
    pre = HyenaPretrainer(d_model=args.d_model, n_layer=args.n_layer, max_length=args.length,
                          batch_size=args.batch_size, length_warmup=None, max_steps=args.steps, eval_interval=10**9,
                          validation_windows=1, device=args.device, random_state=0)
    start = time.perf_counter()
    pre.fit(args.fasta)
    total = time.perf_counter() - start
    steps = [b - a for a, b in zip(step_starts, step_starts[1:])]
    share = [batch / step for batch, step in zip(batch_seconds[1:], steps[1:])]
    print(f"{args.steps} steps of {args.batch_size} x {args.length} tokens on {args.device}: {total:.1f} s")
    print(f"batch preparation: median {1e3 * statistics.median(batch_seconds):.2f} ms, "
          f"step (batch + forward + backward + update): median {1e3 * statistics.median(steps):.1f} ms")
    print(f"share of the step spent on data: median {100 * statistics.median(share):.2f} %, "
          f"max {100 * max(share):.2f} %")


if __name__ == "__main__":
    main()
