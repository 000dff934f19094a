"""dnaestim.save / dnaestim.load: every estimator round-trips exactly, and nothing but the known format loads."""

import builtins
import errno
import importlib
import json
import math
import os
import pickle
import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

import dnaestim
import dnaestim.persistence as persistence
from dnaestim import (CheckpointError, HyenaClassifier, HyenaConfig, HyenaEmbedder, HyenaLM, HyenaPretrainer,
                      HyenaRegressor, InconsistentVersionWarning, SoftPromptClassifier, load, save,
                      save_pretrained)
from dnaestim.training import WarmupSchedule

rng = np.random.RandomState(0)
SEQS = ["".join(rng.choice(list("ACGT"), size=rng.randint(8, 24))) for _ in range(24)]
LABELS = np.array(["x", "y", "z"] * 8)
MULTI = pd.DataFrame({"p": [1, 0, 1, 0] * 6, "q": [0, 1, 1, 0] * 6})
TARGETS = np.c_[np.arange(24.0), np.sin(np.arange(24.0)) * 100 + 7]
TINY = dict(pretrained=None, d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3)
FIT = dict(max_iter=2, batch_size=8)
QUERIES = SEQS[:7] + ["ACGTNACGT", "A" * 30]


def tiny_lm(seed=0, l_max=256):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return HyenaLM(HyenaConfig(d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3, l_max=l_max))


def _single_label():
    return HyenaClassifier(**TINY, **FIT, validation_fraction=0.25, class_weight={"x": 2.0}, random_state=0).fit(
        pd.DataFrame({"sequence": SEQS}), LABELS)


def _multi_label():
    return HyenaClassifier(**TINY, **FIT, early_stopping=False, class_weight="balanced", unknown="N",
                           random_state=np.random.RandomState(3)).fit(SEQS, MULTI)


def _regressor():
    return HyenaRegressor(**TINY, **FIT, early_stopping=False, standardize_target=True, freeze_backbone=True,
                          precision="64", device=torch.device("cpu"), random_state=0).fit(SEQS, TARGETS)


def _embedder():
    return HyenaEmbedder(**TINY, pooling="last", rc_average=True, random_state=0).fit(SEQS)


def _pretrainer():
    return HyenaPretrainer(**{k: v for k, v in TINY.items() if k != "pretrained"}, max_length=32, batch_size=4,
                           max_steps=4, eval_interval=2, validation_windows=2, length_warmup=[(16, 2)],
                           random_state=0).fit(SEQS)


def _soft_prompt():
    return SoftPromptClassifier(pretrained=tiny_lm(), n_prompt_tokens=3, n_shots=1, head="linear",
                                label_tokens=("A", "G", "N"), early_stopping=False, random_state=0, **FIT).fit(
        SEQS, LABELS)


def _from_pretrainer():
    """A classifier whose ``pretrained`` is a fitted pretrainer: a nested estimator, saved whole."""
    return HyenaClassifier(pretrained=_pretrainer(), **FIT, early_stopping=False, random_state=0).fit(
        SEQS, LABELS[:24] == "x")


BUILDERS = {"single-label": _single_label, "multi-label": _multi_label, "regressor": _regressor,
            "embedder": _embedder, "pretrainer": _pretrainer, "soft-prompt": _soft_prompt,
            "from-pretrainer": _from_pretrainer}


