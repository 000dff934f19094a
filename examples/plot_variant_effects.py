"""
Scoring the variants of a VCF file
==================================

:func:`~dnaestim.score_variants` scores variants as the log-likelihood ratio of a window around each one,
``log P(alternative) - log P(reference)`` under the language model: negative when the variant makes the sequence
less likely. With ``vcf=`` and ``fasta=`` it reads a VCF file (plain or bgzip) against its reference genome and
returns one row per ALT allele: substitutions, insertions, deletions and multi-allelic records are scored;
symbolic alleles and breakends are kept with a NaN score and a ``status`` saying why. :mod:`dnaestim.vcf` writes
the scores as a table or back into the VCF's INFO column.

Here a small VCF of the human mitochondrial genome (from the genome bundled with dnaestim) is scored with the
bundled backbone. The variants are random, so this shows the mechanics, not a validated effect predictor: a
model of this size, pretrained for hours on a CPU, is not one.
"""

# %%
# A VCF file
# ----------

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dnaestim import score_variants
from dnaestim.genome import bundled_genome_path, open_fasta
from dnaestim.vcf import annotate_vcf, read_vcf, write_scores

CHROM = "Homo_sapiens_MT"
with open_fasta(bundled_genome_path()) as fasta:
    reference = str(fasta[CHROM][:]).upper()

rng = np.random.default_rng(0)
lines = ["##fileformat=VCFv4.2", f"##contig=<ID={CHROM},length={len(reference)}>",
         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
for i, position in enumerate(sorted(rng.choice(np.arange(600, len(reference) - 600), 60, replace=False))):
    ref = reference[position]
    kind = i % 6
    if kind == 4:  # a deletion of 1-3 bases after the anchor base
        ref = reference[position:position + 1 + int(rng.integers(1, 4))]
        alt = ref[0]
    elif kind == 5:  # an insertion of 1-3 bases after the anchor base
        alt = ref + "".join(rng.choice(list("ACGT"), int(rng.integers(1, 4))))
    else:
        alt = ",".join(rng.choice([b for b in "ACGT" if b != ref], 2 if kind == 3 else 1, replace=False))
    lines.append(f"{CHROM}\t{position + 1}\tvar{i}\t{ref}\t{alt}\t.\tPASS\t.")
lines.append(f"{CHROM}\t5000\tsv1\t{reference[4999]}\t<DEL>\t.\tPASS\tSVTYPE=DEL;END=5300")
folder = Path(tempfile.mkdtemp())
(folder / "calls.vcf").write_text("\n".join(lines) + "\n")
print(read_vcf(folder / "calls.vcf").head())

# %%
# Scores
# ------

scores = score_variants("dnaestim-multispecies-tiny-1k", vcf=folder / "calls.vcf", fasta=bundled_genome_path(),
                        window=512)
print(scores[["chrom", "pos", "id", "ref", "alt", "score", "status"]].tail(8).to_string(index=False))
write_scores(scores, folder / "scores.tsv")
annotate_vcf(folder / "calls.vcf", scores, folder / "scored.vcf")
print(next(line for line in (folder / "scored.vcf").read_text().splitlines() if line.startswith(CHROM)))

# %%
# By kind of variant
# ------------------
#
# Insertions and deletions change more of the window than a substitution, and usually cost more likelihood.

ref_len, alt_len = scores["ref"].str.len(), scores["alt"].str.len()
kind = np.where(scores["status"] != "ok", "unscored",
                np.where(ref_len == alt_len, "substitution", np.where(ref_len > alt_len, "deletion", "insertion")))
fig, ax = plt.subplots(figsize=(6, 3.5))
for i, name in enumerate(["substitution", "insertion", "deletion"]):
    values = scores["score"][kind == name]
    ax.scatter(np.full(len(values), i) + rng.uniform(-0.15, 0.15, len(values)), values, alpha=0.7)
ax.axhline(0, color="grey", lw=1)
ax.set_xticks(range(3), ["substitutions", "insertions", "deletions"])
ax.set_ylabel("log-likelihood ratio (nats)")
ax.set_title(f"{int((kind != 'unscored').sum())} scored alleles, {int((kind == 'unscored').sum())} unscored")
fig.tight_layout()
plt.show()
