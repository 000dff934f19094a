"""HyenaEmbedder: a scikit-learn transformer that turns DNA sequences into pooled HyenaDNA embeddings."""

from __future__ import annotations

import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from .._validation import check_chunk_size
from ..models import DEFAULT_BACKBONE
from ..nn import HyenaLM
from ._base import HyenaEstimatorMixin, _check_pooling

__all__ = ["HyenaEmbedder"]


class HyenaEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, HyenaEstimatorMixin):
    """Embed DNA sequences with a HyenaDNA backbone: one ``d_model``-dimensional vector per sequence.

    ``fit`` loads (or initialises) the backbone and learns nothing else; ``transform`` returns the hidden states
    after the final LayerNorm, pooled over the real tokens of each sequence (never over padding). Use it as the
    first step of a :class:`~sklearn.pipeline.Pipeline`.

    Parameters
    ----------
    pretrained : str, path-like, HyenaLM, fitted HyenaPretrainer or None, default="dnaestim-multispecies-tiny-1k"
        Backbone weights: the name of a bundled model (:func:`dnaestim.list_pretrained`; the default is the
        multi-species backbone dnaestim ships), a local checkpoint directory in either published layout, a HyenaLM
        or a fitted HyenaPretrainer. None initialises a random backbone with the architecture below (random
        features: a baseline, not a foundation model).
    d_model, n_layer : int, default=128, 2
        Architecture of a randomly initialised backbone.
    d_inner : int, default=None
        MLP width; ``4 * d_model`` when None.
    filter_order, emb_dim : int, default=64, 5
        Width of the implicit filter's MLP and of its positional encoding.
    pooling : {"mean", "last"}, default="mean"
        Mean over the real tokens, or the last real token.
    max_length : int, default=None
        Cut sequences to this many nucleotides (keeping their start). None: accept any length up to the
        backbone's ``l_max`` (for a random backbone, the longest sequence seen by ``fit``).
    rc_average : bool, default=False
        Average each sequence's embedding with its reverse complement's.
    batch_size : int, default=64
        Sequences per forward pass.
    chunk_size : int, "auto" or None, default="auto"
        Run batches longer than this many tokens through the chunked forward pass: memory about two
        (batch, length, d_model) float32 buffers instead of a dozen (a 1M-token window of the large-1m model in
        about 3 GiB), and faster on long inputs. ``"auto"``: chunks of 4096 for batches longer than 8192;
        None: always one pass. Outputs agree to float rounding either way.
    random_state : int, RandomState or None, default=None
        Seeds a randomly initialised backbone.
    unknown : {"raise", "N"}, default="raise"
        A character that is not A, C, G, T or N (either case; U reads as T): ``"raise"`` stops with an error
        naming the sequence, position and character; ``"N"`` reads it as N (IUPAC codes such as R or Y, gaps).
    verbose : int, default=0
        0 is silent; 1 shows a tqdm progress bar.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    precision : {"auto", "32", "bf16", "16", "64"}, default="auto"
        ``"auto"``: mixed precision on GPUs, float32 on CPUs (on CPUs with bfloat16 units ``"bf16"`` is
        1.2-1.4 times faster on long inputs, embeddings within about 0.2 % of float32; the performance guide has
        the measurements). Mixed precision runs the dense layers only: the long convolution, the filters and the
        residual stream stay float32.

    Attributes
    ----------
    feature_names_in_ : ndarray of shape (1,)
        Name of the column when ``X`` was a one-column DataFrame in ``fit`` (absent otherwise).
    model_ : HyenaLM
        The language model whose backbone embeds.
    max_length_ : int
        Longest input accepted.
    n_features_out_ : int
        ``d_model``.
    device_ : torch.device

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> X = ["ACGTACGTAC", "TTTTGGGGCC", "ACGTACGTTT", "GGGGCCCCTT"]
    >>> pipe = make_pipeline(HyenaEmbedder(pretrained=None, d_model=16, n_layer=1, random_state=0), LogisticRegression())
    >>> pipe.fit(X, [0, 1, 0, 1]).predict(X).shape
    (4,)
    >>> HyenaEmbedder(pretrained=None, d_model=16, n_layer=1, random_state=0).fit(X).transform(X).shape
    (4, 16)
    """

    _progress_bar_verbosity = 1

    def __init__(
        self,
        *,
        pretrained=DEFAULT_BACKBONE,
        d_model=128,
        n_layer=2,
        d_inner=None,
        filter_order=64,
        emb_dim=5,
        pooling="mean",
        max_length=None,
        rc_average=False,
        batch_size=64,
        chunk_size="auto",
        random_state=None,
        unknown="raise",
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
        self.pooling = pooling
        self.max_length = max_length
        self.rc_average = rc_average
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.unknown = unknown
        self.verbose = verbose
        self.device = device
        self.precision = precision

    def fit(self, X=None, y=None):
        """Load or initialise the backbone.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str, default=None
            Sequences; only their lengths are used, to size a randomly initialised backbone. May be None with
            ``pretrained`` or ``max_length`` set.
        y : None
            Ignored.

        Returns
        -------
        HyenaEmbedder
            The fitted transformer (``self``).
        """
        device, dtype, autocast = self._validate_common_params()
        _check_pooling(self.pooling)
        check_chunk_size(self.chunk_size)
        lengths = None if X is None else self._sequences(X, reset=True)[1]
        if self.pretrained is not None:
            model = self._pretrained_lm()
            self._check_max_length_fits(model.config.l_max)
            self.max_length_ = model.config.l_max if self.max_length is None else int(self.max_length)
        else:
            if lengths is None and self.max_length is None:
                raise ValueError("A randomly initialised HyenaEmbedder needs X or max_length to size its model.")
            self.max_length_ = int(self.max_length) if self.max_length is not None else int(lengths.max())
            _, seed = self._seeds()
            with torch.random.fork_rng(devices=[]):
                model = HyenaLM(self._backbone_config(self.max_length_), generator=torch.Generator().manual_seed(seed))
        self.model_ = model.to(device=device, dtype=dtype).eval()
        self._set_runtime(device, autocast)
        self.n_features_out_ = model.config.d_model
        return self

    @property
    def _n_features_out(self):
        return self.n_features_out_

    def transform(self, X):
        """Pooled embeddings of ``X``.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences (A, C, G, T, N in either case), at most ``max_length_`` long unless ``max_length`` is
            set.

        Returns
        -------
        ndarray of shape (n_samples, d_model), dtype float32
        """
        sequences = self._fitted_sequences(X)
        return self._pooled_embeddings(self.model_.backbone, sequences, pooling=self.pooling,
                                       chunk_size=self.chunk_size, rc_average=self.rc_average)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags
