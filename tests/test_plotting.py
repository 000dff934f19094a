"""dnaestim.plotting: training curves and embedding scatter plots (matplotlib's Agg backend, no display)."""

import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dnaestim import HyenaClassifier, HyenaEmbedder, HyenaPretrainer  # noqa: E402
from dnaestim.genome import bundled_genome_path  # noqa: E402
from dnaestim.plotting import plot_embeddings, plot_history  # noqa: E402

X_TOY = ["ACGTACGTAC", "TTTTGGGGCC", "ACGTACGTTT", "GGGGCCCCTT"] * 6
Y_TOY = ["a", "b", "a", "b"] * 6


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def curves(ax):
    """``{label: (x, y)}`` of the lines drawn on ``ax``."""
    return {line.get_label(): (np.asarray(line.get_xdata()).tolist(), np.asarray(line.get_ydata()).tolist())
            for line in ax.get_lines()}


def epoch_history():
    return [
        {"epoch": 1, "train_loss": 0.70, "valid_loss": 0.66, "valid_accuracy": 0.55, "lr": 1e-3, "seconds": 1.0},
        {"epoch": 2, "train_loss": 0.60, "valid_loss": None, "valid_accuracy": None, "lr": 9e-4, "seconds": 2.0},
        {"epoch": 3, "train_loss": 0.50, "valid_loss": float("nan"), "valid_accuracy": 0.70, "lr": 5e-4,
         "seconds": 3.0},
        {"epoch": 4, "train_loss": 0.45, "valid_loss": 0.52, "valid_accuracy": 0.75, "lr": 1e-4, "seconds": 4.0},
    ]


# ---------------------------------------------------------------------------------------------------------------
# plot_history: hand-built histories
# ---------------------------------------------------------------------------------------------------------------


def test_epoch_history_default_losses_skip_none_and_nan():
    ax = plot_history(epoch_history())
    drawn = curves(ax)
    assert list(drawn) == ["train_loss", "valid_loss"]
    assert drawn["train_loss"] == ([1, 2, 3, 4], [0.70, 0.60, 0.50, 0.45])
    assert drawn["valid_loss"] == ([1, 4], [0.66, 0.52])  # None (epoch 2) and NaN (epoch 3) skipped
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "cross-entropy (nats)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train_loss", "valid_loss"]


def test_explicit_metrics_str_or_list():
    ax = plot_history(epoch_history(), metrics="valid_accuracy")
    assert curves(ax) == {"valid_accuracy": ([1, 3, 4], [0.55, 0.70, 0.75])}
    assert ax.get_ylabel() == "valid_accuracy"
    ax = plot_history(epoch_history(), metrics=["lr", "seconds"])
    assert [len(x) for x, _ in curves(ax).values()] == [4, 4]
    assert ax.get_ylabel() == ""


def test_step_history_like_the_pretrainer():
    history = [{"step": s, "loss": 1.4 - 0.01 * s, "perplexity": None, "tokens": 64 * s, "valid_loss": None,
                "valid_bits_per_nt": None} for s in range(1, 11)]
    for record in history[4::5]:  # evaluated at steps 5 and 10
        record.update(valid_loss=1.3, valid_bits_per_nt=1.3 / np.log(2))
    ax = plot_history(history)
    drawn = curves(ax)
    assert drawn["loss"][0] == list(range(1, 11))
    assert drawn["valid_loss"][0] == [5, 10]
    assert ax.get_xlabel() == "step"
    ax = plot_history(history, metrics=["valid_bits_per_nt"])
    assert curves(ax)["valid_bits_per_nt"][0] == [5, 10]
    with pytest.raises(ValueError, match="'perplexity' has no value in this history"):
        plot_history(history, metrics="perplexity")


def test_dataframe_and_tuple_histories():
    frame = pd.DataFrame(epoch_history())
    assert curves(plot_history(frame)) == curves(plot_history(epoch_history()))
    assert curves(plot_history(tuple(epoch_history())))["valid_loss"][0] == [1, 4]


def test_default_metrics_without_any_validation_value():
    history = [{"epoch": e, "train_loss": 1.0 / e, "valid_loss": None} for e in (1, 2, 3)]
    ax = plot_history(history)
    assert list(curves(ax)) == ["train_loss"] and ax.get_ylabel() == "train_loss"


