"""dnaestim.interpret: in-silico saturation mutagenesis and gradient x input, and their plots.

The ISM values are checked against the estimators' own predictions on the mutated sequences, the gradients
against the literal one-hot definition, and both against a motif planted in the training data.
"""

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from dnaestim import (HyenaClassifier, HyenaConfig, HyenaEmbedder, HyenaLM, HyenaPretrainer, HyenaRegressor,
                      SoftPromptClassifier, reverse_complement)
from dnaestim.interpret import gradient_x_input, mutagenesis_frame, saturation_mutagenesis
from dnaestim.nn.heads import pool
from dnaestim.tokenizer import A_ID, C_ID, G_ID, PAD_ID, RIGHT_PADDED, T_ID

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = dict(pretrained=None, d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3, max_iter=2,
            early_stopping=False, random_state=0)
X = ["ACGTACGTACGT", "TTTTGGGGCCAA", "ACGTACGTTTGA", "GGGGCCCCTTAC"] * 8
LABELS = ["a", "b", "c", "a"] * 8
SEQUENCE = "ACGTNCGTACga"  # an N, and lower case (read as upper case)


def mutants(sequence):
    """Every sequence with one position set to each of A, C, G, T (the reference itself included), in the order
    of the rows and columns of an ISM matrix."""
    return [sequence[:i] + base + sequence[i + 1:] for i in range(len(sequence)) for base in "ACGT"]


@pytest.fixture(scope="module")
def classifier():
    return HyenaClassifier(**TINY).fit(X, LABELS)


@pytest.fixture(scope="module")
def multilabel():
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 8)
    return HyenaClassifier(**TINY).fit(X, pd.DataFrame(Y, columns=["enhancer", "promoter"]))


@pytest.fixture(scope="module")
def regressor():
    y = np.column_stack([np.arange(32.0), np.arange(32.0) ** 0.5 * 10])
    return HyenaRegressor(**TINY).fit(X, y)


@pytest.fixture(scope="module")
def pretrainer():
    return HyenaPretrainer(d_model=16, n_layer=1, max_length=16, max_steps=3, random_state=0).fit(X)


@pytest.fixture(scope="module", params=["lm", "linear"])
def soft_prompt(request):
    lm = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64), generator=torch.Generator().manual_seed(0))
    return SoftPromptClassifier(pretrained=lm, head=request.param, n_prompt_tokens=4, n_shots=1, max_iter=2,
                                random_state=0).fit(X, LABELS[:32])


# ---------------------------------------------------------------------------------------------------------------
# ISM equals the estimators' own predictions on the mutants
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rc_average", [False, True])
def test_ism_is_the_change_of_predict_proba(classifier, rc_average):
    clf = classifier.set_params(rc_average=rc_average)
    try:
        for target in ("c", None):
            ism = saturation_mutagenesis(clf, SEQUENCE, target=target)
            column = 2 if target == "c" else int(clf.predict_proba([SEQUENCE])[0].argmax())  # default: predicted
            expected = (clf.predict_proba(mutants(SEQUENCE))[:, column]
                        - clf.predict_proba([SEQUENCE])[0, column]).reshape(-1, 4)
            assert ism.shape == (len(SEQUENCE), 4) and ism.dtype == np.float64
            np.testing.assert_allclose(ism, expected, atol=1e-6)
            assert np.abs(expected).max() > 1e-3  # the check is not vacuous
            # Zero at every reference base; the N row (position 4) has four substitutions, none zero.
            for i, base in enumerate(SEQUENCE.upper()):
                if base in "ACGT":
                    assert ism[i, "ACGT".index(base)] == 0.0
            assert np.all(ism[4] != 0)
    finally:
        clf.set_params(rc_average=False)


