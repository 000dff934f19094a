"""How the fine-tuning settings of HyenaClassifier fare from the bundled backbone: the measurement behind its defaults.

Usage::

    python benchmarks/finetune_defaults.py DATA_DIR [--max-time 120] [--tasks a,b] [--json OUT]
        [--settings '{"name": {"param": value, ...}, ...}']

Every setting (a dict of HyenaClassifier parameters on top of its defaults) is trained on the ``train`` split of
each task and scored on its ``dev`` split, never on ``test``: the defaults are chosen on data the accuracy
benchmark (``benchmarks/accuracy.py``) does not report. Same seed, same wall-clock budget for every run. The
default tasks are four GUE tasks of 2.6k to 19k training sequences: the budget allows many epochs on the small
ones and two or three on ``gue_tf_2``. Each fitted model is also scored with ``rc_average`` flipped.
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
from sklearn.metrics import accuracy_score, roc_auc_score

from dnaestim import HyenaClassifier

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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--max-time", type=float, default=120.0, help="seconds of training per run (default 120)")
    parser.add_argument("--tasks", default="gue_mouse_0,gue_mouse_2,gue_prom_core_tata,gue_tf_2")
    parser.add_argument("--settings", help="JSON object {name: {parameter: value}} (default: the built-in grid)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = json.loads(args.settings) if args.settings else SETTINGS
    tasks = args.tasks.split(",")
    print(f"dev-split accuracy / AUC, max_time={args.max_time:.0f}s, seed {args.seed}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    results = {}
    for name, params in settings.items():
        row = {}
        for task in tasks:
            X_train, y_train = read(args.data_dir / task, "train")
            X_dev, y_dev = read(args.data_dir / task, "dev")
            start = time.perf_counter()
            clf = HyenaClassifier(max_time=args.max_time, random_state=args.seed, **params).fit(X_train, y_train)
            seconds = time.perf_counter() - start
            proba = clf.predict_proba(X_dev)
            row[task] = {"accuracy": accuracy_score(y_dev, clf.classes_[proba.argmax(1)]),
                         "auc": roc_auc_score(y_dev == clf.classes_[1], proba[:, 1]), "epochs": clf.n_iter_,
                         "best_epoch": clf.best_iter_, "seconds": seconds}
            # The same fitted model with the other rc_average (a prediction-time choice: no refit needed).
            proba = clf.set_params(rc_average=not clf.rc_average).predict_proba(X_dev)
            row[task]["accuracy_other_rc_average"] = accuracy_score(y_dev, clf.classes_[proba.argmax(1)])
        results[name] = row
        cells = "  ".join(f"{t}: {r['accuracy']:.3f}/{r['auc']:.3f} ({r['best_epoch']}/{r['epochs']} ep)"
                          for t, r in row.items())
        mean = np.mean([r["accuracy"] for r in row.values()])
        other = np.mean([r["accuracy_other_rc_average"] for r in row.values()])
        print(f"{name:<20} mean acc {mean:.4f} (other rc_average {other:.4f})  {cells}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