def test_integer_ticks_even_for_a_single_epoch():
    ax = plot_history([{"epoch": 1, "train_loss": 0.7, "valid_loss": 0.6}])
    assert ax.get_xticks().tolist() == [1] and [len(x) for x, _ in curves(ax).values()] == [1, 1]
    ax = plot_history([{"step": s, "loss": 1.0} for s in range(1, 101)])
    ticks = ax.get_xticks()
    assert len(ticks) < 20 and np.all(ticks == np.round(ticks))


def test_draws_on_the_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert plot_history(epoch_history(), ax=axes[1]) is axes[1]
    assert len(axes[0].get_lines()) == 0 and len(axes[1].get_lines()) == 2
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes or None"):
        plot_history(epoch_history(), ax=fig)


def test_history_errors():
    with pytest.raises(ValueError, match="The history is empty"):
        plot_history([])
    with pytest.raises(TypeError, match=r"history\[1\] is a list"):
        plot_history([{"epoch": 1, "train_loss": 1.0}, [2, 0.5]])
    with pytest.raises(ValueError, match="do not all have an 'epoch' or a 'step' key"):
        plot_history([{"epoch": 1, "train_loss": 1.0}, {"train_loss": 0.5}])
    with pytest.raises(ValueError, match=r"No record of the history has the key 'accuracy'; its keys are: "
                                         r"train_loss, valid_loss, valid_accuracy, lr, seconds\."):
        plot_history(epoch_history(), metrics="accuracy")
    with pytest.raises(TypeError, match=r"history\[0\]\['train_loss'\] is 'low', not a number"):
        plot_history([{"epoch": 1, "train_loss": "low"}])
    with pytest.raises(ValueError, match="None of 'train_loss', 'valid_loss' has a value"):
        plot_history([{"epoch": 1, "valid_accuracy": 0.5}])
    with pytest.raises(ValueError, match="metrics must be a str, a non-empty list of str or None"):
        plot_history(epoch_history(), metrics=[])
    with pytest.raises(ValueError, match="metrics must be a str"):
        plot_history(epoch_history(), metrics=[1])
    with pytest.raises(TypeError, match="plot_history takes a fitted estimator"):
        plot_history({"epoch": [1, 2]})


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"plot_history needs matplotlib, which is not installed: pip install "
                                          r"matplotlib"):
        plot_history(epoch_history())
    with pytest.raises(ImportError, match="plot_embeddings needs matplotlib.*pip install matplotlib"):
        plot_embeddings(np.eye(3))


# ---------------------------------------------------------------------------------------------------------------
# plot_history: real estimators
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_history_of_a_fitted_classifier_with_early_stopping():
    clf = HyenaClassifier(pretrained=None, d_model=16, n_layer=1, max_iter=3, early_stopping=True, n_iter_no_change=10,
                          validation_fraction=0.25, batch_size=8, random_state=0).fit(X_TOY, Y_TOY)
    ax = plot_history(clf)
    drawn = curves(ax)
    epochs = [record["epoch"] for record in clf.history_]
    assert epochs == [0, 1, 2, 3] and clf.n_iter_ == 3  # epoch 0: the probed head, validated before training
    assert drawn["train_loss"] == (epochs[1:], clf.loss_curve_)
    assert drawn["valid_loss"] == (epochs, [clf.history_[0]["valid_loss"]] + clf.validation_loss_curve_)
    kept = f"kept weights (epoch {clf.best_iter_})"
    assert drawn[kept][0] == [clf.best_iter_, clf.best_iter_]  # the vertical line at best_iter_
    ax = plot_history(clf.history_, metrics="valid_accuracy")  # the plain history: no best-epoch line
    assert list(curves(ax)) == ["valid_accuracy"] and len(curves(ax)["valid_accuracy"][0]) == 4


def test_history_of_a_fitted_pretrainer():
    pre = HyenaPretrainer(d_model=16, n_layer=1, max_length=64, max_steps=6, eval_interval=3, validation_windows=4,
                          random_state=0).fit(bundled_genome_path())
    drawn = curves(plot_history(pre))
    assert drawn["loss"][0] == list(range(1, 7))
    assert drawn["valid_loss"][0] == [3, 6]