def test_ism_of_a_multilabel_classifier_explains_the_named_label(multilabel):
    ism = saturation_mutagenesis(multilabel, SEQUENCE, target="promoter")
    expected = (multilabel.predict_proba(mutants(SEQUENCE))[:, 1]
                - multilabel.predict_proba([SEQUENCE])[0, 1]).reshape(-1, 4)
    np.testing.assert_allclose(ism, expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"multi-label: pass target= the label to explain, one of \['enhancer', "
                                         r"'promoter'\]"):
        saturation_mutagenesis(multilabel, SEQUENCE)


def test_ism_of_a_regressor_is_the_change_of_predict_in_target_units(regressor):
    predictions = regressor.predict(mutants(SEQUENCE)) - regressor.predict([SEQUENCE])[0]
    for target in (0, 1):
        ism = saturation_mutagenesis(regressor, SEQUENCE, target=target)
        np.testing.assert_allclose(ism, predictions[:, target].reshape(-1, 4), atol=1e-4)
    np.testing.assert_array_equal(saturation_mutagenesis(regressor, SEQUENCE), saturation_mutagenesis(
        regressor, SEQUENCE, target=0))


@pytest.mark.parametrize("sequence", ["ACGTNCGTAC", "ACGTACGTTTGACCATGGCATTACGGATCCAGTTAGCA"])
def test_ism_of_a_pretrainer_is_the_change_of_log_likelihood(pretrainer, sequence):
    """Also for a sequence longer than l_max + 1 = 17, scored in chunks."""
    assert len(sequence) < 17 or len(pretrainer._chunks([sequence])[0]) == 3
    ism = saturation_mutagenesis(pretrainer, sequence)
    expected = (pretrainer.log_likelihood(mutants(sequence))
                - pretrainer.log_likelihood([sequence])[0]).reshape(-1, 4)
    np.testing.assert_allclose(ism, expected, atol=1e-4)
    assert np.abs(expected).max() > 1e-2


def test_ism_of_a_soft_prompt_classifier(soft_prompt):
    sequence = "ACGTACGTAC"  # shorter than max_length_: left-padded, as the estimator pads it
    ism = saturation_mutagenesis(soft_prompt, sequence, target="b")
    expected = (soft_prompt.predict_proba(mutants(sequence))[:, 1]
                - soft_prompt.predict_proba([sequence])[0, 1]).reshape(-1, 4)
    np.testing.assert_allclose(ism, expected, atol=1e-6)
    assert np.abs(expected).max() > 0


def test_ism_reads_long_sequences_in_the_windows_of_a_pretrained_backbone():
    lm = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=16), generator=torch.Generator().manual_seed(0))
    long_x = [s * 3 for s in X]  # 36 nucleotides: three windows of l_max=16
    clf = HyenaClassifier(pretrained=lm, max_iter=1, early_stopping=False, random_state=0).fit(long_x, LABELS)
    sequence = long_x[1]
    ism = saturation_mutagenesis(clf, sequence, target="b")
    expected = (clf.predict_proba(mutants(sequence))[:, 1] - clf.predict_proba([sequence])[0, 1]).reshape(-1, 4)
    np.testing.assert_allclose(ism, expected, atol=1e-6)
    scores = gradient_x_input(clf, sequence, target="b")
    np.testing.assert_allclose(scores, literal_windowed_scores(clf, sequence, column=1), rtol=1e-4, atol=1e-9)


def test_positions_beyond_max_length_are_zero_as_the_estimator_cuts_them(classifier):
    sequence = SEQUENCE + "TTGCA"  # 17 nucleotides; the classifier reads the first 12 (its longest training one)
    assert classifier.max_length_ == 12
    with pytest.warns(UserWarning, match="longer than the 12 nucleotides"):  # the estimator's own warning
        ism = saturation_mutagenesis(classifier, sequence, target="a")
    assert np.all(ism[12:] == 0) and np.abs(ism[:12]).max() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = (classifier.predict_proba(mutants(sequence))[:, 0]
                    - classifier.predict_proba([sequence])[0, 0]).reshape(-1, 4)
    np.testing.assert_allclose(ism, expected, atol=1e-6)
    with pytest.warns(UserWarning, match="longer than the 12 nucleotides"):
        scores = gradient_x_input(classifier, sequence, target="a")
    assert np.all(scores[12:] == 0) and np.abs(scores[:12]).max() > 0
    clf = HyenaClassifier(**dict(TINY, max_length=8)).fit(X, LABELS)  # a cut asked for: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.all(saturation_mutagenesis(clf, SEQUENCE, target="a")[8:] == 0)


