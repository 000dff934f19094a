"""HyenaPretrainer: learning on a real genome, warm-up, resumption, multi-process equality, scoring, errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from dnaestim import HyenaClassifier, HyenaPretrainer, load_pretrained
from dnaestim.nn import HyenaConfig, HyenaLM
from dnaestim.genome import GenomeSource, Region
from dnaestim.genome import bundled_genome_path
from dnaestim.training import NonFiniteLossError
from dnaestim.training import Stage, WarmupSchedule

GENOME = bundled_genome_path()
TINY = dict(d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3)


def tiny(**kw):
    params = dict(TINY, max_length=64, batch_size=4, max_steps=8, eval_interval=4, validation_windows=8,
                  random_state=0)
    params.update(kw)
    return HyenaPretrainer(**params)


def test_loss_falls_on_a_real_genome_within_seconds():
    pre = HyenaPretrainer(d_model=32, n_layer=2, max_length=256, batch_size=8, max_steps=100, eval_interval=20,
                          validation_windows=16, learning_rate_init=3e-3, random_state=0).fit(GENOME)
    losses = [h["loss"] for h in pre.history_]
    assert np.mean(losses[-10:]) < np.mean(losses[:5]) - 0.5
    valid = [h["valid_bits_per_nt"] for h in pre.history_ if h["valid_loss"] is not None]
    assert valid[-1] < valid[0]
    assert valid[-1] < 1.97  # below the 2 bits/nt of a uniform guess over A, C, G, T
    assert pre.n_iter_ == 100 and pre.tokens_seen_ == sum(h["length"] * h["batch_size"] for h in pre.history_)


def test_verbose_prints_a_row_per_evaluation_to_stderr(capsys):
    tiny(max_length=64, max_steps=6, eval_interval=2, validation_windows=4, verbose=1).fit(bundled_genome_path())
    lines = capsys.readouterr().err.splitlines()
    assert "bits/nt" in lines[0] and "train loss" in lines[0]
    assert [line.split()[0] for line in lines[2:]] == ["2", "4", "6"]


def test_score_reads_a_fasta_file_as_fit_does_iupac_codes_as_n(tmp_path):
    fasta = tmp_path / "iupac.fa"
    fasta.write_text(">chr1\n" + "ACGTRYACGTAAKMCCGGTTAC" * 10 + "\n>chr2\n" + "GGCCTTAAWS" * 20 + "\n")
    pre = tiny(max_steps=2, validation_windows=2).fit(fasta)
    as_n = [seq.translate(str.maketrans("RYKMWS", "NNNNNN")) for seq in ("ACGTRYACGTAAKMCCGGTTAC" * 10,
                                                                          "GGCCTTAAWS" * 20)]
    assert pre.score(fasta) == pytest.approx(pre.score(as_n), rel=1e-6)
    with pytest.raises(ValueError, match="character 'R'"):
        pre.score(["ACGTRY"])
    assert tiny(max_steps=2, validation_windows=2, unknown="N").fit(fasta).score(["ACGTRY"]) < 0


def test_warmup_stages_advance_with_constant_tokens_per_step():
    pre = tiny(max_length=128, batch_size=2, max_steps=12, length_warmup="auto").fit(GENOME)
    lengths = [h["length"] for h in pre.history_]
    assert lengths == [64] * 6 + [128] * 6
    assert {h["length"] * h["batch_size"] for h in pre.history_} == {256}
    assert [s.length for s in pre.schedule_.stages] == [64, 128]


def test_explicit_warmup_schedule():
    stages = [{"length": 16, "steps": 2}, (32, 3), {"length": 64, "steps": 1, "batch_size": 1}]
    pre = tiny(length_warmup=stages, max_steps=8).fit(GENOME)
    assert [h["length"] for h in pre.history_] == [16, 16, 32, 32, 32, 64, 64, 64]
    assert [h["batch_size"] for h in pre.history_] == [16, 16, 8, 8, 8, 1, 1, 1]


def test_schedule_lookup_and_auto_stages():
    schedule = WarmupSchedule.build("auto", max_length=1024, batch_size=8, max_steps=1000)
    assert [s.length for s in schedule.stages] == [64, 128, 256, 512, 1024]
    assert {s.length * s.batch_size for s in schedule.stages} == {8192}
    assert schedule.total_steps == 1000 and schedule.stages[-1].steps == 500
    assert schedule.stage(0).length == 64 and schedule.stage(999).length == 1024 and schedule.stage(5000).length == 1024
    assert WarmupSchedule.build(None, max_length=64, batch_size=2, max_steps=5).stages == [Stage(64, 2, 5)]


@pytest.mark.parametrize(
    "length_warmup, message",
    [
        ("cosine", "length_warmup must be 'auto', None or a list"),
        ([{"length": 16}], "must have keys 'length' and 'steps'"),
        ([(16, 0)], "steps must be a positive int"),
        ([(128, 2)], "length 128, more than max_length=64"),
        ([(16, 20)], "add up to 20 steps, more than max_steps=8"),
        ([3], r"must be a dict or a \(length, steps\) pair"),
    ],
)
def test_bad_warmup_schedules(length_warmup, message):
    with pytest.raises(ValueError, match=message):
        tiny(length_warmup=length_warmup).fit(GENOME)


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    """Kill (simulated) after step 6 with checkpoints every 4 steps: resuming reaches the same weights."""
    # On the CPU: CUDA's atomic-add kernels (embedding backward) are not bitwise reproducible.
    params = dict(max_steps=10, checkpoint_interval=4, embed_dropout=0.1, length_warmup=[(32, 3), (64, 7)], device="cpu")
    full = tiny(**params, checkpoint_dir=tmp_path / "full").fit(GENOME)

    original = HyenaPretrainer._optimizer_step
    calls = {"n": 0}

    def crash_after_six(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 6:
            raise RuntimeError("killed")  # a crash (Ctrl-C would end fit cleanly: tests/test_interrupt.py)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HyenaPretrainer, "_optimizer_step", crash_after_six)
    with pytest.raises(RuntimeError, match="killed"):
        tiny(**params, checkpoint_dir=tmp_path / "crashed").fit(GENOME)
    monkeypatch.setattr(HyenaPretrainer, "_optimizer_step", original)
    saved = torch.load(tmp_path / "crashed" / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 4  # at most one checkpoint interval of work lost

    resumed = tiny(**params, checkpoint_dir=tmp_path / "crashed").fit(GENOME, resume=True)
    assert resumed.n_iter_ == full.n_iter_ == 10
    for key, value in full.model_.state_dict().items():
        assert torch.equal(resumed.model_.state_dict()[key], value), key
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in full.history_]


def test_resume_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint to resume from"):
        tiny().fit(GENOME, resume=tmp_path / "nothing.pt")
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        tiny().fit(GENOME, resume=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read"):
        tiny().fit(GENOME, resume=tmp_path)
    tiny(checkpoint_dir=tmp_path / "run", max_steps=4, checkpoint_interval=2).fit(GENOME)
    with pytest.raises(ValueError, match="another architecture"):
        tiny(d_model=8, checkpoint_dir=tmp_path / "run", max_steps=4).fit(GENOME, resume=True)


def test_save_pretrained_round_trip_and_classifier_from_pretrainer(tmp_path):
    pre = tiny(device="cpu").fit(GENOME)
    pre.save_pretrained(tmp_path / "model")
    loaded = load_pretrained(tmp_path / "model")
    ids = torch.randint(7, 12, (2, 40))
    with torch.inference_mode():
        torch.testing.assert_close(loaded(ids), pre.model_(ids), rtol=0, atol=0)
    X = ["ACGTACGTACGTAAAA", "TTTTGGGGCCCCAAAA"] * 10
    y = [0, 1] * 10
    clf = HyenaClassifier(pretrained=pre, max_iter=1, early_stopping=False, random_state=0).fit(X, y)
    assert clf.model_.config.d_model == 16
    with pytest.raises(ValueError, match="unfitted HyenaPretrainer"):
        HyenaClassifier(pretrained=HyenaPretrainer()).fit(X, y)


def test_log_likelihood_and_score_match_the_model():
    pre = tiny(device="cpu").fit(GENOME)  # float32 (on CUDA "auto" precision is bf16)
    seqs = ["ACGTTGCAACGT", "GGGCCCAAATTTGGG"]
    ll = pre.log_likelihood(seqs)
    ids = torch.tensor([[7, 8, 9, 10, 10, 9, 8, 7, 7, 8, 9, 10]])
    with torch.inference_mode():
        log_p = torch.log_softmax(pre.model_(ids[:, :-1]).double(), -1)
    expected = log_p.gather(-1, ids[:, 1:, None]).sum().item()
    assert ll[0] == pytest.approx(expected, rel=1e-5)
    assert pre.score(seqs) == pytest.approx(ll.sum() / (11 + 14), rel=1e-9)
    long = "ACGT" * 40  # longer than l_max=64: scored in chunks
    assert np.isfinite(pre.log_likelihood([long])[0])
    with pytest.raises(ValueError, match=r"X\[0\] has 1 nucleotide"):
        pre.log_likelihood(["A"])
    assert pre.score(str(GENOME)) < 0
    one_pass = pre.log_likelihood(seqs + [long])
    chunked = pre.set_params(chunk_size=5).log_likelihood(seqs + [long])  # same numbers up to float rounding
    np.testing.assert_allclose(chunked, one_pass, rtol=1e-5)


def test_in_memory_sequences_and_pickling(tmp_path):
    import pickle

    rng = np.random.RandomState(0)
    seqs = ["".join(rng.choice(list("ACGT"), 500)) for _ in range(4)]
    pre = tiny().fit(seqs)
    again = pickle.loads(pickle.dumps(pre))
    np.testing.assert_allclose(again.log_likelihood(seqs[:1]), pre.log_likelihood(seqs[:1]))


def test_global_random_state_untouched_and_reproducible():
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    a = tiny().fit(GENOME)
    assert torch.rand(1) == expected
    b = tiny().fit(GENOME)
    for key, value in a.model_.state_dict().items():
        assert torch.equal(b.model_.state_dict()[key], value)


def test_non_finite_loss_is_reported_with_the_step(monkeypatch):
    original = torch.nn.functional.cross_entropy

    def nan_loss(*args, **kwargs):
        return original(*args, **kwargs) * float("nan")

    monkeypatch.setattr("dnaestim.estimators._pretrainer.F.cross_entropy", nan_loss)
    with pytest.raises(NonFiniteLossError, match="optimiser step 1"):
        tiny().fit(GENOME)


def test_batched_loss_check_names_the_first_bad_step():
    """On accelerators losses are read back every ``check_every`` steps; a NaN is still caught, by step number,
    before the step that checks it updates the weights."""
    from dnaestim.training import Optimization, build_optimizer

    model = torch.nn.Linear(3, 1)
    step = Optimization(model, build_optimizer(model, lr=0.1, weight_decay=0.0), torch.device("cpu"), check_every=3)
    x = torch.ones(4, 3)
    assert step.step(model(x).pow(2).mean()) == {}  # step 1: not read back yet
    assert step.step(model(x).mean() * float("nan")) == {}  # step 2: NaN, not read back yet
    with pytest.raises(NonFiniteLossError, match="optimiser step 2"):
        step.step(model(x).pow(2).mean())  # step 3: the check is due
    assert step.step_count == 2  # step 3 took no optimiser step

    model = torch.nn.Linear(3, 1)
    good = Optimization(model, build_optimizer(model, lr=0.1, weight_decay=0.0), torch.device("cpu"), check_every=2)
    assert good.step(model(x).pow(2).mean()) == {}
    checked = good.step(model(x).pow(2).mean())
    assert sorted(checked) == [1, 2] and all(np.isfinite(list(checked.values())))


def test_pretrainer_history_has_every_loss():
    pre = tiny().fit(GENOME)
    assert [r["step"] for r in pre.history_] == list(range(1, pre.n_iter_ + 1))
    assert all(np.isfinite(r["loss"]) and r["perplexity"] == pytest.approx(np.exp(r["loss"])) for r in pre.history_)


def _fasta(path, records):
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n{seq}\n")
    return path


@pytest.mark.parametrize(
    "make, kwargs, error, message",
    [
        (lambda d: d / "missing.fa", {}, FileNotFoundError, r"missing.fa does not exist"),
        (lambda d: _fasta(d / "g.fa", {"chr1": "ACGT" * 100}), {"intervals": [("chrZ", 0, 10)]}, KeyError,
         r"Record 'chrZ' of interval chrZ:0-10 is not in .*g.fa; it has: chr1"),
        (lambda d: _fasta(d / "g.fa", {"chr1": "ACGT" * 100}), {"intervals": [("chr1", 300, 900)]}, ValueError,
         r"Interval chr1:300-900 is outside the record, which has 400 bases"),
        (lambda d: _fasta(d / "empty.fa", {}), {}, ValueError, r"holds no sequence|not .*FASTA|Cannot read"),
    ],
)
def test_bad_genome_input(tmp_path, make, kwargs, error, message):
    path = make(tmp_path)
    with pytest.raises(error, match=message):
        tiny().fit(path, **kwargs)


def test_bed_intervals_and_bad_bed(tmp_path):
    genome = _fasta(tmp_path / "g.fa", {"chr1": "ACGT" * 500, "chr2": "GGCC" * 500})
    bed = tmp_path / "train.bed"
    bed.write_text("track name=x\nchr1\t0\t1500\nchr2\t100\t2000\n")
    pre = tiny(max_steps=2).fit(genome, intervals=bed)
    assert pre.n_iter_ == 2
    bad = tmp_path / "bad.bed"
    bad.write_text("chr1\tten\t20\n")
    with pytest.raises(ValueError, match=r"bad.bed, line 1: start and end must be integers"):
        tiny().fit(genome, intervals=bad)


def test_record_names_repeated_across_files_are_qualified_by_file(tmp_path):
    worm = _fasta(tmp_path / "worm.fa", {"X": "ACGT" * 300, "I": "AACC" * 300})
    fly = _fasta(tmp_path / "fly.fasta", {"X": "GGTT" * 250, "2L": "CATG" * 250})
    source = GenomeSource(fasta=[worm, fly], validation_fraction=0)
    assert source.records == {"worm:X": 1200, "I": 1200, "fly:X": 1000, "2L": 1000}
    # Each qualified name reads its own file's record, and file_of names that file.
    assert [source.file_of(r) for r in source.records] == [str(worm), str(worm), str(fly), str(fly)]
    with pytest.raises(KeyError, match=r"Record 'X' is not in this genome; it has: worm:X, I, fly:X, 2L"):
        source.file_of("X")
    assert GenomeSource(sequences=["ACGT"], validation_fraction=0).file_of("0") is None
    assert source.read([source.region("worm:X", 0, 8), source.region("fly:X", 0, 8)]) == ["ACGTACGT", "GGTTGGTT"]
    # Validation parts stay with their file; windows never mix the two X records.
    split = GenomeSource(fasta=[worm, fly], validation_fraction=0.25, min_validation_length=1)
    assert {(r.record, r.start, r.end) for r in split.valid_regions} >= {("worm:X", 900, 1200), ("fly:X", 750, 1000)}
    windows = split.sample_windows(16, 64, seed=0, step=0)
    assert all(set(w) <= set("ACGT") and (w in "ACGT" * 300 or w in "GGTT" * 250 or w in "AACC" * 300
                                          or w in "CATG" * 250) for w in windows)
    # The pretrainer takes both files and qualified BED intervals; a bare repeated name is refused by name.
    pre = tiny(max_steps=2).fit([worm, fly], intervals=[("fly:X", 0, 800), ("I", 0, 1000)])
    assert pre.n_iter_ == 2
    with pytest.raises(KeyError, match=r"Record 'X' of interval X:0-10 is in several files; name it by its file: "
                                       r"'worm:X', 'fly:X'"):
        tiny().fit([worm, fly], intervals=[("X", 0, 10)])


def test_record_name_repeated_within_one_file_is_an_error(tmp_path):
    genome = tmp_path / "dup.fa"
    genome.write_text(">chr1\nACGT\n>chr1\nGGGG\n")
    with pytest.raises(ValueError, match=r"chr1|[Dd]uplicate"):
        GenomeSource(fasta=[genome])


def test_same_fasta_file_twice_is_an_error(tmp_path):
    genome = _fasta(tmp_path / "worm.fa", {"X": "ACGT" * 300})
    with pytest.raises(ValueError, match=r"FASTA file .*worm.fa is given twice"):
        GenomeSource(fasta=[genome, tmp_path / "." / "worm.fa"])


def test_hand_built_region_of_a_qualified_record_reads_its_file(tmp_path):
    worm = _fasta(tmp_path / "worm.fa", {"X": "ACGT" * 300})
    fly = _fasta(tmp_path / "fly.fa", {"X": "GGTT" * 250})
    source = GenomeSource(fasta=[worm, fly], validation_fraction=0)
    assert source.read([Region(str(fly), "fly:X", 4, 12)]) == ["GGTTGGTT"]


def test_sequence_input_errors():
    with pytest.raises(ValueError, match=r"Sequence 1 has the character 'X'"):
        tiny().fit(["ACGTACGTAC" * 10, "ACGXAC" * 10])
    with pytest.raises(ValueError, match="max_length must be an int >= 2"):
        tiny(max_length=1).fit(GENOME)


def _run(args, env_threads="1"):
    env = dict(os.environ, OMP_NUM_THREADS=env_threads, PYTHONWARNINGS="ignore")
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


def test_two_process_gloo_run_equals_one_process(tmp_path):
    """torchrun with 2 CPU processes (gloo) ends with the same weights as 1 process with the same global batch."""
    common = ["pretrain", str(GENOME), "--device", "cpu", "--d-model", "16", "--n-layer", "1", "--max-length", "64",
              "--batch-size", "4", "--max-steps", "6", "--embed-dropout", "0", "--eval-interval", "3",
              "--seed", "0", "--precision", "32"]  # "auto" trains in bf16 on CPUs with bfloat16 units
    single = _run([sys.executable, "-m", "dnaestim", *common, "--output", str(tmp_path / "one")])
    assert single.returncode == 0, single.stderr[-3000:]
    double = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                   "-m", "dnaestim", *common, "--output", str(tmp_path / "two")])
    assert double.returncode == 0, double.stderr[-3000:]
    assert "on 2 process(es)" in double.stdout
    one, two = load_pretrained(tmp_path / "one"), load_pretrained(tmp_path / "two")
    for key, value in one.state_dict().items():
        torch.testing.assert_close(two.state_dict()[key], value, rtol=1e-4, atol=1e-6, msg=key)
    history_one = json.loads((tmp_path / "one" / "history.json").read_text())
    history_two = json.loads((tmp_path / "two" / "history.json").read_text())
    np.testing.assert_allclose([h["loss"] for h in history_two], [h["loss"] for h in history_one], rtol=1e-4)


def test_two_process_run_with_a_time_budget_stops_on_the_same_step(tmp_path):
    """With max_time every rank reads rank 0's clock, so both leave the loop after the same step (a rank that
    stopped one step early would leave the other waiting in the gradient all-reduce forever)."""
    common = ["pretrain", str(GENOME), "--device", "cpu", "--d-model", "16", "--n-layer", "1", "--max-length", "64",
              "--batch-size", "4", "--max-steps", "100000", "--max-time", "4", "--eval-interval", "1000",
              "--seed", "0", "--precision", "32", "--output", str(tmp_path / "out")]
    result = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                   "-m", "dnaestim", *common])
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    # The last step's record is taken just before the budget may run out; the loop then stops before the next step.
    assert 1 < len(history) < 100000 and history[-1]["seconds"] >= 3.5


@pytest.mark.parametrize("job", ["embed", "score"])
def test_genome_job_sharded_over_two_processes_equals_one(tmp_path, job):
    from dnaestim import HyenaConfig, HyenaLM, save_pretrained

    torch.manual_seed(0)
    save_pretrained(HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=256)), tmp_path / "ckpt")
    common = [f"{job}-genome", str(GENOME), "--device", "cpu", "--checkpoint", str(tmp_path / "ckpt"), "--window", "256",
              "--intervals", str(_bed(tmp_path))]
    one = _run([sys.executable, "-m", "dnaestim", *common, "--output", str(tmp_path / "one.npz")])
    assert one.returncode == 0, one.stderr[-3000:]
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                "-m", "dnaestim", *common, "--output", str(tmp_path / "two.npz")])
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert a.files == b.files
    for key in a.files:
        if a[key].dtype.kind == "f":
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(a[key], b[key])
    assert len(a["start"]) == 4 + 3  # 1000 bp -> 4 windows (last one short), 600 bp -> 3
    assert not list(tmp_path.glob("*.rank*"))  # shards merged and removed


def _bed(tmp_path):
    bed = tmp_path / "regions.bed"
    bed.write_text("Homo_sapiens_MT\t0\t1000\nPongo_MT\t200\t800\n")
    return bed


_SESSION_SCRIPT = """
import os, sys, torch
from dnaestim.distributed import distributed_session, rank_and_world

