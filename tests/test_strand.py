"""rc_average="auto" and rc_augment="auto": the strand test tells labels that depend on the strand from labels that do not, and the
estimators follow its answer."""

import numpy as np
import pytest

from dnaestim import HyenaClassifier, HyenaRegressor, reverse_complement
from dnaestim.datasets import load_gue_prom_core_tata, load_human_enhancers_cohn_subset
from dnaestim.estimators._strand import strand_symmetric

TINY = dict(pretrained=None, d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3, max_iter=1,
            batch_size=16, random_state=0)
MOTIF = "TATAAAAGGC"


def _random(rng, n, length=60):
    return ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]


def planted(seed, n=400, oriented=True):
    """Half the sequences carry MOTIF. ``oriented``: always at position 10 of the given strand (as a TATA box
    sits upstream of a transcription start); otherwise anywhere, on either strand."""
    rng = np.random.default_rng(seed)
    sequences, labels = _random(rng, n), np.arange(n) % 2
    for i in np.flatnonzero(labels):
        motif, at = MOTIF, 10
        if not oriented:
            motif = MOTIF if rng.random() < 0.5 else reverse_complement(MOTIF)
            at = int(rng.integers(0, 60 - len(MOTIF)))
        sequences[i] = sequences[i][:at] + motif + sequences[i][at + len(motif):]
    return sequences, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_motif_on_one_strand_at_one_place_is_strand_specific(seed):
    symmetric, z = strand_symmetric(*planted(seed, oriented=True), random_state=seed)
    assert not symmetric and z < -3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_motif_anywhere_on_either_strand_is_strand_symmetric(seed):
    symmetric, z = strand_symmetric(*planted(seed, oriented=False), random_state=seed)
    assert symmetric and z > -3


def test_shipped_promoters_are_strand_specific_and_enhancers_are_not():
    X, y = load_gue_prom_core_tata(split="train", return_X_y=True)
    assert strand_symmetric(X, np.unique(y, return_inverse=True)[1])[0] is False
    X, y = load_human_enhancers_cohn_subset(split="train", return_X_y=True)
    assert strand_symmetric(X, np.unique(y, return_inverse=True)[1])[0] is True


def test_the_test_is_seeded_and_reads_any_characters():
    X, y = planted(0)
    X[0] = "acgtNNNRYacgt" + X[0]  # lower case and codes that are not ACGT end no 3-mer but break nothing
    assert strand_symmetric(X, y, random_state=3) == strand_symmetric(X, y, random_state=3)


@pytest.mark.parametrize("labels", [[0] * 20, [0] * 18 + [1] * 2])
def test_too_little_data_to_tell_counts_as_symmetric(labels):
    assert strand_symmetric(_random(np.random.default_rng(0), len(labels)), np.array(labels)) == (True, None)


def test_classifier_auto_follows_the_test_and_can_be_overridden_after_fit():
    X, y = planted(0, n=200, oriented=True)
    clf = HyenaClassifier(**TINY).fit(X, y)
    assert clf.rc_average == "auto" and clf.rc_average_ is False
    forward = clf.predict_proba(X[:8])
    both = clf.set_params(rc_average=True).predict_proba(X[:8])
    assert not np.allclose(forward, both)
    np.testing.assert_allclose(clf.set_params(rc_average="auto").predict_proba(X[:8]), forward)

    X, y = planted(0, n=200, oriented=False)
    clf = HyenaClassifier(**TINY).fit(X, y)
    assert clf.rc_average_ is True
    rc = [reverse_complement(s) for s in X[:8]]
    np.testing.assert_allclose(clf.predict_proba(X[:8]), clf.predict_proba(rc), atol=1e-6)


@pytest.mark.parametrize("oriented", [True, False])
def test_classifier_augments_the_training_strands_as_the_test_decides(oriented, capsys):
    X, y = planted(1, n=160, oriented=oriented)
    auto = HyenaClassifier(**TINY, verbose=1).fit(X, y)
    assert auto.rc_augment == "auto" and auto.rc_augment_ is (not oriented) and auto.rc_average_ is (not oriented)
    assert f"rc_augment={'off' if oriented else 'on'}, rc_average={'off' if oriented else 'on'}" in \
        capsys.readouterr().err
    # Training with "auto" is training with the verdict: the same seed gives the same weights.
    fixed = HyenaClassifier(**TINY, rc_augment=not oriented, rc_average=not oriented).fit(X, y)
    assert fixed.rc_augment_ is (not oriented)
    for a, b in zip(auto.model_.state_dict().values(), fixed.model_.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    other = HyenaClassifier(**TINY, rc_augment=oriented, rc_average=not oriented).fit(X, y)
    assert any(not np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(auto.model_.state_dict().values(), other.model_.state_dict().values()))


@pytest.mark.parametrize("seed", [0, 1])
def test_multilabel_targets_are_tested_label_by_label(seed):
    """One oriented label among symmetric ones makes the task strand-specific; all symmetric, symmetric."""
    X_oriented, y_oriented = planted(seed + 10, oriented=True)
    X_any, y_any = planted(seed, oriented=False)
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 2, size=len(y_any))
    # Label 0 is the oriented motif, at position 10; label 1 the unoriented one where it fell past position 30.
    X = [a[:30] + b[30:] for a, b in zip(X_oriented, X_any)]
    symmetric, z = strand_symmetric(X, np.stack([y_oriented, y_any, noise], axis=1), random_state=seed)
    assert not symmetric and z < -3
    symmetric, z = strand_symmetric(X_any, np.stack([y_any, noise], axis=1), random_state=seed)
    assert symmetric and z > -3
    # Labels with fewer than 3 sequences on a side are left out; with none left, too little data to tell.
    rare = np.zeros(len(y_any), dtype=int)
    rare[:2] = 1
    assert strand_symmetric(X_any, np.stack([rare, np.ones_like(rare)], axis=1)) == (True, None)


def test_multilabel_auto_follows_the_test_and_regression_auto_is_off():
    X, y = planted(0, n=160, oriented=False)
    multilabel = np.stack([y, 1 - y, y], axis=1)
    fitted = HyenaClassifier(**TINY).fit(X, multilabel)
    assert fitted.rc_average_ is True and fitted.rc_augment_ is True
    X, y = planted(0, n=160, oriented=True)
    fitted = HyenaClassifier(**TINY).fit(X, np.stack([y, 1 - y, y], axis=1))
    assert fitted.rc_average_ is False and fitted.rc_augment_ is False
    assert HyenaRegressor(**TINY, rc_average="auto").fit(X, y.astype(float)).rc_average_ is False
    assert HyenaRegressor(**TINY, rc_average=True).fit(X, y.astype(float)).rc_average_ is True
    assert HyenaRegressor(**TINY, rc_augment="auto").fit(X, y.astype(float)).rc_augment_ is False


def test_soft_prompt_classifier_decides_as_the_classifier_does():
    from dnaestim import HyenaConfig, HyenaLM, SoftPromptClassifier

    lm = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=128))
    X, y = planted(0, n=120, oriented=True)
    clf = SoftPromptClassifier(pretrained=lm, n_prompt_tokens=4, max_iter=1, rc_average="auto", random_state=0)
    assert clf.fit(X, y).rc_average_ is False
    X, y = planted(0, n=120, oriented=False)
    assert clf.fit(X, y).rc_average_ is True
    assert SoftPromptClassifier().rc_average == "auto"