def test_ism_does_not_depend_on_the_batch_size(classifier):
    full = saturation_mutagenesis(classifier, SEQUENCE, target="b")
    for batch_size in (1, 7):
        np.testing.assert_allclose(saturation_mutagenesis(classifier, SEQUENCE, target="b", batch_size=batch_size),
                                   full, atol=1e-7)


def test_unknown_characters_follow_the_estimators_setting(classifier):
    with pytest.raises(ValueError, match="Sequence 0 has the character 'R' at position 3"):
        saturation_mutagenesis(classifier, "ACGRACGT", target="a")
    with pytest.raises(ValueError, match="character 'R' at position 3"):
        gradient_x_input(classifier, ["ACGT", "ACGRACGT"], target="a")
    classifier.set_params(unknown="N")
    try:
        read_as_n = saturation_mutagenesis(classifier, "ACGRACGT", target="a")
        np.testing.assert_allclose(read_as_n, saturation_mutagenesis(classifier, "ACGNACGT", target="a"))
        frame = saturation_mutagenesis(classifier, "ACGRACGT", target="a", as_frame=True)
        assert frame[frame.position == 3].ref.tolist() == ["N"] * 4
    finally:
        classifier.set_params(unknown="raise")


# ---------------------------------------------------------------------------------------------------------------
# The tidy table
# ---------------------------------------------------------------------------------------------------------------


def test_mutagenesis_frame_has_one_row_per_substitution(classifier):
    ism = saturation_mutagenesis(classifier, SEQUENCE, target="a")
    frame = saturation_mutagenesis(classifier, SEQUENCE, target="a", as_frame=True)
    pd.testing.assert_frame_equal(frame, mutagenesis_frame(ism, SEQUENCE))
    assert frame.columns.tolist() == ["position", "ref", "alt", "delta"]
    assert len(frame) == 3 * 11 + 4  # 11 positions with A/C/G/T, one N
    assert (frame.ref != frame.alt).all()
    assert frame.ref.tolist()[-3:] == ["A", "A", "A"]  # lower-case "a" read as A
    for row in frame.itertuples():
        assert row.delta == ism[row.position, "ACGT".index(row.alt)]
    assert mutagenesis_frame(np.zeros((2, 4)), "uN").ref.tolist() == ["T"] * 3 + ["N"] * 4  # U reads as T


def test_mutagenesis_frame_errors():
    with pytest.raises(ValueError, match=r"ism must have shape \(len\(sequence\), 4\) = \(3, 4\).*got \(3, 3\)"):
        mutagenesis_frame(np.zeros((3, 3)), "ACG")
    with pytest.raises(ValueError, match="matrix of numbers"):
        mutagenesis_frame([["a"] * 4], "A")
    with pytest.raises(TypeError, match="sequence must be a str"):
        mutagenesis_frame(np.zeros((1, 4)), ["A"])


# ---------------------------------------------------------------------------------------------------------------
# Gradient x input: the definition
# ---------------------------------------------------------------------------------------------------------------


def _literal(gradient, one_hot):
    """``grad . (o_t - mean of the one-hot vectors of A, C, G, T)`` per position."""
    baseline = torch.zeros(one_hot.shape[-1], dtype=one_hot.dtype)
    baseline[[A_ID, C_ID, G_ID, T_ID]] = 0.25
    return (gradient * (one_hot.detach() - baseline)).sum(-1)[0].numpy()


def _one_hot(ids, table):
    return F.one_hot(ids, table.shape[0]).to(table.dtype).requires_grad_()