def quietly(builder):
    """The estimator ``builder`` fits, without the ConvergenceWarning of a two-epoch fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return builder()


@pytest.fixture(scope="module", params=list(BUILDERS))
def fitted(request):
    return quietly(BUILDERS[request.param])


@pytest.fixture(scope="module")
def embedder():
    return _embedder()


@pytest.fixture
def saved(embedder, tmp_path):
    """A saved embedder and its parsed estimator.json."""
    path = save(embedder, tmp_path / "saved")
    return path, json.loads((path / "estimator.json").read_text())


def rewrite(path, document):
    (path / "estimator.json").write_text(json.dumps(document))


# -- exact equality --------------------------------------------------------------------------------------------


def assert_same(a, b, where="estimator"):
    """``a`` and ``b`` hold the same values of the same types (tensors and arrays bitwise)."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, (HyenaClassifier, HyenaRegressor, HyenaEmbedder, HyenaPretrainer, SoftPromptClassifier)):
        assert list(vars(a)) == list(vars(b)), where
        for name in vars(a):
            assert_same(vars(a)[name], vars(b)[name], f"{where}.{name}")
    elif isinstance(a, torch.nn.Module):
        config_a, config_b = (a.lm.config, b.lm.config) if hasattr(a, "lm") else (a.config, b.config)
        assert config_a == config_b and config_a.extra == config_b.extra, where
        state_a, state_b = a.state_dict(), b.state_dict()
        assert list(state_a) == list(state_b), where
        for key in state_a:
            assert state_a[key].dtype == state_b[key].dtype and state_a[key].device == state_b[key].device, key
            assert torch.equal(state_a[key], state_b[key]), f"{where}/{key}"
        assert [(n, p.requires_grad) for n, p in a.named_parameters()] == \
               [(n, p.requires_grad) for n, p in b.named_parameters()], where
        assert [(n, m.training) for n, m in a.named_modules()] == [(n, m.training) for n, m in b.named_modules()]
        assert repr(a) == repr(b), where  # same structure, dropout rates and all
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        if a.dtype == object:
            for i, (x, y) in enumerate(zip(a.ravel(), b.ravel())):
                assert_same(x, y, f"{where}[{i}]")
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.requires_grad == b.requires_grad and torch.equal(a, b), where
    elif isinstance(a, np.random.RandomState):
        assert_same(a.get_state(legacy=True), b.get_state(legacy=True), where)
    elif isinstance(a, WarmupSchedule):
        assert a.stages == b.stages and a.boundaries == b.boundaries, where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def outputs(est):
    """Everything the estimator computes from sequences (the last query is cut, with a warning)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "1 sequence.* longer than", UserWarning)
        return _outputs(est)


def _outputs(est):
    if isinstance(est, HyenaEmbedder):
        return {"transform": est.transform(QUERIES)}
    if isinstance(est, HyenaPretrainer):
        return {"log_likelihood": est.log_likelihood(QUERIES), "score": est.score(QUERIES),
                "generate": est.generate(["ACGTAC", "GG"], 8, random_state=0)}
    if isinstance(est, HyenaRegressor):
        return {"predict": est.predict(QUERIES), "score": est.score(SEQS, TARGETS)}
    return {"predict": est.predict(QUERIES), "predict_proba": est.predict_proba(QUERIES),
            "decision_function": est.decision_function(QUERIES)}


def test_round_trip_is_exact(fitted, tmp_path):
    path = save(fitted, tmp_path / "est")
    assert sorted(p.name for p in path.iterdir()) == ["estimator.json", "model.safetensors"]
    before = torch.get_rng_state()
    loaded = load(path)
    assert torch.equal(torch.get_rng_state(), before)  # building the model left the global generator alone
    assert_same(fitted, loaded)
    assert_same(fitted.get_params(deep=False), loaded.get_params(deep=False))
    expected, got = outputs(fitted), outputs(loaded)
    for name in expected:
        assert_same(expected[name], got[name], name)
    assert_same(loaded, load(save(loaded, tmp_path / "again")))  # and again


def test_what_the_round_trip_covers(tmp_path):
    """The fixtures exercise the converters they are meant to (a guard against a quietly simpler fixture)."""
    single, multi, reg = quietly(_single_label), quietly(_multi_label), quietly(_regressor)
    assert single.feature_names_in_.dtype == object and single.classes_.dtype.kind == "U"
    assert isinstance(multi.random_state, np.random.RandomState) and multi._pos_weight.dtype == np.float64
    assert reg.model_.head.weight.dtype == torch.float64 and not reg.model_.backbone.embeddings.word_embeddings \
        .weight.requires_grad
    assert single.model_.length_feature and single.model_.length_scale > 0  # its buffers go through the file
    soft = quietly(_soft_prompt)
    assert isinstance(soft.demonstrations_[0], tuple) and isinstance(soft._spec["demo_ids"], torch.Tensor)
    document = json.loads((save(soft, tmp_path / "soft") / "estimator.json").read_text())
    assert document["estimator"]["params"]["label_tokens"] == {"__type__": "tuple", "items": ["A", "G", "N"]}


def test_files_from_before_the_length_feature_load(tmp_path):
    """Files written before ``length_feature`` existed lack the parameter, the fitted attribute and the module's
    key: they load, and their heads read the pooled vector only."""
    clf = quietly(lambda: HyenaClassifier(**TINY, **FIT, length_feature=False, random_state=0).fit(SEQS, LABELS))
    path = save(clf, tmp_path / "old")
    document = json.loads((path / "estimator.json").read_text())
    removed = []

    def strip(node):
        if isinstance(node, dict):
            for key in ("length_feature", "length_feature_"):
                if key in node:
                    removed.append(key)
                    del node[key]
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(document)
    assert sorted(removed) == ["length_feature", "length_feature", "length_feature_"]
    rewrite(path, document)
    loaded = load(path)
    assert not loaded.model_.length_feature and loaded.length_feature is False and loaded.length_feature_ is False
    assert_same(outputs(clf), outputs(loaded))


def test_warm_start_continues_identically_after_loading(tmp_path):
    clf = quietly(_single_label)
    loaded = load(save(clf, tmp_path / "clf"))
    for est in (clf, loaded):
        est.set_params(warm_start=True, max_iter=1)
        quietly(lambda: est.fit(pd.DataFrame({"sequence": SEQS}), LABELS))
    assert_same(outputs(clf), outputs(loaded))
    assert clf.n_iter_ == loaded.n_iter_ == 3


def test_soft_prompt_without_backbone_refers_to_its_checkpoint(tmp_path):
    checkpoint = tmp_path / "lm"
    save_pretrained(tiny_lm(), checkpoint)
    params = dict(n_prompt_tokens=2, early_stopping=False, random_state=0, **FIT)
    full = SoftPromptClassifier(pretrained=str(checkpoint), **params).fit(SEQS, LABELS)
    small = SoftPromptClassifier(pretrained=str(checkpoint), keep_backbone=False, **params).fit(SEQS, LABELS)
    path = save(small, tmp_path / "small")
    assert (path / "model.safetensors").stat().st_size < (save(full, tmp_path / "full") / "model.safetensors") \
        .stat().st_size / 3
    loaded = load(path)
    assert_same(small, loaded)
    assert_same(outputs(small), outputs(loaded))
    save_pretrained(tiny_lm(seed=1), checkpoint)  # the checkpoint changes under the saved estimator
    with pytest.raises(ValueError, match="has changed since this SoftPromptClassifier was fitted"):
        load(path)
    shutil.rmtree(checkpoint)
    with pytest.raises(FileNotFoundError, match="does not exist any more"):
        load(path)


def test_unfitted_estimators_and_special_floats_round_trip(tmp_path):
    est = HyenaClassifier(pretrained=tmp_path / "somewhere", tol=float("inf"), class_weight={0: 1.5, "b": 2.0})
    est.note_ = {"nan": float("nan"), "__type__": "mine", 1: (np.int32(-4), np.float32(0.1), np.str_("s"), None)}
    est.counts_ = np.arange(6, dtype=np.uint32).reshape(2, 3)
    est.flags_ = np.array([True, False])
    loaded = load(save(est, tmp_path / "unfitted"))
    assert_same(est, loaded)
    assert isinstance(loaded.pretrained, os.PathLike)


def test_load_moves_the_model_where_asked_or_to_the_cpu_without_cuda(fitted, tmp_path, monkeypatch):
    path = save(fitted, tmp_path / "est")
    assert load(path, device="cpu").device_ == torch.device("cpu")
    document = json.loads((path / "estimator.json").read_text())
    text = json.dumps(document).replace('"device": "cpu"', '"device": "cuda:0"').replace(
        '{"__type__": "torch.device", "value": "cpu"}', '{"__type__": "torch.device", "value": "cuda:0"}')
    (path / "estimator.json").write_text(text)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="fitted on cuda:0, which is not available here"):
        loaded = load(path)
    assert loaded.device_ == torch.device("cpu")
    assert_same(outputs(fitted), outputs(loaded))
    with pytest.raises(ValueError, match="is not a device"):
        load(path, device="gpu please")


def test_another_version_warns(saved):
    path, document = saved
    document["dnaestim_version"] = "0.0.1"
    rewrite(path, document)
    with pytest.warns(InconsistentVersionWarning, match="saved by dnaestim 0.0.1 and is loaded by dnaestim"):
        load(path)


def test_no_code_runs_on_load(saved, monkeypatch):
    path, _ = saved

    def refuse(*args, **kwargs):
        raise AssertionError("load ran a code path that can execute code from a file")

    for owner, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load"),
                        (importlib, "import_module"), (builtins, "eval"), (builtins, "exec")]:
        monkeypatch.setattr(owner, name, refuse)
    assert isinstance(load(path), HyenaEmbedder)


# -- refusals ----------------------------------------------------------------------------------------------------


def test_unknown_estimator_class_is_refused(saved):
    path, document = saved
    document["estimator"]["class"] = "os.system"
    rewrite(path, document)
    with pytest.raises(CheckpointError, match=r"estimator.json: estimator names the estimator class 'os.system', "
                                              r"which is not one dnaestim.load builds"):
        load(path)


@pytest.mark.parametrize("node, message", [
    ({"__type__": "pickle", "data": "gASVDgAAAAAAAACMAm9zlIwGc3lzdGVtlJOULg=="}, "type tag 'pickle'"),
    ({"__type__": "builtins.eval", "value": "__import__('os')"}, "type tag 'builtins.eval'"),
    ({"__type__": ["tuple"], "items": []}, r"type tag \['tuple'\]"),
    ({"__type__": "torch.dtype", "value": "object"}, "torch dtype 'object'"),
    ({"__type__": "numpy.ndarray", "dtype": "|O8", "shape": [1], "items": [1]}, "numpy dtype '|O8'"),
    ({"__type__": "numpy.ndarray", "dtype": "<f8", "shape": [1], "tensor": "model.pkl"}, "has no tensor 'model.pkl'"),
    ({"__type__": "tuple", "items": [], "code": "x"}, r"has unknown \['code'\]"),
    ({"__type__": "torch.nn.Module", "class": "torch.nn.Sequential"}, "module class 'torch.nn.Sequential'"),
    ({"__type__": "estimator", "class": "sklearn.pipeline.Pipeline", "params": {}, "attributes": {}},
     "estimator class 'sklearn.pipeline.Pipeline'"),
])
def test_unknown_type_tags_and_kinds_are_refused(saved, node, message):
    path, document = saved
    document["estimator"]["attributes"]["max_length_"] = node
    rewrite(path, document)
    with pytest.raises(CheckpointError, match=message):
        load(path)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format_version=2), "format version 2, written by a newer dnaestim"),
    (lambda d: d.update(format_version="1"), "format_version '1'"),
    (lambda d: d.update(format="skops"), "is not a dnaestim estimator file"),
    (lambda d: d.update(extra=1), "must hold exactly the keys"),
    (lambda d: d["estimator"]["params"].update(payload=1), r"parameters it does not have: \['payload'\]"),
    (lambda d: d["estimator"]["attributes"].update(transform=1), "attribute 'transform'"),
    (lambda d: d["estimator"]["attributes"].update({"__class__": "os.system"}), "attribute '__class__'"),
    (lambda d: d["estimator"]["attributes"]["model_"]["config"].update(d_model=8), "do not match the module"),
    (lambda d: d["estimator"]["attributes"]["model_"]["config"].update(payload=8), "not a configuration dnaestim"),
    (lambda d: d["estimator"]["attributes"]["model_"].update(frozen=["os.system"]), "does not have"),
    (lambda d: d["estimator"]["attributes"]["model_"].update(tensors="other/"), "do not match the module"),
])
def test_edited_files_are_refused(saved, edit, message):
    path, document = saved
    edit(document)
    rewrite(path, document)
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_json_that_is_not_strict_is_refused(saved):
    path, _ = saved
    text = (path / "estimator.json").read_text()
    entry = re.search(r'"max_length_": \d+', text).group()
    (path / "estimator.json").write_text(text.replace(entry, '"max_length_": NaN'))
    with pytest.raises(CheckpointError, match="not valid JSON.*NaN"):
        load(path)
    (path / "estimator.json").write_text(text.replace(entry, entry + ', "max_length_": 1'))
    with pytest.raises(CheckpointError, match="appears twice"):
        load(path)


def test_truncated_or_replaced_tensors_are_refused(saved):
    path, _ = saved
    weights = path / "model.safetensors"
    blob = weights.read_bytes()
    weights.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors is not a readable safetensors file"):
        load(path)
    weights.write_bytes(pickle.dumps({"state_dict": {}}))  # a pickle under the safetensors name
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load(path)


def test_extra_or_retyped_tensors_are_refused(saved):
    from safetensors.torch import load_file, save_file

    path, _ = saved
    weights = path / "model.safetensors"
    tensors = load_file(weights)
    save_file({**tensors, "payload": torch.zeros(3)}, weights)
    with pytest.raises(CheckpointError, match="no entry of estimator.json refers to: payload"):
        load(path)
    key = next(k for k in tensors if k.endswith("word_embeddings.weight"))
    save_file({**tensors, key: tensors[key].double()}, weights)
    with pytest.raises(CheckpointError, match="word_embeddings.weight is torch.float64"):
        load(path)


def test_missing_and_foreign_files_are_refused(saved, tmp_path):
    path, _ = saved
    (path / "model.pkl").write_bytes(pickle.dumps(object()))
    with pytest.raises(CheckpointError, match="model.pkl.*never unpickles anything"):
        load(path)
    (path / "model.pkl").unlink()
    (path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        load(path)
    (path / "estimator.json").unlink()
    with pytest.raises(FileNotFoundError, match="estimator.json is missing"):
        load(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nothing")
    joblib_file = tmp_path / "model.joblib"
    joblib_file.write_bytes(b"\x80\x04")
    with pytest.raises(CheckpointError, match="is a file; dnaestim.save writes a directory"):
        load(joblib_file)
    save_pretrained(tiny_lm(), tmp_path / "checkpoint")
    with pytest.raises(FileNotFoundError, match="load it with dnaestim.load_pretrained"):
        load(tmp_path / "checkpoint")


# -- saving: refusals and atomicity ------------------------------------------------------------------------------


def test_values_without_a_converter_are_refused_before_writing(tmp_path):
    est = _embedder()
    est.extra_ = object()
    with pytest.raises(TypeError, match=r"Cannot save estimator.attributes.extra_: a builtins.object"):
        save(est, tmp_path / "a")
    del est.extra_
    est.set_params(batch_size=lambda: os.system("echo hi"))
    with pytest.raises(TypeError, match=r"estimator.params.batch_size.*it is code, and this format stores no code"):
        save(est, tmp_path / "a")
    est.set_params(batch_size=8)
    est.table_ = pd.DataFrame({"a": [1]})
    with pytest.raises(TypeError, match="pandas.*DataFrame"):
        save(est, tmp_path / "a")
    assert not (tmp_path / "a").exists() and not list(tmp_path.iterdir())
    with pytest.raises(TypeError, match="estimator must be one of HyenaClassifier"):
        save(torch.nn.Linear(2, 2), tmp_path / "a")


def test_save_writes_only_over_a_saved_estimator(embedder, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="todo.txt"):
        save(embedder, tmp_path / "notes")
    (tmp_path / "file").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not a directory"):
        save(embedder, tmp_path / "file")
    (tmp_path / "empty").mkdir()
    save(embedder, tmp_path / "empty")
    save(embedder, tmp_path / "empty")  # over itself
    assert isinstance(load(tmp_path / "empty"), HyenaEmbedder)
    assert (tmp_path / "notes" / "todo.txt").read_text() == (tmp_path / "file").read_text() == "keep me"


@pytest.mark.parametrize("failure", ["write", "rename", "interrupt"])
def test_failed_save_leaves_the_previous_one_loadable(tmp_path, monkeypatch, failure):
    old, new = _embedder(), quietly(_regressor)
    path = save(old, tmp_path / "model")
    real_rename, real_atomic_write = os.rename, persistence.atomic_write

    def failing_rename(src, dst):
        if str(src).endswith(".tmp"):  # the staging directory moving into place
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(src, dst)

    def failing_write(target, *args, **kwargs):
        if target.name == "estimator.json":
            if failure == "interrupt":
                raise KeyboardInterrupt
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_atomic_write(target, *args, **kwargs)

    if failure == "rename":
        monkeypatch.setattr(os, "rename", failing_rename)
    else:
        monkeypatch.setattr(persistence, "atomic_write", failing_write)
    with pytest.raises(KeyboardInterrupt if failure == "interrupt" else OSError) as info:
        save(new, path)
    if failure != "interrupt":
        assert "the estimator saved there before, if any, is unchanged" in str(info.value)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging or retired directory left
    assert_same(old, load(path))


def test_public_names():
    assert dnaestim.save is save and dnaestim.load is load
    assert {"save", "load"} <= set(dnaestim.__all__)
