"""HyenaClassifier and HyenaEmbedder: scikit-learn contract, properties, end-to-end learning, errors."""

import pickle
import time

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks

from conftest import DATA_FREE_CHECKS
from dnaestim import (DNATokenizer, HyenaClassifier, HyenaEmbedder, HyenaLM, HyenaConfig, HyenaRegressor, reverse_complement,
                      save_pretrained)
from dnaestim.datasets import load_gue_prom_core_tata

TINY = dict(pretrained=None, d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3)
ESTIMATORS = [HyenaClassifier(**TINY), HyenaRegressor(**TINY), HyenaEmbedder(**TINY)]
#: As a user first meets them: on the bundled backbone.
DEFAULT_ESTIMATORS = [HyenaClassifier(), HyenaRegressor(), HyenaEmbedder()]

rng = np.random.RandomState(0)
SEQS = np.array(["".join(rng.choice(list("ACGT"), size=rng.randint(8, 30))) for _ in range(40)], dtype=object)
LABELS = np.array(["x", "y"] * 20)


def fast_classifier(**kw):
    """A quick classifier: a tiny backbone from scratch, or ``pretrained`` (whose shape it keeps) when given."""
    params = dict(TINY if kw.get("pretrained") is None else {}, max_iter=2, batch_size=8, early_stopping=False,
                  random_state=0)
    params.update(kw)
    return HyenaClassifier(**params)


@pytest.fixture(scope="module")
def tata():
    X_train, y_train = load_gue_prom_core_tata(split="train", return_X_y=True)
    X_test, y_test = load_gue_prom_core_tata(split="test", return_X_y=True)
    return X_train, y_train, X_test, y_test


# -- scikit-learn's data-free checks, called by name ------------------------------------------------------------



@pytest.mark.parametrize("check", DATA_FREE_CHECKS)
@pytest.mark.parametrize("estimator", ESTIMATORS + DEFAULT_ESTIMATORS,
                         ids=lambda e: type(e).__name__ + ("-default" if e.get_params()["pretrained"] else ""))
def test_sklearn_data_free_checks(estimator, check):
    name = type(estimator).__name__
    fn = getattr(estimator_checks, check)
    fn(name, clone(estimator))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_tags_declare_one_dimensional_strings(estimator):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.string and tags.input_tags.one_d_array and not tags.input_tags.two_d_array


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba", "decision_function", "score"])
def test_classifier_not_fitted(method):
    from sklearn.exceptions import NotFittedError

    args = (SEQS, LABELS) if method == "score" else (SEQS,)
    with pytest.raises(NotFittedError):
        getattr(HyenaClassifier(**TINY), method)(*args)


def test_embedder_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        HyenaEmbedder(**TINY).transform(SEQS)


def test_fit_does_not_mutate_parameters():
    clf = fast_classifier(class_weight={"x": 1.0, "y": 2.0})
    before = clf.get_params()
    clf.fit(SEQS, LABELS)
    after = clf.get_params()
    assert before.keys() == after.keys()
    assert all(before[k] is after[k] or before[k] == after[k] for k in before)


# -- properties --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted():
    return fast_classifier(embed_dropout=0.0).fit(SEQS, LABELS)


@settings(max_examples=15)
@given(st.lists(st.integers(0, len(SEQS) - 1), min_size=1, max_size=12), st.integers(1, 12))
def test_probabilities_do_not_depend_on_the_batch(fitted, rows, batch_size):
    """A sample's probabilities are the same alone and in any batch (right padding + masked pooling)."""
    alone = np.vstack([fitted.predict_proba(SEQS[[i]]) for i in rows])
    clf = clone(fitted).set_params(batch_size=batch_size)
    clf.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    together = clf.predict_proba(SEQS[rows])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_padding_never_reaches_real_tokens(fitted):
    """The pooled representation of a sequence is unchanged by however many pads a batch adds after it."""
    short, long = "ACGTTGCA", "ACGT" * 7
    alone = fitted.predict_proba([short])
    with_long = fitted.predict_proba([short, long])[:1]
    np.testing.assert_allclose(alone, with_long, rtol=1e-5, atol=1e-6)


def test_same_random_state_gives_identical_refits():
    a = fast_classifier(random_state=3).fit(SEQS, LABELS)
    b = fast_classifier(random_state=3).fit(SEQS, LABELS)
    np.testing.assert_array_equal(a.predict_proba(SEQS), b.predict_proba(SEQS))
    c = fast_classifier(random_state=4).fit(SEQS, LABELS)
    assert not np.array_equal(a.predict_proba(SEQS), c.predict_proba(SEQS))


def test_fit_leaves_global_random_state_alone():
    torch.manual_seed(123)
    np.random.seed(123)
    expected_torch, expected_np = torch.rand(1), np.random.rand()
    torch.manual_seed(123)
    np.random.seed(123)
    fast_classifier().fit(SEQS, LABELS)
    assert torch.rand(1) == expected_torch and np.random.rand() == expected_np


