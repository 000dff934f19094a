"""Held-out bits per nucleotide of HyenaPretrainer against order-k Markov models, as training time grows.

Usage::

    python benchmarks/pretraining.py FASTA [FASTA ...] [--minutes 10 | --max-steps N] [--max-length 1024]
                                     [--precision 32|bf16] [--json OUT] [--save DIR]

Both models see the same training regions (the first 90 % of every record) and are scored on the same held-out
part (the last 10 %). The Markov models (k = 0..8, add-1/2 smoothing, counts from the training regions) are
scored on the whole held-out sequence with full k-base context; HyenaPretrainer on up to ``--validation-windows``
non-overlapping windows of ``max_length`` spread evenly over it (less context at each window start), so the
comparison favours the Markov models. ``--max-steps`` trains a fixed number of steps instead of a time budget
(the same tokens whatever the speed: how float32 and bf16 are compared).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from dnaestim import HyenaPretrainer
from dnaestim.genome import GenomeSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import describe, summary  # noqa: E402  (sibling benchmark script)

CODES = np.full(256, -1, dtype=np.int64)
for i, base in enumerate("ACGT"):
    CODES[ord(base)] = CODES[ord(base.lower())] = i


def kmer_codes(sequence: str, k: int):
    """Integer code of the k-mer ending at each position (-1 where it contains anything but ACGT)."""
    x = CODES[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]
    n = len(x) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    codes = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    for j in range(k):
        part = x[j:j + n]
        codes = codes * 4 + np.maximum(part, 0)
        bad |= part < 0
    codes[bad] = -1
    return codes


def markov_bits(train: list[str], held_out: list[str], k: int, alpha: float = 0.5) -> float:
    counts = np.zeros(4 ** (k + 1))
    for seq in train:
        codes = kmer_codes(seq, k + 1)
        counts += np.bincount(codes[codes >= 0], minlength=counts.size)
    table = counts.reshape(-1, 4) + alpha
    log_p = np.log2(table / table.sum(1, keepdims=True)).ravel()
    total, n = 0.0, 0
    for seq in held_out:
        codes = kmer_codes(seq, k + 1)
        codes = codes[codes >= 0]
        total -= log_p[codes].sum()
        n += len(codes)
    return total / max(n, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fasta", nargs="+", type=Path)
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget (ignored with --max-steps)")
    parser.add_argument("--max-steps", type=int, help="train exactly this many steps instead of --minutes")
    parser.add_argument("--precision", default="32", choices=["32", "bf16", "auto"])
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--eval-interval", type=int, default=100)
    parser.add_argument("--validation-windows", type=int, default=256,
                        help="held-out windows of max_length scored at each evaluation (evenly spread)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--save", type=Path, help="write the trained model here (save_pretrained)")
    args = parser.parse_args()

    source = GenomeSource(fasta=[str(p) for p in args.fasta], validation_fraction=0.1)
    train = source.read(source.train_regions)
    held_out = source.read(source.valid_regions)
    print(f"{sum(map(len, train)):,} training and {sum(map(len, held_out)):,} held-out bases "
          f"from {', '.join(p.name for p in args.fasta)}")
    markov = {}
    for k in range(9):
        start = time.perf_counter()
        markov[k] = markov_bits(train, held_out, k)
        print(f"  order-{k} Markov: {markov[k]:.4f} bits/nt ({time.perf_counter() - start:.1f} s)")
    best_k = min(markov, key=markov.get)
    print(f"best Markov model: order {best_k}, {markov[best_k]:.4f} bits/nt (uniform: 2.0)")

    print(summary(describe()))
    budget = dict(max_steps=args.max_steps, max_time=None) if args.max_steps else dict(
        max_steps=10**7, max_time=args.minutes * 60)  # a ceiling: the schedules follow the time budget
    pre = HyenaPretrainer(max_length=args.max_length, batch_size=args.batch_size, **budget,
                          eval_interval=args.eval_interval, validation_windows=args.validation_windows,
                          precision=args.precision, random_state=0)
    pre.fit([str(p) for p in args.fasta])
    evaluations = [h for h in pre.history_ if h["valid_loss"] is not None]
    print(f"\n{'minutes':>8} {'step':>6} {'tokens':>11} {'length':>6} {'HyenaDNA bits/nt':>17} {'vs best Markov':>15}")
    for h in evaluations:
        print(f"{h['seconds'] / 60:8.2f} {h['step']:6d} {h['tokens']:11,d} {h['length']:6d} "
              f"{h['valid_bits_per_nt']:17.4f} {h['valid_bits_per_nt'] - markov[best_k]:+15.4f}")
    crossing = next((h for h in evaluations if h["valid_bits_per_nt"] < markov[best_k]), None)
    print("\nbelow the best Markov model after "
          + (f"{crossing['seconds'] / 60:.1f} minutes" if crossing else "-- not within the budget"))
    if args.json:
        args.json.write_text(json.dumps({"markov_bits": markov, "history": pre.history_, "precision": args.precision,
                                         "hardware": describe()}, indent=2))
    if args.save:
        pre.save_pretrained(args.save)
        print(f"model saved to {args.save} (use it with benchmarks/accuracy.py --pretrained)")


if __name__ == "__main__":
    main()
