"""HyenaRegressor and multi-label HyenaClassifier against k-mer baselines, on regression and multi-label tasks.

Usage::

    python benchmarks/multioutput.py DATA_DIR [--max-time SECONDS] [--datasets a,b] [--max-length N] [--json OUT]
                                             [--params JSON]

``DATA_DIR`` holds one folder per task (e.g. ``../shared/data/multioutput``): ``train.csv.gz`` + ``test.csv.gz``
with columns ``sequence,target`` (regression: trained on train, scored on test), or one ``all.csv.gz`` with
``sequence`` and 0/1 label columns (multi-label; every other column, such as ``region``, is ignored), scored by
5-fold cross-validation (KFold, shuffled, seed 0) on out-of-fold predictions. Every task gets the estimator's
defaults and the same wall-clock budget (``--max-time`` per task, split evenly over the folds); nothing is tuned
per task. ``--params '{"rc_augment": true}'`` passes other settings to both estimators, to measure a change of
default the same way.

The baselines run in the same process on the same splits: k-mer counts (k in 3..6 chosen on a 10 % validation
split of the training part), MaxAbsScaler, then Ridge(alpha=1) or one-vs-rest LogisticRegression(C=1).
Regression reports Pearson r (the main metric), Spearman rho and R²; multi-label reports macro ROC AUC (the main
metric, over the labels with both classes) and macro average precision.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score
from sklearn.model_selection import KFold, train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from dnaestim import HyenaClassifier, HyenaRegressor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import describe, summary  # noqa: E402  (sibling benchmark script)

SEED = 0


def kmer_model(k, regression):
    head = Ridge(alpha=1.0) if regression else OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=2000))
    return make_pipeline(CountVectorizer(analyzer="char", ngram_range=(k, k), lowercase=False), MaxAbsScaler(), head)


def kmer_baseline(X, y, regression):
    """k chosen on a 10 % validation split (R² or macro AUC), then refit on all of ``X``."""
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=0.1, random_state=SEED)

    def quality(k):
        model = kmer_model(k, regression).fit(X_fit, y_fit)
        if regression:
            return r2_score(y_val, model.predict(X_val))
        return macro_scores(y_val, model.predict_proba(X_val))["macro_auc"]

    best = max(range(3, 7), key=quality)
    return kmer_model(best, regression).fit(X, y), best


def macro_scores(Y, proba):
    usable = [j for j in range(Y.shape[1]) if 0 < Y[:, j].sum() < len(Y)]
    return {"macro_auc": float(np.mean([roc_auc_score(Y[:, j], proba[:, j]) for j in usable])),
            "macro_ap": float(np.mean([average_precision_score(Y[:, j], proba[:, j]) for j in usable])),
            "labels_scored": len(usable)}


def regression_scores(y, predicted):
    return {"pearson": float(pearsonr(y, predicted)[0]), "spearman": float(spearmanr(y, predicted)[0]),
            "r2": float(r2_score(y, predicted))}


def run_regression(folder, args):
    train = pd.read_csv(folder / "train.csv.gz")
    test = pd.read_csv(folder / "test.csv.gz")
    X, y = train["sequence"].to_numpy(object), train["target"].to_numpy(float)
    X_test, y_test = test["sequence"].to_numpy(object), test["target"].to_numpy(float)
    start = time.perf_counter()
    model = HyenaRegressor(max_time=args.max_time, random_state=SEED, max_length=args.max_length, **args.params)
    model.fit(X, y)
    hyena = {**regression_scores(y_test, model.predict(X_test)), "seconds": time.perf_counter() - start,
             "epochs": model.n_iter_}
    baseline, k = kmer_baseline(X, y, regression=True)
    kmer = {**regression_scores(y_test, baseline.predict(X_test)), "k": k}
    return {"kind": "regression", "protocol": "train/test", "hyena": hyena, "kmer": kmer, "main": "pearson"}


def run_multilabel(folder, args):
    table = pd.read_csv(folder / "all.csv.gz")
    labels = [c for c in table.columns if c != "sequence" and set(table[c].unique()) <= {0, 1}]
    X, Y = table["sequence"].to_numpy(object), table[labels].to_numpy(int)
    hyena_proba, kmer_proba = np.zeros(Y.shape), np.zeros(Y.shape)
    budget = args.max_time / 5
    start, epochs = time.perf_counter(), []
    for fold, (train, test) in enumerate(KFold(5, shuffle=True, random_state=SEED).split(X)):
        model = HyenaClassifier(max_time=budget, random_state=SEED, max_length=args.max_length, **args.params)
        model.fit(X[train], pd.DataFrame(Y[train], columns=labels))
        hyena_proba[test] = model.predict_proba(X[test])
        epochs.append(model.n_iter_)
        baseline, _ = kmer_baseline(X[train], Y[train], regression=False)
        kmer_proba[test] = baseline.predict_proba(X[test])
        print(f"  fold {fold}: {time.perf_counter() - start:.0f} s", flush=True)
    return {"kind": "multilabel", "protocol": "5-fold CV, out-of-fold predictions", "n_labels": len(labels),
            "hyena": {**macro_scores(Y, hyena_proba), "seconds": time.perf_counter() - start, "epochs": epochs},
            "kmer": macro_scores(Y, kmer_proba), "main": "macro_auc"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--max-time", type=float, default=600.0, help="seconds of fine-tuning per task")
    parser.add_argument("--datasets", help="comma-separated task folders (default: all)")
    parser.add_argument("--max-length", type=int, default=None, help="cut sequences to this many nucleotides")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--params", type=json.loads, default={},
                        help="estimator settings as a JSON object, e.g. '{\"rc_augment\": true}'")
    args = parser.parse_args(argv)
    folders = sorted(p for p in args.data_dir.iterdir() if p.is_dir())
    if args.datasets:
        folders = [p for p in folders if p.name in args.datasets.split(",")]
    print(summary(describe()))
    results = {}
    for folder in folders:
        regression = (folder / "train.csv.gz").exists()
        print(f"{folder.name} ({'regression' if regression else 'multi-label'}) ...", flush=True)
        result = run_regression(folder, args) if regression else run_multilabel(folder, args)
        results[folder.name] = result
        main_metric = result["main"]
        others = [m for m in result["kmer"] if m not in (main_metric, "k", "labels_scored")]
        print(f"  {main_metric}: HyenaDNA {result['hyena'][main_metric]:.3f} vs k-mer {result['kmer'][main_metric]:.3f}"
              + "".join(f"; {m}: {result['hyena'][m]:.3f} vs {result['kmer'][m]:.3f}" for m in others), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
