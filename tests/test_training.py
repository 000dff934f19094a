"""The one training loop (dnaestim.training.train_loop) and its callbacks."""

import pytest
import torch

from dnaestim.training import Callback, EarlyStopping, Hooks, Optimization, TimeBudget, build_optimizer, train_loop


def _setup(lr=0.1):
    model = torch.nn.Linear(2, 1)
    optimization = Optimization(model, build_optimizer(model, lr=lr, weight_decay=0.0), torch.device("cpu"))
    return model, optimization


def _step(model, optimization):
    def train_step(batch, state):
        loss = (model(torch.ones(1, 2)) - batch).pow(2).mean()
        optimization.step(loss)
        state.extra.setdefault("lrs", []).append(optimization.optimizer.param_groups[0]["lr"])
    return train_step


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_step_end(self, state):
        self.events.append(("step", state.step, state.last))

    def on_epoch_end(self, state):
        self.events.append(("epoch", state.epoch))

    def on_train_end(self, state):
        self.events.append(("end", state.step))


def test_epochs_steps_schedule_and_callback_order():
    model, optimization = _setup()
    recorder = Recorder()
    state = train_loop([[1.0, 2.0], [3.0, 4.0]], _step(model, optimization), optimization=optimization,
                       lr_multiplier=lambda progress: 1 - progress, total_steps=4, callbacks=[recorder])
    assert recorder.events == [("step", 1, False), ("step", 2, False), ("epoch", 1), ("step", 3, False),
                               ("step", 4, True), ("epoch", 2), ("end", 4)]
    assert state.extra["lrs"] == pytest.approx([0.1, 0.075, 0.05, 0.025])  # progress 0, 1/4, 2/4, 3/4
    assert optimization.step_count == 4


def test_total_steps_end_an_endless_epoch_and_a_resumed_run_counts_from_its_start():
    model, optimization = _setup()
    recorder = Recorder()
    state = train_loop([iter(lambda: 0.0, None)], _step(model, optimization), optimization=optimization,
                       lr_multiplier=lambda p: 1.0, total_steps=10, start_step=7, callbacks=[recorder])
    assert state.step == 10 and [e for e in recorder.events if e[0] == "step"][-1] == ("step", 10, True)
    done = train_loop([iter(lambda: 0.0, None)], _step(model, optimization), optimization=optimization,
                      lr_multiplier=lambda p: 1.0, total_steps=10, start_step=10)
    assert done.step == 10  # nothing left to do


def test_a_callback_stops_training_and_the_end_hook_runs_even_on_errors():
    model, optimization = _setup()
    ended = []
    stop_at_three = Hooks(on_step_end=lambda s: setattr(s, "stop", s.step == 3), on_train_end=ended.append)
    state = train_loop([range(100)], _step(model, optimization), optimization=optimization,
                       lr_multiplier=lambda p: 1.0, total_steps=100, callbacks=[stop_at_three])
    assert state.step == 3 and ended == [state]

    def failing_step(batch, state):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_loop([range(5)], failing_step, optimization=optimization, lr_multiplier=lambda p: 1.0,
                   total_steps=5, callbacks=[stop_at_three])
    assert len(ended) == 2
    with pytest.raises(TypeError, match="on_step_ends"):
        Hooks(on_step_ends=print)


def test_a_spent_budget_ends_the_epoch_and_stretches_the_schedule():
    model, optimization = _setup()
    budget = TimeBudget(10.0, used=10.0)  # already spent (e.g. by a resumed run): no step is taken
    recorder = Recorder()
    state = train_loop([[0.0, 0.0]], _step(model, optimization), optimization=optimization,
                       lr_multiplier=lambda p: 1 - min(p, 1), total_steps=100, budget=budget, callbacks=[recorder])
    assert state.step == 0 and recorder.events == [("end", 0)]
    half = TimeBudget(10.0, used=5.0, schedule_start=0.0)  # a resumed run that began training at 0 s
    state = train_loop([[0.0]], _step(model, optimization), optimization=optimization,
                       lr_multiplier=lambda p: 1 - min(p, 1), total_steps=100, budget=half)
    # progress from the budget, not the steps: (0.5 - slack) / (1 - slack)
    assert state.extra["lrs"][0] == pytest.approx(0.1 * (1 - 0.45 / 0.95), abs=0.005)
    assert half.schedule_start == 0.0  # kept, not restarted


def test_set_up_time_and_a_clock_within_the_slack_leave_the_schedule_to_the_steps():
    model, optimization = _setup()
    set_up = TimeBudget(10.0, used=5.0)  # half the budget went on set-up (a probe, a strand check) before training
    state = train_loop([[0.0, 0.0]], _step(model, optimization), optimization=optimization,
                       lr_multiplier=lambda p: 1 - min(p, 1), total_steps=4, budget=set_up)
    assert state.extra["lrs"] == [0.1, 0.1 * (1 - 1 / 4)]  # exactly the step schedule: no clock jitter
    assert set_up.schedule_start == pytest.approx(5.0, abs=0.5)

    budget = TimeBudget(100.0)
    budget.begin_schedule()
    budget.start -= 4.0  # 4 % of the budget spent: within the slack
    assert budget.schedule_fraction() == 0.0
    budget.start -= 51.0  # 55 %
    assert budget.schedule_fraction() == pytest.approx((0.55 - TimeBudget.SLACK) / (1 - TimeBudget.SLACK), abs=1e-3)
    budget.start -= 100.0
    assert budget.schedule_fraction() == 1.0
    assert TimeBudget(None).schedule_fraction() == 0.0


