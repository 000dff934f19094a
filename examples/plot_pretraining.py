"""
Pretraining on a genome and scoring variants
============================================

:class:`~dnaestim.HyenaPretrainer` learns a language model of DNA by next-nucleotide prediction. Here a small
model trains for 15 seconds on the mitochondrial genomes bundled with dnaestim (eight mammals, about 130 kb),
with the sequence-length warm-up: short windows first, doubling up to the final length. The loss falls quickly
below the 2 bits per nucleotide of a uniform guess; a real run trains far longer on far more sequence (see the
"Pretraining" guide and ``benchmarks/pretraining.py``).
"""

import matplotlib.pyplot as plt
import numpy as np

from dnaestim import HyenaPretrainer, score_variants
from dnaestim.genome import bundled_genome_path, fetch_sequence, open_fasta

genome = bundled_genome_path()
pre = HyenaPretrainer(d_model=64, n_layer=2, max_length=512, batch_size=8, max_steps=10_000, max_time=15,
                      learning_rate_init=2e-3, eval_interval=20, validation_windows=32, random_state=0)
pre.fit(genome)
print(f"{pre.n_iter_} steps, {pre.tokens_seen_:,} tokens, stages: "
      + ", ".join(f"{s.length} x {s.batch_size}" for s in pre.schedule_.stages))

# %%
# Loss curve
# ----------
# Training loss per step (window length changing with the warm-up stages) and the held-out validation loss.

steps = np.array([h["step"] for h in pre.history_])
train_bits = np.array([h["loss"] for h in pre.history_]) / np.log(2)
evaluated = [h for h in pre.history_ if h["valid_loss"] is not None]
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(steps, train_bits, lw=1, label="training windows")
ax.plot([h["step"] for h in evaluated], [h["valid_bits_per_nt"] for h in evaluated], "o-", label="held-out")
ax.axhline(2.0, color="grey", ls="--", label="uniform over A, C, G, T")
ax.set_xlabel("optimiser step")
ax.set_ylabel("cross-entropy (bits per nucleotide)")
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
