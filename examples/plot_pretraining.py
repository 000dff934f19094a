"""
Pretraining on a genome and scoring variants
============================================

:class:`~dnaestim.HyenaPretrainer` learns a language model of DNA by next-nucleotide prediction. Here a small
model trains for 15 seconds on the mitochondrial genomes bundled with dnaestim (eight mammals, about 130 kb),
with the sequence-length warm-up: short windows first, doubling up to the final length. The loss falls quickly
below the ln 4 = 1.386 nats (2 bits) per nucleotide of a uniform guess; a real run trains far longer on far more
sequence (see the "Pretraining" guide and ``benchmarks/pretraining.py``).
"""

import matplotlib.pyplot as plt
import numpy as np

from dnaestim import HyenaPretrainer, score_variants
from dnaestim.genome import bundled_genome_path, fetch_sequence, open_fasta
from dnaestim.plotting import plot_history

genome = bundled_genome_path()
pre = HyenaPretrainer(d_model=64, n_layer=2, max_length=512, batch_size=8, max_steps=10_000, max_time=15,
                      learning_rate_init=2e-3, eval_interval=20, validation_windows=32, random_state=0)
pre.fit(genome)
print(f"{pre.n_iter_} steps, {pre.tokens_seen_:,} tokens, stages: "
      + ", ".join(f"{s.length} x {s.batch_size}" for s in pre.schedule_.stages))

# %%
# Loss curve
# ----------
# Training loss per step (``loss``, window length changing with the warm-up stages) and the held-out
# validation loss (``valid_loss``, measured every ``eval_interval`` steps), both in nats per nucleotide, as
# :func:`~dnaestim.plotting.plot_history` draws them from ``history_``. (``valid_bits_per_nt`` holds the
# validation loss in bits.)

fig, ax = plt.subplots(figsize=(7, 4))
plot_history(pre, ax=ax)
ax.axhline(np.log(4), color="grey", ls="--", label="uniform over A, C, G, T")
ax.legend()
fig.tight_layout()

# %%
# Variant effects
# ---------------
# :func:`~dnaestim.score_variants` compares the log-likelihood of a window with and without each variant. With a
# model this small and this briefly trained the numbers mean little; the call is what a real analysis makes.

with open_fasta(genome) as fasta:
    reference = fetch_sequence(fasta, "Homo_sapiens_MT")
positions = np.arange(3000, 3010)
alternatives = ["A" if reference[p] != "A" else "G" for p in positions]
llr = score_variants(pre, positions, alternatives, sequence=reference, window=256)
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar([f"{p}\n{reference[p]}>{a}" for p, a in zip(positions, alternatives)], llr)
ax.set_ylabel("log-likelihood ratio (nats)")
fig.tight_layout()
plt.show()