def literal_classifier_scores(clf, sequence, column):
    """The one-hot definition, written out: the gradient of p(column) with respect to a one-hot matrix that is
    multiplied into the embedding table."""
    model = clf.model_.eval()
    ids = torch.from_numpy(RIGHT_PADDED([sequence]).input_ids)
    table = model.backbone.embeddings.word_embeddings.weight.detach()
    one_hot = _one_hot(ids, table)
    hidden = model.backbone(inputs_embeds=one_hot @ table)
    logits = model.head(pool(hidden, torch.ones_like(ids, dtype=torch.bool), model.pooling))
    p = torch.softmax(logits.double(), -1)[0, column]
    return _literal(torch.autograd.grad(p, one_hot)[0], one_hot)


def literal_windowed_scores(clf, sequence, column):
    """As above, with the backbone reading consecutive windows of l_max on their own."""
    model = clf.model_.eval()
    l_max = model.config.l_max
    ids = torch.from_numpy(RIGHT_PADDED([sequence]).input_ids)
    table = model.backbone.embeddings.word_embeddings.weight.detach()
    one_hot = _one_hot(ids, table)
    pad = F.one_hot(torch.full((1, -len(sequence) % l_max), PAD_ID), table.shape[0]).to(table.dtype)
    padded = torch.cat([one_hot, pad], 1)
    windows = [model.backbone(inputs_embeds=padded[:, i:i + l_max] @ table) for i in range(0, padded.shape[1], l_max)]
    hidden = torch.cat(windows, 1)[:, :len(sequence)]
    p = torch.softmax(model.head(hidden.mean(1)).double(), -1)[0, column]
    return _literal(torch.autograd.grad(p, one_hot)[0], one_hot)


def test_gradient_x_input_is_the_one_hot_definition(classifier):
    model = classifier.model_
    flags = [p.requires_grad for p in model.parameters()]
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]  # left over from fit
    scores = gradient_x_input(classifier, SEQUENCE, target="b")
    np.testing.assert_allclose(scores, literal_classifier_scores(classifier, SEQUENCE, 1), rtol=1e-4, atol=1e-9)
    assert scores.shape == (len(SEQUENCE),) and np.abs(scores).max() > 0
    # Nothing of the model changed: no gradient added to a parameter, the flags and the mode as they were.
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training
    for p, before in zip(model.parameters(), grads):
        assert (p.grad is None and before is None) or torch.equal(p.grad, before)


