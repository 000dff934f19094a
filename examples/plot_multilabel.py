"""
Multi-label classification: several labels per sequence
=======================================================

Give :class:`~dnaestim.HyenaClassifier` a 0/1 matrix instead of one label per sequence and it predicts every
label on its own: one sigmoid per label, binary cross-entropy, ``predict_proba`` of shape
``(n_samples, n_labels)``, ``predict`` a 0/1 matrix, and ``score`` the subset accuracy, as scikit-learn's
``MLPClassifier`` does. A DataFrame's column names become ``classes_``.

The labels here come from the genome bundled with dnaestim, the mitochondrial DNA of eight mammals: each
fragment carries two labels, its superorder (Euarchontoglires or Laurasiatheria) and its order (primates,
rodents, carnivores, ruminants). Training fragments come from the first three quarters of every genome and test
fragments from the last quarter, so the test asks for other genes than those seen in training. To keep the
documentation build fast, the model trains for only **60 seconds** on the CPU (a few epochs, as many as the
machine manages), and on this small task the 4-mer baseline printed below is about as good or better: the
example shows the interface, not the model's strength. Measured multi-label tasks (chromatin accessibility,
enhancer activity per tissue, against k-mer baselines, ten minutes each) are in the README
(``benchmarks/multioutput.py``).
"""

# %%
# Fragments and their labels
# --------------------------

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from dnaestim import HyenaClassifier
from dnaestim.genome import bundled_genome_path, open_fasta

TAXA = {"Homo_sapiens_MT": ("euarchontoglires", "primates"), "Pongo_MT": ("euarchontoglires", "primates"),
        "Mus_musculus_AJ512208.1": ("euarchontoglires", "rodents"),
        "Rattus_norvegicus_AJ428514.1": ("euarchontoglires", "rodents"),
        "Felis_catus_OR095104.1": ("laurasiatheria", "carnivores"), "Canis_lupus_AM711902.1": ("laurasiatheria", "carnivores"),
        "Bos_taurus_V00654.1": ("laurasiatheria", "ruminants"), "Ovis_aries_AF010406.1": ("laurasiatheria", "ruminants")}
LABELS = ["euarchontoglires", "laurasiatheria", "primates", "rodents", "carnivores", "ruminants"]
WINDOW, STEP = 250, 125
rows = {"train": [], "test": []}
with open_fasta(bundled_genome_path()) as fasta:
    for record, taxa in TAXA.items():
        genome = str(fasta[record][:]).upper()
        for start in range(0, len(genome) - WINDOW + 1, STEP):
            part = "train" if start + WINDOW <= 0.75 * len(genome) else "test"
            rows[part].append({"sequence": genome[start:start + WINDOW], **{label: int(label in taxa)
                                                                             for label in LABELS}})
train, test = pd.DataFrame(rows["train"]), pd.DataFrame(rows["test"])
print(f"train: {len(train)} fragments, test: {len(test)} fragments; every fragment has 2 of {len(LABELS)} labels")
print(train[LABELS].sum().to_string())

# %%
# Fine-tune for 60 seconds, and a k-mer baseline
# ----------------------------------------------

clf = HyenaClassifier(max_time=60, random_state=0).fit(train["sequence"], train[LABELS])
print("classes_:", clf.classes_.tolist(), "| out_activation_:", clf.out_activation_)
proba = clf.predict_proba(test["sequence"])
print(f"predict_proba: {proba.shape}; predict: {clf.predict(test['sequence'][:3]).tolist()}")
print(f"subset accuracy (score): {clf.score(test['sequence'], test[LABELS]):.3f}")
kmer = make_pipeline(CountVectorizer(analyzer="char", ngram_range=(4, 4), lowercase=False), MaxAbsScaler(),
                     OneVsRestClassifier(LogisticRegression(max_iter=2000))).fit(train["sequence"], train[LABELS])
kmer_proba = kmer.predict_proba(test["sequence"])

# %%
# ROC AUC per label
# -----------------

auc = pd.DataFrame({"HyenaClassifier": [roc_auc_score(test[label], proba[:, j]) for j, label in enumerate(LABELS)],
                    "4-mer + LogisticRegression": [roc_auc_score(test[label], kmer_proba[:, j])
                                                   for j, label in enumerate(LABELS)]}, index=LABELS)
print(auc.round(3).to_string())
print("macro ROC AUC:", auc.mean().round(3).to_dict())
ax = auc.plot.barh(figsize=(6, 3.8), xlim=(0.5, 1.0))
ax.set_xlabel("ROC AUC on the last quarter of every genome")
ax.invert_yaxis()
plt.tight_layout()
