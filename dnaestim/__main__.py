"""Command-line entry point: ``python -m dnaestim <command>`` (also installed as ``dnaestim``)."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import time

from . import __version__
from ._validation import PRECISIONS
from .finetune import SAVE_FORMATS
from .models import DEFAULT_BACKBONE
from .nn.heads import POOLING_MODES

__all__ = ["build_parser", "main"]


def _demo(args) -> int:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, matthews_corrcoef, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler

    from . import HyenaClassifier
    from .datasets import load_bundled

    X_train, y_train = load_bundled(args.dataset, split="train", return_X_y=True)
    X_test, y_test = load_bundled(args.dataset, split="test", return_X_y=True)
    print(f"Task: {args.dataset} ({len(X_train)} training and {len(X_test)} test sequences of "
          f"{min(map(len, X_train))}-{max(map(len, X_train))} bp, classes {sorted(set(y_train))})")

    rows = []
    runs = [("HyenaClassifier() fine-tuned", {}),
            ("HyenaClassifier(pretrained=None)", {"pretrained": None})]
    for name, params in runs:
        start = time.perf_counter()
        clf = HyenaClassifier(max_time=args.max_time, random_state=args.seed, verbose=_verbosity(args),
                              **params)
        clf.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        where = (f"the bundled backbone {DEFAULT_BACKBONE!r} (pretrained by dnaestim on public genomes)"
                 if clf.pretrained is not None else "random weights (from scratch)")
        kept = f", best epoch {clf.best_iter_}" if clf.early_stopping else ""
        print(f"\n{name}: starts from {where}; {clf.n_iter_} epochs in {seconds:.0f} s{kept}")
        for record in clf.history_:  # with early stopping, epoch 0 is the probed head (no train loss)
            train = "-" if record["train_loss"] is None else f"{record['train_loss']:.4f}"
            valid = ("" if record["valid_loss"] is None else
                     f"  valid loss {record['valid_loss']:.4f}  valid accuracy {record['valid_accuracy']:.3f}")
            print(f"  epoch {record['epoch']:3d}  train loss {train:>6}{valid}")
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


def _preemptible(run):
    """``run(args)`` under stop-signal handling when ``--checkpoint-dir`` is given (see :mod:`.preemption`)."""

    def command(args) -> int:
        from . import preemption

        if not args.checkpoint_dir:
            return run(args)
        preemption.install()  # a stop signal ends training after the current step, with a checkpoint
        try:
            return run(args)
        finally:
            preemption.ignore()  # the work is done (or checkpointed): a signal during the exit must not fail it

    return command


def _requeue(step, where, rank) -> int:
    """Rank 0 says that the command was preempted; the exit status that asks for a requeue."""
    import signal

    from . import preemption

    if rank == 0:
        name = signal.Signals(preemption.received()).name if preemption.received() else "a signal on another rank"
        print(f"Preempted by {name} after step {step}: checkpoint written to {where}. Run the same command with "
              f"--resume to continue (exit status {preemption.REQUEUE_EXIT_CODE}: requeue).", file=sys.stderr,
              flush=True)
    return preemption.REQUEUE_EXIT_CODE


@_preemptible
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
            gradient_checkpointing=args.gradient_checkpointing, rc_augment=args.rc_augment,
            validation_fraction=args.validation_fraction, eval_interval=args.eval_interval,
            checkpoint_dir=args.checkpoint_dir, checkpoint_interval=args.checkpoint_interval,
            random_state=args.seed, verbose=_verbosity(args), device=device, precision=args.precision,
        )
        pretrainer.fit(args.fasta if len(args.fasta) > 1 else args.fasta[0], intervals=args.intervals,
                       resume=True if args.resume else None)
        rank, world = rank_and_world()
        if pretrainer.preempted_:
            return _requeue(pretrainer.n_iter_, args.checkpoint_dir, rank)
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


@_preemptible
def _finetune(args) -> int:
    from .distributed import distributed_session, rank_and_world
    from .estimators import HyenaClassifier, HyenaRegressor
    from .finetune import Preempted, run_finetune

    labels = args.label_column.split(",")
    with distributed_session(args.device) as device:
        params = dict(pretrained=None if args.pretrained == "none" else args.pretrained, max_length=args.max_length,
                      max_time=args.max_time, batch_size=args.batch_size, learning_rate_init=args.lr,
                      validation_fraction=args.validation_fraction, embed_dropout=args.embed_dropout,
                      head_dropout=args.head_dropout, length_feature=False if args.no_length_feature else "auto",
                      unknown=args.unknown, random_state=args.seed,
                      verbose=_verbosity(args), precision=args.precision)
        # Left out, the estimator's own default applies (they differ between the classifier and the regressor).
        params.update({name: value for name, value in (("max_iter", args.max_iter),
                                                       ("early_stopping", args.early_stopping)) if value is not None})
        estimator = HyenaRegressor(**params) if args.task == "regress" else HyenaClassifier(**params)
        rank, world = rank_and_world()
        try:
            run_finetune(estimator, args.data, args.output, device=device if device != "auto" else "cpu",
                         label_column=labels if len(labels) > 1 else labels[0], sequence_column=args.sequence_column,
                         sep="\t" if args.sep == "tab" else args.sep, numeric=args.task == "regress",
                         checkpoint_dir=args.checkpoint_dir, checkpoint_interval=args.checkpoint_interval,
                         resume=args.resume, save_format=args.save_format)
        except Preempted as stop:
            return _requeue(stop.step, stop.path, rank)
        if rank == 0:
            last = estimator.history_[-1]
            how = "dnaestim.load" if args.save_format == "dnaestim" else "joblib.load or pickle.load"
            print(f"{type(estimator).__name__}: {estimator.n_iter_} epochs on {world} process(es)"
                  + (f", final train loss {last['train_loss']:.4f}" if last["train_loss"] is not None else "")
                  + (f", validation loss {last['valid_loss']:.4f}" if last["valid_loss"] is not None else "")
                  + f"; saved to {args.output} (load it with {how})")
    return 0


def _genome_job(args) -> int:
    from .distributed import distributed_session, rank_and_world
    from .genome.jobs import run_genome_job

    with distributed_session(args.device) as device:
        output = run_genome_job(args.job, args.checkpoint, args.fasta, args.output, window=args.window,
                                stride=args.stride, intervals=args.intervals, batch_size=args.batch_size,
                                device=device if device != "auto" else "cpu", precision=args.precision,
                                chunk_size=args.chunk_size, pooling=getattr(args, "pooling", "mean"),
                                progress=args.progress)
        if output is not None:
            import numpy as np

            with np.load(output) as data:
                print(f"{args.job}: {len(data['start'])} windows on {rank_and_world()[1]} process(es) -> {output}")
    return 0


def _score_vcf(args) -> int:
    import torch

    from .checkpoints import load_pretrained
    from .scoring import score_variants
    from .vcf import annotate_vcf, write_scores

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    model = load_pretrained(args.checkpoint).to(device)
    scores = score_variants(model, vcf=args.vcf, fasta=args.fasta, window=args.window, batch_size=args.batch_size,
                            on_ref_mismatch=args.on_ref_mismatch)
    write_scores(scores, args.output)
    written = [args.output]
    if args.output_vcf:
        annotate_vcf(args.vcf, scores, args.output_vcf)
        written.append(args.output_vcf)
    counts = scores["status"].value_counts()
    others = ", ".join(f"{n} {status}" for status, n in counts.items() if status != "ok")
    print(f"score-vcf: {counts.get('ok', 0)} of {len(scores)} ALT alleles scored"
          + (f" (not scored: {others})" if others else "") + f" -> {' and '.join(map(str, written))}")
    return 0


# -- argument types: a bad value is a one-line argparse error (exit status 2), never a traceback -----------------


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}; got {value}")
        return value

    return parse


def _float_in(low, high=None, *, low_open=False):
    where = f"{'>' if low_open else '>='} {low}" if high is None else f"in {'(' if low_open else '['}{low}, {high})"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {where}; got {text!r}") from None
        if value != value or (value <= low if low_open else value < low) or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be {where}; got {text}")
        return value

    return parse


def _chunk_size(text):
    """``--chunk-size``: a positive int, ``auto`` or ``none`` (one pass), as the estimators' ``chunk_size``."""
    lowered = text.strip().lower()
    if lowered == "auto":
        return "auto"
    if lowered == "none":
        return None
    try:
        value = int(lowered)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, 'auto' or 'none'; got {text!r}")
    return value


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_DEVICE_METAVAR = "{auto,cpu,cuda,cuda:N,mps}"


