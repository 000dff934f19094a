"""HyenaPretrainer: next-nucleotide pretraining of a HyenaDNA language model on genomes."""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted

from .._atomic import atomic_write, exclusive_directory
from .._resources import advises_on_out_of_memory
from .. import preemption
from .._validation import check_chunk_size, check_int, user_stacklevel
from ..distributed import (Shard, SynchronizedTimeBudget, gather_generator_states, rank_and_world,
                           restore_generator_states)
from ..genome import GenomeSource
from ..scoring import token_log_probs
from ..nn import HyenaLM
from ..nn.options import set_training_options
from ..tokenizer import GENOME_WINDOWS, reverse_complement_ids
from ..training import (Hooks, Optimization, PrintLog, ProgressBar, TimeBudget, build_optimizer, cosine_with_warmup,
                        train_loop)
from ..training import WarmupSchedule
from ._base import HyenaEstimatorMixin, _check_float, seeded

__all__ = ["HyenaPretrainer"]


CHECKPOINT_NAME = "checkpoint.pt"
_IGNORE = -100
_FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz", ".fa.bgz", ".fasta.bgz")


def _looks_like_path(value) -> bool:
    if isinstance(value, os.PathLike):
        return True
    return isinstance(value, str) and (os.sep in value or value.lower().endswith(_FASTA_SUFFIXES)
                                       or os.path.exists(value))