def test_unfitted_estimator_and_estimator_without_history():
    with pytest.raises(NotFittedError):
        plot_history(HyenaClassifier())
    embedder = HyenaEmbedder(pretrained=None, d_model=16, n_layer=1, max_length=16, random_state=0).fit()
    with pytest.raises(TypeError, match="HyenaEmbedder has no training history"):
        plot_history(embedder)


# ---------------------------------------------------------------------------------------------------------------
# plot_embeddings
# ---------------------------------------------------------------------------------------------------------------


def two_clusters(n=15, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (n, d)), rng.normal(4, 1, (n + 5, d))])
    return X, np.array(["b"] * n + ["a"] * (n + 5), dtype=object)


def test_pca_scatter_one_collection_per_sorted_label():
    X, y = two_clusters()
    ax = plot_embeddings(X, y)
    assert [c.get_label() for c in ax.collections] == ["a", "b"]
    assert [len(c.get_offsets()) for c in ax.collections] == [20, 15]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert ax.get_xlabel().startswith("PC 1 (") and ax.get_ylabel().startswith("PC 2 (")
    # The points are the PCA projection: the clusters separate along PC 1.
    pc1 = {c.get_label(): np.asarray(c.get_offsets())[:, 0].mean() for c in ax.collections}
    assert abs(pc1["a"] - pc1["b"]) > 5


def test_without_labels_and_with_series_or_int_labels():
    X, y = two_clusters()
    ax = plot_embeddings(X)
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 35 and ax.get_legend() is None
    ax = plot_embeddings(X, pd.Series(y))
    assert [c.get_label() for c in ax.collections] == ["a", "b"]
    ax = plot_embeddings(X, [10] * 15 + [2] * 20)
    assert [c.get_label() for c in ax.collections] == ["2", "10"]  # sorted as numbers
    ax = plot_embeddings(X, [1] * 15 + ["x"] * 20)  # mixed types: sorted as text
    assert [c.get_label() for c in ax.collections] == ["1", "x"]


def test_tsne_seeded_and_on_the_given_axes():
    X, y = two_clusters(n=10)
    _, ax = plt.subplots()
    assert plot_embeddings(X, y, method="tsne", ax=ax, random_state=0) is ax
    assert ax.get_xlabel() == "t-SNE 1" and [len(c.get_offsets()) for c in ax.collections] == [15, 10]
    first = np.asarray(ax.collections[0].get_offsets()).copy()
    again = plot_embeddings(X, y, method="tsne", random_state=0)
    np.testing.assert_allclose(np.asarray(again.collections[0].get_offsets()), first)
    small = plot_embeddings(X[:4], method="tsne", random_state=0)  # perplexity lowered below n_samples
    assert len(small.collections[0].get_offsets()) == 4


def test_embeddings_of_a_real_embedder_and_a_tensor():
    embedder = HyenaEmbedder(pretrained=None, d_model=16, n_layer=1, max_length=16, random_state=0)
    embeddings = embedder.fit_transform(X_TOY)
    ax = plot_embeddings(embeddings, Y_TOY, random_state=0)
    assert [len(c.get_offsets()) for c in ax.collections] == [12, 12]
    ax = plot_embeddings(torch.from_numpy(embeddings), Y_TOY)
    assert [len(c.get_offsets()) for c in ax.collections] == [12, 12]


def test_embedding_errors():
    X, y = two_clusters()
    with pytest.raises(ValueError, match=r"method must be one of 'pca', 'tsne'; got 'umap'"):
        plot_embeddings(X, y, method="umap")
    with pytest.raises(ValueError, match=r"2-D array \(n_samples, n_features\); got shape \(35,\)"):
        plot_embeddings(X[:, 0])
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4\)"):
        plot_embeddings(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"at least 2 samples and 2 features .* got shape \(1, 6\)"):
        plot_embeddings(X[:1])
    with pytest.raises(ValueError, match=r"at least 2 samples and 2 features .* got shape \(35, 1\)"):
        plot_embeddings(X[:, :1])
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(first in row 7\)"):
        plot_embeddings(bad)
    with pytest.raises(ValueError, match="embeddings must be a 2-D array of numbers"):
        plot_embeddings([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match=r"labels must have one entry per row of embeddings \(35\); got shape "
                                         r"\(34,\)"):
        plot_embeddings(X, y[:-1])
    with pytest.raises(ValueError, match="labels must have one entry per row"):
        plot_embeddings(X, np.zeros((35, 2)))
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_embeddings(X, y, ax="left")