@settings(max_examples=6)
@given(st.sampled_from([
    np.array([0, 1] * 20), np.array([-1.0, 2.0] * 20), np.array([True, False] * 20),
    np.array(["neg", "pos"] * 20, dtype=object), np.array([10, 20, 30, 40] * 10),
]))
def test_labels_of_any_dtype_round_trip(y):
    clf = fast_classifier(max_iter=1).fit(SEQS, y)
    assert clf.classes_.tolist() == sorted(set(y.tolist()))
    predicted = clf.predict(SEQS)
    assert set(predicted.tolist()) <= set(y.tolist())
    assert predicted.dtype == clf.classes_.dtype
    proba = clf.predict_proba(SEQS)
    assert proba.shape == (len(SEQS), len(clf.classes_))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-9)


def test_rc_averaging_is_strand_symmetric():
    clf = fast_classifier(rc_average=True).fit(SEQS, LABELS)
    rc = [reverse_complement(s) for s in SEQS]
    np.testing.assert_allclose(clf.predict_proba(SEQS), clf.predict_proba(rc), rtol=1e-5, atol=1e-6)


def test_decision_function_and_log_proba_agree(fitted):
    log_proba = fitted.predict_log_proba(SEQS)
    np.testing.assert_allclose(fitted.decision_function(SEQS), log_proba[:, 1] - log_proba[:, 0], rtol=1e-9)
    np.testing.assert_allclose(np.exp(log_proba), fitted.predict_proba(SEQS))
    assert fitted.predict(SEQS).tolist() == fitted.classes_[log_proba.argmax(1)].tolist()


def test_multiclass_decision_function():
    y = np.array(["a", "b", "c", "d"] * 10)
    clf = fast_classifier().fit(SEQS, y)
    assert clf.decision_function(SEQS).shape == (40, 4)


def test_history_and_fitted_attributes(fitted):
    assert fitted.n_iter_ == 2 == len(fitted.history_) == len(fitted.loss_curve_)
    assert fitted.max_length_ == max(map(len, SEQS))
    assert set(fitted.history_[0]) == {"epoch", "train_loss", "valid_loss", "valid_accuracy", "valid_score", "lr",
                                      "seconds"}
    assert fitted.device_.type == ("cuda" if torch.cuda.is_available() else "cpu")  # device="auto"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_probed_head_is_kept_unless_an_epoch_beats_it():
    # A learning rate that wrecks the model in one epoch: the probe's weights (epoch 0) come back.
    clf = fast_classifier(max_iter=2, early_stopping=True, validation_fraction=0.25, n_iter_no_change=5,
                          learning_rate_init=5.0).fit(SEQS, LABELS)
    probe = fast_classifier(max_iter=1, early_stopping=True, validation_fraction=0.25,
                            learning_rate_init=1e-12).fit(SEQS, LABELS)
    assert [h["epoch"] for h in clf.history_] == [0, 1, 2] and clf.n_iter_ == 2
    assert clf.history_[0]["train_loss"] is None and clf.history_[0]["lr"] is None
    assert len(clf.validation_loss_curve_) == len(clf.loss_curve_) == 2  # the trained epochs
    assert clf.best_iter_ == 0 and clf.best_validation_score_ == clf.history_[0]["valid_accuracy"]
    np.testing.assert_allclose(clf.predict_proba(SEQS), probe.predict_proba(SEQS), rtol=1e-5)
    # No probe (random head), no early stopping or a warm start: no epoch 0.
    assert fast_classifier(head_init="random", early_stopping=True).fit(SEQS, LABELS).history_[0]["epoch"] == 1
    assert fast_classifier().fit(SEQS, LABELS).history_[0]["epoch"] == 1
    warm = fast_classifier(early_stopping=True, warm_start=True).fit(SEQS, LABELS)
    assert [h["epoch"] for h in warm.fit(SEQS, LABELS).history_] == [0, 1, 2, 3, 4]


def test_early_stopping_keeps_the_best_epoch():
    clf = fast_classifier(max_iter=6, early_stopping=True, validation_fraction=0.25, n_iter_no_change=2,
                          learning_rate_init=0.05).fit(SEQS, LABELS)
    valid = clf.validation_loss_curve_
    assert len(valid) == clf.n_iter_
    assert clf.best_iter_ == min((h["valid_loss"], h["epoch"]) for h in clf.history_)[1]  # epoch 0: the probe


