"""Accuracy of HyenaClassifier against a k-mer + logistic-regression baseline, on every task of a folder.

Usage::

    python benchmarks/accuracy.py DATA_DIR [--max-time SECONDS] [--datasets a,b] [--pretrained CKPT|none]
                                  [--scratch] [--no-embedders] [--seeds 0,1,2] [--json OUT]

``DATA_DIR`` holds one folder per task with ``{train,dev,test}.csv.gz`` or a single ``test.csv.gz`` /
``all.csv.gz`` (columns ``sequence,label``), e.g. ``dnaestim/data/benchmarks``. Tasks with train and test
splits are trained on train and scored on test (dev unused: the classifier holds out its own validation
fraction). Tasks with a single split are scored by stratified 5-fold cross-validation. Every task gets the same
fixed settings and the same wall-clock budget (``--max-time``, split evenly over the folds); nothing is tuned per
task.

Columns: ``HyenaClassifier`` with its defaults (the bundled pretrained backbone, or ``--pretrained``), the same
classifier trained from scratch (``--scratch``, same budget), the k-mer baseline (k in 3..6 chosen on a 10 %
validation split, CountVectorizer -> MaxAbsScaler -> LogisticRegression), and
``Pipeline(HyenaEmbedder, LogisticRegression)`` on the same backbone and on a random one, all in the same run.
``--seeds`` trains the Hyena classifiers once per seed (default: seed 0 only) and reports each metric's median over
the seeds (every seed's scores go in the JSON); the folds, the k-mer baseline and the embedders stay those of the
first seed, so every seed scores the same data.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, matthews_corrcoef, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from dnaestim import HyenaClassifier, HyenaEmbedder
from dnaestim.models import DEFAULT_BACKBONE

SEED = 0


def read_task(folder: Path):
    splits = {p.name.split(".")[0]: p for p in folder.glob("*.csv.gz")}
    frames = {name: pd.read_csv(path, dtype={"label": str}, keep_default_na=False) for name, path in splits.items()}
    if "train" in frames and "test" in frames:
        return frames["train"], frames["test"]
    if len(frames) == 1:
        return next(iter(frames.values())), None
    raise ValueError(f"{folder}: expected train+test or a single split, found {sorted(frames)}")


def kmer_baseline(X_train, y_train):
    """k chosen on a stratified 10 % validation split, then refit on all training data."""
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.1, stratify=y_train,
                                                  random_state=SEED)

    def model(k):
        return make_pipeline(CountVectorizer(analyzer="char", ngram_range=(k, k), lowercase=False),
                             MaxAbsScaler(), LogisticRegression(C=1.0, max_iter=2000))

    best_k = max(range(3, 7), key=lambda k: model(k).fit(X_fit, y_fit).score(X_val, y_val))
    return model(best_k).fit(X_train, y_train)


def scores(y_true, proba, classes):
    predicted = classes[proba.argmax(1)]
    if len(classes) == 2:
        auc = roc_auc_score(y_true == classes[1], proba[:, 1])
    else:
        auc = roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
    return {"accuracy": accuracy_score(y_true, predicted), "mcc": matthews_corrcoef(y_true, predicted), "auc": auc}


def run_split(X_train, y_train, X_test, y_test, args, budget, seed, baselines=True):
    """Scores of every model on one split; only the Hyena classifiers when not ``baselines``."""
    results = {}
    backbone = {} if args.pretrained is None else {"pretrained": None if args.pretrained == "none" else args.pretrained}
    classifiers = [("hyena", backbone)] + ([("scratch", {"pretrained": None})] if args.scratch else [])
    for name, params in classifiers:
        start = time.perf_counter()
        clf = HyenaClassifier(max_time=budget, random_state=seed, **params).fit(X_train, y_train)
        results[name] = scores(y_test, clf.predict_proba(X_test), clf.classes_)
        results[name].update(seconds=time.perf_counter() - start, epochs=clf.n_iter_, best_epoch=clf.best_iter_,
                             rc_average=float(clf._averages_strands()), rc_augment=float(clf.rc_augment_))

    if not baselines:
        return results
    start = time.perf_counter()
    kmer = kmer_baseline(X_train, y_train)
    results["kmer"] = scores(y_test, kmer.predict_proba(X_test), kmer.classes_)
    results["kmer"]["seconds"] = time.perf_counter() - start

    embedders = [] if args.no_embedders else [("embed_lr", HyenaEmbedder(random_state=seed, **backbone))]
    if embedders and backbone.get("pretrained", "bundled") is not None:
        embedders.append(("embed_lr_random", HyenaEmbedder(pretrained=None, random_state=seed)))
    for name, embedder in embedders:
        start = time.perf_counter()
        pipe = make_pipeline(embedder, MaxAbsScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)
        results[name] = scores(y_test, pipe.predict_proba(X_test), pipe.classes_)
        results[name]["seconds"] = time.perf_counter() - start
    return results


def run_task(folder: Path, args, seed, baselines=True):
    train, test = read_task(folder)
    if test is not None:
        return "train/test", run_split(train.sequence.to_numpy(object), train.label.to_numpy(object),
                                       test.sequence.to_numpy(object), test.label.to_numpy(object), args,
                                       args.max_time, seed, baselines)
    X, y = train.sequence.to_numpy(object), train.label.to_numpy(object)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED).split(X, y)
    per_fold = [run_split(X[tr], y[tr], X[te], y[te], args, args.max_time / 5, seed, baselines) for tr, te in folds]
    merged = {}
    for model in per_fold[0]:
        merged[model] = {k: float(np.mean([f[model][k] for f in per_fold])) for k in per_fold[0][model]}
        merged[model]["seconds"] = float(np.sum([f[model]["seconds"] for f in per_fold]))
    return "5-fold CV", merged


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--max-time", type=float, default=300.0, help="seconds of training per task (default 300)")
    parser.add_argument("--datasets", help="comma-separated task names (default: all)")
    parser.add_argument("--pretrained", help="backbone of HyenaClassifier and HyenaEmbedder: a bundled name or "
                                             "checkpoint directory, or 'none' (default: the estimators' default)")
    parser.add_argument("--scratch", action="store_true", help="also train HyenaClassifier(pretrained=None)")
    parser.add_argument("--no-embedders", action="store_true",
                        help="skip the HyenaEmbedder + LogisticRegression rows (their columns print as nan)")
    parser.add_argument("--seeds", default="0",
                        help="comma-separated seeds of the Hyena classifiers; cells are medians over them (default 0)")
    parser.add_argument("--json", type=Path, help="write all results here")
    args = parser.parse_args()

    names = sorted(p.name for p in args.data_dir.iterdir() if p.is_dir() and list(p.glob("*.csv.gz")))
    if args.datasets:
        names = [n for n in names if n in set(args.datasets.split(","))]
    backbone = args.pretrained or f"{DEFAULT_BACKBONE} (default)"
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(f"HyenaClassifier defaults, backbone {backbone}, seeds {seeds} (medians), "
          f"max_time={args.max_time:.0f}s per task, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    header = (f"{'dataset':<28} {'protocol':<10} {'hyena acc':>9} {'mcc':>6} {'auc':>6} {'epochs':>6} | "
              + (f"{'scratch acc':>11} {'auc':>6} | " if args.scratch else "")
              + f"{'k-mer acc':>9} {'mcc':>6} {'auc':>6} | {'emb+LR auc':>10} {'random':>6}")
    print(header)
    print("-" * len(header))
    everything = {}
    for name in names:
        protocol, r = run_task(args.data_dir / name, args, seeds[0])
        runs = [r] + [run_task(args.data_dir / name, args, seed, baselines=False)[1] for seed in seeds[1:]]
        for model in ("hyena", "scratch"):
            if model in r:
                per_seed = {seed: run[model] for seed, run in zip(seeds, runs)}
                r[model] = {key: float(np.median([scores[key] for scores in per_seed.values()]))
                            for key in per_seed[seeds[0]]}
                r[model]["per_seed"] = per_seed
        everything[name] = {"protocol": protocol, **r}
        h, k, e = r["hyena"], r["kmer"], r.get("embed_lr", {"auc": float("nan")})
        random_auc = r.get("embed_lr_random", {}).get("auc", float("nan"))
        scratch = f"{r['scratch']['accuracy']:11.3f} {r['scratch']['auc']:6.3f} | " if args.scratch else ""
        print(f"{name:<28} {protocol:<10} {h['accuracy']:9.3f} {h['mcc']:6.3f} {h['auc']:6.3f} {h['epochs']:6.0f} | "
              f"{scratch}{k['accuracy']:9.3f} {k['mcc']:6.3f} {k['auc']:6.3f} | {e['auc']:10.3f} {random_auc:6.3f}",
              flush=True)
        if args.json:  # after every task, so a long run that is stopped keeps what it measured
            args.json.write_text(json.dumps(everything, indent=2))
    hyena = np.array([everything[n]["hyena"]["accuracy"] for n in names])
    kmer = np.array([everything[n]["kmer"]["accuracy"] for n in names])
    print(f"\nHyenaClassifier beats k-mer LR accuracy on {(hyena > kmer).sum()} of {len(names)} tasks; "
          f"mean accuracy {hyena.mean():.3f} vs {kmer.mean():.3f} ({100 * (hyena.mean() - kmer.mean()):+.1f} points)")
    if args.scratch:
        scratch = np.array([everything[n]["scratch"]["accuracy"] for n in names])
        print(f"beats the from-scratch run on {(hyena > scratch).sum()} of {len(names)} tasks; "
              f"mean from scratch {scratch.mean():.3f}")


if __name__ == "__main__":
    main()
