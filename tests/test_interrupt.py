"""Ctrl-C during fit: the estimator is left usable, says where it stopped, and warns."""

import numpy as np
import pytest
import torch

from dnaestim import HyenaClassifier, HyenaConfig, HyenaLM, HyenaPretrainer, HyenaRegressor, SoftPromptClassifier

rng = np.random.RandomState(0)
SEQS = ["".join(rng.choice(list("ACGT"), size=24)) for _ in range(48)]
LABELS = np.array([0, 1] * 24)
SMALL = dict(pretrained=None, d_model=8, n_layer=1, batch_size=8, random_state=0)


def classifier(**kw):
    return HyenaClassifier(**SMALL, max_iter=4, **kw), LABELS


def early_stopping_classifier():
    return HyenaClassifier(**SMALL, max_iter=4, early_stopping=True, n_iter_no_change=5), LABELS


def multilabel():
    return HyenaClassifier(**SMALL, max_iter=4), np.stack([LABELS, 1 - LABELS, LABELS], axis=1)


def regressor():
    return HyenaRegressor(**SMALL, max_iter=4), LABELS.astype(float) + rng.normal(0, 0.1, len(LABELS))


def soft_prompt():
    torch.manual_seed(0)
    lm = HyenaLM(HyenaConfig(d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3, l_max=64))
    return SoftPromptClassifier(pretrained=lm, n_prompt_tokens=4, max_iter=4, batch_size=8, random_state=0), LABELS


def pretrainer():
    return HyenaPretrainer(d_model=8, n_layer=1, max_length=32, max_steps=16, eval_interval=2, random_state=0), None


@pytest.fixture
def interrupt_at(monkeypatch):
    """Raise KeyboardInterrupt in the optimiser step numbered ``n`` (1-based), as Ctrl-C there would."""

    def arm(n):
        calls = {"n": 0}
        step = torch.optim.AdamW.step

        def interrupted(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return step(self, *args, **kwargs)

        monkeypatch.setattr(torch.optim.AdamW, "step", interrupted)
        return calls

    return arm


@pytest.mark.parametrize("make", [classifier, early_stopping_classifier, multilabel, regressor, soft_prompt,
                                  pretrainer])
@pytest.mark.parametrize("at_step", [1, 4, 11])
def test_keyboard_interrupt_leaves_a_usable_estimator(make, at_step, interrupt_at):
    estimator, y = make()
    calls = interrupt_at(at_step)
    with pytest.warns(UserWarning, match="interrupted .KeyboardInterrupt."):
        fitted = estimator.fit(SEQS, y) if y is not None else estimator.fit(SEQS)
    assert fitted is estimator and calls["n"] == at_step  # fit returned right after the interrupted step
    assert all(torch.isfinite(p).all() for p in estimator.model_.parameters())
    if isinstance(estimator, HyenaPretrainer):
        assert estimator.n_iter_ == at_step - 1 == len(estimator.history_)
        assert np.isfinite(estimator.score(SEQS[:4]))
        return
    steps_per_epoch = -(-int(len(SEQS) * (0.9 if estimator.early_stopping else 1)) // estimator.batch_size)
    trained = [record for record in estimator.history_ if record["epoch"] > 0]  # epoch 0: a probed head
    assert estimator.n_iter_ == (at_step - 1) // steps_per_epoch == len(trained)
    predictions = estimator.predict(SEQS[:5])
    assert len(predictions) == 5
    if hasattr(estimator, "predict_proba"):
        assert np.allclose(estimator.predict_proba(SEQS[:5]).sum(1), 1) or y.ndim == 2


def test_interrupt_under_a_plain_loop_propagates(interrupt_at):
    """Outside fit the training loop re-raises (interruptible=False), and the end hooks still ran."""
    from dnaestim.training import Callback, Optimization, build_optimizer, train_loop

    model = torch.nn.Linear(2, 1)
    optimization = Optimization(model, build_optimizer(model, lr=0.1, weight_decay=0.0), torch.device("cpu"))
    ended = []

    class End(Callback):
        def on_train_end(self, state):
            ended.append(state.error)

    def step(batch, state):
        loss = model(torch.ones(1, 2)).sum()
        optimization.finish_step(optimization.backward(loss))

    interrupt_at(2)
    with pytest.raises(KeyboardInterrupt):
        train_loop([range(5)], step, optimization=optimization, lr_multiplier=lambda p: 1.0, total_steps=5,
                   callbacks=[End()])
    assert len(ended) == 1 and isinstance(ended[0], KeyboardInterrupt)