def test_early_stopping_callback_keeps_and_restores_the_best_weights():
    model, optimization = _setup()
    stopper = EarlyStopping(patience=2, tol=0.0, model=model)
    losses = iter([1.0, 0.5, 0.7, 0.9, 0.1])
    snapshots = []

    def end_epoch(state):
        state.extra["valid_loss"] = next(losses)
        snapshots.append(model.weight.detach().clone())

    state = train_loop([[float(i)] for i in range(5)], _step(model, optimization), optimization=optimization,
                       lr_multiplier=lambda p: 1.0, total_steps=5, callbacks=[Hooks(on_epoch_end=end_epoch), stopper])
    assert state.step == 4 and stopper.best_epoch == 2  # stopped after two epochs without improvement
    torch.testing.assert_close(model.weight, snapshots[1])


def test_min_steps_trains_even_when_the_budget_is_spent_and_time_is_checked_before_every_step():
    model, optimization = _setup()
    spent = TimeBudget(10.0, used=10.0)
    state = train_loop([[0.0, 0.0], [0.0]], _step(model, optimization), optimization=optimization,
                       lr_multiplier=lambda p: 1.0, total_steps=3, budget=spent, min_steps=1)
    assert state.step == 1 and state.epoch == 1  # one step, its epoch ended, then time is up

    budget = TimeBudget(1000.0)

    class SpendTheBudget(Callback):
        def on_step_end(self, state):
            budget.start -= 2000.0  # an evaluation that took longer than the whole budget

    recorder = Recorder()
    state = train_loop([range(10)], _step(model, optimization), optimization=optimization,
                       lr_multiplier=lambda p: 1.0, total_steps=10, budget=budget,
                       callbacks=[SpendTheBudget(), recorder])
    assert state.step == 1 and recorder.events[-2:] == [("epoch", 1), ("end", 1)]


def test_early_stopping_keeps_the_current_weights_when_training_fails():
    model, optimization = _setup()
    stopper = EarlyStopping(patience=5, tol=0.0, model=model)
    stopper.best_state = {name: torch.zeros_like(p) for name, p in model.named_parameters()}

    def failing_step(batch, state):
        raise FloatingPointError("nan")

    with pytest.raises(FloatingPointError):
        train_loop([[0.0]], failing_step, optimization=optimization, lr_multiplier=lambda p: 1.0, total_steps=1,
                   callbacks=[stopper])
    assert model.weight.abs().sum() > 0


def test_fitted_estimators_keep_no_gradients():
    """The loop frees the last step's gradients: a fitted model is not twice its size in memory."""
    from dnaestim import HyenaClassifier, HyenaPretrainer

    clf = HyenaClassifier(pretrained=None, d_model=8, n_layer=1, max_iter=2, batch_size=4, early_stopping=False,
                          random_state=0)
    clf.fit(["ACGTACGTAA", "TTGACCATGA"] * 4, [0, 1] * 4)
    pre = HyenaPretrainer(d_model=8, n_layer=1, max_length=32, max_steps=2, random_state=0).fit(["ACGT" * 20])
    for model in (clf.model_, pre.model_):
        assert all(p.grad is None for p in model.parameters())


# -- length-grouped batches ----------------------------------------------------------------------------------------

import numpy as np  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from dnaestim.estimators._finetuning import length_grouped  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), batch_size=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_length_grouped_batches_are_a_permutation_with_the_short_batch_last(n, batch_size, seed):
    rng = np.random.RandomState(seed)
    widths = rng.randint(10, 5000, size=n)
    order = rng.permutation(n)
    grouped = length_grouped(order, widths, batch_size, rng)
    assert sorted(grouped.tolist()) == list(range(n))
    sizes = [len(grouped[i:i + batch_size]) for i in range(0, n, batch_size)]
    assert all(size == batch_size for size in sizes[:-1])  # only the last batch may be short


def test_length_grouped_batches_waste_less_padding_than_random_ones():
    rng = np.random.RandomState(0)
    widths = np.exp(rng.normal(7.3, 0.6, size=2000)).astype(int)  # log-normal, like enhancer lengths
    order = rng.permutation(len(widths))

    def padded(positions):
        return sum(widths[positions[i:i + 64]].max() * len(positions[i:i + 64]) for i in range(0, len(widths), 64))

    assert padded(order) / widths.sum() > 1.8
    assert padded(length_grouped(order, widths, 64, rng)) / widths.sum() < 1.25
    # ... and the batches differ from one epoch to the next
    again = length_grouped(order, widths, 64, rng)
    assert {tuple(sorted(b)) for b in np.split(again[:1984], 31)} != \
        {tuple(sorted(b)) for b in np.split(length_grouped(order, widths, 64, rng)[:1984], 31)}
