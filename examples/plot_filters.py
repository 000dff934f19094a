"""
Implicit filters and next-nucleotide probabilities
==================================================

This example builds a small HyenaDNA language model and looks inside it in two ways:

* it evaluates each layer's implicit long-convolution filter and plots a few of its channels against
  position;
* it tokenizes a window of the genome bundled with dnaestim and plots, for each position, the probability
  the model gives to the nucleotide that actually comes next.

The model is **randomly initialised**: no released weights ship with dnaestim, and building the
documentation never downloads anything. The filters therefore show what the architecture imposes before
training (a sine MLP of the position, shaped by a decaying exponential window), and the probabilities show
an untrained model, which knows nothing about DNA. To run the same code on a real model, replace the
constructor with ``dnaestim.load_pretrained(directory)`` pointing at a checkpoint you downloaded.
"""

# %%
# A small model
# -------------
# ``l_max=1026`` matches the published ``tiny-1k`` checkpoints: 1024 nucleotides plus two special tokens.
# ``w=10`` is the starting frequency of the filter MLP's sine activations, as in those checkpoints.

import matplotlib.pyplot as plt
import numpy as np
import torch

import dnaestim
from dnaestim.io import bundled_genome_path, fetch_sequence, open_fasta

torch.manual_seed(0)
config = dnaestim.HyenaConfig(d_model=32, n_layer=2, l_max=1026, w=10)
model = dnaestim.HyenaLM(config).eval()
print(config)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

# %%
# The implicit long filters
# -------------------------
# Each Hyena operator convolves its input with a filter as long as the sequence, one filter per channel.
# Instead of storing the taps, the model computes them: a small MLP with sine activations maps a
# positional encoding of each position to ``d_model`` values, and the result is multiplied by
# ``exp(-t |delta|) + shift``, where each channel has its own decay rate ``delta``.
# ``filter_fn.filter(L)`` evaluates the filter for a sequence of ``L`` tokens and returns shape
# ``(L, d_model)``.

length = 1024
channels = [0, 10, 20, 31]  # slow to fast decay: the decay rates increase with the channel index

fig, axes = plt.subplots(config.n_layer, 1, figsize=(7, 2.6 * config.n_layer), sharex=True)
with torch.no_grad():
    for i, ax in enumerate(axes):
        taps = model.backbone.layers[i].mixer.filter_fn.filter(length)  # (length, d_model)
        for c in channels:
            ax.plot(taps[:, c].numpy(), lw=0.8, label=f"channel {c}")
        ax.set_title(f"layer {i}: implicit filter, {taps.shape[0]} taps x {taps.shape[1]} channels")
        ax.set_ylabel("tap value")
axes[0].legend(loc="upper right", fontsize="small", ncol=2)
axes[-1].set_xlabel("position (tokens back in the sequence)")
fig.tight_layout()

# %%
# Next-nucleotide probabilities on real sequence
# ----------------------------------------------
# The bundled file holds eight mammalian mitochondrial genomes. Read the first 1024 bases of the human one,
# tokenize them (no special tokens, the dnaestim default), and run the language model. The logits at
# position ``t`` are the model's prediction for the token at ``t + 1``.

with open_fasta(bundled_genome_path()) as fasta:
    record = "Homo_sapiens_MT"
    sequence = fetch_sequence(fasta, record, 0, length)
print(f"{record}[0:{length}] starts with {sequence[:40]}...")

tokenizer = dnaestim.DNATokenizer()
input_ids = torch.from_numpy(tokenizer([sequence]).input_ids)  # (1, length)
with torch.inference_mode():
    logits = model(input_ids)  # (1, length, padded vocabulary)
probs = torch.softmax(logits[0, :-1].double(), dim=-1)  # predictions for positions 1 .. length-1
p_true = probs.gather(-1, input_ids[0, 1:, None]).squeeze(-1).numpy()
print(f"mean probability of the true next nucleotide: {p_true.mean():.4f} "
      f"(uniform over the {logits.shape[-1]} output rows: {1 / logits.shape[-1]:.4f})")

# %%
# An untrained model spreads its probability almost evenly over all output rows, including special tokens
# and padding rows it should never predict, so every nucleotide gets about ``1/16``. A trained
# checkpoint puts most of its probability on the four nucleotides, and more of it on the right one where
# the sequence is predictable.

positions = np.arange(1, length)
window = 32
smoothed = np.convolve(p_true, np.ones(window) / window, mode="valid")
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(positions, p_true, lw=0.5, color="0.6", label="per position")
ax.plot(positions[window - 1:], smoothed, lw=1.5, label=f"mean of the last {window}")
ax.axhline(0.25, ls="--", lw=1, color="k", label="1/4 (guessing among A, C, G, T)")
ax.axhline(1 / logits.shape[-1], ls=":", lw=1, color="k", label=f"1/{logits.shape[-1]} (uniform over all rows)")
ax.set_xlabel(f"position in {record}")
ax.set_ylabel("P(true next nucleotide)")
ax.set_title("Randomly initialised model (untrained)")
ax.legend(loc="center right", fontsize="small")
fig.tight_layout()

plt.show()
