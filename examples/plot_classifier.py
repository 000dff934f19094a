"""
Training a classifier on a bundled promoter task
================================================

This example trains a :class:`~dnaestim.HyenaClassifier` from scratch on one of the benchmarks bundled with
dnaestim, looks at its training and validation loss curves, and compares its ROC curve on the test split with
a k-mer baseline: 4-mer counts fed to a logistic regression.

To keep the documentation build fast, the model is **small** (one layer, ``d_model=64``) and trains for only
**20 seconds** on the CPU. This shows how the estimator is used; it is not a measure of what HyenaDNA can do
on this task. The default, bigger model trained for longer gets further: ``make demo`` trains it for three
minutes against the same kind of baseline, and ``benchmarks/accuracy.py`` gives it eight minutes per task on
every bundled task.
"""

# %%
# The data
# --------
# ``gue_prom_core_tata`` is the core-promoter (TATA) task of the GUE benchmark (DNABERT-2): 70-nucleotide human
# sequences, labelled ``"0"`` or ``"1"`` as published, in the published train, dev and test splits. The labels
# stay strings; the classifier accepts any hashable labels.

import time

import matplotlib.pyplot as plt
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import RocCurveDisplay, accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from dnaestim import HyenaClassifier
from dnaestim.datasets import load_gue_prom_core_tata

X_train, y_train = load_gue_prom_core_tata(split="train", return_X_y=True)
X_test, y_test = load_gue_prom_core_tata(split="test", return_X_y=True)
print(f"train: {len(X_train)} sequences, test: {len(X_test)} sequences, {len(X_train[0])} nt each")
print(f"labels: {sorted(set(y_train))}")

# %%
# A small HyenaClassifier, trained for 20 seconds
# -----------------------------------------------
# ``max_time=20`` stops training at the first batch boundary after 20 seconds, and the learning-rate schedule
# (1 % warm-up, then cosine decay) is stretched over that budget rather than over ``max_iter`` epochs. With the
# default ``early_stopping=True``, 10 % of the training data is held out (stratified), the validation loss is
# measured after every epoch, and the weights of the best epoch are kept. ``random_state`` seeds the
# initialisation, the shuffling and the validation split without touching the global random generators.

clf = HyenaClassifier(
    d_model=64,
    n_layer=1,
    learning_rate_init=2e-3,
    batch_size=32,
    max_time=20,
    random_state=0,
)
start = time.perf_counter()
clf.fit(X_train, y_train)
print(f"{clf.n_iter_} epoch(s) in {time.perf_counter() - start:.1f} s; weights kept from epoch {clf.best_iter_}")
for record in clf.history_:
    print(f"epoch {record['epoch']:2d}: train loss {record['train_loss']:.4f}, "
          f"validation loss {record['valid_loss']:.4f}, validation accuracy {record['valid_accuracy']:.3f}")

# %%
# Loss curves
# -----------
# ``history_`` holds one record per epoch; ``loss_curve_`` and ``validation_loss_curve_`` are its two loss
# columns. How many epochs fit into 20 seconds depends on the machine: a few on an idle two-core CPU, possibly
# only one on a busy one, so the curves are short. The last epoch is usually cut short by the time budget, so
# its training loss averages fewer batches. The training loss is averaged over the epoch's batches, with
# dropout on and the weights still changing; the validation loss is measured at the end of each epoch, with
# dropout off.

epochs = [record["epoch"] for record in clf.history_]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(epochs, clf.loss_curve_, marker="o", label="training loss")
ax.plot(epochs, clf.validation_loss_curve_, marker="o", label="validation loss (held-out 10 %)")
ax.axvline(clf.best_iter_, ls="--", lw=1, color="k", label=f"kept weights (epoch {clf.best_iter_})")
ax.set_xticks(epochs)
ax.set_xlabel("epoch")
ax.set_ylabel("cross-entropy")
ax.set_title("HyenaClassifier, d_model=64, 1 layer, 20 s")
ax.legend()
fig.tight_layout()

# %%
# A k-mer baseline
# ----------------
# Count the overlapping 4-mers of each sequence (``CountVectorizer`` with ``analyzer="char"``) and fit a
# logistic regression on the counts. ``MaxAbsScaler`` scales the sparse counts without densifying them.

kmer = make_pipeline(
    CountVectorizer(analyzer="char", ngram_range=(4, 4), lowercase=False),
    MaxAbsScaler(),
    LogisticRegression(max_iter=2000),
)
kmer.fit(X_train, y_train)

# %%
# Test-set ROC curves and accuracy
# --------------------------------
# Both models are scored on the published test split, which neither has seen. ``predict_proba`` returns one
# column per class, in the order of ``classes_``; the second column is the probability of label ``"1"``.

positive = "1"
hyena_score = clf.predict_proba(X_test)[:, list(clf.classes_).index(positive)]
kmer_score = kmer.predict_proba(X_test)[:, list(kmer.classes_).index(positive)]

fig, ax = plt.subplots(figsize=(5, 5))
RocCurveDisplay.from_predictions(y_test, hyena_score, pos_label=positive, name="HyenaClassifier (20 s)", ax=ax)
RocCurveDisplay.from_predictions(y_test, kmer_score, pos_label=positive, name="4-mer counts + LogisticRegression",
                                 ax=ax, plot_chance_level=True)
ax.set_title("gue_prom_core_tata, test split")
fig.tight_layout()

print(f"HyenaClassifier test accuracy:                   {accuracy_score(y_test, clf.predict(X_test)):.3f}")
print(f"4-mer counts + LogisticRegression test accuracy: {accuracy_score(y_test, kmer.predict(X_test)):.3f}")

# %%
# These numbers come from a one-layer model trained for 20 seconds on the CPU, so they say little about how
# the two approaches compare after proper training. For that, train bigger and longer: ``make demo`` (the
# default ``HyenaClassifier`` with a three-minute budget, against a 4-mer baseline), or
# ``python benchmarks/accuracy.py dnaestim/data/benchmarks`` for every bundled task (with a k-mer baseline
# whose k is chosen on validation data, and a pretrained checkpoint through ``--pretrained`` if you have one).

plt.show()