def _device(text):
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"device={text!r} is not a device; use auto, cpu, cuda, cuda:N (N = 0, 1, "
                                         "...) or mps")
    return text


def _add_choice(parser, flag, name, values, **options):
    """A flag with a fixed set of values, listed in the help (``choices``): a bad value reads as the library's own
    error, ``<name> must be one of (...); got '<value>'``."""

    def parse(text):
        if text not in values:
            raise argparse.ArgumentTypeError(f"{name} must be one of {tuple(values)}; got {text!r}")
        return text

    parser.add_argument(flag, type=parse, choices=values, **options)


def _add_device(parser, help="auto: this rank's GPU when CUDA is available, else the CPU"):
    parser.add_argument("--device", type=_device, default="auto", metavar=_DEVICE_METAVAR, help=help)


_TRAINING_PRECISION_HELP = ("auto: mixed precision on GPUs (bf16, else fp16) and bf16 training on CPUs with bfloat16 "
                            "units, float32 otherwise")


def _add_device_and_precision(parser, precision_default="auto", precision_help=_TRAINING_PRECISION_HELP):
    """``--device`` and ``--precision`` of the commands that run under torchrun."""
    _add_device(parser)
    _add_choice(parser, "--precision", "precision", PRECISIONS, default=precision_default, help=precision_help)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default: ``(default: ...)``, ``(default: off)`` for a flag, or
    ``(required)``; a help text that already says ``(default ...)`` is kept as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if action.required:
            return f"{text} (required)"
        if action.nargs == 0:
            return f"{text} (default: off)"
        return f"{text} (default: %(default)s)"


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2), not the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _add_progress(parser):
    """``--progress``, the same flag with the same meaning in every command that has it."""
    parser.add_argument("--progress", action="store_true", help="show progress on stderr: progress bars, and a "
                                                                "table row per epoch or evaluation where the command "
                                                                "trains")


