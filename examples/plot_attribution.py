"""
Why did it predict that? Mutagenesis of a promoter classifier
=============================================================

:func:`dnaestim.interpret.saturation_mutagenesis` mutates every position of a sequence to every other base and
runs all mutants through a fitted estimator: the (L, 4) matrix of changes of the predicted probability (or
value, or log-likelihood) says which bases the prediction rests on. :func:`dnaestim.interpret.gradient_x_input`
is the cheap alternative: one forward and one backward pass.

The task is the bundled GUE ``prom_core_tata`` subset: 70-nt human core promoters (from 34 nt upstream of the
transcription start site to 35 downstream) whose promoter has a TATA box, against non-promoter sequence. The
TATA box sits about 25-30 nt upstream of the start site, i.e. around positions 4-10 of these sequences. The
classifier starts from the bundled backbone and fine-tunes for 4 epochs on 1,000 training sequences, as in
:doc:`plot_classifier`.
"""

# %%
# A classifier

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from dnaestim import HyenaClassifier
from dnaestim.datasets import load_gue_prom_core_tata
from dnaestim.interpret import gradient_x_input, mutagenesis_frame, saturation_mutagenesis
from dnaestim.plotting import plot_attribution, plot_mutagenesis

X_all, y_all = load_gue_prom_core_tata(split="train", return_X_y=True)
X_test, y_test = load_gue_prom_core_tata(split="test", return_X_y=True)
X_train, _, y_train, _ = train_test_split(X_all, y_all, train_size=1000, stratify=y_all, random_state=0)
clf = HyenaClassifier(max_iter=4, random_state=0).fit(X_train, y_train)
print(f"test accuracy {clf.score(X_test, y_test):.3f}; classes {list(clf.classes_)}")

# %%
# Mutagenesis of one promoter
# ---------------------------
#
# Each cell is the change of the predicted probability of "promoter" when that base is put at that position;
# the reference bases (dots) are 0.

positive = clf.classes_[-1]
promoters = [x for x, y, p in zip(X_test, y_test, clf.predict(X_test)) if y == p == positive]
sequence = promoters[0]
ism = saturation_mutagenesis(clf, sequence, target=positive)
print(mutagenesis_frame(ism, sequence).sort_values("delta").head(5).to_string(index=False))

fig, axes = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
plot_mutagenesis(ism, sequence, ax=axes[0])
plot_attribution(gradient_x_input(clf, sequence, target=positive), sequence, ax=axes[1])
axes[0].set_title("saturation mutagenesis (top) and gradient x input (bottom)")
fig.tight_layout()

# %%
# Where do promoters depend on their bases?
# -----------------------------------------
#
# The mean over 16 correctly classified promoters of each position's largest loss of probability: if the
# model has learnt the TATA box, the first positions stand out.

importance = np.mean([-saturation_mutagenesis(clf, s, target=positive).min(axis=1) for s in promoters[:16]], axis=0)
fig, ax = plt.subplots(figsize=(10, 2.5))
ax.bar(np.arange(len(importance)) - 34, importance)
ax.axvspan(-31, -24, color="orange", alpha=0.2, label="typical TATA box")
ax.set_xlabel("position relative to the transcription start site")
ax.set_ylabel("mean largest drop")
ax.legend()
fig.tight_layout()
plt.show()