def test_early_stopping_keeps_the_lowest_loss_and_stops_by_tol():
    from dnaestim.training import EarlyStopping

    model = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(patience=2, tol=1e-3)
    stops = []
    for epoch, loss in enumerate([1.0, 0.5, 0.4995, 0.4990, 0.6], start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        stops.append(stopper.update(loss, epoch, model))
    # 0.4995 and 0.4990 improve by less than tol: they count towards patience, yet 0.4990 is the weights kept.
    assert stops == [False, False, False, True, True]
    assert stopper.best_epoch == 4 and stopper.best_loss == 0.4990
    with torch.no_grad():
        model.weight.zero_()
    stopper.restore(model)
    assert model.weight.item() == 4


def test_max_time_stops_training():
    clf = fast_classifier(max_iter=1000, max_time=1.0).fit(SEQS, LABELS)
    assert clf.n_iter_ < 1000
    assert clf.history_[-1]["seconds"] < 10


def test_a_budget_that_is_not_reached_leaves_training_to_the_seed(monkeypatch):
    # Set-up before the first step (here a strand check made slow on purpose: 1.5 s of a 60 s budget, past the
    # schedule's 1 % warm-up) and the clock do not move the learning rates of a run that fits in its budget: the
    # same seed gives the same weights with or without max_time.
    from dnaestim.estimators import _finetuning

    check = _finetuning.strand_symmetric

    def slow_check(*args, **kwargs):
        time.sleep(1.5)
        return check(*args, **kwargs)

    monkeypatch.setattr(_finetuning, "strand_symmetric", slow_check)
    fitted = [fast_classifier(max_iter=3, **budget).fit(SEQS, LABELS) for budget in ({}, {"max_time": 60})]
    for a, b in zip(fitted[0].model_.state_dict().values(), fitted[1].model_.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_probe_embeds_for_at_most_half_the_time_budget(monkeypatch):
    # Embedding made slow on purpose (0.5 s per part of 8 rows): without a budget the probe reads all 40 rows; with
    # max_time=2 it stops after the part that passes 1 s, and training gets the rest.
    from dnaestim.estimators import _pooled_head

    monkeypatch.setattr(_pooled_head, "PROBE_PART", 8)
    embed, fit_probe, probed = HyenaClassifier._pooled_embeddings, HyenaClassifier._fit_probe, []

    def slow_embed(self, *args, **kwargs):
        time.sleep(0.5)
        return embed(self, *args, **kwargs)

    def counting_fit_probe(self, features, *args):
        probed.append(len(features))
        return fit_probe(self, features, *args)

    monkeypatch.setattr(HyenaClassifier, "_pooled_embeddings", slow_embed)
    monkeypatch.setattr(HyenaClassifier, "_fit_probe", counting_fit_probe)
    fast_classifier(max_iter=1).fit(SEQS, LABELS)
    fast_classifier(max_iter=1, max_time=2).fit(SEQS, LABELS)
    assert probed[0] == len(SEQS) and 8 <= probed[1] <= 24, probed


def test_warm_start_continues_and_checks_labels():
    clf = fast_classifier(warm_start=True).fit(SEQS, LABELS)
    first = clf.n_iter_
    clf.fit(SEQS, LABELS)
    assert clf.n_iter_ == first + 2
    with pytest.raises(ValueError, match=r"label\(s\) \['z'\].*classes_"):
        clf.fit(SEQS, np.array(["x", "z"] * 20))


def test_sample_weight_and_class_weight():
    weights = np.where(LABELS == "x", 0.0, 1.0)
    clf = fast_classifier(max_iter=5, learning_rate_init=0.01).fit(SEQS, LABELS, sample_weight=weights)
    assert (clf.predict(SEQS) == "y").mean() > 0.8
    fast_classifier(class_weight="balanced").fit(SEQS, LABELS)
    with pytest.raises(ValueError, match="sample_weight must be"):
        fast_classifier().fit(SEQS, LABELS, sample_weight=-np.ones(40))
    with pytest.raises(ValueError, match="sums to zero"):
        fast_classifier().fit(SEQS, LABELS, sample_weight=np.zeros(40))
    with pytest.raises(ValueError, match="class_weight names label 'q'"):
        fast_classifier(class_weight={"q": 1.0}).fit(SEQS, LABELS)


@pytest.mark.parametrize("labels", [np.array(["0", "1"] * 20), np.array([0, 1] * 20)], ids=["str", "int"])
@pytest.mark.parametrize("class_weight", [{0: 1.0, 1: 3.0}, {"0": 1.0, "1": 3.0}], ids=["int-keys", "str-keys"])
def test_class_weight_keys_match_labels_by_value_or_text(labels, class_weight):
    """GUE labels are read as "0"/"1": integer keys work for them as LogisticRegression's do, and text keys too."""
    clf = fast_classifier(class_weight=class_weight)
    clf.classes_ = np.unique(labels)
    np.testing.assert_array_equal(clf._class_weight_from_dict(), [1.0, 3.0])
    weighted = fast_classifier(class_weight=class_weight).fit(SEQS, labels)
    by_sample = fast_classifier().fit(SEQS, labels, sample_weight=np.where(labels == labels[1], 3.0, 1.0))
    np.testing.assert_allclose(weighted.loss_curve_, by_sample.loss_curve_, rtol=1e-5)
    with pytest.raises(ValueError, match=r"class_weight\[1\] must be a finite number"):
        fast_classifier(class_weight={1: -2.0}).fit(SEQS, labels)


def test_a_fine_tuned_classifier_gives_embeddings_and_exports_its_backbone(tmp_path):
    clf = fast_classifier(max_iter=3).fit(SEQS, LABELS)
    expected = clf._pooled_embeddings(clf.model_.backbone, list(SEQS[:6]), pooling="mean")
    from_estimator = HyenaEmbedder(pretrained=clf).fit(SEQS).transform(SEQS[:6])
    np.testing.assert_allclose(from_estimator, expected, rtol=1e-6, atol=1e-6)
    assert clf.save_pretrained(tmp_path / "a") == tmp_path / "a"
    save_pretrained(clf.model_, tmp_path / "b")
    for directory in ("a", "b"):
        reloaded = HyenaEmbedder(pretrained=tmp_path / directory).fit(SEQS).transform(SEQS[:6])
        np.testing.assert_allclose(reloaded, expected, rtol=1e-6, atol=1e-6)
    assert HyenaEmbedder(pretrained=clf).fit(SEQS).model_.backbone is not clf.model_.backbone  # a copy
    with pytest.raises(TypeError, match=r"\(is it fitted\?\)"):
        save_pretrained(HyenaClassifier(), tmp_path / "c")


def test_too_few_sequences_for_early_stopping_train_without_it_and_say_so():
    with pytest.warns(UserWarning, match="leaves no validation data") as record:
        clf = fast_classifier(early_stopping=True, validation_fraction=0.1).fit(SEQS[:6], LABELS[:6])
    assert record[0].filename == __file__  # the warning names the user's line, not dnaestim's
    assert clf.validation_scores_ == [] and clf.best_validation_score_ is None
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.best_iter_ == clf.n_iter_


def test_early_stopping_on_a_scorer_records_validation_scores():
    clf = fast_classifier(early_stopping=True, scoring="roc_auc", max_iter=4, n_iter_no_change=10).fit(SEQS, LABELS)
    assert len(clf.validation_scores_) == clf.n_iter_ == 4
    assert all(0.0 <= v <= 1.0 for v in clf.validation_scores_)
    scores = [h["valid_score"] for h in clf.history_]  # with the probe's, epoch 0
    assert clf.best_validation_score_ == max(scores)
    assert clf.best_validation_score_ == next(h["valid_score"] for h in clf.history_ if h["epoch"] == clf.best_iter_)
    assert clf.best_loss_ is None  # as MLPClassifier: with early stopping the validation split decides
    by_loss = fast_classifier(early_stopping=True, max_iter=2).fit(SEQS, LABELS)
    assert by_loss.validation_scores_ == [h["valid_accuracy"] for h in by_loss.history_ if h["epoch"] > 0]


def test_convergence_warning_when_max_iter_ends_an_improving_fit():
    from sklearn.exceptions import ConvergenceWarning

    X, y = np.array(["AAAAAAAAAAAA", "CCCCCCCCCCCC"] * 20, dtype=object), np.array(["a", "c"] * 20)
    with pytest.warns(ConvergenceWarning, match="raise max_iter") as record:
        fast_classifier(early_stopping=True, max_iter=2, learning_rate_init=0.01).fit(X, y)
    assert record[0].filename == __file__


def test_verbose_prints_an_epoch_table_to_stderr(capsys):
    fast_classifier(verbose=1, early_stopping=True, max_iter=3).fit(SEQS, LABELS)
    lines = capsys.readouterr().err.splitlines()
    header = next(line for line in lines if "train loss" in line)
    assert header.split()[:3] == ["epoch", "train", "loss"] and "valid acc" in header
    rows = [line.split() for line in lines if line.split() and line.split()[0].isdigit()]
    assert [row[0] for row in rows] == ["0", "1", "2", "3"]  # epoch 0: the probe, before any training
    assert all(len(row) == 6 for row in rows) and rows[0][1] == rows[0][4] == "-"


def test_a_one_step_fit_trains_at_the_peak_learning_rate():
    clf = fast_classifier(max_iter=1, batch_size=64).fit(SEQS, LABELS)
    assert clf.history_[0]["lr"] == pytest.approx(clf.learning_rate_init)


def test_unknown_n_reads_iupac_codes_as_n_and_whitespace_at_the_ends_is_removed():
    clf = fast_classifier(unknown="N").fit(SEQS, LABELS)
    with_codes = [s[:3] + "RYK" + s[6:] for s in SEQS[:4]]
    as_n = [s[:3] + "NNN" + s[6:] for s in SEQS[:4]]
    np.testing.assert_array_equal(clf.predict_proba(with_codes), clf.predict_proba(as_n))
    padded = [s + "\n" if i % 2 else " " + s + " \r\n" for i, s in enumerate(SEQS[:4])]
    np.testing.assert_array_equal(clf.predict_proba(padded), clf.predict_proba(SEQS[:4]))
    rna = [s.replace("T", "U") for s in SEQS[:4]]
    np.testing.assert_array_equal(clf.predict_proba(rna), clf.predict_proba(SEQS[:4]))
    with pytest.raises(ValueError, match="character 'R'.*unknown='N'"):
        fast_classifier().fit(with_codes * 10, LABELS)
    embedder = HyenaEmbedder(unknown="N", **TINY).fit(SEQS)
    np.testing.assert_array_equal(embedder.transform(with_codes), embedder.transform(as_n))


def test_a_dataframe_column_name_is_recorded_and_checked():
    frame = pd.DataFrame({"sequence": SEQS})
    clf = fast_classifier(max_iter=1).fit(frame, LABELS)
    assert clf.feature_names_in_.tolist() == ["sequence"]
    clf.predict(frame)
    clf.predict(list(SEQS))  # a plain list is fine too
    with pytest.raises(ValueError, match="column is 'seq'.*fitted on column 'sequence'"):
        clf.predict(frame.rename(columns={"sequence": "seq"}))
    assert not hasattr(clf.fit(SEQS, LABELS), "feature_names_in_")
    embedder = HyenaEmbedder(**TINY).fit(frame)
    assert embedder.feature_names_in_.tolist() == ["sequence"]
    assert len(embedder.get_feature_names_out()) == embedder.transform(frame[:2]).shape[1]


def test_pickles_from_before_the_length_feature_load():
    from sklearn.base import clone

    clf = fast_classifier(max_iter=1, length_feature=False).fit(SEQS, LABELS)
    expected = clf.predict_proba(SEQS)
    del clf.model_.length_feature  # what an older pickle lacks: the module's flag, the parameter, the attribute
    del clf.length_feature, clf.length_feature_
    old = pickle.loads(pickle.dumps(clf))
    assert old.length_feature is False and old.length_feature_ is False and not old.model_.length_feature
    np.testing.assert_array_equal(old.predict_proba(SEQS), expected)
    assert clone(old).get_params()["length_feature"] is False


def test_pickles_and_checkpoints_say_what_wrote_them(tmp_path):
    import json
    import warnings

    import dnaestim

    clf = fast_classifier(max_iter=1).fit(SEQS, LABELS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(pickle.dumps(clf))  # same version: silent
    state = clf.__getstate__()
    assert state["_dnaestim_version"] == dnaestim.__version__
    state["_dnaestim_version"] = "0.0.1"
    with pytest.warns(dnaestim.InconsistentVersionWarning, match="pickled by dnaestim 0.0.1"):
        HyenaClassifier.__new__(HyenaClassifier).__setstate__(state)
    block = json.loads((clf.save_pretrained(tmp_path) / "config.json").read_text())["dnaestim"]
    assert block["version"] == dnaestim.__version__ and block["estimator"] == "HyenaClassifier"
    assert block["parameters"]["d_model"] == 16 and block["parameters"]["max_iter"] == 1
    assert block["training"] == {"n_iter_": 1, "n_sequences": 40, "nucleotides": int(sum(map(len, SEQS))),
                                 "classes": ["x", "y"]}
    assert block["tokenizer"]["padding_side"] == "right"
    again = HyenaEmbedder(pretrained=tmp_path).fit(SEQS)
    nested = json.loads((again.save_pretrained(tmp_path / "again") / "config.json").read_text())["dnaestim"]
    assert nested["estimator"] == "HyenaEmbedder" and nested["based_on"]["estimator"] == "HyenaClassifier"


@pytest.mark.parametrize("name", ["HyenaClassifier", "HyenaRegressor", "HyenaEmbedder", "HyenaPretrainer",
                                  "SoftPromptClassifier"])
def test_public_attributes_are_the_parameters_or_end_with_an_underscore(name):
    import dnaestim

    cls = getattr(dnaestim, name)
    estimator = cls()
    params = set(estimator.get_params(deep=False))
    public = {a for a in dir(estimator) if not a.startswith("_") and not callable(getattr(cls, a, None))
              and not isinstance(getattr(cls, a, None), property)}
    assert public == params


def test_freeze_backbone_trains_only_the_head():
    clf = fast_classifier(freeze_backbone=True)
    clf.fit(SEQS, LABELS)
    init = fast_classifier(freeze_backbone=True, max_iter=1, learning_rate_init=1e-12).fit(SEQS, LABELS)
    for (name, p), q in zip(clf.model_.backbone.named_parameters(), init.model_.backbone.parameters()):
        assert torch.equal(p, q), name
    assert not torch.equal(clf.model_.head.weight, init.model_.head.weight)


def test_last_token_pooling():
    clf = fast_classifier(pooling="last").fit(SEQS, LABELS)
    assert clf.predict_proba(SEQS).shape == (40, 2)


def test_pretrained_checkpoint_directory(tmp_path, tiny_reference_dir):
    clf = fast_classifier(pretrained=tiny_reference_dir, max_iter=1).fit(SEQS, LABELS)
    assert clf.model_.config.d_model == 128
    model = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64))
    save_pretrained(model, tmp_path / "ckpt")
    from_dir = fast_classifier(pretrained=tmp_path / "ckpt", max_iter=1, learning_rate_init=1e-12).fit(SEQS, LABELS)
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(from_dir.model_.backbone.state_dict()[key].cpu(), value, rtol=1e-6, atol=1e-7)
    emb = HyenaEmbedder(pretrained=model).fit()
    assert emb.max_length_ == 64
    with pytest.warns(UserWarning, match="longer than the 64"):
        emb.transform(["A" * 65])


def test_probe_head_init_starts_from_a_logistic_regression_on_the_features(tmp_path):
    save_pretrained(HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64), generator=torch.Generator().manual_seed(0)),
                    tmp_path)
    # A vanishing learning rate leaves the weights where the probe put them.
    clf = fast_classifier(pretrained=tmp_path, head_init="probe", max_iter=1, learning_rate_init=1e-12,
                          length_feature=False, rc_average=False)
    clf.fit(SEQS, LABELS)
    features = HyenaEmbedder(pretrained=tmp_path).fit().transform(SEQS)
    probe = LogisticRegression(C=1.0, max_iter=1000).fit(features, LABELS)
    np.testing.assert_allclose(clf.predict_proba(SEQS), probe.predict_proba(features), atol=1e-4)
    random_head = fast_classifier(pretrained=tmp_path, head_init="random", max_iter=1, learning_rate_init=1e-12)
    assert np.abs(random_head.fit(SEQS, LABELS).predict_proba(SEQS)[:, 1] - 0.5).max() < 0.05