threads = lambda: len(os.listdir("/proc/self/task"))
before = threads()
with distributed_session("cpu"):
    assert rank_and_world()[1] == 2
    torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))])  # imports torch.distributed.nn lazily
    objects = [None, None]
    torch.distributed.all_gather_object(objects, {"rank": rank_and_world()[0]})
    assert threads() > before
assert threads() == before, (before, threads())  # gloo's worker threads joined: none left for interpreter exit
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_leaving_the_distributed_session_ends_the_process_groups_threads(tmp_path):
    """Leaving :func:`distributed_session` destroys the process group for real: its gloo worker threads stop.
    Left running (a reference torch.distributed.nn took at import), they could abort the process at exit."""
    script = tmp_path / "session.py"
    script.write_text(_SESSION_SCRIPT)
    result = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)])
    assert result.returncode == 0, result.stderr[-3000:]


def test_more_processes_than_gpus_is_a_clear_error(monkeypatch):
    from dnaestim.distributed import init_from_environment

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"LOCAL_RANK=1 .* only 1 CUDA device.*--nproc_per_node.*--device cpu"):
        init_from_environment("auto")


def test_pretrained_backbone_takes_the_pretrainers_dropout_and_gradient_checkpointing():
    """Continuing from a pretrained model applies the pretrainer's training options to it (they were ignored)."""
    lm = HyenaLM(HyenaConfig(d_model=16, n_layer=2, d_inner=32, filter_order=8, emb_dim=3, l_max=64))
    pre = HyenaPretrainer(pretrained=lm, max_length=64, batch_size=4, max_steps=2, validation_windows=4,
                          embed_dropout=0.2, resid_dropout=0.05, gradient_checkpointing=True, random_state=0)
    pre.fit(GENOME)
    layers = pre.model_.backbone.layers
    assert all(layer.checkpoint_mixer and layer.checkpoint_mlp for layer in layers)
    assert layers[0].dropout1.p == 0.2 and layers[1].dropout1.p == 0.05 and layers[0].dropout2.p == 0.05
    assert pre.model_.config.checkpoint_mixer and pre.model_.config.embed_dropout == 0.2
