"""SoftPromptClassifier: adapt a frozen pretrained HyenaDNA with a learned soft prompt and/or k-shot demonstrations."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import torch

from .._validation import check_int
from .._version import __version__
from ..checkpoints import checkpoint_directory, load_pretrained
from ..distributed import Shard
from ..models import DEFAULT_BACKBONE, bundled_model_path, is_bundled_name
from ..nn.prompting import PROMPT_HEADS, SoftPromptModel
from ..tokenizer import VOCAB
from ..training import build_optimizer
from ._base import _check_float, restore_device, seeded
from ._classification import HyenaClassifierBase
from ._pooled_head import HEAD_INITS, probe_head

__all__ = ["SoftPromptClassifier"]

#: Published label tokens (RECIPES §3.1): binary {0: A, 1: N}, three classes {0: A, 1: G, 2: N}.
_PUBLISHED_LABEL_TOKENS = {2: ("A", "N"), 3: ("A", "G", "N")}
_DEFAULT_LABEL_TOKENS = ("A", "C", "G", "T", "N")


def _fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state (names, dtypes, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def load_checked_backbone(checkpoint: str, fingerprint: str, how: str):
    """The language model at ``checkpoint`` (a directory or bundled name) of a SoftPromptClassifier stored without
    its backbone (``how``: "pickle" or "save"), refused unless its weights still have ``fingerprint``."""
    if not (os.path.isdir(checkpoint) or is_bundled_name(checkpoint)):
        raise FileNotFoundError(
            f"This SoftPromptClassifier was {how}d without its backbone (keep_backbone=False), and its checkpoint "
            f"directory {checkpoint!r} does not exist any more. Put the checkpoint back at that path, or refit with "
            f"keep_backbone=True to {how} a self-contained estimator."
        )
    lm = load_pretrained(checkpoint)
    if _fingerprint(lm) != fingerprint:
        raise ValueError(
            f"The checkpoint at {checkpoint!r} has changed since this SoftPromptClassifier was fitted (its weights "
            "differ), so the learned prompt no longer applies. Restore the original checkpoint or refit."
        )
    return lm


class _PromptOnly:
    """Pickled form of a SoftPromptClassifier's model without its backbone: the trainable state plus where the
    checkpoint lives and a fingerprint of its weights."""

    def __init__(self, model: SoftPromptModel, checkpoint: str, fingerprint: str, spec: dict, device):
        self.state = {k: v.detach().cpu() for k, v in model.trainable_state().items()}
        self.checkpoint, self.fingerprint, self.spec, self.device = checkpoint, fingerprint, spec, str(device)

    def restore(self):
        lm = load_checked_backbone(self.checkpoint, self.fingerprint, "pickle")
        model = SoftPromptModel(lm, **self.spec)
        model.load_state_dict(self.state, strict=False)
        device = restore_device(self.device, "SoftPromptClassifier")
        dtype = self.state["prompt"].dtype
        return model.to(device=device, dtype=dtype), device


class SoftPromptClassifier(HyenaClassifierBase):
    """Classify DNA with a frozen pretrained HyenaDNA: a learned soft prompt and/or in-context demonstrations.

    Only ``n_prompt_tokens`` vectors of size ``d_model`` (and, with ``head="linear"``, one linear layer) are
    trained; the language model's weights never change and receive no gradients. Each query is laid out as
    published (:mod:`dnaestim.nn.prompting`)::

        [soft prompt] [demo SEP label SEP] x (n_shots per class) [query SEP]

    with every sequence left-padded to ``max_length_``; the class is read at the final ``SEP`` (``head="lm"``) or
    from the query's pooled hidden states (``head="linear"``). With
    ``n_prompt_tokens=0``, ``n_shots=k`` and ``head="lm"`` nothing is trained: ``fit`` only picks the
    demonstrations (k-shot in-context learning).

    Parameters
    ----------
    pretrained : str, path-like, HyenaLM or fitted HyenaPretrainer, default="dnaestim-multispecies-tiny-1k"
        The language model to adapt: the name of a bundled model (:func:`dnaestim.list_pretrained`; the default is
        the multi-species backbone dnaestim ships), a local checkpoint directory in either published layout, a
        HyenaLM or a fitted HyenaPretrainer.
    n_prompt_tokens : int, default=16
        Learned vectors prepended to the input (0 to 32,768 and more, as long as the whole input fits the
        model's ``l_max``).
    head : {"linear", "lm"}, default="linear"
        ``"linear"``: a trainable linear layer on the query's hidden states averaged over its nucleotides (which
        all see the prompt and the demonstrations); ``"lm"``: predict each class as a next token through the
        frozen LM head (one vocabulary token per class, see ``label_tokens``), the published way, which needs a
        well-pretrained backbone (on the bundled one it stays near chance; see the user guide).
    head_init : {"probe", "random"}, default="probe"
        How the linear head starts (``head="linear"`` only). ``"probe"``: a logistic regression on the features
        it reads (with the initial prompt, at most 4,096 training sequences; with ``max_time``, as many as about
        half the budget embeds) sets it before training, as in :class:`HyenaClassifier`; ``"random"``: N(0, 0.02).
    label_tokens : sequence of str, default=None
        Vocabulary token standing for each class (in ``classes_`` order), e.g. ``["A", "N"]``. None: the
        published choice (``A``/``N`` for two classes, ``A``/``G``/``N`` for three), ``A C G T N`` for four
        or five; more classes need ``label_tokens`` or ``head="linear"``.
    n_shots : int, default=0
        Demonstrations per class, drawn from the training data with ``random_state`` and placed before every
        query (they are then not used as training examples).
    max_length : int, default=None
        Length every sequence is left-padded (or cut) to. None: the longest training sequence.
    prompt_dropout : float, default=0.1
        Dropout on the prompt vectors in training (published: 0.1).
    max_iter : int, default=20
        Maximum number of epochs (published: 20).
    batch_size : int, default=16
        Sequences per optimiser step and per inference batch.
    learning_rate_init : float, default=1e-3
        Peak learning rate (published: 1e-3 with AdamW, no weight decay).
    weight_decay : float, default=0.0
        AdamW's decoupled weight decay on the prompt and head (published: 0).
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data and keep the prompt with the best validation loss.
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping (stratified).
    n_iter_no_change : int, default=2
        Epochs without improvement before training stops.
    tol : float, default=1e-4
        Minimum decrease of the validation loss that counts as an improvement when deciding to stop (the weights
        kept are those of the lowest validation loss, as in scikit-learn's ``MLPClassifier``).
    scoring : str, callable or None, default="loss"
        What early stopping watches on the validation split: ``"loss"`` (the validation loss, lower is better) or
        a scikit-learn scorer (a name such as ``"roc_auc"`` or ``"balanced_accuracy"``, or a callable
        ``scorer(estimator, X, y)``; higher is better, and ``tol`` applies to it). Also what
        ``validation_scores_`` holds (accuracy for ``"loss"`` and None).
    max_time : float, default=None
        Wall-clock budget for ``fit`` in seconds.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn.
    rc_augment : bool or "auto", default="auto"
        Reverse-complement each training sequence with probability 1/2 every epoch (published: on). ``"auto"``
        decides from the training labels as in :class:`HyenaClassifier`: on when averaging is on.
    rc_average : bool or "auto", default="auto"
        Average the probabilities of each query and its reverse complement. ``"auto"`` decides from the
        training labels as in :class:`HyenaClassifier`: on unless a quick strand check finds the labels
        depend on the strand. Can be changed after ``fit``.
    keep_backbone : bool, default=True
        Pickle (or :func:`dnaestim.save`) the whole model. False keeps only the prompt, the head and the
        demonstrations, plus the path of the checkpoint directory and a fingerprint of its weights: one backbone
        on disk serves many small task files (``pretrained`` must then be a directory or a bundled model's name,
        kept by name; unpickling or :func:`dnaestim.load` checks that the weights are unchanged).
    unknown : {"raise", "N"}, default="raise"
        A character that is not A, C, G, T or N (either case; U reads as T): ``"raise"`` stops with an error
        naming the sequence, position and character; ``"N"`` reads it as N (IUPAC codes such as R or Y, gaps).
    random_state : int, RandomState or None, default=None
        Seeds the demonstrations, the prompt and head initialisation, the validation split, shuffling and
        dropout. The global random generators are left untouched.
    verbose : int, default=0
        0 is silent; 1 prints a table of every epoch to stderr; 2 also shows progress bars.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    precision : {"auto", "32", "bf16", "16", "64"}, default="auto"
        ``"auto"``: mixed precision on GPUs; on CPUs with bfloat16 units (AVX512_BF16 or AMX) bf16 autocast
        for training and float32 for predictions; float32 on other CPUs. Mixed precision runs the dense layers
        only: the long convolution, the filters and the residual stream stay float32. ``"32"`` forces float32
        (the performance guide has the measured costs).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted class labels.
    model_ : SoftPromptModel
        The frozen language model with the trained prompt and head.
    label_token_ids_ : ndarray of shape (n_classes,) or (0,)
        Vocabulary id of each class's token (empty for ``head="linear"`` without demonstrations or
        ``label_tokens``: no token stands for a class then).
    demonstrations_ : list of (str, label)
        The in-context examples, in the order they are shown.
    max_length_ : int
        Length every sequence is left-padded or cut to.
    input_length_ : int
        Tokens the language model reads per query (prompt, demonstrations, query and SEP).
    n_iter_ : int
        Epochs run (0 when nothing trains).
    history_ : list of dict
        One entry per epoch, as in :class:`HyenaClassifier`.
    loss_curve_, validation_loss_curve_ : list of float
        Training and validation loss per epoch.
    best_iter_ : int
        Epoch whose prompt was kept.
    validation_scores_, best_validation_score_, best_loss_, rc_augment_, rc_average_
        As in :class:`HyenaClassifier`.
    device_ : torch.device
        Device the model lives on.

    Examples
    --------
    >>> from dnaestim import HyenaLM, HyenaConfig, SoftPromptClassifier
    >>> lm = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64))
    >>> X, y = ["ACGTACGTAC", "TTTTGGGGCC"] * 8, ["a", "b"] * 8
    >>> clf = SoftPromptClassifier(pretrained=lm, n_prompt_tokens=4, max_iter=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape, clf.input_length_
    ((2, 2), 15)
    """

    _fixed_layout = True

    def __init__(
        self,
        *,
        pretrained=DEFAULT_BACKBONE,
        n_prompt_tokens=16,
        head="linear",
        head_init="probe",
        label_tokens=None,
        n_shots=0,
        max_length=None,
        prompt_dropout=0.1,
        max_iter=20,
        batch_size=16,
        learning_rate_init=1e-3,
        weight_decay=0.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=2,
        tol=1e-4,
        scoring="loss",
        max_time=None,
        class_weight=None,
        rc_augment="auto",
        rc_average="auto",
        keep_backbone=True,
        unknown="raise",
        random_state=None,
        verbose=0,
        device="auto",
        precision="auto",
    ):
        self.pretrained = pretrained
        self.n_prompt_tokens = n_prompt_tokens
        self.head = head
        self.head_init = head_init
        self.label_tokens = label_tokens
        self.n_shots = n_shots
        self.max_length = max_length
        self.prompt_dropout = prompt_dropout
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.scoring = scoring
        self.max_time = max_time
        self.class_weight = class_weight
        self.rc_augment = rc_augment
        self.rc_average = rc_average
        self.keep_backbone = keep_backbone
        self.random_state = random_state
        self.unknown = unknown
        self.verbose = verbose
        self.device = device
        self.precision = precision

    # -- fitting -------------------------------------------------------------------------------------------------

    def _validate_params(self):
        if self.pretrained is None:
            raise ValueError(
                "SoftPromptClassifier adapts a pretrained model: pass pretrained= a checkpoint directory, a HyenaLM "
                "or a fitted HyenaPretrainer. To train a model from scratch use HyenaClassifier."
            )
        device, dtype, autocast = self._validate_common_params()
        check_int(self.n_prompt_tokens, "n_prompt_tokens", minimum=0)
        check_int(self.n_shots, "n_shots", minimum=0)
        self._validate_training_params()
        _check_float(self.prompt_dropout, "prompt_dropout", 0, 1, high_open=True)
        if self.head not in PROMPT_HEADS:
            raise ValueError(f"head must be one of {PROMPT_HEADS}; got {self.head!r}.")
        if self.head_init not in HEAD_INITS:
            raise ValueError(f"head_init must be one of {HEAD_INITS}; got {self.head_init!r}.")
        if not self.keep_backbone and not isinstance(self.pretrained, (str, os.PathLike)):
            raise ValueError(
                "keep_backbone=False pickles only where the checkpoint is, so pretrained must be a checkpoint "
                f"directory or a bundled model's name; got a {type(self.pretrained).__name__}. Save it with "
                "save_pretrained first."
            )
        return device, dtype, autocast

    def _label_token_ids(self, n_classes):
        tokens = self.label_tokens
        if self.head == "linear" and not self.n_shots and tokens is None:
            return np.zeros(0, dtype=np.int64)  # no token stands for a class: nothing reads or writes labels
        if tokens is None:
            tokens = _PUBLISHED_LABEL_TOKENS.get(n_classes, _DEFAULT_LABEL_TOKENS[:n_classes])
            if len(tokens) < n_classes:
                raise ValueError(
                    f"y has {n_classes} classes; head='lm' has default label tokens for at most "
                    f"{len(_DEFAULT_LABEL_TOKENS)}. Pass label_tokens (one vocabulary token per class, from "
                    f"{list(VOCAB)}) or use head='linear'."
                )
        tokens = list(tokens)
        if len(tokens) != n_classes:
            raise ValueError(f"label_tokens has {len(tokens)} tokens but y has {n_classes} classes; give one per class.")
        unknown = [t for t in tokens if t not in VOCAB]
        if unknown:
            raise ValueError(f"label_tokens {unknown} are not in the vocabulary {list(VOCAB)}.")
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"label_tokens must be distinct; got {tokens}.")
        return np.array([VOCAB[t] for t in tokens], dtype=np.int64)

    def _pick_demonstrations(self, y_index, rng):
        """``n_shots`` random examples of each class, shuffled; returns their indices."""
        chosen = []
        for c in range(len(self.classes_)):
            members = np.flatnonzero(y_index == c)
            if len(members) < int(self.n_shots) + 1:
                raise ValueError(
                    f"n_shots={self.n_shots} needs more than {self.n_shots} examples of class {self.classes_.tolist()[c]!r}, "
                    f"which has {len(members)}. Lower n_shots or add data."
                )
            chosen.extend(rng.choice(members, size=int(self.n_shots), replace=False).tolist())
        return np.array(rng.permutation(chosen), dtype=np.int64)

    def _demo_ids(self, sequences, y_index, demos):
        sep = VOCAB["[SEP]"]
        if not len(demos):
            return np.zeros(0, dtype=np.int64)
        ids = self._tokenizer()([sequences[i] for i in demos], max_length=self.max_length_, truncation=True,
                                padding="max_length").input_ids
        labels = self.label_token_ids_[y_index[demos]]
        rows = [np.concatenate([row, [sep, label, sep]]) for row, label in zip(ids, labels)]
        return np.concatenate(rows).astype(np.int64)

    def fit(self, X, y, sample_weight=None):
        """Pick the demonstrations and train the prompt (and linear head) on sequences ``X`` with labels ``y``.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences.
        y : array-like of shape (n_samples,)
            Class labels of any hashable type.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sequence weights in the loss.

        Returns
        -------
        SoftPromptClassifier
            The fitted estimator (``self``).
        """
        device, dtype, autocast = self._validate_params()
        sequences, lengths = self._sequences(X, reset=True)
        if np.ndim(y) == 2 and np.shape(y)[1] > 1:
            raise ValueError("SoftPromptClassifier reads one class per sequence; for multi-label y (a 0/1 matrix) "
                             "use HyenaClassifier.")
        y_index = self._encode_targets(y, len(sequences), warm=False)
        weights, _ = self._class_weights(y_index, sample_weight)
        self.label_token_ids_ = self._label_token_ids(len(self.classes_))
        rng, seed = self._seeds()
        demos = self._pick_demonstrations(y_index, rng)
        lm = self._pretrained_lm()
        self.max_length_ = self._resolve_max_length(lengths, None)
        demo_ids = self._demo_ids(sequences, y_index, demos)
        self.demonstrations_ = [(sequences[i], self.classes_[y_index[i]]) for i in demos]
        self.input_length_ = int(self.n_prompt_tokens) + len(demo_ids) + self.max_length_ + 1
        if self.input_length_ > lm.config.l_max:
            raise ValueError(
                f"The model would read {self.input_length_} tokens per query ({self.n_prompt_tokens} prompt + "
                f"{len(demo_ids)} of demonstrations + {self.max_length_} of sequence + 1 SEP), more than its "
                f"l_max={lm.config.l_max}. Lower n_prompt_tokens, n_shots or max_length."
            )
        self._spec = dict(n_prompt_tokens=int(self.n_prompt_tokens), n_classes=len(self.classes_), head=self.head,
                          label_token_ids=self.label_token_ids_.tolist(), demo_ids=torch.from_numpy(demo_ids),
                          prompt_dropout=float(self.prompt_dropout))
        if not self.keep_backbone:
            directory = checkpoint_directory(self.pretrained)
            # A bundled model is kept by name, so the pickle survives a new environment or install location (the
            # fingerprint still catches an upgrade that changed its weights).
            bundled = is_bundled_name(self.pretrained) and directory == bundled_model_path(self.pretrained)
            self._checkpoint = str(self.pretrained) if bundled else str(directory.resolve())
            self._fingerprint = _fingerprint(lm)
        keep = np.setdiff1d(np.arange(len(sequences)), demos)
        with seeded(seed, device):
            model = SoftPromptModel(lm, **self._spec, generator=torch.Generator().manual_seed(seed))
            self.model_ = model.to(device=device, dtype=dtype)
            self._set_runtime(device, autocast)
            self._start_history()
            if any(p.requires_grad and p.numel() for p in model.parameters()):
                self._train([sequences[i] for i in keep], lengths[keep], y_index[keep], weights[keep], rng,
                            warm=False)
            else:  # in-context learning: nothing trains, but "auto" strands are still decided from the data
                self.rc_augment_, self.rc_average_ = self._resolve_strands([sequences[i] for i in keep],
                                                                           y_index[keep], Shard(len(keep)))
        self.model_.eval()
        return self

    def _make_optimizer(self, model):
        return build_optimizer(model, lr=float(self.learning_rate_init), weight_decay=float(self.weight_decay))

    def _initialize_head(self, sequences, targets, weights, train_index, rng, shard, token_counts, budget=None):
        """With ``head="linear"`` and ``head_init="probe"``, a logistic regression on what the head reads (the
        pooled query states, behind the initial prompt and the demonstrations) sets the head, as for
        HyenaClassifier. Returns True when it did."""
        model = self.model_
        if model.head is None or self.head_init == "random":
            return False
        return probe_head(self, model.head, self._prompted_features, sequences, targets, weights, train_index, rng,
                          shard, budget)

    def _prompted_features(self, sequences):
        """What the linear head reads for ``sequences``, (n, d_model) float32, in input order."""
        model = self.model_
        return self._predict_array(model, sequences, lambda ids, mask: model.features(ids, mask).float(), "probe")

    # -- pickling ------------------------------------------------------------------------------------------------

    def __getstate__(self):
        model = self.__dict__.get("model_")
        if self.keep_backbone or model is None:
            return super().__getstate__()
        state = dict(self.__dict__, _dnaestim_version=__version__)
        state["model_"] = _PromptOnly(model, self._checkpoint, self._fingerprint, self._spec, self.device_)
        return state

    def __setstate__(self, state):
        payload = state.get("model_")
        if isinstance(payload, _PromptOnly):
            state["model_"], state["device_"] = payload.restore()
        state.setdefault("head_init", "random")  # pickled before head_init existed, when heads started at random
        super().__setstate__(state)