def test_length_feature_gives_the_head_each_sequences_length():
    # Whether a random sequence is long: mean pooling alone does not carry it, the length feature does.
    rng = np.random.RandomState(1)
    X = np.array(["".join(rng.choice(list("ACGT"), size=n)) for n in rng.randint(10, 60, 120)], dtype=object)
    y = np.array([len(s) > 35 for s in X])
    clf = fast_classifier(max_iter=1).fit(X, y)
    assert clf.length_feature_ and clf.model_.head.in_features == TINY["d_model"] + 1
    logs = np.log([len(s) for s in X])  # the classifier's tokens are the nucleotides
    np.testing.assert_allclose(float(clf.model_.length_center), logs.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(clf.model_.length_scale), logs.std(), rtol=1e-6)
    assert clf.score(X, y) > 0.9  # the probe finds it before any fine-tuning
    without = fast_classifier(max_iter=1, length_feature=False).fit(X, y)
    assert not without.length_feature_ and without.model_.head.in_features == TINY["d_model"]
    assert "length_center" not in without.model_.state_dict()
    same_length = [s[:10] for s in X]
    assert not fast_classifier(max_iter=1).fit(same_length, y).length_feature_
    assert fast_classifier(max_iter=1, length_feature=True).fit(same_length, y).length_feature_
    cut = fast_classifier(max_iter=1, max_length=10).fit(X, y)  # what the model reads has one length
    assert not cut.length_feature_
    regressor = HyenaRegressor(**TINY, max_iter=1, random_state=0).fit(X, [len(s) for s in X])
    assert regressor.length_feature_ and regressor.score(X, [len(s) for s in X]) > 0.9


