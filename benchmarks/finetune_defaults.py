"""How the fine-tuning settings of HyenaClassifier fare from the bundled backbone: the measurement behind its defaults.

Usage::

    python benchmarks/finetune_defaults.py DATA_DIR [--max-time 120] [--tasks a,b] [--json OUT]
        [--settings '{"name": {"param": value, ...}, ...}']

Every setting (a dict of HyenaClassifier parameters on top of its defaults) is trained on the ``train`` split of
each task and scored on its ``dev`` split, never on ``test``: the defaults are chosen on data the accuracy
benchmark (``benchmarks/accuracy.py``) does not report. Same seed, same wall-clock budget for every run. The
default tasks are four GUE tasks of 2.6k to 19k training sequences: the budget allows many epochs on the small
ones and two or three on ``gue_tf_2``. Each fitted model is also scored with ``rc_average`` flipped.

Small data: ``--n-train 100 --seeds 0,1,2`` trains every setting on a stratified subsample of 100 training
sequences per seed (a new subsample per seed), scores it on at most ``--n-dev`` dev sequences, and adds the
k-mer baseline of ``benchmarks/accuracy.py`` fitted on the same subsample as a reference row. Cells are then
means over the seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

from dnaestim import HyenaClassifier, SoftPromptClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import kmer_baseline  # noqa: E402

ESTIMATORS = {"HyenaClassifier": HyenaClassifier, "SoftPromptClassifier": SoftPromptClassifier}

SETTINGS = {
    "defaults": {},
    "head_init random": {"head_init": "random"},
    "lr 3e-4": {"learning_rate_init": 3e-4},
    "lr 1.5e-3": {"learning_rate_init": 1.5e-3},
    "rc_augment": {"rc_augment": True},
    "batch 32": {"batch_size": 32},
    "no dropout": {"embed_dropout": 0.0, "head_dropout": 0.0},
}


def read(folder: Path, split: str):
    frame = pd.read_csv(folder / f"{split}.csv.gz", dtype={"label": str}, keep_default_na=False)
    return frame.sequence.to_numpy(object), frame.label.to_numpy(object)


def subsample(X, y, n, seed):
    """A stratified subsample of ``n`` rows (all rows when ``n`` is None or not smaller)."""
    if n is None or n >= len(y):
        return X, y
    X_part, _, y_part, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    return X_part, y_part


def fit_and_score(params, X_train, y_train, X_dev, y_dev, max_time, seed, estimator=HyenaClassifier):
    """Dev accuracy/AUC of one fitted setting (``params=None``: the k-mer baseline), also with rc_average flipped."""
    start = time.perf_counter()
    if params is None:
        model = kmer_baseline(X_train, y_train)
        proba = model.predict_proba(X_dev)
        row = {"epochs": 0, "best_epoch": 0}
    else:
        model = estimator(max_time=max_time, random_state=seed, **params).fit(X_train, y_train)
        proba = model.predict_proba(X_dev)
        row = {"epochs": model.n_iter_, "best_epoch": model.best_iter_, "rc_average": model._averages_strands(),
               "rc_augment": model.rc_augment_}
    row["seconds"] = time.perf_counter() - start
    row["accuracy"] = accuracy_score(y_dev, model.classes_[proba.argmax(1)])
    row["auc"] = roc_auc_score(y_dev == model.classes_[1], proba[:, 1])
    row["accuracy_other_rc_average"] = row["accuracy"]
    if params is not None:
        # The same fitted model with the other rc_average (a prediction-time choice: no refit needed).
        proba = model.set_params(rc_average=not model._averages_strands()).predict_proba(X_dev)
        row["accuracy_other_rc_average"] = accuracy_score(y_dev, model.classes_[proba.argmax(1)])
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--max-time", type=float, default=120.0, help="seconds of training per run (default 120)")
    parser.add_argument("--tasks", default="gue_mouse_0,gue_mouse_2,gue_prom_core_tata,gue_tf_2")
    parser.add_argument("--settings", help="JSON object {name: {parameter: value}} (default: the built-in grid)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; cells are means over them (default 0)")
    parser.add_argument("--n-train", type=int, help="train on a stratified subsample of this many sequences")
    parser.add_argument("--n-dev", type=int, help="score on a stratified subsample of this many dev sequences")
    parser.add_argument("--estimator", default="HyenaClassifier", choices=sorted(ESTIMATORS),
                        help="the estimator whose settings are measured (default HyenaClassifier)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = json.loads(args.settings) if args.settings else SETTINGS
    tasks = args.tasks.split(",")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(f"{args.estimator}: dev-split accuracy / AUC, max_time={args.max_time:.0f}s, seeds {seeds}, n_train {args.n_train or 'all'}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    results = {}
    if args.n_train is not None:
        settings = {**settings, "k-mer LR (reference)": None}
    data = {task: (read(args.data_dir / task, "train"), read(args.data_dir / task, "dev")) for task in tasks}
    for name, params in settings.items():
        row = {}
        for task, ((X_train, y_train), (X_dev, y_dev)) in data.items():
            X_dev, y_dev = subsample(X_dev, y_dev, args.n_dev, 0)
            runs = [fit_and_score(params, *subsample(X_train, y_train, args.n_train, seed), X_dev, y_dev,
                                  args.max_time, seed, ESTIMATORS[args.estimator]) for seed in seeds]
            row[task] = {key: float(np.mean([run[key] for run in runs])) for key in runs[0]}
        results[name] = row
        cells = "  ".join(f"{t}: {r['accuracy']:.3f}/{r['auc']:.3f} ({r['best_epoch']:.0f}/{r['epochs']:.0f} ep)"
                          for t, r in row.items())
        mean = np.mean([r["accuracy"] for r in row.values()])
        other = np.mean([r["accuracy_other_rc_average"] for r in row.values()])
        print(f"{name:<20} mean acc {mean:.4f} (other rc_average {other:.4f})  {cells}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
