"""
Generating DNA: what does the bundled language model write?
===========================================================

A HyenaDNA model is a language model: it gives the probability of each next nucleotide. Sampling from those
probabilities one base at a time writes new sequence. :meth:`HyenaLM.generate <dnaestim.nn.HyenaLM.generate>`
(and :meth:`HyenaPretrainer.generate <dnaestim.HyenaPretrainer.generate>` on a fitted pretrainer) continue DNA
prompts with ``temperature``, ``top_k`` and ``top_p`` sampling, reproducibly with ``random_state``, and greedily
at ``temperature=0``. Each new base costs one position's pass through the model and a dot product with the past
per layer (the long convolution's history is kept), not a pass over the whole prefix.

Here the bundled backbone (``dnaestim-multispecies-tiny-1k``, a small model dnaestim pretrained on a CPU)
continues prompts taken from the bundled mitochondrial genomes, and we compare the 3-mer statistics of what it
writes with those of real mitochondrial DNA and of the genomes it was pretrained on.
"""

# %%
# Prompts from real genomes
# -------------------------

import time

import matplotlib.pyplot as plt
import numpy as np

from dnaestim import load_pretrained
from dnaestim.genome import bundled_genome_path, open_fasta

model = load_pretrained("dnaestim-multispecies-tiny-1k")
with open_fasta(bundled_genome_path()) as fasta:
    genomes = {record: str(fasta[record][:]).upper() for record in fasta.keys()}

rng = np.random.default_rng(0)
PROMPT, NEW = 200, 600
prompts, continuations = [], []
for genome in genomes.values():
    start = int(rng.integers(0, len(genome) - PROMPT - NEW))
    prompts.append(genome[start:start + PROMPT])
    continuations.append(genome[start + PROMPT:start + PROMPT + NEW])  # what the genome really says next

start = time.perf_counter()
generated = model.generate(prompts, NEW, temperature=1.0, random_state=0)
seconds = time.perf_counter() - start
print(f"{len(prompts)} x {NEW} new bases in {seconds:.1f} s ({len(prompts) * NEW / seconds:,.0f} bases/s)")
print("prompt end :", prompts[0][-40:])
print("generated  :", generated[0][PROMPT:PROMPT + 60])
print("real next  :", continuations[0][:60])

# %%
# 3-mer frequencies
# -----------------
#
# Sampling at temperature 1 draws from the model's distribution, so its k-mer statistics should look like the
# DNA it learnt from; greedy decoding (temperature 0) picks the most likely base every time and drifts into
# repeats, as with any language model.

KMERS = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT"]


def kmer_frequencies(sequences, k=3):
    counts = dict.fromkeys(KMERS, 0)
    for sequence in sequences:
        for i in range(len(sequence) - k + 1):
            kmer = sequence[i:i + k]
            if kmer in counts:
                counts[kmer] += 1
    total = sum(counts.values())
    return np.array([counts[kmer] / total for kmer in KMERS])


real = kmer_frequencies(continuations)
sampled = kmer_frequencies([g[PROMPT:] for g in generated])
greedy = kmer_frequencies([g[PROMPT:] for g in model.generate(prompts, NEW, temperature=0)])
uniform = np.full(len(KMERS), 1 / len(KMERS))
for name, frequencies in (("sampled, T=1", sampled), ("greedy, T=0", greedy), ("uniform", uniform)):
    correlation = np.corrcoef(real, frequencies)[0, 1] if frequencies.std() else float("nan")
    distance = 0.5 * np.abs(real - frequencies).sum()
    print(f"{name:<13} Pearson r with real mtDNA {correlation:5.2f}, total variation distance {distance:.3f}")

fig, ax = plt.subplots(figsize=(5, 5))
ax.scatter(real, sampled, label="sampled (temperature 1)")
ax.scatter(real, greedy, marker="x", label="greedy (temperature 0)")
top = max(real.max(), sampled.max(), greedy.max()) * 1.05
ax.plot([0, top], [0, top], color="grey", lw=1)
ax.set_xlabel("3-mer frequency in the real continuations")
ax.set_ylabel("3-mer frequency in generated sequence")
ax.set_title("bundled backbone continuing mitochondrial DNA")
ax.legend()
fig.tight_layout()
plt.show()