def _verbosity(args) -> int:
    """The estimators' ``verbose`` for ``--progress``: 2 (a table row per epoch or evaluation, and progress bars)."""
    return 2 if args.progress else 0


def _demo_datasets():
    from .datasets import _BUNDLED

    return sorted(name for name, entry in _BUNDLED.items() if {"train", "test"} <= set(entry.splits))


def build_parser() -> argparse.ArgumentParser:
    """Build the ``dnaestim`` command-line parser.

    Returns
    -------
    argparse.ArgumentParser
        With one sub-parser per command (``demo``, ``inspect``, ``pretrain``, ``finetune``, ``embed-genome``,
        ``score-genome``, ``score-vcf``);
        ``dnaestim <command> --help`` lists each flag with its default.
    """
    parser = _ArgumentParser(prog="dnaestim", description="HyenaDNA models as scikit-learn estimators.",
                             formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"dnaestim {__version__}",
                        help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name, text):
        return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                              formatter_class=_HelpFormatter)

    positive, non_negative = _int_at_least(1), _int_at_least(0)

    demo = command("demo", "fine-tune the bundled backbone on a bundled task; compare with k-mers and training "
                           "from scratch")
    _add_choice(demo, "--dataset", "dataset", _demo_datasets(), default="gue_prom_core_tata",
                help="bundled task with train and test splits")
    demo.add_argument("--max-time", type=_float_in(0, low_open=True), default=120.0,
                      help="training budget per model in seconds")
    demo.add_argument("--k", type=positive, default=4, help="k of the k-mer baseline")
    demo.add_argument("--seed", type=non_negative, default=0, help="random_state of both classifiers")
    _add_progress(demo)
    demo.set_defaults(func=_demo)

    inspect = command("inspect", "run a HyenaDNA checkpoint over windows of the bundled genome")
    inspect.add_argument("--checkpoint", help="local checkpoint directory or bundled model name (default: a randomly "
                                              "initialised model of the tiny-1k shape)")
    inspect.add_argument("--record", help="record of the bundled genome (default: the first, human mtDNA)")
    inspect.add_argument("--windows", type=positive, default=8, help="number of windows")
    inspect.add_argument("--length", type=positive, default=1024, help="window length in bp")
    inspect.add_argument("--repeats", type=positive, default=5, help="timed forward passes")
    inspect.add_argument("--seed", type=non_negative, default=0, help="seed for the random model")
    inspect.set_defaults(func=_inspect)

    pre = command("pretrain", "pretrain a HyenaDNA model on FASTA files (also under torchrun)")
    pre.add_argument("fasta", nargs="+", help="FASTA file(s), plain or bgzip with samtools faidx indexes")
    pre.add_argument("--output", required=True, help="directory for the trained model (published layout) and "
                                                     "its history.json")
    pre.add_argument("--intervals", help="BED file of the intervals to train on; the strand column is ignored, "
                                         "every interval is read as stored (see --rc-augment) (default: every "
                                         "record, whole)")
    pre.add_argument("--pretrained", help="continue from this checkpoint directory or bundled model name; "
                                          "--d-model and --n-layer must then keep their defaults (default: "
                                          "train from scratch)")
    pre.add_argument("--d-model", type=positive, default=128, help="model width (from scratch only)")
    pre.add_argument("--n-layer", type=positive, default=2, help="number of Hyena blocks (from scratch only)")
    pre.add_argument("--max-length", type=_int_at_least(2), default=1024,
                     help="window length of the final warm-up stage, and l_max of a model trained from scratch")
    pre.add_argument("--batch-size", type=positive, default=8,
                     help="windows per optimiser step at --max-length, over all processes")
    pre.add_argument("--max-steps", type=positive, default=1000, help="optimiser steps")
    pre.add_argument("--max-time", type=_float_in(0, low_open=True),
                     help="wall-clock budget in seconds; training stops at the first step after it "
                          "(default: no limit)")
    pre.add_argument("--lr", type=_float_in(0, low_open=True), default=6e-4, help="peak learning rate")
    pre.add_argument("--no-length-warmup", action="store_true",
                     help="train at the full window length from the start (no sequence-length warm-up)")
    pre.add_argument("--embed-dropout", type=_float_in(0, 1), default=0.1, help="dropout on the token embeddings")
    pre.add_argument("--gradient-accumulation", type=positive, default=1,
                     help="split each optimiser step into this many micro-batches (less memory, same result)")
    pre.add_argument("--gradient-checkpointing", action="store_true",
                     help="recompute activations in the backward pass (less memory for long windows, slower)")
    pre.add_argument("--rc-augment", action="store_true",
                     help="reverse-complement each window with probability 1/2 (train on both strands)")
    pre.add_argument("--validation-fraction", type=_float_in(0, 1), default=0.1,
                     help="hold out this fraction at the end of every record or interval for validation; "
                          "0 for none")
    pre.add_argument("--eval-interval", type=positive, default=100,
                     help="evaluate the validation loss every this many steps (and at the end)")
    pre.add_argument("--checkpoint-dir", help="write resumable checkpoints here (default: no checkpoints)")
    pre.add_argument("--checkpoint-interval", type=positive, default=100, help="steps between checkpoints")
    pre.add_argument("--resume", action="store_true", help="continue the run in --checkpoint-dir")
    pre.add_argument("--seed", type=non_negative, default=0, help="random_state (initialisation, windows, dropout)")
    _add_device_and_precision(pre)
    _add_progress(pre)
    pre.set_defaults(func=_pretrain)

    fine = command("finetune", "fine-tune a classifier or regressor on a labelled CSV/TSV or FASTA file (also under "
                               "torchrun: every process reads only its rows)")
    fine.add_argument("data", help="labelled file: CSV/TSV with a header line (plain or gzip), or FASTA whose "
                                   "header lines end with |label")
    fine.add_argument("--output", required=True, help="where the fitted estimator goes: a pickle file (load it with "
                                                      "joblib.load), or a folder with --save-format dnaestim")
    _add_choice(fine, "--save-format", "save format", SAVE_FORMATS, default="pickle",
                help="pickle: one file; dnaestim: a dnaestim.save folder (JSON + safetensors, runs no code when "
                     "loaded with dnaestim.load)")
    _add_choice(fine, "--task", "task", ("classify", "regress"), default="classify",
                help="HyenaClassifier (several label columns: multi-label) or HyenaRegressor (several: multi-target)")
    fine.add_argument("--label-column", default="label",
                      help="label or target column; several as a comma-separated list")
    fine.add_argument("--sequence-column", default="sequence", help="sequence column")
    fine.add_argument("--sep", default=",", help="CSV field separator ('tab' for a TSV)")
    fine.add_argument("--pretrained", default="dnaestim-multispecies-tiny-1k",
                      help="backbone: bundled model name or checkpoint directory; 'none' trains from scratch")
    fine.add_argument("--max-length", type=positive,
                      help="cut sequences to this many nucleotides (default: the longest sequence, at least the "
                           "backbone's l_max; longer ones are read in windows of l_max)")
    fine.add_argument("--max-iter", type=positive,
                      help="number of epochs (default: the estimator's, 10 for classify and 100 for regress)")
    fine.add_argument("--max-time", type=_float_in(0, low_open=True),
                      help="wall-clock budget in seconds (rank 0's clock) (default: no limit)")
    fine.add_argument("--batch-size", type=positive, default=64, help="sequences per optimiser step, over all "
                                                                      "processes")
    fine.add_argument("--lr", type=_float_in(0, low_open=True), default=6e-4, help="peak learning rate")
    fine.add_argument("--early-stopping", action=argparse.BooleanOptionalAction,
                      help="hold out --validation-fraction of the rows and keep the best epoch; --no-early-stopping "
                           "trains on every row for --max-iter epochs (default: the estimator's, off for classify "
                           "and on for regress)")
    fine.add_argument("--validation-fraction", type=_float_in(0, 1, low_open=True), default=0.1,
                      help="fraction of the rows held out for early stopping")
    fine.add_argument("--embed-dropout", type=_float_in(0, 1), default=0.1, help="dropout on the token embeddings")
    fine.add_argument("--head-dropout", type=_float_in(0, 1), default=0.1, help="dropout before the linear head")
    fine.add_argument("--no-length-feature", action="store_true",
                      help="keep sequence length out of the head (by default it reads each sequence's log length "
                           "when the lengths differ)")
    _add_choice(fine, "--unknown", "unknown", ("raise", "N"), default="raise",
                help="a character that is not ACGTN: an error, or read as N")
    fine.add_argument("--seed", type=non_negative, default=0, help="random_state (initialisation, shuffling, split)")
    _add_device_and_precision(fine)
    fine.add_argument("--checkpoint-dir", help="make the run resumable: write checkpoints here after every epoch and "
                                               "at SIGTERM/SIGUSR1, which then exits 75 (default: no checkpoints)")
    fine.add_argument("--checkpoint-interval", type=positive,
                      help="also write a checkpoint every this many steps inside an epoch (default: epoch ends only)")
    fine.add_argument("--resume", action="store_true", help="continue the run in --checkpoint-dir")
    _add_progress(fine)
    fine.set_defaults(func=_finetune)

    for job, text in (("embed", "pooled embeddings"), ("score", "log-likelihoods")):
        genome = command(f"{job}-genome", f"{text} of every window of a genome (also under torchrun)")
        genome.add_argument("fasta", nargs="+", help="FASTA file(s), plain or bgzip with samtools faidx indexes")
        genome.add_argument("--checkpoint", required=True,
                            help="model directory (either published layout) or bundled model name")
        genome.add_argument("--output", required=True, help="output .npz (merged from per-rank shards)")
        genome.add_argument("--window", type=_int_at_least(2), default=1024,
                            help=f"window length in bp (at most the model's l_max{' + 1' if job == 'score' else ''})")
        genome.add_argument("--stride", type=positive, help="step between window starts (default: the window, no "
                                                            "overlap)")
        genome.add_argument("--intervals", help="BED file of the intervals to cover; an interval with strand '-' "
                                                "(column 6) is read as its reverse complement (default: every "
                                                "record, whole)")
        genome.add_argument("--batch-size", type=positive, default=16, help="windows per forward pass")
        _add_device_and_precision(genome, "32", "32: float32; auto: mixed precision on GPUs and float32 on CPUs; "
                                                "bf16/16: mixed precision; 64: float64 weights")
        genome.add_argument("--chunk-size", type=_chunk_size, default="auto", metavar="{N,auto,none}",
                            help="run windows longer than N tokens in chunks (bounded memory); auto: only where "
                                 "needed; none: one pass")
        if job == "embed":
            _add_choice(genome, "--pooling", "pooling", POOLING_MODES, default="mean",
                        help="mean of the window's hidden states, or the last nucleotide's")
        _add_progress(genome)
        genome.set_defaults(func=_genome_job, job=job)

    vcf = command("score-vcf", "score the variants of a VCF file as log-likelihood ratios (alt vs ref window)")
    vcf.add_argument("--vcf", required=True, help="VCF file of the variants, plain or gzip/bgzip")
    vcf.add_argument("--fasta", required=True,
                     help="reference genome the variants were called against: FASTA, plain or bgzip with samtools "
                          "faidx indexes")
    vcf.add_argument("--checkpoint", default=DEFAULT_BACKBONE,
                     help="language model: bundled model name or checkpoint directory (either published layout)")
    vcf.add_argument("--output", required=True,
                     help="tab-separated table of the scores, one row per ALT allele: chrom, pos, id, ref, alt, "
                          "score, status, line")
    vcf.add_argument("--output-vcf",
                     help="also write a copy of the VCF with each score in INFO as DNAESTIM_LLR (bgzip-compressed "
                          "for a name ending in .gz) (default: none)")
    vcf.add_argument("--window", type=_int_at_least(2),
                     help="nucleotides scored per variant, at most the model's l_max + 1 (default: l_max + 1, at "
                          "most 1024)")
    vcf.add_argument("--batch-size", type=positive, default=16, help="windows per forward pass")
    _add_choice(vcf, "--on-ref-mismatch", "on_ref_mismatch", ("raise", "flag"), default="raise",
                help="a REF that differs from the reference genome: an error naming the line, or a NaN score with "
                     "status 'REF mismatch'")
    _add_device(vcf, "auto: the GPU when CUDA is available, else the CPU")
    vcf.set_defaults(func=_score_vcf)
    return parser


def main(argv=None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 on an error in the arguments or the input (one line on stderr).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "resume", False) and not args.checkpoint_dir:
        print(f"dnaestim {args.command}: error: --resume needs --checkpoint-dir, the folder of the run to continue.",
              file=sys.stderr)
        return 2
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
