"""float32 against bf16 where users meet it: HyenaEmbedder + LogisticRegression on the bundled tasks.

Usage::

    python benchmarks/precision.py [--precisions 32,bf16] [--pretrained dnaestim-multispecies-tiny-1k]
                                   [--repeats 3] [--variants 300] [--finetune-seconds 60] [--json OUT]

1. **Embeddings.** For every bundled task: embed the train and test splits with ``HyenaEmbedder(precision=p)`` (the default bundled
backbone unless ``--pretrained``), fit ``StandardScaler + LogisticRegression`` on the train embeddings and report
the test ROC AUC, the median time of ``transform`` over ``--repeats`` calls (after a warm-up call; tasks bundled with one split are cut 70/30), and the
largest relative difference of the embeddings from float32 (``max |e_p - e_32| / max |e_32|``).
2. **Variant scores.** ``--variants`` random single-nucleotide variants of the bundled genome scored by
   :func:`dnaestim.scoring.score_variants` (1024-nt windows) under each precision's autocast: the Spearman and
   Pearson correlation with the float32 scores, and the median absolute difference next to the median absolute
   score.
3. **Fine-tuning.** ``HyenaClassifier(max_time=--finetune-seconds, random_state=0)`` from the bundled backbone on
   every bundled task: test accuracy and ROC AUC, and epochs run in the time (0 skips this part).

bf16 pays off only on CPUs with bfloat16 units (the first line says whether this one has them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import torch
from scipy.stats import pearsonr, spearmanr

from dnaestim import HyenaClassifier, HyenaEmbedder, load_pretrained
from dnaestim.datasets import list_bundled_datasets, load_bundled
from dnaestim.genome import bundled_genome_path
from dnaestim.models import DEFAULT_BACKBONE
from dnaestim.scoring import score_variants

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import describe, summary  # noqa: E402  (sibling benchmark script)


def splits(task):
    """The task's train and test splits; a task bundled with one split is cut 70/30 (stratified, seeded)."""
    from sklearn.model_selection import train_test_split

    try:
        return load_bundled(task, split="train", return_X_y=True), load_bundled(task, split="test", return_X_y=True)
    except ValueError:  # bundled with one split
        pass
    bunch = load_bundled(task)
    X_train, X_test, y_train, y_test = train_test_split(bunch.data, bunch.target, test_size=0.3, random_state=0,
                                                        stratify=bunch.target)
    return (X_train, y_train), (X_test, y_test)


def timed_transform(embedder, sequences, repeats):
    embedder.transform(sequences[:embedder.batch_size])  # warm-up (filter spectra, allocator)
    times, features = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        features = embedder.transform(sequences)
        times.append(time.perf_counter() - start)
    return features, statistics.median(times)


AUTOCAST = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precisions", default="32,bf16", help="comma-separated; the first is the reference")
    parser.add_argument("--pretrained", default=DEFAULT_BACKBONE, help="bundled model name or checkpoint directory")
    parser.add_argument("--repeats", type=int, default=5, help="timed transform calls per split")
    parser.add_argument("--variants", type=int, default=300, help="random SNVs scored (0 skips)")
    parser.add_argument("--finetune-seconds", type=float, default=60.0, help="per fit (0 skips fine-tuning)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    hardware = describe()
    print(summary(hardware))
    results = {"embeddings": embeddings(args, precisions)}
    if args.variants:
        results["variants"] = variants(args, precisions)
    if args.finetune_seconds:
        results["finetune"] = finetune(args, precisions)
    if args.json:
        args.json.write_text(json.dumps({"hardware": hardware, "pretrained": args.pretrained, "results": results},
                                        indent=2))


def embeddings(args, precisions):
    print(f"backbone {args.pretrained}; HyenaEmbedder + StandardScaler + LogisticRegression, test ROC AUC")
    print(f"{'task':<30} {'precision':>9} {'AUC':>7} {'d AUC':>7} {'embed s':>8} {'speed-up':>8} {'rel diff':>9}")
    results = {}
    for task in list_bundled_datasets():
        (X_train, y_train), (X_test, y_test) = splits(task)
        reference = None
        for precision in precisions:
            embedder = HyenaEmbedder(pretrained=args.pretrained, precision=precision).fit(X_train)
            train_x, train_s = timed_transform(embedder, X_train, args.repeats)
            test_x, test_s = timed_transform(embedder, X_test, args.repeats)
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train_x, y_train)
            proba = model.predict_proba(test_x)
            auc = (roc_auc_score(y_test, proba[:, 1]) if proba.shape[1] == 2
                   else roc_auc_score(y_test, proba, multi_class="ovr"))
            features = np.vstack([train_x, test_x])
            row = {"auc": auc, "seconds": train_s + test_s, "n_sequences": len(features)}
            if reference is None:
                reference = {**row, "features": features}
            row.update(delta_auc=auc - reference["auc"], speed_up=reference["seconds"] / row["seconds"],
                       rel_diff=float(np.abs(features - reference["features"]).max()
                                      / np.abs(reference["features"]).max()))
            results.setdefault(task, {})[precision] = row
            print(f"{task:<30} {precision:>9} {auc:7.4f} {row['delta_auc']:+7.4f} {row['seconds']:8.2f} "
                  f"{row['speed_up']:8.2f} {row['rel_diff']:9.1e}", flush=True)
    return results