def test_sequences_longer_than_a_pretrained_l_max_are_read_in_windows(tmp_path):
    save_pretrained(HyenaLM(HyenaConfig(d_model=8, n_layer=1, l_max=20)), tmp_path)
    clf = fast_classifier(pretrained=tmp_path).fit(SEQS, LABELS)
    assert clf.max_length_ == max(map(len, SEQS)) == 29
    # The pooled representation of a 29-nt sequence is the mean over both windows (20 + 9 nucleotides).
    model, sequence = clf.model_, SEQS[int(np.argmax([len(s) for s in SEQS]))]
    ids = torch.as_tensor(DNATokenizer().encode(sequence))[None]
    with torch.no_grad():
        hidden = torch.cat([model.backbone(ids[:, :20]), model.backbone(ids[:, 20:])], dim=1)
        expected = model.head(model.head_inputs(hidden.mean(1), torch.ones_like(ids, dtype=torch.bool)))
        got = model(ids, torch.ones_like(ids, dtype=torch.bool))
        batched = model(torch.nn.functional.pad(ids, (0, 15), value=4),
                        torch.nn.functional.pad(torch.ones_like(ids, dtype=torch.bool), (0, 15)))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched, expected, rtol=1e-5, atol=1e-6)  # an all-padding window changes nothing
    assert clf.predict_proba(SEQS).shape == (len(SEQS), 2)
    assert fast_classifier(pretrained=tmp_path, max_length=20).fit(SEQS, LABELS).max_length_ == 20
    assert fast_classifier(pretrained=tmp_path).fit([s[:20] for s in SEQS], LABELS).max_length_ == 20
    assert fast_classifier(pretrained=tmp_path, max_length=30).fit(SEQS, LABELS).max_length_ == 30
    with pytest.raises(ValueError, match=r"max_length=30 is more than the pretrained model's l_max=20"):
        HyenaEmbedder(pretrained=tmp_path, max_length=30).fit()