class HyenaPretrainer(HyenaEstimatorMixin):
    """Pretrain a HyenaDNA language model by next-nucleotide prediction on genomes.

    Windows are sampled reproducibly from FASTA files (or in-memory sequences), with a sequence-length warm-up
    that starts on short windows and doubles their length in stages up to ``max_length``, AdamW with the published
    parameter groups, a cosine learning-rate schedule with linear warm-up, gradient clipping and mixed precision on
    GPUs. Training can be bounded by steps and by wall-clock time, checkpointed atomically and resumed, and run on
    several processes under ``torchrun`` (see ``python -m dnaestim pretrain``).

    Parameters
    ----------
    pretrained : str, path-like, HyenaLM or fitted HyenaPretrainer, default=None
        Continue pretraining these weights instead of starting from scratch: the name of a bundled model (e.g.
        ``"dnaestim-multispecies-tiny-1k"``, see :func:`dnaestim.list_pretrained`), a checkpoint directory, a
        HyenaLM or a fitted pretrainer. The architecture parameters must then keep their defaults.
    d_model, n_layer : int, default=128, 2
        Width and depth (the published tiny model).
    d_inner : int, default=None
        MLP width; ``4 * d_model`` when None.
    filter_order, emb_dim : int, default=64, 5
        Implicit filter MLP width and positional-encoding size.
    embed_dropout, resid_dropout : float, default=0.1, 0.0
        Published pretraining dropouts.
    max_length : int, default=1024
        Window length of the final stage, and the model's ``l_max`` when training from scratch.
    batch_size : int, default=8
        Windows per optimiser step at ``max_length`` (shorter warm-up windows come in proportionally larger
        batches, so every step sees ``batch_size * max_length`` tokens). Also the batch size of ``score``.
    length_warmup : "auto", None or list, default="auto"
        Sequence-length warm-up (not the learning-rate ramp, which is ``lr_warmup_fraction``); see :meth:`dnaestim.training.WarmupSchedule.build`.
    max_steps : int, default=1000
        Optimiser steps.
    max_time : float, default=None
        Wall-clock budget in seconds: training stops cleanly at the first step boundary after it. The warm-up
        stages and the learning-rate schedule then follow whichever of steps and time runs out first.
    learning_rate_init : float, default=6e-4
        Peak learning rate (published: 6e-4).
    weight_decay : float, default=0.1
        AdamW weight decay (implicit filters: 0).
    lr_warmup_fraction : float, default=0.01
        Fraction of training spent warming up the learning rate linearly (published: 1 %).
    gradient_accumulation : int, default=1
        Split each optimiser step into this many micro-batches (less memory, same result up to rounding).
    gradient_checkpointing : bool, default=False
        Recompute activations in the backward pass (less memory for long windows).
    chunk_size : int, "auto" or None, default="auto"
        ``score``, ``log_likelihood`` and validation evaluate sequences longer than this in chunks (bounded
        memory; see :class:`HyenaEmbedder`). None evaluates in one pass.
    rc_augment : bool, default=False
        Reverse-complement each window with probability 1/2 (published pretraining: off).
    max_n_fraction : float, default=0.5
        Redraw windows with more N than this.
    validation_fraction : float, default=0.1
        Hold out the end of every record (or BED interval) for validation.
    validation_windows : int, default=64
        Number of held-out windows of ``max_length`` used to measure validation loss.
    eval_interval : int, default=100
        Evaluate on the validation windows every this many steps (and at the end).
    checkpoint_dir : str or path-like, default=None
        Write a resumable checkpoint here every ``checkpoint_interval`` steps and at the end (atomically). While
        ``fit`` runs, the folder is locked: a second process training into it is refused with an error naming the
        first (a lock left by a killed run on the same machine is taken over).
    checkpoint_interval : int, default=100
        Steps between checkpoints.
    unknown : {"raise", "N"}, default="raise"
        A character that is not A, C, G, T or N (either case; U reads as T): ``"raise"`` stops with an error
        naming the sequence, position and character; ``"N"`` reads it as N (IUPAC codes such as R or Y, gaps).
    random_state : int or None, default=None
        Seeds initialisation, window sampling and dropout; the global random generators are left untouched.
    verbose : int, default=0
        1 prints a table row to stderr at every evaluation (train and validation loss, learning rate, tokens,
        time); 2 also shows a progress bar with the loss and tokens/s.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available (under torchrun: this rank's GPU), else the CPU.
    precision : {"auto", "32", "bf16", "16", "64"}, default="auto"
        ``"auto"``: mixed precision on GPUs; on CPUs with bfloat16 units (AVX512_BF16 or AMX) bf16 autocast
        for training and float32 for predictions; float32 on other CPUs. Mixed precision runs the dense layers
        only: the long convolution, the filters and the residual stream stay float32. ``"32"`` forces float32
        (the performance guide has the measured costs).

    Attributes
    ----------
    model_ : HyenaLM
        The trained language model.
    n_iter_ : int
        Optimiser steps done.
    preempted_ : bool
        Training stopped early at a scheduler's SIGTERM or SIGUSR1 (inside
        :func:`dnaestim.preemption.handle_preemption`, as ``python -m dnaestim pretrain`` runs it), after writing
        a checkpoint when ``checkpoint_dir`` is set.
    tokens_seen_ : int
        Training tokens processed.
    history_ : list of dict
        One entry per step: ``step``, ``loss`` (nats per token), ``perplexity``, ``tokens``, ``length``,
        ``batch_size``, ``lr``, ``seconds``, and ``valid_loss`` / ``valid_bits_per_nt`` where evaluated.
    schedule_ : WarmupSchedule
        The stages used.
    max_length_ : int
        Window length of the final stage.

    Notes
    -----
    On a Linux CPU, windows of tens of thousands of tokens train about twice as fast after
    :func:`dnaestim.retain_freed_memory` (a process-wide allocator setting, so it is yours to make;
    ``python -m dnaestim pretrain`` makes it).

    Examples
    --------
    >>> from dnaestim import HyenaPretrainer
    >>> from dnaestim.genome import bundled_genome_path
    >>> pre = HyenaPretrainer(d_model=16, n_layer=1, max_length=64, max_steps=4, validation_windows=4,
    ...                       random_state=0).fit(bundled_genome_path())
    >>> pre.n_iter_, pre.history_[-1]["length"]
    (4, 64)
    """

    def __init__(
        self,
        *,
        pretrained=None,
        d_model=128,
        n_layer=2,
        d_inner=None,
        filter_order=64,
        emb_dim=5,
        embed_dropout=0.1,
        resid_dropout=0.0,
        max_length=1024,
        batch_size=8,
        length_warmup="auto",
        max_steps=1000,
        max_time=None,
        learning_rate_init=6e-4,
        weight_decay=0.1,
        lr_warmup_fraction=0.01,
        gradient_accumulation=1,
        gradient_checkpointing=False,
        chunk_size="auto",
        rc_augment=False,
        max_n_fraction=0.5,
        validation_fraction=0.1,
        validation_windows=64,
        eval_interval=100,
        checkpoint_dir=None,
        checkpoint_interval=100,
        unknown="raise",
        random_state=None,
        verbose=0,
        device="auto",
        precision="auto",
    ):
        self.pretrained = pretrained
        self.d_model = d_model
        self.n_layer = n_layer
        self.d_inner = d_inner
        self.filter_order = filter_order
        self.emb_dim = emb_dim
        self.embed_dropout = embed_dropout
        self.resid_dropout = resid_dropout
        self.max_length = max_length
        self.batch_size = batch_size
        self.length_warmup = length_warmup
        self.max_steps = max_steps
        self.max_time = max_time
        self.learning_rate_init = learning_rate_init
        self.weight_decay = weight_decay
        self.lr_warmup_fraction = lr_warmup_fraction
        self.gradient_accumulation = gradient_accumulation
        self.gradient_checkpointing = gradient_checkpointing
        self.chunk_size = chunk_size
        self.rc_augment = rc_augment
        self.max_n_fraction = max_n_fraction
        self.validation_fraction = validation_fraction
        self.validation_windows = validation_windows
        self.eval_interval = eval_interval
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_interval = checkpoint_interval
        self.random_state = random_state
        self.unknown = unknown
        self.verbose = verbose
        self.device = device
        self.precision = precision

    # -- input -------------------------------------------------------------------------------------------------

    def _source(self, X, intervals, validation_intervals):
        if isinstance(X, (str, os.PathLike)):
            fasta = [X]
        elif isinstance(X, (list, tuple)) and X and all(_looks_like_path(x) for x in X):
            fasta = list(X)
        else:
            fasta = None
        if fasta is not None:
            source = GenomeSource(fasta=fasta, intervals=intervals, validation_fraction=self.validation_fraction,
                                  validation_intervals=validation_intervals)
            self._training_data = {"fasta": [os.fspath(f) for f in fasta], "records": len(source.records),
                                   "train_bases": sum(r.length for r in source.train_regions),
                                   "intervals": os.fspath(intervals) if isinstance(intervals, (str, os.PathLike))
                                   else None}
            return source
        sequences, _ = self._sequences(X, reset=True)
        self._tokenizer()(list(sequences))  # names any sequence with a character that is not a nucleotide
        if intervals is not None:
            raise ValueError("intervals apply to FASTA files; X holds sequences.")
        return GenomeSource(sequences=sequences, validation_fraction=self.validation_fraction,
                            validation_intervals=validation_intervals, min_validation_length=2)

    def _validate_params(self):
        check_int(self.max_length, "max_length", minimum=2, allow_none=self.pretrained is not None)
        device, dtype, autocast = self._validate_common_params()
        check_chunk_size(self.chunk_size)
        for name in ("max_steps", "gradient_accumulation", "eval_interval", "checkpoint_interval",
                     "validation_windows"):
            check_int(getattr(self, name), name)
        _check_float(self.learning_rate_init, "learning_rate_init", 0, np.inf, low_open=True)
        _check_float(self.weight_decay, "weight_decay", 0, np.inf)
        _check_float(self.lr_warmup_fraction, "lr_warmup_fraction", 0, 1, high_open=True)
        _check_float(self.max_time, "max_time", 0, np.inf, low_open=True, allow_none=True)
        _check_float(self.max_n_fraction, "max_n_fraction", 0, 1)
        _check_float(self.validation_fraction, "validation_fraction", 0, 1, high_open=True)
        for name in ("embed_dropout", "resid_dropout"):
            _check_float(getattr(self, name), name, 0, 1, high_open=True)
        return device, dtype, autocast

    # -- fitting -----------------------------------------------------------------------------------------------

    def fit(self, X, y=None, *, intervals=None, validation_intervals=None, resume=None):
        """Pretrain on genome sequence.

        Parameters
        ----------
        X : str, path-like, list of paths, or list of str
            FASTA file(s) (plain or bgzip-compressed with ``samtools faidx`` indexes), or DNA sequences.
        y : None
            Ignored.
        intervals : list of (record, start, end) or str, optional
            Train only on these intervals of the FASTA files (a list or a BED file).
        validation_intervals : list of (record, start, end), optional
            Hold out exactly these intervals for validation instead of ``validation_fraction``.
        resume : str, path-like or True, optional
            Continue the run saved in this checkpoint file (or ``True``: ``checkpoint_dir/checkpoint.pt``).
            With the same data and parameters, a resumed CPU run ends with the same weights as an uninterrupted
            one.

        Returns
        -------
        HyenaPretrainer
            The fitted estimator (``self``).
        """
        device, dtype, autocast = self._validate_params()
        source = self._source(X, intervals, validation_intervals)
        _, seed = self._seeds()
        rank, world = rank_and_world()
        if world > 1 and self.random_state is None:  # every rank samples the same global batches
            seed = Shard(0, rank, world, device=device).broadcast_seed(seed)
        checkpoint = self._read_checkpoint(resume)
        holding = (exclusive_directory(self.checkpoint_dir, "HyenaPretrainer checkpoints")
                   if self.checkpoint_dir is not None and rank == 0 else contextlib.nullcontext())
        with holding, seeded(seed + rank, device):
            model = self._initial_model(seed)
            self.model_ = model.to(device=device, dtype=dtype)
            self._set_runtime(device, autocast)
            self.max_length_ = int(self.max_length or model.config.l_max)
            self.schedule_ = WarmupSchedule.build(self.length_warmup, max_length=self.max_length_,
                                                  batch_size=int(self.batch_size), max_steps=int(self.max_steps))
            self._train(source, seed, rank, world, checkpoint)
        return self

    def _initial_model(self, seed) -> HyenaLM:
        if self.pretrained is not None:
            model = self._pretrained_lm()
            self._check_max_length_fits(model.config.l_max)
            set_training_options(model.backbone, embed_dropout=self.embed_dropout, resid_dropout=self.resid_dropout,
                                 gradient_checkpointing=self.gradient_checkpointing)
            return model
        config = self._backbone_config(int(self.max_length), embed_dropout=self.embed_dropout,
                                       resid_dropout=self.resid_dropout,
                                       gradient_checkpointing=self.gradient_checkpointing)
        return HyenaLM(config, generator=torch.Generator().manual_seed(seed))

    def _read_checkpoint(self, resume):
        if resume is None or resume is False:
            return None
        if resume is True:
            if self.checkpoint_dir is None:
                raise ValueError("resume=True needs checkpoint_dir.")
            resume = Path(self.checkpoint_dir) / CHECKPOINT_NAME
        path = Path(resume)
        if path.is_dir():
            path = path / CHECKPOINT_NAME
        if not path.is_file():
            raise FileNotFoundError(f"No checkpoint to resume from at {path}.")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise ValueError(f"Checkpoint {path} cannot be read ({type(err).__name__}: {err}).") from None

    def _batch(self, source, seed, step, length, count, rank, world):
        """This rank's token ids and targets for optimiser step ``step`` (global batch of ``count`` windows)."""
        windows = source.sample_windows(length + 1, count, seed=seed, step=step,
                                        max_n_fraction=float(self.max_n_fraction))
        mine = windows[rank::world]
        batch = GENOME_WINDOWS(mine, max_length=length + 1, truncation=True)
        ids, mask = batch.input_ids, batch.attention_mask
        if self.rc_augment:
            flip = np.random.default_rng([seed, step, 7]).random(count)[rank::world] < 0.5
            ids = np.where(flip[:, None], reverse_complement_ids(ids, mask), ids)
        targets = np.where(mask[:, 1:], ids[:, 1:], _IGNORE)
        return ids[:, :-1], targets

    @advises_on_out_of_memory("training")
    def _train(self, source, seed, rank, world, checkpoint):
        model, device = self.model_, self.device_
        train_model = model
        if world > 1:
            train_model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        optimizer = build_optimizer(model, lr=float(self.learning_rate_init), weight_decay=float(self.weight_decay),
                                    filter_params=model.filter_parameters(), filter_lr=model.config.lr,
                                    filter_weight_decay=model.config.wd)
        step_fn = Optimization(train_model, optimizer, device, self.autocast_dtype_)
        self.n_iter_, self.tokens_seen_, self.history_, self.preempted_ = 0, 0, [], False
        elapsed_before, schedule_start = 0.0, None
        if checkpoint is not None:
            self._restore(checkpoint, optimizer, rank)
            step_fn.step_count = self.n_iter_
            if step_fn.scaler.is_enabled() and checkpoint.get("scaler"):  # fp16 on a GPU: its loss scale goes on
                step_fn.scaler.load_state_dict(checkpoint["scaler"])
            elapsed_before = float(checkpoint["elapsed"])
            schedule_start = float(checkpoint.get("schedule_start", 0.0))
        valid = source.validation_windows(self.max_length_ + 1, int(self.validation_windows))
        total = int(self.max_steps)

        def train_step(step, state):
            state.extra.setdefault("step_end", time.perf_counter())  # the first step's rate counts from here
            stage = self.schedule_.stage(max(step, int(state.step_progress * total)))
            state.extra["checked"] = self._optimizer_step(train_model, step_fn, source, seed, step, stage, rank,
                                                          world)
            state.extra["stage"] = stage

        def after_step(state):
            stage, checked = state.extra["stage"], state.extra["checked"]
            self.n_iter_ = state.step
            # Every rank asks after every step but the last (which finishes the run anyway): all stop together.
            if not state.last and preemption.requested(world, device):
                self.preempted_ = state.stop = True
            self.tokens_seen_ += stage.length * stage.batch_size
            # The loss is filled in when Optimization checks it (every step on the CPU, in batches on a GPU).
            self.history_.append({"step": self.n_iter_, "loss": None, "perplexity": None,
                                  "tokens": self.tokens_seen_, "length": stage.length,
                                  "batch_size": stage.batch_size, "lr": optimizer.param_groups[0]["lr"],
                                  "seconds": state.budget.elapsed(), "valid_loss": None, "valid_bits_per_nt": None})
            evaluate = valid and (self.n_iter_ % int(self.eval_interval) == 0 or state.last)
            save = self.checkpoint_dir is not None and (self.n_iter_ % int(self.checkpoint_interval) == 0
                                                        or state.last or self.preempted_)
            if evaluate or save or state.last:
                checked.update(step_fn.losses())
            self._record_losses(checked)
            record = self.history_[-1]
            if evaluate:
                valid_loss = self._mean_nll(valid)
                record.update(valid_loss=valid_loss, valid_bits_per_nt=valid_loss / math.log(2))
                state.extra["log"] = record
            now = time.perf_counter()
            rate = stage.length * stage.batch_size / max(1e-9, now - state.extra["step_end"])
            state.extra["step_end"] = now
            state.extra["postfix"] = {**({"loss": record["loss"]} if record["loss"] is not None else {}),
                                      "length": stage.length, "tok_s": f"{rate:,.0f}"}
            if save:
                self._write_checkpoint(optimizer, state.budget, rank, step_fn.scaler)

        callbacks = [Hooks(on_step_end=after_step)]
        # Under torchrun every rank reads rank 0's clock: ranks that disagreed on the last step would hang.
        budget = (SynchronizedTimeBudget(self.max_time, device, used=elapsed_before, schedule_start=schedule_start)
                  if world > 1 else TimeBudget(self.max_time, used=elapsed_before, schedule_start=schedule_start))
        if self.verbose >= 1 and rank == 0:
            callbacks.append(PrintLog([("step", "step", "d"), ("length", "length", "d"), ("loss", "train loss", ".4f"),
                                       ("valid_loss", "valid loss", ".4f"), ("valid_bits_per_nt", "bits/nt", ".4f"),
                                       ("lr", "lr", ".2e"), ("tokens", "tokens", ",d"), ("seconds", "time (s)", ".1f")]))
        if self.verbose >= 2 and rank == 0:
            callbacks.append(ProgressBar(total, "pretrain", initial=self.n_iter_))
        state = train_loop([itertools.count(self.n_iter_)], train_step, optimization=step_fn,
                           lr_multiplier=lambda progress: cosine_with_warmup(progress,
                                                                            warmup=float(self.lr_warmup_fraction)),
                           total_steps=total, budget=budget,
                           start_step=self.n_iter_, callbacks=callbacks, interruptible=world == 1)
        model.eval()
        if state.interrupted:
            resume = (" With checkpoint_dir set, fit(..., resume=True) continues from the last checkpoint."
                      if self.checkpoint_dir is not None else "")
            warnings.warn(
                f"HyenaPretrainer.fit was interrupted (KeyboardInterrupt) after step {self.n_iter_} of {total}; the "
                f"model keeps the weights of that step (history_ ends there) and is ready to use.{resume}",
                UserWarning, stacklevel=user_stacklevel())

    def _optimizer_step(self, train_model, step_fn, source, seed, step, stage, rank, world):
        ids, targets = self._batch(source, seed, step, stage.length, stage.batch_size, rank, world)
        device = self.device_
        n_tokens = torch.tensor(float((targets != _IGNORE).sum()), device=device)
        if world > 1:
            torch.distributed.all_reduce(n_tokens)
        # Sum of token losses over the whole global batch divided by its token count; DDP averages gradients
        # over ranks, hence the factor world.
        scale = world / n_tokens.clamp(min=1)
        train_model.train()
        micro = np.array_split(np.arange(len(ids)), min(len(ids), int(self.gradient_accumulation)))
        step_fn.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=device)
        for i, index in enumerate(micro):
            batch_ids = torch.from_numpy(ids[index]).to(device)
            batch_targets = torch.from_numpy(targets[index]).to(device)
            sync = i == len(micro) - 1 or world == 1
            context = train_model.no_sync() if (world > 1 and not sync) else contextlib.nullcontext()
            with context, step_fn.autocast():
                logits = train_model(batch_ids)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch_targets.reshape(-1),
                                   ignore_index=_IGNORE, reduction="sum") * scale
            with context:
                total += step_fn.backward(loss)
        summed = total / world
        if world > 1:
            torch.distributed.all_reduce(summed)
        return step_fn.finish_step(summed)

    def _record_losses(self, checked):
        """Write checked training losses ``{step: loss}`` into ``history_``."""
        for step, loss in checked.items():
            record = self.history_[step - self.history_[0]["step"]]
            record.update(loss=loss, perplexity=math.exp(min(loss, 50.0)))

    # -- evaluation --------------------------------------------------------------------------------------------

    @advises_on_out_of_memory("inference")
    def _token_log_probs(self, sequences, tokenizer=None):
        """Per-sequence arrays of log p(x_t | x_<t) for t >= 1 (natural log), in input order."""
        with self._autocast():
            return token_log_probs(self.model_, sequences, batch_size=int(self.batch_size),
                                   tokenizer=tokenizer or self._tokenizer(), chunk_size=self.chunk_size)

    def _mean_nll(self, windows):
        values = self._token_log_probs(windows, GENOME_WINDOWS)
        total = sum(float(v.sum()) for v in values)
        count = sum(len(v) for v in values)
        return -total / max(1, count)

    def _chunks(self, sequences):
        """Split sequences longer than the model's ``l_max`` + 1 into consecutive chunks that fit."""
        limit = self.model_.config.l_max + 1
        chunks, owners = [], []
        for i, seq in enumerate(sequences):
            for start in range(0, max(1, len(seq) - 1), limit - 1):
                chunks.append(seq[start:start + limit])
                owners.append(i)
        return chunks, np.array(owners)

    def log_likelihood(self, X):
        """Log-likelihood of each sequence under the model, in nats.

        ``sum_t log p(x_t | x_<t)`` over every nucleotide but the first (which has no context). Sequences longer
        than the model's ``l_max`` are scored in consecutive chunks (each chunk's first nucleotide is context
        only).

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences of at least 2 nucleotides.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self._log_likelihood(*self._sequences(X))

    def _log_likelihood(self, sequences, lengths, tokenizer=None):
        if lengths.min() < 2:
            i = int(np.argmin(lengths))
            raise ValueError(f"X[{i}] has {lengths[i]} nucleotide; scoring needs at least 2.")
        chunks, owners = self._chunks(sequences)
        per_chunk = np.array([float(v.sum()) for v in self._token_log_probs(chunks, tokenizer)])
        return np.bincount(owners, weights=per_chunk, minlength=len(sequences))

    def score(self, X, y=None):
        """Mean log-likelihood per nucleotide (nats; higher is better), as scikit-learn's ``score`` expects.

        Parameters
        ----------
        X : str, path-like, or list of str
            DNA sequences, or a FASTA file whose records are scored whole.
        y : None
            Ignored.

        Returns
        -------
        float
            Negative cross-entropy; divide by ``-log(2)`` for bits per nucleotide.
        """
        check_is_fitted(self)
        tokenizer = None
        if isinstance(X, (str, os.PathLike)) and _looks_like_path(X):
            source = GenomeSource(fasta=[X], validation_fraction=0)
            X = source.read(source.train_regions)
            tokenizer = GENOME_WINDOWS  # as fit reads a FASTA file: IUPAC codes and other letters count as N
        sequences, lengths = self._sequences(X)
        return float(self._log_likelihood(sequences, lengths, tokenizer).sum() / (lengths - 1).clip(min=0).sum())

    def generate(self, prompts, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None, random_state=None):
        """Continue DNA prompts with the fitted language model, sampling over A, C, G and T.

        Each new base costs one pass over the model for one position plus a dot product with the past per layer
        (:mod:`dnaestim.nn.generation`), not a forward pass over the whole prefix.

        Parameters
        ----------
        prompts : str or list of str
            Non-empty DNA prompts (read with this estimator's ``unknown`` rule). Prompt plus ``max_new_tokens``
            must fit in the model's ``l_max``.
        max_new_tokens : int
            Nucleotides to add to each prompt.
        temperature : float, default=1.0
            Softmax temperature; 0 is greedy (the most likely base at every step).
        top_k : int, optional
            Sample among the ``top_k`` most likely bases only.
        top_p : float, optional
            Nucleus sampling: among the most likely bases whose probabilities add up to ``top_p``.
        random_state : int, numpy.random.Generator, RandomState or None, default=None
            Seeds the sampling; the same seed gives the same sequences.

        Returns
        -------
        str or list of str
            Each prompt (uppercase) followed by its new bases; a str for a str prompt.

        Examples
        --------
        >>> from dnaestim import HyenaPretrainer
        >>> pre = HyenaPretrainer(d_model=16, n_layer=1, max_length=64, max_steps=2, random_state=0)
        >>> pre = pre.fit(["ACGT" * 40])
        >>> len(pre.generate("ACGTACGT", 20, random_state=0))
        28
        """
        check_is_fitted(self)
        from ..nn.generation import generate

        return generate(self.model_, prompts, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                        random_state=random_state, tokenizer=self._tokenizer())

    def _checkpoint_metadata(self) -> dict:
        metadata = super()._checkpoint_metadata()
        metadata["training"]["tokens_seen_"] = int(self.tokens_seen_)
        return metadata

    # -- checkpoints -------------------------------------------------------------------------------------------

    def _write_checkpoint(self, optimizer, budget, rank, scaler=None):
        """Rank 0 writes the checkpoint; every rank must call this (each one's random state goes in it and
        ``budget.elapsed()`` is a collective under torchrun)."""
        elapsed = budget.elapsed()
        # Dropout masks differ between ranks: keep every rank's generator (the GPU's too, which dropout uses there).
        generators = gather_generator_states(self.device_)
        if rank != 0:
            return
        directory = Path(self.checkpoint_dir)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "format": 1,
            "config": self.model_.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.model_.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "step": self.n_iter_,
            "tokens_seen": self.tokens_seen_,
            "elapsed": elapsed,
            "schedule_start": float(budget.schedule_start or 0.0),
            "history": self.history_,
            "torch_rng": [cpu for cpu, _ in generators],  # one per rank
            "cuda_rng": [cuda for _, cuda in generators],
            "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
            "max_steps": int(self.max_steps),
        }
        with atomic_write(directory / CHECKPOINT_NAME) as fh:
            torch.save(state, fh)

    def _restore(self, checkpoint, optimizer, rank):
        if checkpoint.get("config") != self.model_.config.to_dict():
            raise ValueError("The checkpoint was written by a model of another architecture; resume with the "
                             "parameters of the original run.")
        self.model_.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        self.n_iter_ = int(checkpoint["step"])
        self.tokens_seen_ = int(checkpoint["tokens_seen"])
        self.history_ = list(checkpoint["history"])
        rng_states = checkpoint["torch_rng"]
        if isinstance(rng_states, torch.Tensor):  # checkpoints of dnaestim 0.1.0 dev versions: rank 0's only
            rng_states = [rng_states]
        restore_generator_states(rng_states, checkpoint.get("cuda_rng"), rank, self.device_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


