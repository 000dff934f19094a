"""The recipe that made the backbone bundled with dnaestim: multi-species next-nucleotide pretraining on a CPU.

Usage::

    python benchmarks/pretrain_bundled.py --genomes ../shared/data/genomes --out runs/bundled \\
        [--exclude-benchmarks ../shared/data/benchmarks] [--export dnaestim/data/models/NAME]

One command, resumable: the run writes an atomic checkpoint to ``--out`` every ``--checkpoint-interval`` steps,
and running the same command again continues from it (on the CPU, with the same data and parameters, a resumed
run ends with the same weights as an uninterrupted one). Stop it whenever you like (Ctrl-C, ``kill``); the
schedule is fixed in optimiser steps, not wall-clock time, so stopping and continuing changes nothing.

Corpus. Every FASTA file under ``--genomes`` (every species, both strands through reverse-complement
augmentation). The last ``--holdout-fraction`` of every record is never trained on: it is where the held-out
bits/nt of the model card come from, and it is the same part that ``benchmarks/species.py`` tests on. Every
occurrence (either strand) of a sequence of the labelled benchmarks under ``--exclude-benchmarks`` (all splits)
is cut out of the training regions, so the backbone never sees a benchmark test sequence, even unlabelled.

``--export DIR`` writes ``config.json``, ``model.safetensors`` and ``MODEL_CARD.md`` (corpus, held-out regions,
tokens, steps, wall time, hardware, held-out bits/nt per species next to the best order-k Markov model, this
command) from the latest checkpoint; ``--export-only`` does that without training.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import dnaestim
from dnaestim import HyenaPretrainer, reverse_complement
from dnaestim.checkpoints import save_pretrained
from dnaestim.estimators import CHECKPOINT_NAME
from dnaestim.tokenizer import GENOME_WINDOWS
from dnaestim.genome import GenomeSource
from dnaestim.scoring import token_log_probs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import cpu_flags, cpu_name  # noqa: E402  (sibling benchmark scripts)
from pretraining import kmer_codes, markov_bits  # noqa: E402

FASTA_GLOBS = ("*.fa.gz", "*.fasta.gz", "*.fna.gz", "*.fa", "*.fasta", "*.fna")
SEED_LENGTH = 32  # k-mer length used to find benchmark sequences in the genomes


# -- corpus ------------------------------------------------------------------------------------------------------


def corpus_files(genome_dirs: list[Path]) -> list[str]:
    files = sorted({str(p) for d in genome_dirs for pattern in FASTA_GLOBS for p in Path(d).glob(pattern)})
    if not files:
        raise SystemExit(f"No FASTA files in {', '.join(map(str, genome_dirs))}.")
    return files


def species_of(path: str) -> str:
    """Files are named ``genus_species_...``: the species is the first two words (``mammalia_mtDNA`` stays one)."""
    return "_".join(Path(path).name.split("_")[:2])


def benchmark_sequences(benchmark_dirs: list[Path]) -> dict[str, list[str]]:
    """Upper-cased sequences of every split of every task (``{task: sequences}``)."""
    tasks = {}
    for root in benchmark_dirs:
        for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
            frames = [pd.read_csv(f, usecols=["sequence"], dtype=str, keep_default_na=False)
                      for f in sorted(folder.glob("*.csv.gz"))]
            if frames:
                tasks[folder.name] = [s.upper() for s in pd.concat(frames).sequence.unique()]
    return tasks


def find_occurrences(source: GenomeSource, tasks: dict[str, list[str]]):
    """Intervals of the genomes holding a benchmark sequence exactly (either strand), and hits per task.

    Each query is found through its first N-free ``SEED_LENGTH``-mer (2-bit codes, one sorted search over every
    genome position), then checked base by base.
    """
    queries = []  # (task, sequence as it must appear on the forward strand)
    for task, sequences in tasks.items():
        for seq in sequences:
            queries.append((task, seq))
            queries.append((task, reverse_complement(seq)))
    seeds: dict[int, list[tuple[int, int]]] = defaultdict(list)  # seed code -> (query index, offset in query)
    for qi, (_, seq) in enumerate(queries):
        codes = kmer_codes(seq, SEED_LENGTH)
        valid = np.flatnonzero(codes >= 0)
        if valid.size:
            seeds[int(codes[valid[0]])].append((qi, int(valid[0])))
    seed_codes = np.array(sorted(seeds), dtype=np.int64)
    hits, found = [], defaultdict(set)
    for record, length in source.records.items():
        if not length:
            continue
        sequence = source.read([source.region(record, 0, length)])[0].upper()
        codes = kmer_codes(sequence, SEED_LENGTH)
        for position in np.flatnonzero(np.isin(codes, seed_codes)):
            for qi, offset in seeds[int(codes[position])]:
                task, query = queries[qi]
                start = int(position) - offset
                if start >= 0 and sequence[start:start + len(query)] == query:
                    hits.append((record, start, start + len(query)))
                    found[task].add(qi // 2)
    return merge_intervals(hits), {task: len(v) for task, v in found.items()}


def merge_intervals(intervals):
    merged = []
    for record, start, end in sorted(intervals):
        if merged and merged[-1][0] == record and start <= merged[-1][2]:
            merged[-1] = (record, merged[-1][1], max(end, merged[-1][2]))
        else:
            merged.append((record, start, end))
    return merged


def plan_regions(source: GenomeSource, holdout_fraction: float, excluded):
    """Training intervals (every record minus its held-out end and minus ``excluded``) and held-out intervals."""
    by_record = defaultdict(list)
    for record, start, end in excluded:
        by_record[record].append((start, end))
    train, valid = [], []
    for record, length in source.records.items():
        cut = length - int(length * holdout_fraction)
        if cut < length:
            valid.append((record, cut, length))
        position = 0
        for start, end in sorted(by_record[record]) + [(cut, cut)]:
            start, end = min(start, cut), min(end, cut)
            if start > position:
                train.append((record, position, start))
            position = max(position, end)
    return train, valid


# -- evaluation ----------------------------------------------------------------------------------------------------


def model_bits(model, windows) -> float:
    """Bits per nucleotide of ``model`` (float32) on ``windows``, over the positions whose base is A, C, G or T.

    N and other codes are left out, as the Markov models leave out every k-mer that holds one.
    """
    log_probs = token_log_probs(model, windows, batch_size=8, tokenizer=GENOME_WINDOWS)
    total, count = 0.0, 0
    for window, values in zip(windows, log_probs):
        target = np.frombuffer(window[1:].upper().encode("ascii", "replace"), dtype=np.uint8)
        acgt = np.isin(target, np.frombuffer(b"ACGT", dtype=np.uint8))
        total -= float(values[acgt].sum())
        count += int(acgt.sum())
    return total / max(count, 1) / math.log(2)


def held_out_report(pre: HyenaPretrainer, source: GenomeSource, window: int, max_windows: int, max_k: int):
    """Held-out bits/nt per species of the model and of order-0..max_k Markov models fitted on the training part.

    ``source`` holds the run's training and held-out regions.
    """
    rows = []
    for species in sorted({species_of(r.path) for r in source.valid_regions}):
        train_seq = source.read([r for r in source.train_regions if species_of(r.path) == species])
        held = [r for r in source.valid_regions if species_of(r.path) == species]
        held_out = source.read(held)
        markov = {k: markov_bits(train_seq, held_out, k) for k in range(max_k + 1)}
        best_k = min(markov, key=markov.get)
        tiles = [r.part(start, min(start + window + 1, r.end)) for r in held for start in range(r.start, r.end, window)]
        keep = np.unique(np.linspace(0, len(tiles) - 1, min(max_windows, len(tiles))).round().astype(int))
        windows = [w for w in source.read([tiles[i] for i in keep]) if len(w) > 1 and w.upper().count("N") < len(w) / 2]
        bits = model_bits(pre.model_, windows)
        rows.append({"species": species, "files": sorted({Path(r.path).name for r in held}),
                     "train_bases": sum(map(len, train_seq)), "held_out_bases": sum(map(len, held_out)),
                     "scored_windows": len(windows), "window": window, "model_bits_per_nt": bits,
                     "markov_best_k": best_k, "markov_bits_per_nt": markov[best_k]})
        print(f"  {species:<32} model {bits:.4f}  best Markov (k={best_k}) {markov[best_k]:.4f} bits/nt", flush=True)
    return rows


# -- model card ------------------------------------------------------------------------------------------------------


def write_card(path: Path, *, name, pre, plan, report, command, args):
    history = pre.history_
    config = pre.model_.config
    parameters = sum(p.numel() for p in pre.model_.parameters())
    seconds = history[-1]["seconds"] if history else 0.0
    lines = [
        f"# {name}",
        "",
        "A HyenaDNA backbone (causal language model over single nucleotides) that dnaestim pretrained itself, with "
        "`HyenaPretrainer`, on public genomes of many species. The estimators start from it by default.",
        "",
        "## Model",
        "",
        f"- Shape: d_model {config.d_model}, n_layer {config.n_layer}, d_inner {config.d_inner}, "
        f"l_max {config.l_max}, filter_order {config.filter_order}, emb_dim {config.emb_dim}; "
        f"{parameters:,} parameters (float32).",
        f"- Training: {pre.n_iter_:,} optimiser steps, {pre.tokens_seen_:,} tokens, "
        f"{seconds / 3600:.2f} hours of wall time, precision {pre.precision}, "
        f"{pre.batch_size} x {pre.max_length} tokens per step, sequence-length warm-up "
        + " -> ".join(f"{s.length}" for s in pre.schedule_.stages)
        + f", AdamW lr {pre.learning_rate_init} (cosine, {pre.lr_warmup_fraction:.0%} warm-up), weight decay "
        f"{pre.weight_decay}, embed dropout {pre.embed_dropout}, reverse-complement augmentation "
        f"{'on' if pre.rc_augment else 'off'}, seed {pre.random_state}.",
        f"- Hardware: {cpu_name()} ({', '.join(cpu_flags()) or 'unknown flags'}), {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"dnaestim {dnaestim.__version__}.",
        f"- Made on {datetime.date.today().isoformat()} by:",
        "",
        "```bash",
        command,
        "```",
        "",
        "## Corpus",
        "",
        f"Every record of every file below. The last {args.holdout_fraction:.0%} of every record is held out "
        "(never trained on); it is where the numbers below come from, and the part `benchmarks/species.py` "
        "tests on. Both strands are trained on (reverse-complement augmentation).",
        "",
        f"Benchmark sequences cut out of the training part: {plan['excluded_bases']:,} bases in "
        f"{plan['excluded_intervals']:,} intervals, every exact occurrence (either strand) of a sequence of "
        f"{', '.join(plan['benchmark_dirs']) or 'no benchmark folder'} (all splits). Sequences found, per task: "
        + (", ".join(f"{t} {n:,}" for t, n in sorted(plan["hits"].items())) or "none") + ".",
        "",
        "| file | records | bases | training bases |",
        "|---|---|---|---|",
    ]
    for row in plan["files"]:
        lines.append(f"| `{row['file']}` | {row['records']} | {row['bases']:,} | {row['train_bases']:,} |")
    lines += [
        "",
        "## Held-out bits per nucleotide",
        "",
        f"Model: up to {args.report_windows} windows of {args.report_window:,} nucleotides tiling the held-out part "
        "of each species (each window's first nucleotides have little context), scored where the next base is A, C, G "
        f"or T. Markov: order-k models (k = 0..{args.markov_max_k}, "
        "add-1/2 smoothing) counted on the training part and scored on the whole held-out part with full context, "
        "the best k per species chosen on the held-out part itself. Both comparisons favour the Markov models.",
        "",
        "| species | held-out bases | model bits/nt | best Markov bits/nt (k) | difference |",
        "|---|---|---|---|---|",
    ]
    for row in report:
        lines.append(f"| {row['species']} | {row['held_out_bases']:,} | {row['model_bits_per_nt']:.4f} | "
                     f"{row['markov_bits_per_nt']:.4f} ({row['markov_best_k']}) | "
                     f"{row['model_bits_per_nt'] - row['markov_bits_per_nt']:+.4f} |")
    evaluations = [h for h in history if h.get("valid_bits_per_nt") is not None]
    if evaluations:
        lines += ["", "## Training curve (validation windows over all species)", "",
                  "| step | tokens | hours | window | train loss (nats) | held-out bits/nt |", "|---|---|---|---|---|---|"]
        shown = evaluations[:: max(1, len(evaluations) // 12)]
        if shown[-1] is not evaluations[-1]:
            shown.append(evaluations[-1])
        for h in shown:
            loss = "" if h["loss"] is None else f"{h['loss']:.4f}"
            lines.append(f"| {h['step']:,} | {h['tokens']:,} | {h['seconds'] / 3600:.2f} | {h['length']:,} | "
                         f"{loss} | {h['valid_bits_per_nt']:.4f} |")
    lines += ["", "## Licences", "",
              "The sequences are public reference data (NCBI RefSeq/GenBank, Ensembl, UCSC, WormBase, FlyBase, TAIR); "
              "provenance of each file is in the README of the genome folder the recipe read. The weights are "
              "released with dnaestim under its Apache-2.0 licence.", ""]
    path.write_text("\n".join(lines))


# -- main ------------------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genomes", type=Path, nargs="+", required=True, help="folders of (bgzip) FASTA files")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, plan and logs")
    parser.add_argument("--exclude-benchmarks", type=Path, nargs="*", default=[],
                        help="folders of labelled tasks (<task>/*.csv.gz) whose sequences are never trained on")
    parser.add_argument("--export", type=Path, help="write the model and its card here when done")
    parser.add_argument("--export-only", action="store_true", help="export the latest checkpoint, do not train")
    parser.add_argument("--name", help="model name in the card (default: the name of the --export folder)")
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=1024, help="final window length and the model's l_max")
    parser.add_argument("--batch-size", type=int, default=16, help="windows of max-length per step")
    parser.add_argument("--steps", type=int, default=60_000)
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--precision", default="bf16", choices=["32", "bf16"])
    parser.add_argument("--holdout-fraction", type=float, default=0.25)
    parser.add_argument("--checkpoint-interval", type=int, default=500)
    parser.add_argument("--eval-interval", type=int, default=1000)
    parser.add_argument("--validation-windows", type=int, default=128)
    parser.add_argument("--report-window", type=int, default=1024, help="window length of the card's bits/nt")
    parser.add_argument("--report-windows", type=int, default=128, help="held-out windows per species")
    parser.add_argument("--markov-max-k", type=int, default=12, help="highest Markov order compared (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)

    files = corpus_files(args.genomes)
    args.out.mkdir(parents=True, exist_ok=True)
    plan_file = args.out / "plan.json"
    source = GenomeSource(fasta=files, validation_fraction=0)
    if plan_file.is_file():
        plan = json.loads(plan_file.read_text())
    else:
        start = time.perf_counter()
        tasks = benchmark_sequences(args.exclude_benchmarks)
        excluded, hits = find_occurrences(source, tasks) if tasks else ([], {})
        print(f"{sum(len(v) for v in tasks.values()):,} benchmark sequences searched, "
              f"{sum(hits.values()):,} found in the genomes ({time.perf_counter() - start:.0f} s)")
        train, valid = plan_regions(source, args.holdout_fraction, excluded)
        per_file = []
        for path in files:
            records = {r for r in source.records if source.file_of(r) == path}
            per_file.append({"file": Path(path).name, "records": len(records),
                             "bases": sum(source.records[r] for r in records),
                             "train_bases": sum(e - s for r, s, e in train if r in records)})
        plan = {"files": per_file, "train": train, "valid": valid, "excluded": excluded, "hits": hits,
                "excluded_intervals": len(excluded), "excluded_bases": sum(e - s for _, s, e in excluded),
                "benchmark_dirs": [p.name for p in args.exclude_benchmarks]}
        plan_file.write_text(json.dumps(plan))
    train = [tuple(x) for x in plan["train"]]
    valid = [tuple(x) for x in plan["valid"]]
    print(f"{len(files)} files, {sum(e - s for _, s, e in train):,} training bases in {len(train):,} intervals, "
          f"{sum(e - s for _, s, e in valid):,} held out")

    pre = HyenaPretrainer(
        d_model=args.d_model, n_layer=args.n_layer, max_length=args.max_length, batch_size=args.batch_size,
        max_steps=args.steps, learning_rate_init=args.lr, rc_augment=True, precision=args.precision,
        validation_windows=args.validation_windows, eval_interval=args.eval_interval,
        checkpoint_dir=args.out, checkpoint_interval=args.checkpoint_interval, random_state=args.seed, verbose=1,
    )
    checkpoint = args.out / CHECKPOINT_NAME
    resume = checkpoint if checkpoint.is_file() else None
    if args.export_only:
        if resume is None:
            raise SystemExit(f"No checkpoint in {args.out} to export.")
        # Resuming with max_steps at the saved step runs no step: it only restores the model and its history.
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        pre.set_params(max_steps=int(saved["step"]), verbose=0)
    else:
        dnaestim.retain_freed_memory()
    pre.fit(files, intervals=train, validation_intervals=valid, resume=resume)
    print(f"{pre.n_iter_:,} steps, {pre.tokens_seen_:,} tokens, {pre.history_[-1]['seconds'] / 3600:.2f} h")
    if args.export:
        print("held-out bits/nt per species:")
        split = GenomeSource(fasta=files, intervals=train, validation_intervals=valid)
        report = held_out_report(pre, split, args.report_window, args.report_windows, args.markov_max_k)
        save_pretrained(pre.model_, args.export, lightning=False)
        (args.export / "held_out.json").write_text(json.dumps(report, indent=2) + "\n")
        write_card(args.export / "MODEL_CARD.md", name=args.name or args.export.name, pre=pre, plan=plan, report=report,
                   command=command.replace(" --export-only", ""), args=args)
        print(f"exported to {args.export}")


if __name__ == "__main__":
    main()
