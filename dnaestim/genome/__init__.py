"""Genomes: FASTA input and the bundled genome (:mod:`.fasta`), regions, BED intervals and reproducible windows
(:mod:`.source`), and genome-wide embedding or scoring jobs under torchrun (:mod:`.jobs`, imported on use)."""

from .fasta import bundled_genome_path, fetch_sequence, open_fasta
from .source import GenomeSource, Region, read_bed

__all__ = ["GenomeSource", "Region", "bundled_genome_path", "fetch_sequence", "open_fasta", "read_bed"]
