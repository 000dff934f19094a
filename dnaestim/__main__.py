"""Command-line entry point: ``python -m dnaestim <command>`` (also installed as ``dnaestim``)."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time

__all__ = ["main"]


def _demo(args) -> int:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, matthews_corrcoef, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler

    from . import HyenaClassifier
    from .datasets import load_bundled
    from .models import DEFAULT_BACKBONE

    X_train, y_train = load_bundled(args.dataset, split="train", return_X_y=True)
    X_test, y_test = load_bundled(args.dataset, split="test", return_X_y=True)
    print(f"Task: {args.dataset} ({len(X_train)} training and {len(X_test)} test sequences of "
          f"{min(map(len, X_train))}-{max(map(len, X_train))} bp, classes {sorted(set(y_train))})")

    rows = []
    runs = [(f"HyenaClassifier() fine-tuned", {}),
            ("HyenaClassifier(pretrained=None)", {"pretrained": None})]
    for name, params in runs:
        start = time.perf_counter()
        clf = HyenaClassifier(max_time=args.max_time, random_state=args.seed, verbose=args.progress, **params)
        clf.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        where = (f"the bundled backbone {DEFAULT_BACKBONE!r} (pretrained by dnaestim on public genomes)"
                 if clf.pretrained is not None else "random weights (from scratch)")
        print(f"\n{name}: starts from {where}; {clf.n_iter_} epochs in {seconds:.0f} s, best epoch "
              f"{clf.best_iter_}")
        for record in clf.history_:
            print(f"  epoch {record['epoch']:3d}  train loss {record['train_loss']:.4f}  "
                  f"valid loss {record['valid_loss']:.4f}  valid accuracy {record['valid_accuracy']:.3f}")
        rows.append((name, clf.predict_proba(X_test), clf.classes_, seconds))

    start = time.perf_counter()
    kmer = make_pipeline(CountVectorizer(analyzer="char", ngram_range=(args.k, args.k)), MaxAbsScaler(),
                         LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    rows.append((f"{args.k}-mer counts + LogisticRegression", kmer.predict_proba(X_test), kmer.classes_,
                 time.perf_counter() - start))

    print(f"\n{'test set':<36} {'accuracy':>8} {'MCC':>7} {'ROC AUC':>8} {'fit s':>6}")
    results = []
    for name, p, labels, seconds in rows:
        pred = labels[p.argmax(1)]
        results.append((accuracy_score(y_test, pred), roc_auc_score(y_test == labels[-1], p[:, -1])))
        print(f"{name:<36} {results[-1][0]:8.3f} {matthews_corrcoef(y_test, pred):7.3f} {results[-1][1]:8.3f} "
              f"{seconds:6.0f}")
    (acc, auc), _, (kmer_acc, kmer_auc) = results
    verdict = "beats" if acc > kmer_acc and auc > kmer_auc else "does NOT beat"
    print(f"\nThe fine-tuned bundled backbone {verdict} the {args.k}-mer baseline: accuracy {acc - kmer_acc:+.3f}, "
          f"ROC AUC {auc - kmer_auc:+.3f} (from scratch: {results[1][0] - kmer_acc:+.3f}, "
          f"{results[1][1] - kmer_auc:+.3f}).")
    return 0


def _inspect(args) -> int:
    import numpy as np
    import torch

    from . import DNATokenizer, HyenaConfig, HyenaLM, load_pretrained, save_pretrained
    from .genome.fasta import bundled_genome_path, fetch_sequence, open_fasta

    torch.manual_seed(args.seed)
    genome = bundled_genome_path()
    with open_fasta(genome) as fasta:
        record = args.record or next(iter(fasta.keys()))
        windows = [
            fetch_sequence(fasta, record, i * args.length, (i + 1) * args.length) for i in range(args.windows)
        ]
    print(f"Genome: {genome.name}, record {record}: {args.windows} windows of {args.length} bp")

    tokenizer = DNATokenizer()
    batch = tokenizer(windows)
    ids = torch.from_numpy(batch.input_ids)
    print(f"Tokens: {tuple(ids.shape)}, first 12 ids {ids[0, :12].tolist()} = {windows[0][:12]!r}")

    with tempfile.TemporaryDirectory() as tmp:
        if args.checkpoint:
            checkpoint = args.checkpoint
            print(f"Checkpoint: {checkpoint}")
        else:
            # No released weights are bundled: write a tiny-1k-shaped model in the published layout, then read it
            # back exactly as a downloaded checkpoint would be read.
            config = HyenaConfig(d_model=128, n_layer=2, d_inner=512, l_max=1026, emb_dim=5, filter_order=64, w=10)
            save_pretrained(HyenaLM(config), tmp)
            checkpoint = tmp
            print("Checkpoint: randomly initialised tiny-1k shape, saved in the published layout and reloaded")
        model = load_pretrained(checkpoint)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"Model: d_model={model.config.d_model} n_layer={model.config.n_layer} l_max={model.config.l_max} "
          f"({n_params:,} parameters)")

    times = []
    with torch.inference_mode():
        for _ in range(args.repeats):
            start = time.perf_counter()
            hidden = model.backbone(ids)
            times.append(time.perf_counter() - start)
        logits = model(ids)
    log_probs = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    nll = -log_probs.gather(-1, ids[:, 1:, None]).mean().item()
    median = float(np.median(times))
    print(f"Hidden states: {tuple(hidden.shape)}; logits: {tuple(logits.shape)}")
    print(f"Next-nucleotide loss: {nll:.3f} nats/token (uniform over 12 tokens: {np.log(12):.3f})")
    print(f"Forward: {median * 1e3:.1f} ms median of {args.repeats}, {ids.numel() / median:,.0f} tokens/s "
          f"on {torch.get_num_threads()} CPU threads")
    return 0


def _pretrain(args) -> int:
    import json

    from .distributed import distributed_session, rank_and_world
    from .estimators import HyenaPretrainer
    from .memory import retain_freed_memory

    retain_freed_memory()  # this process is dnaestim's own: keep large freed blocks for the next step (see .memory)
    with distributed_session(args.device) as device:
        pretrainer = HyenaPretrainer(
            pretrained=args.pretrained, d_model=args.d_model, n_layer=args.n_layer, max_length=args.max_length,
            batch_size=args.batch_size, max_steps=args.max_steps, max_time=args.max_time,
            learning_rate_init=args.lr, length_warmup=None if args.no_length_warmup else "auto",
            embed_dropout=args.embed_dropout, gradient_accumulation=args.gradient_accumulation,
            validation_fraction=args.validation_fraction, eval_interval=args.eval_interval,
            checkpoint_dir=args.checkpoint_dir, checkpoint_interval=args.checkpoint_interval,
            random_state=args.seed, verbose=int(args.progress), device=device, precision=args.precision,
        )
        pretrainer.fit(args.fasta if len(args.fasta) > 1 else args.fasta[0], intervals=args.intervals,
                       resume=True if args.resume else None)
        rank, world = rank_and_world()
        if rank == 0:
            pretrainer.save_pretrained(args.output)
            from ._atomic import atomic_write

            with atomic_write(f"{args.output}/history.json", "w") as fh:
                json.dump(pretrainer.history_, fh)
            last = pretrainer.history_[-1]
            print(f"{pretrainer.n_iter_} steps on {world} process(es), {pretrainer.tokens_seen_:,} tokens, "
                  f"final train loss {last['loss']:.4f}"
                  + (f", validation {last['valid_bits_per_nt']:.4f} bits/nt" if last["valid_loss"] else "")
                  + f"; saved to {args.output}")
    return 0


def _genome_job(args) -> int:
    from .distributed import distributed_session, rank_and_world
    from .genome.jobs import run_genome_job

    with distributed_session(args.device) as device:
        output = run_genome_job(args.job, args.checkpoint, args.fasta, args.output, window=args.window,
                                stride=args.stride, intervals=args.intervals, batch_size=args.batch_size,
                                device=device if device != "auto" else "cpu")
        if output is not None:
            import numpy as np

            with np.load(output) as data:
                print(f"{args.job}: {len(data['start'])} windows on {rank_and_world()[1]} process(es) -> {output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``dnaestim`` command-line parser."""
    parser = argparse.ArgumentParser(prog="dnaestim", description="HyenaDNA models as scikit-learn estimators.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fine-tune the bundled backbone on a bundled task; compare with k-mers and "
                                       "training from scratch")
    demo.add_argument("--dataset", default="gue_prom_core_tata",
                      help="bundled task with train and test splits (default: gue_prom_core_tata)")
    demo.add_argument("--max-time", type=float, default=120.0, help="training budget per model in seconds (default: 120)")
    demo.add_argument("--k", type=int, default=4, help="k of the k-mer baseline (default: 4)")
    demo.add_argument("--seed", type=int, default=0, help="random_state (default: 0)")
    demo.add_argument("--progress", type=int, default=0, help="1 shows progress bars (default: 0)")
    demo.set_defaults(func=_demo)

    inspect = sub.add_parser("inspect", help="run a HyenaDNA checkpoint over windows of the bundled genome")
    inspect.add_argument("--checkpoint", help="local checkpoint directory (default: a random tiny-1k model)")
    inspect.add_argument("--record", help="record of the bundled genome (default: the first, human mtDNA)")
    inspect.add_argument("--windows", type=int, default=8, help="number of windows (default: 8)")
    inspect.add_argument("--length", type=int, default=1024, help="window length in bp (default: 1024)")
    inspect.add_argument("--repeats", type=int, default=5, help="timed forward passes (default: 5)")
    inspect.add_argument("--seed", type=int, default=0, help="seed for the random model (default: 0)")
    inspect.set_defaults(func=_inspect)

    pre = sub.add_parser("pretrain", help="pretrain a HyenaDNA model on FASTA files (also under torchrun)")
    pre.add_argument("fasta", nargs="+", help="FASTA file(s), plain or bgzip with samtools faidx indexes")
    pre.add_argument("--output", required=True, help="directory for the trained model (published layout)")
    pre.add_argument("--intervals", help="BED file of the intervals to train on")
    pre.add_argument("--pretrained", help="continue from this checkpoint directory")
    pre.add_argument("--d-model", type=int, default=128)
    pre.add_argument("--n-layer", type=int, default=2)
    pre.add_argument("--max-length", type=int, default=1024, help="final window length (default: 1024)")
    pre.add_argument("--batch-size", type=int, default=8, help="global windows per step at max length")
    pre.add_argument("--max-steps", type=int, default=1000)
    pre.add_argument("--max-time", type=float, help="wall-clock budget in seconds")
    pre.add_argument("--lr", type=float, default=6e-4)
    pre.add_argument("--no-length-warmup", action="store_true",
                     help="train at the full window length from the start (no sequence-length warm-up)")
    pre.add_argument("--embed-dropout", type=float, default=0.1)
    pre.add_argument("--gradient-accumulation", type=int, default=1)
    pre.add_argument("--validation-fraction", type=float, default=0.1)
    pre.add_argument("--eval-interval", type=int, default=100)
    pre.add_argument("--checkpoint-dir", help="write resumable checkpoints here")
    pre.add_argument("--checkpoint-interval", type=int, default=100)
    pre.add_argument("--resume", action="store_true", help="continue the run in --checkpoint-dir")
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--device", default="auto")
    pre.add_argument("--precision", default="auto")
    pre.add_argument("--progress", action="store_true", help="show a progress bar")
    pre.set_defaults(func=_pretrain)

    for job, text in (("embed", "mean-pooled embeddings"), ("score", "log-likelihoods")):
        genome = sub.add_parser(f"{job}-genome", help=f"{text} of every window of a genome (also under torchrun)")
        genome.add_argument("fasta", nargs="+", help="FASTA file(s)")
        genome.add_argument("--checkpoint", required=True, help="model directory (either published layout)")
        genome.add_argument("--output", required=True, help="output .npz (merged from per-rank shards)")
        genome.add_argument("--window", type=int, default=1024)
        genome.add_argument("--stride", type=int, help="default: the window (no overlap)")
        genome.add_argument("--intervals", help="BED file of the intervals to cover")
        genome.add_argument("--batch-size", type=int, default=16)
        genome.add_argument("--device", default="auto")
        genome.set_defaults(func=_genome_job, job=job)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    import torch

    # The library's own errors carry messages written for users; anything else keeps its traceback (a bug).
    user_errors = (ValueError, OSError, KeyError, TypeError, ImportError, FloatingPointError, torch.OutOfMemoryError)
    try:
        return args.func(args)
    except user_errors as err:
        print(f"dnaestim {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
