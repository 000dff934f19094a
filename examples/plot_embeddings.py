"""
Embeddings in a scikit-learn pipeline, projected to 2-D
=======================================================

:class:`~dnaestim.HyenaEmbedder` is a transformer in the scikit-learn sense: it turns DNA strings into one
vector per sequence (the backbone's hidden states, mean-pooled), so it fits anywhere a pipeline expects numeric
features. Here windows of eight bundled mammalian mitochondrial genomes are embedded and projected to two
dimensions with PCA, and a logistic regression is trained on the embeddings.

The embedder has no pretrained weights here (dnaestim never downloads them; see
:doc:`/user_guide/loading_checkpoints` for how to load released HyenaDNA weights from a local folder): it is a
randomly initialised backbone. Even so, the pooled embeddings keep the sequence composition, which already
separates some species. With a pretrained checkpoint pass ``pretrained="path/to/checkpoint"``.
"""

# %%
# Embed windows of the bundled genomes
# ------------------------------------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dnaestim import HyenaEmbedder
from dnaestim.io import bundled_genome_path, fetch_sequence, open_fasta

fasta = open_fasta(bundled_genome_path())
rng = np.random.default_rng(0)
X, species, part = [], [], []
for name in fasta.keys():
    sequence = fetch_sequence(fasta, name).upper()
    cut = int(0.75 * len(sequence))  # training windows from the first 75 %, test windows from the rest
    for start in rng.integers(0, len(sequence) - 512, size=60):
        X.append(sequence[start:start + 512])
        species.append(" ".join(name.split("_")[:2]))
        part.append("train" if start + 512 <= cut else "test" if start >= cut else "overlap")
species, part = np.array(species), np.array(part)

embedder = HyenaEmbedder(d_model=128, n_layer=2, max_length=512, random_state=0)
embeddings = embedder.fit_transform(X)
print("embeddings:", embeddings.shape)

# %%
# Project to two dimensions
# -------------------------

projected = PCA(n_components=2).fit_transform(StandardScaler().fit_transform(embeddings))
fig, ax = plt.subplots(figsize=(6, 5))
for name in np.unique(species):
    ax.scatter(*projected[species == name].T, s=12, label=name)
ax.set_xlabel("PC 1")
ax.set_ylabel("PC 2")
ax.set_title("HyenaEmbedder (random weights), 512-bp windows")
ax.legend(fontsize=7, markerscale=1.5)
fig.tight_layout()

# %%
# The same embedder inside a pipeline
# -----------------------------------
# ``make_pipeline(HyenaEmbedder(...), LogisticRegression())`` is an ordinary classifier: it clones, grid-searches
# and cross-validates like any other. Trained on windows from the first 75 % of each genome, tested on the rest.

model = make_pipeline(HyenaEmbedder(d_model=128, n_layer=2, max_length=512, random_state=0), StandardScaler(),
                      LogisticRegression(max_iter=2000))
train, test = part == "train", part == "test"
model.fit([x for x, t in zip(X, train) if t], species[train])
accuracy = model.score([x for x, t in zip(X, test) if t], species[test])
print(f"accuracy on held-out windows: {accuracy:.3f} (chance {1 / len(np.unique(species)):.3f})")
