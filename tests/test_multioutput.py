"""Multi-label classification and regression: scikit-learn's conventions (as MLPClassifier and MLPRegressor
follow them), real learning on planted signals, and errors."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier, MLPRegressor

from dnaestim import HyenaClassifier

TINY = dict(pretrained=None, d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3)

rng = np.random.RandomState(0)
N, LENGTH = 96, 40
SEQS = np.array(["".join(rng.choice(list("ACGT"), size=LENGTH)) for _ in range(N)], dtype=object)
MOTIFS = ["GGGGGG", "TATATA", "CACACA"]


def _planted(seed=1):
    """Sequences carrying each motif with probability 1/2 (independently), and the 0/1 matrix of which they carry."""
    r = np.random.RandomState(seed)
    labels = (r.random_sample((N, len(MOTIFS))) < 0.5).astype(int)
    seqs = []
    for row, seq in zip(labels, SEQS):
        seq = list(seq)
        for k, on in enumerate(row):
            if on:
                start = 2 + 12 * k
                seq[start:start + 6] = MOTIFS[k]
        seqs.append("".join(seq))
    return np.array(seqs, dtype=object), labels


def multilabel(**kw):
    params = dict(TINY, max_iter=2, batch_size=16, early_stopping=False, random_state=0)
    params.update(kw)
    return HyenaClassifier(**params)


def test_multilabel_follows_mlpclassifier_conventions():
    X, Y = _planted()
    clf = multilabel().fit(X, Y)
    features = np.random.RandomState(0).random_sample((N, 4))
    mlp = MLPClassifier(max_iter=5, random_state=0).fit(features, Y)
    assert clf.classes_.tolist() == mlp.classes_.tolist() == [0, 1, 2]
    assert clf.out_activation_ == mlp.out_activation_ == "logistic"
    proba, predicted = clf.predict_proba(X), clf.predict(X)
    assert proba.shape == mlp.predict_proba(features).shape == (N, 3)
    assert predicted.shape == mlp.predict(features).shape and set(np.unique(predicted)) <= {0, 1}
    np.testing.assert_array_equal(predicted, (proba >= 0.5).astype(int))
    assert not np.allclose(proba.sum(1), 1.0)  # one probability per label, not a distribution
    assert clf.score(X, Y) == pytest.approx(np.mean((predicted == Y).all(1)))  # subset accuracy
    assert clf.decision_function(X).shape == (N, 3)
    np.testing.assert_allclose(1 / (1 + np.exp(-clf.decision_function(X[:5]))), proba[:5], rtol=1e-6)


def test_multilabel_learns_planted_motifs_and_dataframe_columns_name_the_labels():
    X, Y = _planted()
    frame = pd.DataFrame(Y, columns=["g_run", "ta_repeat", "ca_repeat"])
    clf = multilabel(max_iter=30, learning_rate_init=3e-3).fit(X[:72], frame[:72])
    assert clf.classes_.tolist() == ["g_run", "ta_repeat", "ca_repeat"]
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(Y[72:], clf.predict_proba(X[72:]), average="macro")
    assert auc > 0.8, auc


def test_multilabel_weights_early_stopping_and_all_zero_labels():
    X, Y = _planted()
    Y = np.hstack([Y, np.zeros((N, 1), dtype=int)])  # a label no sequence has
    clf = multilabel(class_weight="balanced", early_stopping=True, validation_fraction=0.25, max_iter=3,
                     n_iter_no_change=10).fit(X, Y)
    np.testing.assert_allclose(clf._pos_weight[:3], (N - Y[:, :3].sum(0)) / Y[:, :3].sum(0))
    assert clf._pos_weight[3] == 1.0
    assert len(clf.validation_scores_) == 3 and all(0 <= s <= 1 for s in clf.validation_scores_)
    assert clf.predict_proba(X[:4])[:, 3].max() < 0.5  # the all-zero label stays off
    weighted = multilabel(class_weight={1: 4.0}).fit(X, Y)
    np.testing.assert_array_equal(weighted._pos_weight, [1.0, 4.0, 1.0, 1.0])
    clf.set_params(scoring="f1_macro").fit(X, Y)  # a scorer that tolerates the all-zero label


def test_multilabel_pickles_clones_and_grid_searches():
    X, Y = _planted()
    clf = multilabel(max_iter=1).fit(X, Y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X[:5]), clf.predict_proba(X[:5]))
    search = GridSearchCV(multilabel(max_iter=1), {"learning_rate_init": [1e-3, 3e-3]}, cv=2).fit(X, Y)
    assert search.best_estimator_.predict(X[:3]).shape == (3, 3)
    assert clone(clf).get_params() == clf.get_params()


@pytest.mark.parametrize("y, message", [
    (np.full((N, 2), 2), r"y\[0, 0\] \(label 0\) is 2; a multi-label y holds only 0 and 1"),
    (pd.DataFrame({"a": [0] * N, "b": ["x"] * N}), "not numbers|label 'b'"),
    (np.zeros((N - 1, 2)), f"X has {N} sequences but y has {N - 1} rows"),
])
def test_bad_multilabel_targets_are_named(y, message):
    with pytest.raises(ValueError, match=message):
        multilabel().fit(SEQS, y)


def test_warm_start_keeps_the_form_of_y():
    X, Y = _planted()
    clf = multilabel(max_iter=1, warm_start=True).fit(X, Y)
    clf.fit(X, Y)
    assert clf.n_iter_ == 2
    with pytest.raises(ValueError, match="must keep its form"):
        clf.fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="labels must stay the same"):
        clf.fit(X, Y[:, :2])


# -- regression ----------------------------------------------------------------------------------------------------

from dnaestim import HyenaRegressor  # noqa: E402


def regressor(**kw):
    params = dict(TINY, max_iter=2, batch_size=16, early_stopping=False, random_state=0)
    params.update(kw)
    return HyenaRegressor(**params)


def _gc_target(sequences, scale=100.0, offset=50.0):
    """A number the sequence determines: its GC fraction, in large units (standardisation must cope)."""
    return np.array([offset + scale * (s.count("G") + s.count("C")) / len(s) for s in sequences])


def test_regressor_follows_mlpregressor_conventions():
    y = _gc_target(SEQS)
    reg = regressor().fit(SEQS, y)
    features = np.random.RandomState(0).random_sample((N, 4))
    mlp = MLPRegressor(max_iter=5, random_state=0).fit(features, y)
    assert reg.predict(SEQS).shape == mlp.predict(features).shape == (N,)
    assert reg.n_outputs_ == mlp.n_outputs_ == 1 and reg.out_activation_ == mlp.out_activation_ == "identity"
    assert reg.score(SEQS, y) == pytest.approx(r2_score(y, reg.predict(SEQS)))
    Y = np.column_stack([y, -y, y / 10])
    multi = regressor().fit(SEQS, Y)
    mlp = MLPRegressor(max_iter=5, random_state=0).fit(features, Y)
    assert multi.predict(SEQS).shape == mlp.predict(features).shape == (N, 3)
    assert multi.n_outputs_ == 3 and multi.target_mean_.shape == multi.target_scale_.shape == (3,)
    column = regressor().fit(SEQS, y[:, None])
    assert column.predict(SEQS[:4]).shape == (4,)  # one target: 1-D, as MLPRegressor


def test_regressor_learns_a_real_signal_and_standardises_targets():
    y = _gc_target(SEQS)
    reg = regressor(max_iter=40, learning_rate_init=3e-3).fit(SEQS[:72], y[:72])
    assert reg.target_mean_[0] == pytest.approx(y[:72].mean())
    assert reg.score(SEQS[72:], y[72:]) > 0.5
    raw = regressor(standardize_target=False).fit(SEQS, y)
    assert raw.target_mean_.tolist() == [0.0] and raw.target_scale_.tolist() == [1.0]


def test_regressor_weights_early_stopping_scoring_pickle_and_grid_search():
    y = _gc_target(SEQS)
    zero_half = np.r_[np.ones(N // 2), np.zeros(N - N // 2)]
    a = regressor().fit(SEQS, y, sample_weight=zero_half)
    b = regressor().fit(SEQS, np.r_[y[:N // 2], np.zeros(N - N // 2) + 1e6], sample_weight=zero_half)
    np.testing.assert_allclose(a.target_mean_, b.target_mean_)  # zero-weight rows count nowhere
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(a.predict(SEQS[:4]), b.predict(SEQS[:4]), rtol=1e-6)
    reg = regressor(early_stopping=True, scoring="neg_mean_absolute_error", max_iter=3, n_iter_no_change=10)
    reg.fit(SEQS, y)
    assert all(score <= 0 for score in reg.validation_scores_) and len(reg.validation_scores_) == 3
    by_r2 = regressor(early_stopping=True, max_iter=2).fit(SEQS, y)
    assert by_r2.validation_scores_ == [h["valid_score"] for h in by_r2.history_ if h["epoch"] > 0]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(by_r2)).predict(SEQS[:5]), by_r2.predict(SEQS[:5]))
    search = GridSearchCV(regressor(max_iter=1), {"head_init": ["probe", "random"]}, cv=2).fit(SEQS, y)
    assert np.isfinite(search.best_score_)


def test_regressor_rc_average_is_strand_symmetric():
    from dnaestim import reverse_complement

    reg = regressor(rc_average=True).fit(SEQS, _gc_target(SEQS))
    rc = [reverse_complement(s) for s in SEQS[:8]]
    np.testing.assert_allclose(reg.predict(SEQS[:8]), reg.predict(rc), rtol=1e-5)


@pytest.mark.parametrize("y, message", [
    (np.array(["a"] * N), "y must hold numbers for regression"),
    (np.r_[np.nan, np.ones(N - 1)], r"y\[0\] is nan; every target must be a finite number"),
    (np.ones((N, 2, 2)), r"y must have shape \(n_samples,\) or \(n_samples, n_targets\)"),
    (np.ones(N - 1), f"X has {N} sequences but y has {N - 1} rows"),
])
def test_bad_regression_targets_are_named(y, message):
    with pytest.raises(ValueError, match=message):
        regressor().fit(SEQS, y)


# -- fine-tuning under torchrun ----------------------------------------------------------------------------------

import subprocess  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402


def _finetune(tmp_path, name, data, *extra, processes=1):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] \
        if processes > 1 else [sys.executable]
    command = [*launcher, "-m", "dnaestim", "finetune", str(data), "--output", str(tmp_path / name),
               "--pretrained", "none", "--max-length", str(LENGTH), "--max-iter", "2", "--batch-size", "16",
               "--embed-dropout", "0", "--head-dropout", "0", "--device", "cpu", "--precision", "32", "--seed", "0",
               *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / name, "rb") as handle:
        return pickle.load(handle), result


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_finetune_on_two_processes_equals_one_process(tmp_path, task):
    X, Y = _planted()
    if task == "multilabel":
        table = pd.DataFrame(Y, columns=["g", "ta", "ca"]).assign(sequence=X)
        extra = ["--label-column", "g,ta,ca"]
    else:
        table = pd.DataFrame({"sequence": X, "strength": _gc_target(X)})
        extra = ["--task", "regress", "--label-column", "strength", "--no-length-feature"]
    data = tmp_path / "train.csv.gz"
    table.to_csv(data, index=False)
    one, _ = _finetune(tmp_path, "one.pkl", data, *extra)
    two, result = _finetune(tmp_path, "two.pkl", data, *extra, processes=2)
    assert "on 2 process(es)" in result.stdout
    assert type(one) is type(two) and one.n_iter_ == two.n_iter_ == 2
    # Gradients summed over two processes round differently from one process's: trained weights agree to ~1e-5.
    for key, value in one.model_.state_dict().items():
        torch.testing.assert_close(two.model_.state_dict()[key], value, rtol=1e-4, atol=1e-4, msg=key)
    np.testing.assert_allclose(two.loss_curve_, one.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(two.validation_loss_curve_, one.validation_loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(two.predict(X[:8]), one.predict(X[:8]), rtol=1e-4, atol=1e-5)
    if task == "multilabel":
        assert two.classes_.tolist() == ["g", "ta", "ca"]
    else:
        np.testing.assert_allclose(two.target_mean_, one.target_mean_)
        assert one.length_feature is False is two.length_feature


def test_labelled_shards_partition_the_file(tmp_path):
    from dnaestim.finetune import read_labelled_shard

    table = pd.DataFrame({"sequence": SEQS[:10], "label": list("abcdeabcde")})
    data = tmp_path / "rows.tsv"
    table.to_csv(data, sep="\t", index=False)
    shards = [read_labelled_shard(data, sep="\t", rank=r, world=3, chunk_rows=4) for r in range(3)]
    assert [n for _, _, n in shards] == [10, 10, 10]
    assert shards[1][0] == list(SEQS[1:10:3]) and shards[1][1].tolist() == list("bec")
    fasta = tmp_path / "rows.fa"
    fasta.write_text("".join(f">r{i}|{label}\n{seq}\n" for i, (seq, label) in enumerate(zip(SEQS[:5], "xyxyx"))))
    sequences, labels, n_total = read_labelled_shard(fasta, rank=0, world=2)
    assert n_total == 5 and sequences == [SEQS[0], SEQS[2], SEQS[4]] and labels.tolist() == ["x", "x", "x"]
    with pytest.raises(ValueError, match="needs? a CSV"):
        read_labelled_shard(fasta, label_column=["a", "b"])


def test_finetune_time_budget_stops_every_process_at_the_same_step(tmp_path):
    X, Y = _planted()
    data = tmp_path / "train.csv"
    pd.DataFrame({"sequence": X, "label": np.where(Y[:, 0] == 1, "g", "other")}).to_csv(data, index=False)
    # rank 0's clock decides for all: a rank that stopped alone would leave the others waiting in a collective
    model, result = _finetune(tmp_path, "timed.pkl", data, "--max-iter", "1000", "--max-time", "3", processes=2)
    assert model.n_iter_ < 1000 and "on 2 process(es)" in result.stdout