def test_max_length_truncates_at_fit_and_predict():
    clf = fast_classifier(max_length=10).fit(SEQS, LABELS)
    assert clf.max_length_ == 10
    np.testing.assert_allclose(clf.predict_proba(["ACGTACGTAC" + "G" * 50]), clf.predict_proba(["ACGTACGTAC"]))


def test_longer_sequence_at_predict_is_cut_with_a_warning(fitted):
    with pytest.warns(UserWarning, match=r"1 sequence\(s\) of X are longer than the 29.*X\[1\] has 100"):
        proba = fitted.predict_proba(["ACGT", "ACGT" * 25])
    np.testing.assert_allclose(proba[1], fitted.predict_proba([("ACGT" * 25)[:29]])[0], rtol=1e-6)


# -- containers ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("container", [list, tuple, np.array, pd.Series, lambda s: pd.DataFrame({"seq": s})])
def test_accepted_containers(fitted, container):
    X = container(list(SEQS[:5]))
    np.testing.assert_allclose(fitted.predict_proba(X), fitted.predict_proba(list(SEQS[:5])))


def test_soft_masked_input_is_upper_cased(fitted):
    np.testing.assert_allclose(fitted.predict_proba([s.lower() for s in SEQS[:4]]), fitted.predict_proba(SEQS[:4]))


