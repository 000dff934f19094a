"""Plots of training curves, embeddings and attributions, for a first look at a fitted estimator.

Optional: the functions need matplotlib (``pip install matplotlib``), which dnaestim does not depend on; it is
imported when a function is called, never when dnaestim is imported. Each function draws on the
:class:`~matplotlib.axes.Axes` given as ``ax`` (a new figure otherwise) and returns it, so that titles, limits
and further lines can be added with matplotlib's own calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real

import numpy as np

__all__ = ["plot_attribution", "plot_embeddings", "plot_history", "plot_mutagenesis"]

# What plot_history draws when not told: the losses, which share a unit (nats).
_DEFAULT_METRICS = {"epoch": ("train_loss", "valid_loss"), "step": ("loss", "valid_loss")}
_METHODS = ("pca", "tsne")
#: Longest sequence whose letters label the x axis of the attribution plots (beyond, positions are numbered).
_MAX_LETTERS = 100
_BASES = "ACGT"


def _matplotlib(function):
    """``matplotlib.pyplot`` and ``matplotlib.ticker``, or an ImportError that says how to install them."""
    try:
        import matplotlib.pyplot as plt
        import matplotlib.ticker as ticker
    except ImportError as err:
        raise ImportError(
            f"dnaestim.plotting.{function} needs matplotlib, which is not installed: pip install matplotlib"
        ) from err
    return plt, ticker


def _axes(ax, plt, function):
    if ax is None:
        return plt.subplots()[1]
    if not hasattr(ax, "plot") or not hasattr(ax, "scatter"):
        raise TypeError(f"{function}: ax must be a matplotlib Axes or None; got {type(ax).__name__}.")
    return ax


# ---------------------------------------------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------------------------------------------


def plot_history(estimator_or_history, *, ax=None, metrics=None):
    """Plot the training curves of a fitted estimator, or of a history given as a list of dicts.

    The history is an estimator's ``history_``: one dict per epoch for :class:`~dnaestim.HyenaClassifier`
    and :class:`~dnaestim.SoftPromptClassifier` (``epoch``, ``train_loss``, ``valid_loss``,
    ``valid_accuracy``, ``lr``, ``seconds``), one per optimiser step for :class:`~dnaestim.HyenaPretrainer`
    (``step``, ``loss``, ``perplexity``, ``tokens``, ``length``, ``batch_size``, ``lr``, ``seconds``,
    ``valid_loss``, ``valid_bits_per_nt``). The x axis is ``epoch`` or ``step``, whichever the records have.
    A value that is ``None`` or NaN (a validation loss where none was measured, for instance) is left out, so
    each curve has one point per record that has a value. For a classifier trained with early stopping, a
    dashed vertical line marks ``best_iter_``, the epoch whose weights were kept.

    Parameters
    ----------
    estimator_or_history : estimator, list of dict or pandas.DataFrame
        A fitted estimator with a ``history_`` attribute, or such a history itself (for example read back
        from the ``history.json`` that ``python -m dnaestim pretrain`` writes).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is made when None.
    metrics : str or list of str, default=None
        The record keys to draw, one curve each. None draws the losses that have at least one value:
        ``train_loss`` and ``valid_loss`` per epoch, ``loss`` and ``valid_loss`` per step (all in nats).
        Keys in other units, such as ``valid_accuracy`` or ``lr``, are best drawn on axes of their own.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on, one line per metric, labelled with its key.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    TypeError
        If the estimator has no ``history_`` (:class:`~dnaestim.HyenaEmbedder` trains nothing), or the history
        is not a list of dicts.
    ValueError
        If the history is empty, its records have neither ``epoch`` nor ``step``, a metric is not a key of the
        records or has no value in any of them.

    Examples
    --------
    >>> from dnaestim.plotting import plot_history
    >>> history = [{"epoch": 1, "train_loss": 0.69, "valid_loss": 0.66},
    ...            {"epoch": 2, "train_loss": 0.61, "valid_loss": None},
    ...            {"epoch": 3, "train_loss": 0.55, "valid_loss": 0.58}]
    >>> ax = plot_history(history)
    >>> [(line.get_label(), line.get_xdata().tolist()) for line in ax.get_lines()]
    [('train_loss', [1, 2, 3]), ('valid_loss', [1, 3])]

    With a fitted estimator (here without early stopping, so no validation loss is measured):

    >>> from dnaestim import HyenaClassifier
    >>> X, y = ["ACGTACGTAC", "TTTTGGGGCC"] * 8, ["a", "b"] * 8
    >>> clf = HyenaClassifier(pretrained=None, d_model=16, n_layer=1, max_iter=3, early_stopping=False,
    ...                       random_state=0).fit(X, y)
    >>> ax = plot_history(clf)
    >>> ax.get_xlabel(), [line.get_label() for line in ax.get_lines()]
    ('epoch', ['train_loss'])
    """
    plt, ticker = _matplotlib("plot_history")
    records, estimator = _history_records(estimator_or_history)
    x_key = _x_key(records)
    explicit = metrics is not None
    if metrics is None:
        metrics = _DEFAULT_METRICS[x_key]
    elif isinstance(metrics, str):
        metrics = [metrics]
    else:
        metrics = list(metrics)
        if not metrics or not all(isinstance(m, str) for m in metrics):
            raise ValueError(f"metrics must be a str, a non-empty list of str or None; got {metrics!r}.")
    available = list(dict.fromkeys(key for record in records for key in record if key != x_key))
    curves = []
    for metric in metrics:
        if metric not in available:
            if not explicit:
                continue
            raise ValueError(
                f"No record of the history has the key {metric!r}; its keys are: {', '.join(available)}."
            )
        points = _points(records, x_key, metric)
        if points:
            curves.append((metric, points))
        elif explicit:
            raise ValueError(
                f"{metric!r} has no value in this history (None or NaN in all {len(records)} records): nothing "
                "to plot. A validation metric is measured only with early stopping (classifiers) or validation "
                "windows (HyenaPretrainer)."
            )
    if not curves:
        raise ValueError(
            f"None of {', '.join(repr(m) for m in metrics)} has a value in this history; pass metrics= with "
            f"some of: {', '.join(available)}."
        )

    ax = _axes(ax, plt, "plot_history")
    for metric, points in curves:
        xs, ys = (np.asarray(column) for column in zip(*points))
        # A curve with gaps (evaluated every few steps) or few points gets markers, so no point goes unseen.
        marker = "o" if len(points) < len(records) or len(points) <= 30 else None
        ax.plot(xs, ys, marker=marker, markersize=3, label=metric)
    best = getattr(estimator, "best_iter_", None)
    if x_key == "epoch" and best is not None and any(m.startswith("valid") for m, _ in curves):
        ax.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"kept weights (epoch {best})")
    ax.set_xlabel(x_key)
    names = [metric for metric, _ in curves]
    if len(names) == 1:
        ax.set_ylabel(names[0])
    elif all(name.endswith("loss") for name in names):
        ax.set_ylabel("cross-entropy (nats)")
    xs = sorted({x for _, points in curves for x, _ in points})
    if len(xs) <= 12:  # a tick on every epoch or step (a locator would add fractional ticks around one point)
        ax.set_xticks(xs)
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.legend()
    return ax


def _history_records(obj):
    """``(records, estimator or None)`` from an estimator, a list of dicts or a DataFrame."""
    estimator = None
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # a pandas DataFrame
        history = obj.to_dict("records")
    elif isinstance(obj, (list, tuple)):
        history = obj
    elif hasattr(obj, "fit") and hasattr(obj, "get_params"):
        if not hasattr(obj, "history_"):
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(obj)  # raises NotFittedError for an unfitted estimator
            raise TypeError(
                f"{type(obj).__name__} has no training history (history_): plot_history draws the curves of "
                "estimators that train (HyenaClassifier, SoftPromptClassifier, HyenaPretrainer)."
            )
        estimator, history = obj, obj.history_
    else:
        raise TypeError(
            "plot_history takes a fitted estimator with a history_, a list of dicts or a pandas DataFrame; got "
            f"{type(obj).__name__}."
        )
    records = list(history)
    if not records:
        raise ValueError("The history is empty: no epoch or step was recorded, so there is nothing to plot.")
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(f"history[{i}] is a {type(record).__name__}, not a dict of one epoch's or step's values.")
    return records, estimator


def _x_key(records):
    for key in ("epoch", "step"):
        if all(record.get(key) is not None for record in records):
            return key
    raise ValueError(
        "The history's records do not all have an 'epoch' or a 'step' key, so there is no x axis; its first "
        f"record has the keys: {', '.join(map(str, records[0]))}."
    )


def _points(records, x_key, metric):
    """``[(x, value)]`` of the records whose ``metric`` is a number (None and NaN are skipped)."""
    points = []
    for i, record in enumerate(records):
        value = record.get(metric)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"history[{i}][{metric!r}] is {value!r}, not a number.")
        if math.isnan(value):
            continue
        points.append((record[x_key], float(value)))
    return points


# ---------------------------------------------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------------------------------------------


def plot_embeddings(embeddings, labels=None, *, method="pca", ax=None, random_state=None):
    """Scatter embeddings projected to two dimensions, coloured by label.

    The embeddings (for instance the output of :meth:`HyenaEmbedder.transform
    <dnaestim.HyenaEmbedder.transform>`) are projected with scikit-learn's :class:`~sklearn.decomposition.PCA`
    or :class:`~sklearn.manifold.TSNE`, as they are: standardise them first
    (:class:`~sklearn.preprocessing.StandardScaler`) if their features have very different scales. Each label
    gets its own colour and legend entry, in sorted order; meant for a handful of classes.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Numbers, at least two samples and two features (a CPU or GPU tensor is accepted too).
    labels : array-like of shape (n_samples,), default=None
        The class of each sample; None draws every point in one colour, without a legend.
    method : {"pca", "tsne"}, default="pca"
        ``"pca"`` projects on the first two principal components (axis labels give their share of the
        variance); ``"tsne"`` runs t-SNE (``init="pca"``, perplexity 30, or less for fewer than 91 samples),
        which is slower and keeps neighbourhoods rather than distances.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is made when None.
    random_state : int, RandomState instance or None, default=None
        Seeds t-SNE (and PCA's randomised solver, when scikit-learn picks it).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: one scatter collection per label (one in all without labels).

    Raises
    ------
    ValueError
        If ``method`` is unknown, ``embeddings`` is not 2-D, has fewer than two samples or features, or holds
        NaN or infinite values, or ``labels`` does not have one entry per sample.

    Examples
    --------
    >>> import numpy as np
    >>> from dnaestim.plotting import plot_embeddings
    >>> rng = np.random.default_rng(0)
    >>> embeddings = np.vstack([rng.normal(0, 1, (20, 8)), rng.normal(3, 1, (20, 8))])
    >>> labels = ["promoter"] * 20 + ["other"] * 20
    >>> ax = plot_embeddings(embeddings, labels)
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['other', 'promoter']
    >>> ax.get_xlabel().startswith("PC 1")
    True
    """
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}; got {method!r}.")
    plt, _ = _matplotlib("plot_embeddings")
    X = _embedding_matrix(embeddings)
    n_samples = X.shape[0]
    if labels is not None:
        labels = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels, dtype=object)
        if labels.ndim != 1 or len(labels) != n_samples:
            raise ValueError(
                f"labels must have one entry per row of embeddings ({n_samples}); got shape {labels.shape}."
            )

    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=random_state)
        projected = pca.fit_transform(X)
        share = pca.explained_variance_ratio_
        axis_labels = (f"PC 1 ({share[0]:.0%} of variance)", f"PC 2 ({share[1]:.0%} of variance)")
    else:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(1.0, (n_samples - 1) / 3))
        projected = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state
                         ).fit_transform(X)
        axis_labels = ("t-SNE 1", "t-SNE 2")

    ax = _axes(ax, plt, "plot_embeddings")
    size = 12 if n_samples <= 1000 else 4
    if labels is None:
        ax.scatter(projected[:, 0], projected[:, 1], s=size, alpha=0.7)
    else:
        for label in _sorted_unique(labels):
            rows = np.array([value == label for value in labels], dtype=bool)
            ax.scatter(projected[rows, 0], projected[rows, 1], s=size, alpha=0.7, label=str(label))
        ax.legend(title="label")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    return ax


def _embedding_matrix(embeddings):
    if hasattr(embeddings, "detach"):  # a torch tensor, possibly on a GPU
        embeddings = embeddings.detach().float().cpu().numpy()
    try:
        X = np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"embeddings must be a 2-D array of numbers ({err}).") from None
    if X.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (n_samples, n_features); got shape {X.shape}.")
    if X.shape[0] < 2 or X.shape[1] < 2:
        raise ValueError(
            f"embeddings must have at least 2 samples and 2 features to project to 2-D; got shape {X.shape}."
        )
    if not np.isfinite(X).all():
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise ValueError(f"embeddings has NaN or infinite values (first in row {row}).")
    return X


def _sorted_unique(labels):
    unique = list(dict.fromkeys(labels.tolist()))
    try:
        return sorted(unique)
    except TypeError:  # labels of mixed types
        return sorted(unique, key=str)


# ---------------------------------------------------------------------------------------------------------------
# Attributions
# ---------------------------------------------------------------------------------------------------------------


def plot_attribution(scores, sequence=None, *, ax=None):
    """Draw per-position attribution scores along a sequence, one bar per nucleotide.

    For the output of :func:`dnaestim.interpret.gradient_x_input`, or any per-position summary of
    :func:`~dnaestim.interpret.saturation_mutagenesis` (``np.abs(ism).max(1)``, the largest change at each
    position; ``-ism.sum(1) / 3``, the mean loss when the base is replaced). Bars above zero are blue, below
    zero red.

    Parameters
    ----------
    scores : array-like of shape (n_positions,)
        One finite number per position (a CPU or GPU tensor is accepted too).
    sequence : str, default=None
        The sequence the scores belong to; for up to 100 nucleotides its letters label the x axis (longer
        sequences get numbered positions).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: one bar per position (``ax.patches``), at x = 0, 1, ...

    Raises
    ------
    ValueError
        If ``scores`` is not one-dimensional, holds NaN or infinite values, or ``sequence`` does not have one
        letter per score.

    Examples
    --------
    >>> import numpy as np
    >>> from dnaestim.plotting import plot_attribution
    >>> ax = plot_attribution(np.array([0.1, -0.2, 0.6, 0.5]), "ACGT")
    >>> [round(float(bar.get_height()), 2) for bar in ax.patches]
    [0.1, -0.2, 0.6, 0.5]
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['A', 'C', 'G', 'T']
    """
    plt, _ = _matplotlib("plot_attribution")
    values = _number_array(scores, "scores")
    if values.ndim != 1 or values.size == 0:
        hint = " (reduce an ISM matrix first, e.g. np.abs(ism).max(1))" if values.ndim == 2 else ""
        raise ValueError(f"scores must be a non-empty 1-D array, one score per position; got shape "
                         f"{values.shape}{hint}.")
    _check_sequence(sequence, len(values), "scores", required=False)
    ax = _axes(ax, plt, "plot_attribution")
    positions = np.arange(len(values))
    colors = np.where(values >= 0, "tab:blue", "tab:red")
    ax.bar(positions, values, width=0.85, color=colors, linewidth=0)
    ax.axhline(0.0, color="black", linewidth=0.5)
    _label_positions(ax, sequence, len(values))
    ax.set_ylabel("attribution")
    return ax


def plot_mutagenesis(ism, sequence, *, ax=None):
    """Draw an in-silico mutagenesis matrix as a heatmap: positions across, the four bases down.

    Each cell is the change of the output when that position is given that base (the output of
    :func:`dnaestim.interpret.saturation_mutagenesis`), on a red-blue scale centred on zero: blue raises the
    output, red lowers it. A black dot marks the reference base of each position (where the change is zero by
    definition; a position whose reference is N has no dot).

    Parameters
    ----------
    ism : array-like of shape (len(sequence), 4)
        Changes, columns in the order A, C, G, T.
    sequence : str
        The reference sequence; for up to 100 nucleotides its letters label the x axis.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is made when None. A colour bar is added next to it.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: the heatmap (``ax.images[0]``, whose array is ``ism.T``) and the reference dots
        (``ax.collections[0]``).

    Raises
    ------
    ValueError
        If ``ism`` is not a (len(sequence), 4) matrix of finite numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from dnaestim.plotting import plot_mutagenesis
    >>> ism = np.array([[0.0, -0.3, -0.2, -0.4], [0.1, 0.0, 0.2, -0.1], [0.0, 0.0, 0.0, 0.0]])
    >>> ax = plot_mutagenesis(ism, "ACN")
    >>> ax.images[0].get_array().shape
    (4, 3)
    >>> ax.collections[0].get_offsets().tolist()  # the reference bases: A at 0, C at 1 (N has none)
    [[0.0, 0.0], [1.0, 1.0]]
    """
    plt, _ = _matplotlib("plot_mutagenesis")
    matrix = _number_array(ism, "ism")
    if not isinstance(sequence, str):
        raise TypeError(f"sequence must be a str; got {type(sequence).__name__}.")
    if matrix.ndim != 2 or matrix.shape[1] != 4 or matrix.shape[0] == 0:
        raise ValueError(f"ism must have shape (len(sequence), 4), one column per base A, C, G, T; got "
                         f"{matrix.shape}.")
    _check_sequence(sequence, len(matrix), "ism", required=True)
    ax = _axes(ax, plt, "plot_mutagenesis")
    limit = float(np.abs(matrix).max()) or 1.0
    image = ax.imshow(matrix.T, aspect="auto", cmap="RdBu", vmin=-limit, vmax=limit, interpolation="nearest")
    read = sequence.upper().replace("U", "T")
    positions = np.array([i for i, c in enumerate(read) if c in _BASES], dtype=float)
    rows = np.array([_BASES.index(c) for c in read if c in _BASES], dtype=float)
    ax.scatter(positions, rows, s=8 if len(matrix) <= _MAX_LETTERS else 2, color="black", label="reference")
    ax.set_yticks(range(4))
    ax.set_yticklabels(list(_BASES))
    ax.set_ylim(3.5, -0.5)
    _label_positions(ax, sequence, len(matrix))
    ax.set_ylabel("base")
    ax.figure.colorbar(image, ax=ax, label="change of the output")
    return ax


def _number_array(values, name):
    if hasattr(values, "detach"):  # a torch tensor, possibly on a GPU
        values = values.detach().double().cpu().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers.") from None
    if not np.isfinite(array).all():
        first = np.argwhere(~np.isfinite(array))[0].tolist()
        raise ValueError(f"{name} has NaN or infinite values (first at {first}).")
    return array


def _check_sequence(sequence, length, name, required):
    if sequence is None and not required:
        return
    if not isinstance(sequence, str):
        raise TypeError(f"sequence must be a str{'' if required else ' or None'}; got {type(sequence).__name__}.")
    if len(sequence) != length:
        raise ValueError(f"sequence has {len(sequence)} nucleotides but {name} has {length} positions; give the "
                         "sequence the attributions were computed on.")


def _label_positions(ax, sequence, length):
    """The x axis of ``length`` positions: the sequence's letters as tick labels (up to ``_MAX_LETTERS``), else
    numbered positions."""
    ax.set_xlim(-0.5, length - 0.5)
    if sequence is not None and length <= _MAX_LETTERS:
        ax.set_xticks(range(length))
        ax.set_xticklabels(list(sequence), fontfamily="monospace")
    ax.set_xlabel("position")