def test_gradient_x_input_of_a_pretrainer_differentiates_inputs_and_targets(pretrainer):
    sequence = "ACGTNCGTACGTTAGC"  # l_max + 1 = 17: one chunk
    lm = pretrainer.model_.eval()
    ids = torch.from_numpy(RIGHT_PADDED([sequence]).input_ids)
    table = lm.backbone.embeddings.word_embeddings.weight.detach()
    one_hot = _one_hot(ids, table)
    logits = lm(inputs_embeds=(one_hot @ table)[:, :-1])
    log_likelihood = (one_hot[:, 1:] * torch.log_softmax(logits.double(), -1)).sum()
    expected = _literal(torch.autograd.grad(log_likelihood, one_hot)[0], one_hot)
    np.testing.assert_allclose(gradient_x_input(pretrainer, sequence), expected, rtol=1e-4, atol=1e-7)
    # Longer sequences: the chunks' scores add up where they overlap, and the result does not depend on batching.
    long = "ACGTACGTTTGACCATGGCATTACGGATCCAGTTAGCA"
    together = gradient_x_input(pretrainer, [long, sequence])
    np.testing.assert_allclose(together[1], expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(together[0], gradient_x_input(pretrainer, long, batch_size=1), rtol=1e-5, atol=1e-8)


def test_gradient_x_input_of_a_regressor_is_in_target_units(regressor):
    scores = gradient_x_input(regressor, SEQUENCE, target=1)
    regressor_scale = regressor.target_scale_[1]
    model = regressor.model_.eval()
    ids = torch.from_numpy(RIGHT_PADDED([SEQUENCE]).input_ids)
    table = model.backbone.embeddings.word_embeddings.weight.detach()
    one_hot = _one_hot(ids, table)
    value = model.head(model.backbone(inputs_embeds=one_hot @ table).mean(1))[0, 1] * regressor_scale
    np.testing.assert_allclose(scores, _literal(torch.autograd.grad(value, one_hot)[0], one_hot), rtol=1e-4,
                               atol=1e-8)


def test_gradient_x_input_of_soft_prompts_and_several_sequences(soft_prompt):
    sequences = ["ACGTACGTAC", "ACG", "TTTTGGGGCCAA"]
    scores = gradient_x_input(soft_prompt, sequences, target="a")
    assert [s.shape for s in scores] == [(10,), (3,), (12,)]
    assert all(np.abs(s).max() > 0 for s in scores)
    for sequence, batched in zip(sequences, scores):  # every row on its own: batching changes nothing
        np.testing.assert_allclose(gradient_x_input(soft_prompt, sequence, target="a"), batched, rtol=1e-4,
                                   atol=1e-10)


def test_default_target_is_each_sequences_predicted_class(classifier):
    sequences = X[:4]
    predicted = classifier.predict_proba(sequences).argmax(1)
    for sequence, scores, column in zip(sequences, gradient_x_input(classifier, sequences), predicted):
        np.testing.assert_allclose(scores, literal_classifier_scores(classifier, sequence, column), rtol=1e-4,
                                   atol=1e-9)


def test_reverse_complement_averaging_averages_both_strands(classifier):
    """With rc_average, the output is the mean of the two strands' probabilities: so are its attributions, the
    reverse strand's read backwards with complemented bases."""
    sequence = "ACGTTCGTACGA"
    rc = reverse_complement(sequence)
    one_strand_ism = [saturation_mutagenesis(classifier, s, target="b") for s in (sequence, rc)]
    one_strand_grad = [gradient_x_input(classifier, s, target="b") for s in (sequence, rc)]
    classifier.set_params(rc_average=True)
    try:
        ism = saturation_mutagenesis(classifier, sequence, target="b")
        scores = gradient_x_input(classifier, sequence, target="b")
    finally:
        classifier.set_params(rc_average=False)
    np.testing.assert_allclose(ism, (one_strand_ism[0] + one_strand_ism[1][::-1, ::-1]) / 2, atol=1e-6)
    np.testing.assert_allclose(scores, (one_strand_grad[0] + one_strand_grad[1][::-1]) / 2, rtol=1e-4, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# A planted motif
# ---------------------------------------------------------------------------------------------------------------

MOTIF, MOTIF_LENGTH = "TATAAT", 40


def planted(n, seed):
    """Random sequences; every other one (the positives) carries the motif at a random place."""
    rng = np.random.RandomState(seed)
    sequences, labels, starts = [], [], []
    for i in range(n):
        sequence = list(rng.choice(list("ACGT"), size=MOTIF_LENGTH))
        start = -1
        if i % 2 == 0:
            start = rng.randint(0, MOTIF_LENGTH - len(MOTIF) + 1)
            sequence[start:start + len(MOTIF)] = MOTIF
        sequences.append("".join(sequence))
        labels.append(int(i % 2 == 0))
        starts.append(start)
    return sequences, np.array(labels), np.array(starts)


@pytest.fixture(scope="module")
def motif_model():
    """A classifier that learned the motif (about 3 s), and held-out positives with the motif's place."""
    X_train, y_train, _ = planted(400, seed=0)
    clf = HyenaClassifier(pretrained=None, d_model=32, n_layer=2, d_inner=64, filter_order=16, emb_dim=3,
                          embed_dropout=0.0, head_dropout=0.0, max_iter=20, batch_size=32, learning_rate_init=5e-3,
                          early_stopping=False, random_state=0).fit(X_train, y_train)
    X_test, y_test, starts = planted(40, seed=1)
    assert (clf.predict(X_test) == y_test).mean() >= 0.75  # chance: 0.5 (0.82-0.85 here, by thread count)
    positives = [(s, start) for s, start in zip(X_test, starts) if start >= 0][:8]
    return clf, positives


def _inside(start):
    inside = np.zeros(MOTIF_LENGTH, dtype=bool)
    inside[start:start + len(MOTIF)] = True
    return inside


def test_ism_peaks_on_the_planted_motif(motif_model):
    clf, positives = motif_model
    inside_mean, outside_mean = [], []
    for sequence, start in positives:
        importance = np.abs(saturation_mutagenesis(clf, sequence, target=1)).max(1)  # largest change per position
        inside_mean.append(importance[_inside(start)].mean())
        outside_mean.append(importance[~_inside(start)].mean())
    assert np.mean(inside_mean) > 4 * np.mean(outside_mean), (inside_mean, outside_mean)
    # The motif's bases support the positive class: replacing them lowers its probability.
    sequence, start = positives[0]
    assert saturation_mutagenesis(clf, sequence, target=1)[_inside(start)].sum() < 0


# ---------------------------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", [saturation_mutagenesis, gradient_x_input])
def test_unfitted_and_unsupported_estimators(function):
    with pytest.raises(NotFittedError):
        function(HyenaClassifier(), "ACGT")
    with pytest.raises(NotFittedError):
        function(HyenaPretrainer(), "ACGT")
    embedder = HyenaEmbedder(pretrained=None, d_model=16, n_layer=1, max_length=8).fit()
    message = (f"{function.__name__} explains a fitted HyenaClassifier, SoftPromptClassifier, HyenaRegressor or "
               "HyenaPretrainer; got HyenaEmbedder")
    with pytest.raises(TypeError, match=message):
        function(embedder, "ACGT")
    with pytest.raises(TypeError, match="; got LogisticRegression"):
        function(LogisticRegression(), "ACGT")


def test_bad_targets_are_named(classifier, regressor, pretrainer):
    with pytest.raises(ValueError, match=r"target 'z' is not one of this HyenaClassifier's classes: \['a', 'b', "
                                         r"'c'\]"):
        saturation_mutagenesis(classifier, "ACGT", target="z")
    with pytest.raises(ValueError, match=r"target must be an output index in \[0, 2\) of this HyenaRegressor"):
        gradient_x_input(regressor, "ACGT", target=2)
    with pytest.raises(ValueError, match="target must be an output index"):
        saturation_mutagenesis(regressor, "ACGT", target="0")
    with pytest.raises(ValueError, match="target does not apply to a HyenaPretrainer"):
        saturation_mutagenesis(pretrainer, "ACGT", target=0)


def test_labels_match_by_value_or_text():
    clf = HyenaClassifier(**TINY).fit(X, [0, 1, 0, 1] * 8)
    np.testing.assert_array_equal(saturation_mutagenesis(clf, "ACGTAC", target="1"),
                                  saturation_mutagenesis(clf, "ACGTAC", target=1))


def test_bad_sequences_and_batch_sizes(classifier, pretrainer):
    with pytest.raises(TypeError, match="sequence must be one DNA string; got list"):
        saturation_mutagenesis(classifier, ["ACGT"])
    with pytest.raises(ValueError, match="sequence is an empty sequence|sequence\\[0\\] is an empty sequence"):
        saturation_mutagenesis(classifier, "")
    with pytest.raises(ValueError, match="sequence has 1 nucleotide; a log-likelihood needs at least 2"):
        saturation_mutagenesis(pretrainer, "A")
    with pytest.raises(ValueError, match=r"sequences\[1\] has 1 nucleotide"):
        gradient_x_input(pretrainer, ["ACGT", "A"])
    with pytest.raises(ValueError, match="batch_size must be an int >= 1 or None; got 0"):
        saturation_mutagenesis(classifier, "ACGT", target="a", batch_size=0)


# ---------------------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def test_plot_attribution_draws_one_bar_per_position(plt, classifier):
    from dnaestim.plotting import plot_attribution

    scores = gradient_x_input(classifier, SEQUENCE, target="a")
    ax = plot_attribution(scores, SEQUENCE)
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], scores)
    np.testing.assert_allclose([bar.get_x() + bar.get_width() / 2 for bar in ax.patches], np.arange(len(SEQUENCE)))
    colors = [bar.get_facecolor() for bar in ax.patches]
    assert len({colors[i] for i in np.flatnonzero(scores >= 0)}) == 1
    assert len({colors[i] for i in np.flatnonzero(scores < 0)} - {colors[int(np.argmax(scores >= 0))]}) <= 1
    assert [t.get_text() for t in ax.get_xticklabels()] == list(SEQUENCE)
    assert ax.get_xlabel() == "position" and ax.get_ylabel() == "attribution"
    _, given = plt.subplots()
    assert plot_attribution(torch.from_numpy(scores), ax=given) is given  # a tensor, no sequence
    long = plot_attribution(np.ones(150), "A" * 150)  # too long for letters: numbered positions
    assert "A" not in [t.get_text() for t in long.get_xticklabels()]


