"""
Regression: where in the mitochondrial genome does a fragment come from?
========================================================================

:class:`~dnaestim.HyenaRegressor` predicts numbers from DNA: one target (``y`` of shape ``(n,)``) or several
(``(n, n_targets)``), with the estimator's own target standardisation, ``score`` = R² and the shapes of
scikit-learn's ``MLPRegressor``.

The task here uses only the genome bundled with dnaestim, the mitochondrial DNA of eight mammals. Mammalian
mitochondrial genomes keep the same gene order, so a fragment's sequence says where in the genome it lies: the
target is the fragment's centre as a fraction of the genome's length (0 at the conventional start, 1 at the
end). Six species are for training; the orangutan and the sheep are held out, so the test asks whether the
relation carries over to species the model was not fitted on (their relatives, human and cow, are in the
training set). To keep the documentation build short, the model trains for only **60 seconds** on the CPU:
a few epochs, and how many depends on the machine (two on one core of a slow AVX2 CPU). That is too little for
this task: the 4-mer baseline printed below stays ahead, by a wide margin on a slow machine. The example shows
the interface, not the model's strength; measured regression tasks with ten minutes of training each, against
k-mer baselines, are in the README (``benchmarks/multioutput.py``: plant promoter strength, R² 0.61 against
0.39).
"""

# %%
# Fragments and targets
# ---------------------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from dnaestim import HyenaRegressor
from dnaestim.genome import bundled_genome_path, open_fasta
from dnaestim.plotting import plot_history

WINDOW, STEP = 300, 100
HELD_OUT = ("Pongo_MT", "Ovis_aries_AF010406.1")
fragments = {"train": ([], []), "test": ([], [])}
with open_fasta(bundled_genome_path()) as fasta:
    for record in fasta.keys():
        genome = str(fasta[record][:]).upper()
        part = "test" if record in HELD_OUT else "train"
        for start in range(0, len(genome) - WINDOW + 1, STEP):
            fragments[part][0].append(genome[start:start + WINDOW])
            fragments[part][1].append((start + WINDOW / 2) / len(genome))
(X_train, y_train), (X_test, y_test) = [(np.array(x, dtype=object), np.array(y)) for x, y in fragments.values()]
print(f"train: {len(X_train)} fragments of 6 species; test: {len(X_test)} fragments of the 2 held-out species")

# %%
# Fine-tune for 60 seconds, and a k-mer baseline
# ----------------------------------------------
# ``HyenaRegressor()`` starts from the bundled backbone; its head starts from a ridge regression on the
# backbone's pooled features (``head_init="probe"``), then everything is fine-tuned on the mean squared error
# of the standardised target.

reg = HyenaRegressor(max_time=60, random_state=0).fit(X_train, y_train)
kmer = make_pipeline(CountVectorizer(analyzer="char", ngram_range=(4, 4), lowercase=False), MaxAbsScaler(),
                     Ridge(alpha=1.0)).fit(X_train, y_train)
print(f"{reg.n_iter_} epoch(s); test R²: HyenaRegressor {reg.score(X_test, y_test):.3f}, "
      f"4-mer counts + Ridge {kmer.score(X_test, y_test):.3f}")

# %%
# Predicted against true position
# -------------------------------
# Each point is a fragment of a held-out species. Fragments near both ends of the genome (the control region,
# which holds the origin the numbering starts from) are the hardest: the genome is circular, so its two ends
# meet there.

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
for name, model in (("HyenaRegressor", reg), ("4-mer + Ridge", kmer)):
    left.scatter(y_test, model.predict(X_test), s=8, alpha=0.6, label=name)
left.plot([0, 1], [0, 1], color="grey", lw=1)
left.set(xlabel="true position (fraction of the genome)", ylabel="predicted position", title="Held-out species")
left.legend()
plot_history(reg, ax=right)
right.set_title("Training and validation loss")
fig.tight_layout()
