"""Soft prompting and in-context learning on a frozen pretrained backbone, next to fine-tuning and embeddings + LR.

Usage::

    python benchmarks/soft_prompt.py TASK_DIR [TASK_DIR ...] --pretrained CKPT [--prompt-tokens 0,2,32,128,1024]
                                     [--shots 0,1,2] [--heads lm,linear] [--max-time 120] [--json OUT]

Each ``TASK_DIR`` holds ``train.csv.gz`` and ``test.csv.gz`` (or a single split, then split 80/20 stratified),
columns ``sequence,label``. ``CKPT`` is a checkpoint directory, e.g. written by
``benchmarks/pretraining.py --save``. For every task this trains, each for at most ``--max-time`` seconds:

* ``SoftPromptClassifier`` for every number of prompt tokens and head (no shots);
* ``SoftPromptClassifier(n_prompt_tokens=0, n_shots=k)``: k-shot in-context prediction, no training, for every
  k whose demonstrations fit the checkpoint's ``l_max``;
* ``HyenaClassifier(pretrained=CKPT)``: full fine-tuning;
* ``Pipeline(HyenaEmbedder(pretrained=CKPT), LogisticRegression)``.

and prints test accuracy and AUC. Everything is seeded; nothing is tuned per task.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dnaestim import HyenaClassifier, HyenaEmbedder, SoftPromptClassifier, load_pretrained

SEED = 0


def read_task(folder: Path):
    frames = {p.name.split(".")[0]: pd.read_csv(p, dtype={"label": str}, keep_default_na=False)
              for p in folder.glob("*.csv.gz")}
    if "train" in frames and "test" in frames:
        train, test = frames["train"], frames["test"]
    else:
        data = next(iter(frames.values()))
        train, test = train_test_split(data, test_size=0.2, stratify=data.label, random_state=SEED)
    return (train.sequence.to_numpy(object), train.label.to_numpy(object),
            test.sequence.to_numpy(object), test.label.to_numpy(object))


def evaluate(model, X_test, y_test, seconds):
    proba = model.predict_proba(X_test)
    classes = model.classes_
    auc = (roc_auc_score(y_test == classes[1], proba[:, 1]) if len(classes) == 2
           else roc_auc_score(y_test, proba, multi_class="ovr", labels=classes))
    return {"accuracy": accuracy_score(y_test, classes[proba.argmax(1)]), "auc": auc, "seconds": seconds}


def timed_fit(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tasks", nargs="+", type=Path)
    parser.add_argument("--pretrained", required=True)
    parser.add_argument("--prompt-tokens", default="0,2,32,128,1024")
    parser.add_argument("--shots", default="1,2,4")
    parser.add_argument("--heads", default="lm,linear")
    parser.add_argument("--max-time", type=float, default=120.0, help="seconds of training per model")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    l_max = load_pretrained(args.pretrained).config.l_max
    print(f"checkpoint {args.pretrained} (l_max {l_max}), max_time {args.max_time:.0f}s per model")
    print(f"{'task':<28} {'model':<34} {'accuracy':>8} {'auc':>6} {'seconds':>8}")
    results = {}
    for task in args.tasks:
        X_train, y_train, X_test, y_test = read_task(task)
        length = max(len(s) for s in X_train)
        rows = results[task.name] = {}

        def report(name, model, seconds):
            rows[name] = evaluate(model, X_test, y_test, seconds)
            r = rows[name]
            print(f"{task.name:<28} {name:<34} {r['accuracy']:8.3f} {r['auc']:6.3f} {r['seconds']:8.0f}", flush=True)

        for head in args.heads.split(","):
            for n in (int(x) for x in args.prompt_tokens.split(",")):
                if n == 0 and head == "linear" or n + length + 1 > l_max:
                    continue
                clf = SoftPromptClassifier(pretrained=args.pretrained, n_prompt_tokens=n, head=head,
                                           max_time=args.max_time, random_state=SEED)
                report(f"soft prompt {n:>5} tokens, head={head}", *timed_fit(clf, X_train, y_train))
        n_classes = len(set(y_train))
        for k in (int(x) for x in args.shots.split(",")):
            if n_classes * k * (length + 3) + length + 1 > l_max:
                print(f"{task.name:<28} {f'{k}-shot in context':<34} does not fit l_max={l_max}")
                continue
            clf = SoftPromptClassifier(pretrained=args.pretrained, n_prompt_tokens=0, n_shots=k, random_state=SEED)
            report(f"{k}-shot in context (no training)", *timed_fit(clf, X_train, y_train))
        clf = HyenaClassifier(pretrained=args.pretrained, max_time=args.max_time, random_state=SEED)
        report("HyenaClassifier (fine-tuning)", *timed_fit(clf, X_train, y_train))
        pipe = make_pipeline(HyenaEmbedder(pretrained=args.pretrained), StandardScaler(),
                             LogisticRegression(max_iter=2000))
        report("HyenaEmbedder + LogisticRegression", *timed_fit(pipe, X_train, y_train))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
