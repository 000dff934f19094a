"""Species classification from a single genome window, as a function of context length.

Usage::

    python benchmarks/species.py GENOME_DIR [--lengths 1024,2048,4096,8192,16384,32768] [--minutes 3] [--json OUT]

``GENOME_DIR`` holds FASTA files (bgzip or plain, indexed) named ``genus_species_...``; files of one species are
pooled. Files matching ``--exclude`` (default: mitochondrial collections) are skipped, and so are species with
less than ``--min-bases`` of sequence. Every record is split by position: its first 75 % provides training
windows, its last 25 % test windows, so no test window overlaps a training one.

One HyenaClassifier (``max_length`` = the longest length) is trained from scratch (or from ``--pretrained``,
for lengths up to its ``l_max``; the bundled backbone never saw the test parts, which its recipe holds out)
through the published sequence-length warm-up for this task: one stage per length (1k, 2k, ... doubling),
``--minutes`` each, the batch shrinking as the length doubles so that every optimiser step sees the same number
of tokens, on fresh
random training windows every epoch (``warm_start``). After each stage it is scored on the test windows at that
stage's length, and on the first 1,024 nucleotides of the *same* windows: the difference between the two columns
is what the extra context is worth to the same model, with training time held equal.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score

from dnaestim import HyenaClassifier
from dnaestim.genome import GenomeSource, Region


AMBIGUOUS_TO_N = str.maketrans({c: "N" for c in "BDHKMRSVWYU"})


def species_sources(genome_dir: Path, exclude: list[str], min_bases: int):
    """One GenomeSource per species; files are grouped by the first two words of their name (genus_species)."""
    files: dict[str, list[str]] = {}
    for path in sorted(genome_dir.glob("*.fa*")):
        if path.suffix in (".fai", ".gzi") or any(token in path.name for token in exclude):
            continue
        files.setdefault("_".join(path.name.split("_")[:2]), []).append(str(path))
    sources = {}
    for species, paths in files.items():
        source = GenomeSource(fasta=paths, validation_fraction=0.25, min_validation_length=1)
        if sum(r.length for r in source.train_regions + source.valid_regions) >= min_bases:
            sources[species] = source
    return sources


def windows(source: GenomeSource, regions: list[Region], length: int, count: int, rng) -> list[str]:
    usable = [r for r in regions if r.length >= length]
    weights = np.array([r.length - length + 1 for r in usable], dtype=float)
    out = []
    while len(out) < count:
        region = usable[rng.choice(len(usable), p=weights / weights.sum())]
        start = region.start + int(rng.integers(0, region.length - length + 1))
        seq = source.read([region.part(start, start + length)])[0].upper()
        seq = seq.translate(AMBIGUOUS_TO_N)  # assemblies may hold IUPAC codes (K, R, Y, ...)
        if seq.count("N") <= 0.1 * length:
            out.append(seq)
    return out


def train_windows(sources, names, length, tokens_per_epoch, rng):
    per_species = max(2, tokens_per_epoch // (length * len(names)))
    X, y = [], []
    for name in names:
        X += windows(sources[name], sources[name].train_regions, length, per_species, rng)
        y += [name] * per_species
    return X, y


def run(sources, lengths, minutes, n_test, tokens_per_epoch, tokens_per_step, rng, report, pretrained=None):
    names = sorted(sources)
    X_test, y_test = [], []
    for name in names:
        X_test += windows(sources[name], sources[name].valid_regions, max(lengths), n_test, rng)
        y_test += [name] * n_test
    clf = HyenaClassifier(pretrained=pretrained, max_length=max(lengths), max_iter=1, warm_start=True,
                          early_stopping=False, random_state=0)
    start, epochs = time.perf_counter(), 0
    for length in lengths:
        stage_end = time.perf_counter() + minutes * 60
        clf.set_params(batch_size=max(1, tokens_per_step // length))
        while time.perf_counter() < stage_end:
            X, y = train_windows(sources, names, length, tokens_per_epoch, rng)
            clf.set_params(max_time=max(1.0, stage_end - time.perf_counter()))
            clf.fit(X, y)
            epochs += 1
        accuracy = accuracy_score(y_test, clf.predict([x[:length] for x in X_test]))
        accuracy_1k = accuracy_score(y_test, clf.predict([x[:min(1024, length)] for x in X_test]))
        report(length, accuracy, accuracy_1k, epochs, time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("genome_dir", type=Path)
    parser.add_argument("--lengths", default="1024,2048,4096,8192,16384,32768")
    parser.add_argument("--minutes", type=float, default=3.0, help="training time per warm-up stage")
    parser.add_argument("--test-windows", type=int, default=20, help="test windows per species")
    parser.add_argument("--tokens-per-epoch", type=int, default=2**20)
    parser.add_argument("--tokens-per-step", type=int, default=2**15, help="batch size x length at every stage")
    parser.add_argument("--min-bases", type=int, default=1_000_000)
    parser.add_argument("--exclude", default="mtDNA", help="comma-separated substrings of files to skip")
    parser.add_argument("--pretrained", default="none",
                        help="backbone to fine-tune: a bundled model name or checkpoint directory, or 'none' to train "
                             "from scratch (default; the lengths must not exceed a pretrained model's l_max)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    sources = species_sources(args.genome_dir, args.exclude.split(","), args.min_bases)
    print(f"{len(sources)} species: {', '.join(sorted(sources))}; chance = {1 / len(sources):.3f}")
    print(f"{'length':>7} {'accuracy':>9} {'same windows, first 1k':>23} {'epochs':>7} {'minutes':>8}")
    results = {}

    def report(length, accuracy, accuracy_1k, epochs, seconds):
        results[length] = {"accuracy": accuracy, "accuracy_first_1k": accuracy_1k, "epochs": epochs,
                           "seconds": seconds}
        print(f"{length:7d} {accuracy:9.3f} {accuracy_1k:23.3f} {epochs:7d} {seconds / 60:8.1f}", flush=True)

    lengths = sorted(int(x) for x in args.lengths.split(","))
    run(sources, lengths, args.minutes, args.test_windows, args.tokens_per_epoch, args.tokens_per_step,
        np.random.default_rng(0), report, pretrained=None if args.pretrained == "none" else args.pretrained)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