def test_plot_mutagenesis_draws_the_matrix_and_marks_the_reference(plt, classifier):
    from dnaestim.plotting import plot_mutagenesis

    ism = saturation_mutagenesis(classifier, SEQUENCE, target="a")
    ax = plot_mutagenesis(ism, SEQUENCE)
    np.testing.assert_array_equal(ax.images[0].get_array(), ism.T)
    low, high = ax.images[0].get_clim()
    assert low == -high == -np.abs(ism).max()  # centred on zero
    reference = [(i, "ACGT".index(c)) for i, c in enumerate(SEQUENCE.upper()) if c in "ACGT"]
    assert ax.collections[0].get_offsets().tolist() == [[float(i), float(j)] for i, j in reference]
    assert [t.get_text() for t in ax.get_yticklabels()] == list("ACGT")
    assert [t.get_text() for t in ax.get_xticklabels()] == list(SEQUENCE)
    assert len(ax.figure.axes) == 2  # the colour bar
    assert plot_mutagenesis(np.zeros((3, 4)), "ACG").images[0].get_clim() == (-1.0, 1.0)


def test_plot_errors(plt):
    from dnaestim.plotting import plot_attribution, plot_mutagenesis

    with pytest.raises(ValueError, match=r"scores must be a non-empty 1-D array.*got shape \(3, 4\) \(reduce an "
                                         r"ISM matrix first"):
        plot_attribution(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"scores has NaN or infinite values \(first at \[1\]\)"):
        plot_attribution([0.0, np.nan])
    with pytest.raises(ValueError, match="sequence has 3 nucleotides but scores has 2 positions"):
        plot_attribution([0.0, 1.0], "ACG")
    with pytest.raises(ValueError, match=r"ism must have shape \(len\(sequence\), 4\).*got \(2, 3\)"):
        plot_mutagenesis(np.zeros((2, 3)), "AC")
    with pytest.raises(ValueError, match="sequence has 3 nucleotides but ism has 2 positions"):
        plot_mutagenesis(np.zeros((2, 4)), "ACG")
    with pytest.raises(TypeError, match="sequence must be a str; got NoneType"):
        plot_mutagenesis(np.zeros((2, 4)), None)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_attribution([1.0], ax="left")


def test_plots_without_matplotlib_say_how_to_install(monkeypatch):
    from dnaestim.plotting import plot_attribution, plot_mutagenesis

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="plot_attribution needs matplotlib.*pip install matplotlib"):
        plot_attribution([1.0])
    with pytest.raises(ImportError, match="plot_mutagenesis needs matplotlib.*pip install matplotlib"):
        plot_mutagenesis(np.zeros((1, 4)), "A")
