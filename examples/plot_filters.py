"""
Implicit filters and next-nucleotide probabilities
==================================================

This example opens the HyenaDNA language model bundled with dnaestim and looks inside it in two ways:

* it evaluates each layer's implicit long-convolution filter and plots a few of its channels against
  position;
* it tokenizes a window of the genome bundled with dnaestim, one the model never trained on, and plots for
  each position the probability the model gives to the nucleotide that actually comes next, next to a
  randomly initialised model of the same shape.

The bundled model is dnaestim's own multi-species backbone (see :doc:`/user_guide/bundled_model`); to run the
same code on released HyenaDNA weights, pass ``dnaestim.load_pretrained`` a checkpoint directory you downloaded.
"""

# %%
# The models
# ----------
# ``load_pretrained`` takes the name of a bundled model as well as a directory. The random model has the same
# configuration and fresh weights.

import matplotlib.pyplot as plt
import numpy as np
import torch

import dnaestim
from dnaestim.genome import bundled_genome_path, fetch_sequence, open_fasta

model = dnaestim.load_pretrained("dnaestim-multispecies-tiny-1k")  # eval mode
config = model.config
torch.manual_seed(0)
random_model = dnaestim.HyenaLM(config).eval()
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
channels = [0, 40, 80, 127]  # slow to fast decay: the decay rates increase with the channel index

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
# The bundled file holds eight mammalian mitochondrial genomes. The model's pretraining held out the last quarter
# of every record, so read 1024 bases from there in the human one, tokenize them (no special tokens, the dnaestim
# default), and run both models. The logits at position ``t`` are the prediction for the token at ``t + 1``.

record, start = "Homo_sapiens_MT", 13_000
with open_fasta(bundled_genome_path()) as fasta:
    sequence = fetch_sequence(fasta, record, start, start + length)
print(f"{record}[{start}:{start + length}] starts with {sequence[:40]}...")

tokenizer = dnaestim.DNATokenizer()
input_ids = torch.from_numpy(tokenizer([sequence]).input_ids)  # (1, length)
p_true = {}
for name, lm in [("bundled backbone", model), ("random weights", random_model)]:
    with torch.inference_mode():
        logits = lm(input_ids)  # (1, length, padded vocabulary)
    probs = torch.softmax(logits[0, :-1].double(), dim=-1)  # predictions for positions 1 .. length-1
    p_true[name] = probs.gather(-1, input_ids[0, 1:, None]).squeeze(-1).numpy()
    bits = -np.log2(p_true[name]).mean()
    print(f"{name}: mean probability of the true next nucleotide {p_true[name].mean():.4f}, {bits:.3f} bits/nt")

# %%
# The random model spreads its probability almost evenly over all output rows, including special tokens and
# padding rows it should never predict, so every nucleotide gets about ``1/16``. The pretrained model puts its
# probability on the four nucleotides, and more of it on the right one where the sequence is predictable.

positions = np.arange(1, length)
window = 32
fig, ax = plt.subplots(figsize=(7, 3))
for name, values in p_true.items():
    smoothed = np.convolve(values, np.ones(window) / window, mode="valid")
    ax.plot(positions[window - 1:], smoothed, lw=1.5, label=f"{name} (mean of the last {window})")
ax.axhline(0.25, ls="--", lw=1, color="k", label="1/4 (guessing among A, C, G, T)")
ax.axhline(1 / logits.shape[-1], ls=":", lw=1, color="k", label=f"1/{logits.shape[-1]} (uniform over all rows)")
ax.set_xlabel(f"position in {record}[{start}:{start + length}]")
ax.set_ylabel("P(true next nucleotide)")
ax.legend(loc="center right", fontsize="small")
fig.tight_layout()

plt.show()