def random_snvs(n, seed=0):
    """``n`` random SNVs of the bundled genome, 600 nt or more from a record's ends: [(record, position, alt)]."""
    from pyfaidx import Fasta

    genome = Fasta(str(bundled_genome_path()))
    rng = np.random.default_rng(seed)
    sequences = {name: str(genome[name][:]).upper() for name in genome.keys()}
    names = sorted(sequences)
    snvs = []
    while len(snvs) < n:
        name = names[rng.integers(len(names))]
        position = int(rng.integers(600, len(sequences[name]) - 600))
        ref = sequences[name][position]
        if ref in "ACGT":
            snvs.append((name, position, rng.choice([b for b in "ACGT" if b != ref])))
    return sequences, snvs


def variants(args, precisions):
    sequences, snvs = random_snvs(args.variants)
    model = load_pretrained(args.pretrained).eval()
    scores = {}
    for precision in precisions:
        out = np.empty(len(snvs))
        dtype = AUTOCAST[precision]
        for name in sorted({snv[0] for snv in snvs}):
            rows = [i for i, snv in enumerate(snvs) if snv[0] == name]
            with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                out[rows] = score_variants(model, [snvs[i][1] for i in rows], [snvs[i][2] for i in rows],
                                           sequence=sequences[name], window=1024)
        scores[precision] = out
    reference = scores[precisions[0]]
    print(f"\n{len(snvs)} random SNVs of the bundled genome, log-likelihood ratios (nats), against {precisions[0]}")
    print(f"{'precision':>9} {'spearman':>9} {'pearson':>8} {'median |diff|':>14} {'median |score|':>15}")
    results = {}
    for precision, values in scores.items():
        row = {"spearman": float(spearmanr(reference, values)[0]), "pearson": float(pearsonr(reference, values)[0]),
               "median_abs_diff": float(np.median(np.abs(values - reference))),
               "median_abs_score": float(np.median(np.abs(values)))}
        results[precision] = row
        print(f"{precision:>9} {row['spearman']:9.4f} {row['pearson']:8.4f} {row['median_abs_diff']:14.4f} "
              f"{row['median_abs_score']:15.4f}", flush=True)
    return results


def finetune(args, precisions):
    print(f"\nHyenaClassifier(max_time={args.finetune_seconds:g}, random_state=0) from {args.pretrained}")
    print(f"{'task':<30} {'precision':>9} {'accuracy':>9} {'AUC':>7} {'epochs':>7}")
    results = {}
    for task in list_bundled_datasets():
        (X_train, y_train), (X_test, y_test) = splits(task)
        for precision in precisions:
            clf = HyenaClassifier(pretrained=args.pretrained, max_time=args.finetune_seconds, precision=precision,
                                  random_state=0).fit(X_train, y_train)
            proba = clf.predict_proba(X_test)
            auc = roc_auc_score(y_test, proba[:, 1]) if proba.shape[1] == 2 else float("nan")
            row = {"accuracy": float(clf.score(X_test, y_test)), "auc": float(auc), "epochs": clf.n_iter_}
            results.setdefault(task, {})[precision] = row
            print(f"{task:<30} {precision:>9} {row['accuracy']:9.4f} {auc:7.4f} {clf.n_iter_:7d}", flush=True)
    return results


if __name__ == "__main__":
    main()