# -- bad input -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "X, y, error, message",
    [
        (["ACGT", ""], ["x", "y"], ValueError, r"X\[1\] is an empty sequence"),
        (["ACGT", "ACXT"], ["x", "y"], ValueError, r"Sequence 1 has the character 'X' at position 2"),
        (["ACGT", None], ["x", "y"], TypeError, r"X\[1\] is missing"),
        (["ACGT", float("nan")], ["x", "y"], TypeError, r"X\[1\] is missing"),
        (["ACGT", 42], ["x", "y"], TypeError, r"X\[1\] is a int"),
        ([b"ACGT", "ACGT"], ["x", "y"], TypeError, r"X\[0\] is bytes; decode it"),
        ("ACGT", ["x"], TypeError, "not a single str"),
        (np.array([["ACGT", "AC"], ["A", "C"]]), ["x", "y"], ValueError, r"one-dimensional.*shape \(2, 2\)"),
        (np.array([["ACGT"], ["AC"]]), ["x", "y"], ValueError, r"shape \(2, 1\).*ravel"),
        (pd.DataFrame({"a": ["AC"], "b": ["GT"]}), ["x"], ValueError, r"DataFrame with 2 columns"),
        ([], [], ValueError, "holds no sequences"),
        (["ACGT", "ACGT"], ["x", "x"], ValueError, r"only one class \('x'\)"),
        (["ACGT", "ACGT", "AC"], ["x", "y"], ValueError, r"X has 3 sequences but y has 2 labels"),
        (["ACGT", "ACGT"], [0.5, 1.7], ValueError, r"class labels.*'continuous'"),
        (["ACGT", "ACGT"], ["x", None], ValueError, r"y\[1\] is missing"),
        (5, ["x"], TypeError, "must be a list, array or pandas Series"),
    ],
)
def test_bad_inputs_are_named(X, y, error, message):
    with pytest.raises(error, match=message):
        fast_classifier().fit(X, y)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"max_iter": 1.5}, "max_iter must be an int >= 1"),
        ({"learning_rate_init": -1}, r"learning_rate_init must be in \(0"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be in \(0, 1\)"),
        ({"pooling": "max"}, "pooling must be one of"),
        ({"device": "tpu"}, "device='tpu' is not"),
        ({"device": "cuda:7"} if not torch.cuda.is_available() else {"device": "cuda:99"}, "cuda"),
        ({"precision": "8"}, "precision must be one of"),
        ({"class_weight": "auto"}, "class_weight must be"),
        ({"head_dropout": 1.0}, r"head_dropout must be in \[0, 1\)"),
        ({"emb_dim": 4}, "emb_dim must be an odd int"),
        ({"d_model": "big"}, "d_model must be an int"),
        ({"max_time": 0}, r"max_time must be in \(0"),
        ({"pretrained": 3.5}, "pretrained must be a bundled model's name"),
        ({"head_init": "zeros"}, r"head_init must be one of \('probe', 'random'\); got 'zeros'"),
        ({"length_feature": 1}, "length_feature must be 'auto', True or False; got 1"),
        ({"pretrained": HyenaClassifier()}, "unfitted HyenaClassifier"),
        ({"scoring": "not_a_metric"}, "scoring must be 'loss', a scikit-learn scorer name"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises((ValueError, TypeError), match=message):
        fast_classifier(**params).fit(SEQS, LABELS)


def test_missing_pretrained_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fast_classifier(pretrained=tmp_path / "nope").fit(SEQS, LABELS)


def test_embedder_needs_a_size():
    with pytest.raises(ValueError, match="needs X or max_length"):
        HyenaEmbedder(**TINY).fit()


# -- persistence ---------------------------------------------------------------------------------------------------

def test_joblib_round_trip_gives_identical_predictions(fitted, tmp_path):
    joblib.dump(fitted, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(SEQS), fitted.predict_proba(SEQS))
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.predict(SEQS), fitted.predict(SEQS))


def test_gpu_pickle_loads_on_cpu_with_a_warning(fitted, monkeypatch):
    """A model pickled on a CUDA device comes back on the CPU, with a warning, where CUDA is missing."""
    from dnaestim.estimators import _base

    payload = _base._TorchPayload(fitted.model_, "cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="fitted on cuda:0, which is not available here"):
        module, device = payload.restore(fitted)
    assert device.type == "cpu"
    assert next(module.parameters()).device.type == "cpu"


# -- embedder ------------------------------------------------------------------------------------------------------

def test_embedder_transform_and_feature_names():
    emb = HyenaEmbedder(**TINY, random_state=0).fit(SEQS)
    Z = emb.transform(SEQS)
    assert Z.shape == (40, 16) and Z.dtype == np.float32
    names = emb.get_feature_names_out()
    assert names.tolist() == [f"hyenaembedder{i}" for i in range(16)]
    frame = emb.set_output(transform="pandas").transform(SEQS)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == names.tolist()
    np.testing.assert_array_equal(HyenaEmbedder(**TINY, random_state=0).fit(SEQS).transform(SEQS), Z)


def test_embedder_batch_independence_and_rc_average():
    emb = HyenaEmbedder(**TINY, random_state=0, batch_size=3, rc_average=True).fit(SEQS)
    alone = np.vstack([emb.transform([s]) for s in SEQS[:6]])
    np.testing.assert_allclose(emb.transform(SEQS[:6]), alone, rtol=1e-5, atol=1e-6)
    rc = [reverse_complement(s) for s in SEQS[:6]]
    np.testing.assert_allclose(emb.transform(rc), alone, rtol=1e-5, atol=1e-6)


def test_embedder_chunked_inference_matches_one_pass():
    one_pass = HyenaEmbedder(**TINY, random_state=0).fit(SEQS)
    chunked = HyenaEmbedder(**TINY, random_state=0, chunk_size=7).fit(SEQS)
    np.testing.assert_allclose(chunked.transform(SEQS), one_pass.transform(SEQS), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="chunk_size must be an int >= 1"):
        HyenaEmbedder(**TINY, chunk_size=0).fit(SEQS)


def test_embedder_pickles(tmp_path):
    emb = HyenaEmbedder(**TINY, random_state=0).fit(SEQS)
    joblib.dump(emb, tmp_path / "emb.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "emb.joblib").transform(SEQS), emb.transform(SEQS))


# -- end to end on real data ---------------------------------------------------------------------------------------

def test_classifier_learns_a_real_promoter_task(tata):
    """A small model trained for a few seconds on GUE prom_core_tata scores well above chance (0.50)."""
    X_train, y_train, X_test, y_test = tata
    clf = HyenaClassifier(pretrained=None, d_model=64, n_layer=1, max_iter=3, batch_size=32, learning_rate_init=2e-3,
                          early_stopping=False, random_state=0)
    clf.fit(X_train[:2000], y_train[:2000])
    accuracy = accuracy_score(y_test, clf.predict(X_test))
    auc = roc_auc_score(y_test == clf.classes_[1], clf.predict_proba(X_test)[:, 1])
    assert accuracy > 0.62, accuracy
    assert auc > 0.68, auc
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_embedder_pipeline_on_real_data(tata):
    X_train, y_train, X_test, y_test = tata
    pipe = make_pipeline(HyenaEmbedder(pretrained=None, d_model=32, n_layer=1, random_state=0),
                         LogisticRegression(max_iter=2000))
    pipe.fit(X_train[:1500], y_train[:1500])
    auc = roc_auc_score(y_test == "1", pipe.predict_proba(X_test)[:, 1])
    assert auc > 0.55, auc  # random features of a random backbone: weak, but above chance


def test_grid_search_and_cross_val_score_run():
    search = GridSearchCV(fast_classifier(max_iter=1), {"learning_rate_init": [1e-3, 1e-2]}, cv=2, n_jobs=2)
    search.fit(SEQS, LABELS)
    assert search.best_params_["learning_rate_init"] in (1e-3, 1e-2)
    scores = cross_val_score(fast_classifier(max_iter=1), SEQS, LABELS, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))


def test_classifier_trains_a_trainable_positional_encoding_in_the_filter_group():
    """The filter group holds every implicit-filter parameter, ``z`` included when trainable (as HyenaLM's)."""
    from dnaestim.nn import HyenaConfig, HyenaLM

    lm = HyenaLM(HyenaConfig(d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3, l_max=32,
                             lr_pos_emb=1e-3, lr=1e-4))
    clf = HyenaClassifier(pretrained=lm, max_iter=1, early_stopping=False, random_state=0).fit(SEQS, LABELS)
    optimizer = clf._make_optimizer(clf.model_)
    filter_group = {id(p) for p in optimizer.param_groups[1]["params"]}
    z = clf.model_.backbone.layers[0].mixer.filter_fn.pos_emb.z
    assert isinstance(z, torch.nn.Parameter) and id(z) in filter_group
    assert optimizer.param_groups[1]["lr"] == 1e-4
