"""
Accuracy against context length: which mammal is this mitochondrial window from?
================================================================================

HyenaDNA's point is long context. This example measures what context buys on a small, real task: given a window
of a mitochondrial genome, name the species (8 mammals, bundled with dnaestim, chance = 1/8). A
:class:`~dnaestim.HyenaClassifier` is trained for the same few seconds at each window length, and compared with a
4-mer logistic regression on the same windows.

Each genome is split by position: training windows come from its first 75 %, test windows from its last 25 %,
so no test window overlaps a training one. The model is tiny and trains briefly to keep the documentation
build fast; ``benchmarks/species.py`` runs the published warm-up on whole nuclear genomes up to 32k tokens.
"""

# %%
# Windows from the bundled genomes
# --------------------------------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from dnaestim import HyenaClassifier
from dnaestim.io import bundled_genome_path, fetch_sequence, open_fasta

fasta = open_fasta(bundled_genome_path())
genomes = {name: fetch_sequence(fasta, name).upper() for name in fasta.keys()}
species = [name.split("_")[0] + " " + name.split("_")[1] for name in genomes]
print(f"{len(genomes)} genomes:", ", ".join(species))


def windows(length, n_per_genome, part, seed):
    """Random windows from the first 75 % (part="train") or last 25 % (part="test") of every genome."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for label, sequence in zip(species, genomes.values()):
        cut = int(0.75 * len(sequence))
        lo, hi = (0, cut) if part == "train" else (cut, len(sequence))
        for start in rng.integers(lo, hi - length, size=n_per_genome):
            X.append(sequence[start:start + length])
            y.append(label)
    return X, np.array(y)


# %%
# Train at each length
# --------------------
# Same model, same number of windows and the same 12 seconds of training at every length.

lengths = [32, 64, 128, 256, 512]
hyena_acc, kmer_acc = [], []
for length in lengths:
    X_train, y_train = windows(length, 150, "train", seed=0)
    X_test, y_test = windows(length, 40, "test", seed=1)
    clf = HyenaClassifier(d_model=64, n_layer=2, max_iter=200, max_time=12, batch_size=32,
                          learning_rate_init=3e-3, early_stopping=False, rc_augment=True, random_state=0)
    clf.fit(X_train, y_train)
    hyena_acc.append(accuracy_score(y_test, clf.predict(X_test)))
    kmer = make_pipeline(CountVectorizer(analyzer="char", ngram_range=(4, 4), lowercase=False), MaxAbsScaler(),
                         LogisticRegression(max_iter=2000))
    kmer_acc.append(accuracy_score(y_test, kmer.fit(X_train, y_train).predict(X_test)))
    print(f"{length:4d} bp: HyenaClassifier {hyena_acc[-1]:.3f}, 4-mer LR {kmer_acc[-1]:.3f}")

# %%
# Accuracy against context length
# -------------------------------
# Both models gain from longer windows: more sequence carries more species-specific signal. The curve, not
# the absolute numbers, is the point here.

fig, ax = plt.subplots(figsize=(6, 4))
ax.semilogx(lengths, hyena_acc, "o-", base=2, label="HyenaClassifier (12 s of training)")
ax.semilogx(lengths, kmer_acc, "s--", base=2, label="4-mer logistic regression")
ax.axhline(1 / len(species), color="grey", lw=1, ls=":", label="chance")
ax.set_xlabel("window length (bp)")
ax.set_ylabel("test accuracy (8 species)")
ax.set_ylim(0, 1)
ax.legend()
fig.tight_layout()
