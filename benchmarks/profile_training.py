"""Where the time of one training step goes: ours against the plain transcription, by operator.

Usage::

    python benchmarks/profile_training.py [--shape tiny-1k] [--batch 8] [--length 1024] [--device cpu|cuda]
                                          [--precision 32|bf16] [--rows 15] [--retain-memory]

Runs a few warm-up steps, then profiles five (forward, cross-entropy, backward, AdamW) with ``torch.profiler``
(after ``dnaestim.retain_freed_memory()`` with ``--retain-memory``) and prints, for each implementation, the
operators with the most self time (CUDA time on a GPU) and the number of kernel launches per step.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from backbone import SHAPES, build, synchronize, training_step


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="tiny-1k", choices=sorted(SHAPES))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="32", choices=["32", "bf16", "16"])
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--retain-memory", action="store_true", help="call dnaestim.retain_freed_memory() first")
    args = parser.parse_args()
    if args.retain_memory:
        from dnaestim import retain_freed_memory

        retain_freed_memory()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    for kind in ("ours", "plain"):
        model = build(kind, args.shape, args.length).train().to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        ids = torch.randint(7, 11, (args.batch, args.length + 1), generator=torch.Generator().manual_seed(0))
        ids = ids.to(device)

        def step():
            training_step(model, optimizer, ids, device, args.precision)

        for _ in range(3):
            step()
        synchronize(device)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            for _ in range(5):
                step()
            synchronize(device)
        sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
        print(f"\n=== {kind}: {args.shape} {args.batch}x{args.length}, {args.device}, precision {args.precision} "
              f"(5 steps) ===")
        print(prof.key_averages().table(sort_by=sort, row_limit=args.rows))
        if cuda:
            launches = sum(e.count for e in prof.key_averages() if e.key in ("cudaLaunchKernel", "cuLaunchKernel",
                                                                             "cudaLaunchKernelExC"))
            print(f"kernel launches per step: {launches / 5:.0f}")


if __name__ == "__main__":
    main()
