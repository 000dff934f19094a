"""Tokenizer throughput (MB/s of sequence) on real genome sequence, against a per-character Python baseline.

Run: ``python benchmarks/tokenizer.py``. Prints the median of several runs for three workloads: one long
sequence, a batch of 1 kb windows, and many short (251 bp) sequences as in Genomic Benchmarks.
"""

import statistics
import time

from dnaestim import DNATokenizer
from dnaestim.genome import bundled_genome_path, open_fasta


def load_genome_text():
    with open_fasta(bundled_genome_path()) as fasta:
        return "".join(str(fasta[name][:]) for name in fasta.keys())


def time_it(fn, repeats=7):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def python_loop(sequences):
    """The naive approach: a dict lookup per character."""
    vocab = {c: i for i, c in enumerate("ACGTN", start=7)}
    return [[vocab.get(c, 6) for c in s.upper()] for s in sequences]


def main():
    genome = load_genome_text()  # ~132 kb of real mitochondrial DNA
    long_sequence = genome * 80  # ~10.5 MB
    windows = [long_sequence[i : i + 1024] for i in range(0, 8 * 2**20, 1024)]
    short = [long_sequence[i : i + 251] for i in range(0, 4 * 2**20, 251)]
    tok = DNATokenizer()
    print(f"{'workload':<34} {'MB':>7} {'dnaestim MB/s':>14} {'python loop MB/s':>17} {'ratio':>7}")
    for name, sequences in [
        ("1 sequence, 10.5 Mb", [long_sequence]),
        (f"{len(windows)} windows of 1024 bp", windows),
        (f"{len(short)} sequences of 251 bp", short),
    ]:
        megabytes = sum(map(len, sequences)) / 1e6
        ours = time_it(lambda: tok(sequences))
        baseline = time_it(lambda: python_loop(sequences), repeats=1)
        print(f"{name:<34} {megabytes:7.1f} {megabytes / ours:14.0f} {megabytes / baseline:17.1f} "
              f"{baseline / ours:6.0f}x")


if __name__ == "__main__":
    main()
