"""The bad-input catalogue: every public entry point, fed what users get wrong.

Each case names an entry point and a bad input, the exception type it must raise and a pattern its message must
match: the pattern pins both the offending item (which sequence, character, parameter, file) and the advice (what
to do). A case fails if the error comes from deep inside torch or numpy instead of our own checks.
"""

import json
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch

from dnaestim import (CheckpointError, DNATokenizer, HyenaClassifier, HyenaConfig, HyenaEmbedder, HyenaLM,
                      HyenaPretrainer, SoftPromptClassifier, load_pretrained, save_pretrained)
from dnaestim.datasets import load_bundled, load_csv, load_fasta_labeled, load_genomic_benchmark
from dnaestim.genome import bundled_genome_path, fetch_sequence, open_fasta

TINY = dict(pretrained=None, d_model=16, n_layer=1, d_inner=32, filter_order=8, emb_dim=3, max_iter=1, batch_size=8,
            early_stopping=False, random_state=0, device="cpu")
GOOD_X = ["ACGTACGTAC", "TTGACCATGA", "GGGCCCAAAT", "CATCATCATG"] * 3
GOOD_Y = [0, 1] * 6
GENOME = bundled_genome_path()
ROOT = Path(__file__).resolve().parent.parent


ARCHITECTURE = ("d_model", "n_layer", "d_inner", "filter_order", "emb_dim")


def clf(**kw):
    """A quick classifier: a tiny backbone from scratch, or ``pretrained`` (whose shape it keeps) when given."""
    params = {**TINY, **kw}
    if params["pretrained"] is not None:
        params = {k: v for k, v in params.items() if k not in ARCHITECTURE}
    return HyenaClassifier(**params)


@pytest.fixture(scope="module")
def fitted():
    return clf().fit(GOOD_X, GOOD_Y)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model"
    save_pretrained(HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64)), path)
    return path


def broken_copy(checkpoint, tmp_path, damage):
    """A copy of ``checkpoint`` with ``damage(directory)`` applied."""
    target = tmp_path / "broken"
    shutil.copytree(checkpoint, target)
    damage(target)
    return target


def _truncate_weights(directory):
    for weights in directory.iterdir():
        if weights.suffix in (".safetensors", ".ckpt", ".bin", ".pt"):
            weights.write_bytes(weights.read_bytes()[:100])


def _drop_weights(directory):
    for weights in directory.iterdir():
        if weights.name != "config.json":
            weights.unlink()


def _rename_keys(directory):
    from safetensors.torch import load_file, save_file

    for weights in list(directory.iterdir()):
        if weights.name != "config.json":
            weights.unlink()
    state = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64)).state_dict()
    save_file({f"encoder.{k}": v.clone() for k, v in state.items()}, directory / "model.safetensors")


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _pickle_with_code(directory):
    for weights in list(directory.iterdir()):
        if weights.name != "config.json":
            weights.unlink()
    torch.save({"state_dict": _Payload()}, directory / "weights.ckpt")


def _wrong_shapes(directory):
    from safetensors.torch import save_file

    for weights in list(directory.iterdir()):
        if weights.name != "config.json":
            weights.unlink()
    state = HyenaLM(HyenaConfig(d_model=32, n_layer=1, l_max=64)).state_dict()
    save_file({k: v.clone() for k, v in state.items()}, directory / "model.safetensors")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# Each case: (id, function of (tmp_path, fitted, checkpoint) that makes the bad call, exception, message pattern).
CASES = [
    # --- sequences given to estimators ---
    ("char-not-ACGTN", lambda t, f, c: clf().fit(["ACGTXACGT"] * 4, [0, 1] * 2),
     ValueError, r"Sequence 0 has the character 'X' at position 4.*Remove or replace it"),
    ("unknown-bad-value", lambda t, f, c: clf(unknown="skip").fit(["ACGT"] * 4, [0, 1] * 2),
     ValueError, r"unknown must be 'raise' .* or 'N'"),
    ("iupac-code", lambda t, f, c: f.predict(["ACGTRYACG"]),
     ValueError, r"Sequence 0 has the character 'R'.*unknown='N'"),
    ("empty-string", lambda t, f, c: f.predict(["ACGT", ""]),
     ValueError, r"X\[1\] is an empty sequence; remove it"),
    ("none-in-X", lambda t, f, c: f.predict(["ACGT", None]),
     TypeError, r"X\[1\] is missing.*drop or fill"),
    ("nan-in-X", lambda t, f, c: f.predict(np.array(["ACGT", np.nan], dtype=object)),
     TypeError, r"X\[1\] is missing.*drop or fill"),
    ("bytes-in-X", lambda t, f, c: f.predict([b"ACGT"]),
     TypeError, r"X\[0\] is bytes; decode it"),
    ("number-in-X", lambda t, f, c: f.predict(["ACGT", 42]),
     TypeError, r"X\[1\] is a int .*not a DNA string"),
    ("single-string-X", lambda t, f, c: f.predict("ACGTACGT"),
     TypeError, r"not a single str; wrap it in a list"),
    ("2d-X", lambda t, f, c: f.predict(np.array([["ACGT", "ACGT"], ["ACGT", "ACGT"]], dtype=object)),
     ValueError, r"X must be one-dimensional .*shape \(2, 2\)"),
    ("column-vector-X", lambda t, f, c: f.predict(np.array([["ACGT"], ["ACGT"]], dtype=object)),
     ValueError, r"shape \(2, 1\); pass a 1-D array.*ravel"),
    ("dataframe-2-columns", lambda t, f, c: f.predict(__import__("pandas").DataFrame({"a": ["AC"], "b": ["GT"]})),
     ValueError, r"DataFrame with 2 columns \(a, b\); pass the one column"),
    ("no-sequences", lambda t, f, c: clf().fit([], []),
     ValueError, r"X holds no sequences"),
    # --- labels ---
    ("mismatched-X-y", lambda t, f, c: clf().fit(GOOD_X, GOOD_Y[:-1]),
     ValueError, r"X has 12 sequences but y has 11 labels; give one label per sequence"),
    ("one-class", lambda t, f, c: clf().fit(GOOD_X, [1] * len(GOOD_X)),
     ValueError, r"one class.*(two|2)"),
    ("missing-label", lambda t, f, c: clf().fit(GOOD_X[:2], [0, None]),
     ValueError, r"y\[1\] is missing.*every sequence needs a label"),
    ("class-weight-unseen-label", lambda t, f, c: clf(class_weight={7: 2.0}).fit(GOOD_X, GOOD_Y),
     ValueError, r"class_weight names label 7, which is not in y"),
    ("negative-sample-weight", lambda t, f, c: clf().fit(GOOD_X, GOOD_Y, sample_weight=[-1.0] * 12),
     ValueError, r"sample_weight must be a 1-D array of finite, non-negative numbers"),
    ("soft-prompt-unseen-label-token", lambda t, f, c: SoftPromptClassifier(pretrained=c, label_tokens="AZ")
     .fit(GOOD_X, GOOD_Y), ValueError, r"label_tokens.*'Z'"),
    # --- lengths ---
    ("longer-than-l_max", lambda t, f, c: SoftPromptClassifier(pretrained=c, device="cpu").fit(["A" * 100] * 4,
                                                                                            [0, 1] * 2),
     ValueError, r"100.*l_max=64.*(truncat|max_length|window|shorter)"),
    ("max_length-over-l_max", lambda t, f, c: HyenaEmbedder(pretrained=c, max_length=65, device="cpu").fit(),
     ValueError, r"max_length=65 is more than the pretrained model's l_max=64"),
    # --- parameters ---
    ("learning-rate-string", lambda t, f, c: clf(learning_rate_init="fast").fit(GOOD_X, GOOD_Y),
     ValueError, r"learning_rate_init must be a number; got 'fast'"),
    ("learning-rate-negative", lambda t, f, c: clf(learning_rate_init=-1.0).fit(GOOD_X, GOOD_Y),
     ValueError, r"learning_rate_init must be in \(0, inf"),
    ("batch-size-zero", lambda t, f, c: clf(batch_size=0).fit(GOOD_X, GOOD_Y),
     ValueError, r"batch_size must be an int >= 1; got 0"),
    ("batch-size-float", lambda t, f, c: clf(batch_size=2.5).fit(GOOD_X, GOOD_Y),
     ValueError, r"batch_size must be an int >= 1; got 2.5"),
    ("pooling-unknown", lambda t, f, c: clf(pooling="median").fit(GOOD_X, GOOD_Y),
     ValueError, r"pooling must be one of .*got 'median'"),
    ("precision-unknown", lambda t, f, c: clf(precision="8").fit(GOOD_X, GOOD_Y),
     ValueError, r"precision must be one of .*got '8'"),
    ("device-unknown", lambda t, f, c: clf(device="tpu").fit(GOOD_X, GOOD_Y),
     ValueError, r"device='tpu' is not (a device|supported); use 'auto', 'cpu', 'cuda'"),
    ("device-missing-gpu", lambda t, f, c: clf(device="cuda:99").fit(GOOD_X, GOOD_Y),
     ValueError, r"cuda"),
    ("emb_dim-even", lambda t, f, c: clf(emb_dim=4).fit(GOOD_X, GOOD_Y),
     ValueError, r"emb_dim must be an odd int >= 3; got 4"),
    ("chunk-size-zero", lambda t, f, c: HyenaEmbedder(pretrained=c, chunk_size=0, device="cpu").fit().transform(GOOD_X),
     ValueError, r"chunk_size.*got 0"),
    ("pretrained-wrong-type", lambda t, f, c: clf(pretrained=3.5).fit(GOOD_X, GOOD_Y),
     TypeError, r"pretrained"),
    ("pretrained-unknown-name", lambda t, f, c: HyenaClassifier(pretrained="dnaestim-no-such-model").fit(GOOD_X, GOOD_Y),
     FileNotFoundError, r"dnaestim-no-such-model does not exist, and no bundled model has that name \(bundled: "),
    ("architecture-with-pretrained", lambda t, f, c: HyenaClassifier(n_layer=4).fit(GOOD_X, GOOD_Y),
     ValueError, r"n_layer=4 has no effect with pretrained='dnaestim-.*'.*Pass pretrained=None"),
    ("pretrainer-bed-repeated-record", lambda t, f, c: HyenaPretrainer(max_steps=1, device="cpu").fit(
        [write(t, "a.fa", ">X\nACGTACGT\n"), write(t, "b.fa", ">X\nGGCCGGCC\n")],
        intervals=[("X", 0, 4)]), KeyError, r"Record 'X' .* is in several files; name it by its file: 'a:X', 'b:X'"),
    ("predict-before-fit", lambda t, f, c: clf().predict(GOOD_X),
     __import__("sklearn.exceptions", fromlist=["NotFittedError"]).NotFittedError, r"not fitted yet.*fit"),
    # --- tokenizer ---
    ("tokenizer-bad-char", lambda t, f, c: DNATokenizer().encode("ACG-T"),
     ValueError, r"'-'.*position 3.*(Remove or replace|unknown='N')"),
    ("tokenizer-not-str", lambda t, f, c: DNATokenizer().encode(1234),
     TypeError, r"sequence must be a str; got int"),
    ("tokenizer-bad-padding", lambda t, f, c: DNATokenizer()(["ACGT"], padding="middle"),
     ValueError, r"padding"),
    ("tokenizer-too-long", lambda t, f, c: DNATokenizer()(["ACGTACGT"], max_length=4),
     ValueError, r"max_length.*truncation"),
    ("tokenizer-unknown-mode", lambda t, f, c: DNATokenizer(unknown="skip"),
     ValueError, r"unknown must be one of .*got 'skip'"),
    # --- model ---
    ("token-id-out-of-vocab", lambda t, f, c: HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64))(
        torch.tensor([[7, 8, 99]])), ValueError, r"Token id 99 is outside the vocabulary"),
    ("float-input-ids", lambda t, f, c: HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64))(torch.ones(1, 4)),
     TypeError, r"input_ids must hold integer token ids; got dtype torch.float32"),
    # --- checkpoints ---
    ("checkpoint-missing", lambda t, f, c: load_pretrained(t / "nowhere"),
     FileNotFoundError, r"nowhere"),
    ("checkpoint-no-weights", lambda t, f, c: load_pretrained(broken_copy(c, t, _drop_weights)),
     FileNotFoundError, r"broken"),
    ("checkpoint-truncated", lambda t, f, c: load_pretrained(broken_copy(c, t, _truncate_weights)),
     CheckpointError, r"broken.*(not a readable|corrupt or truncated)"),
    ("checkpoint-corrupt-config", lambda t, f, c: load_pretrained(broken_copy(
        c, t, lambda d: (d / "config.json").write_text("{not json"))),
     CheckpointError, r"config.json is not valid JSON"),
    ("checkpoint-config-without-d-model", lambda t, f, c: load_pretrained(broken_copy(
        c, t, lambda d: (d / "config.json").write_text(json.dumps(
            {k: v for k, v in json.loads((d / "config.json").read_text()).items() if k != "d_model"})))),
     CheckpointError, r"config.json has no 'd_model': every published config.json states"),
    ("checkpoint-wrong-layout", lambda t, f, c: load_pretrained(broken_copy(c, t, _rename_keys)),
     CheckpointError, r"broken"),
    ("checkpoint-wrong-shapes", lambda t, f, c: load_pretrained(broken_copy(c, t, _wrong_shapes)),
     CheckpointError, r"broken.*shape"),
    ("checkpoint-pickle-with-code", lambda t, f, c: load_pretrained(broken_copy(c, t, _pickle_with_code)),
     CheckpointError, r"weights.ckpt carries pickled Python objects that would run code.*refuses to unpickle"),
    ("checkpoint-is-a-file", lambda t, f, c: load_pretrained(write(t, "model.txt", "hello")),
     (CheckpointError, FileNotFoundError), r"model.txt"),
    # --- data files and genomes ---
    ("csv-missing", lambda t, f, c: load_csv(t / "nope.csv"),
     FileNotFoundError, r"nope.csv"),
    ("csv-no-sequence-column", lambda t, f, c: load_csv(write(t, "x.csv", "seq,label\nACGT,1\n")),
     ValueError, r"x.csv.*sequence"),
    ("csv-unreadable", lambda t, f, c: load_csv(t),
     (ValueError, IsADirectoryError, FileNotFoundError), r"pytest|test_bad|csv"),
    ("bundled-unknown-name", lambda t, f, c: load_bundled("human_everything"),
     ValueError, r"No bundled dataset named 'human_everything'; the bundled datasets are: gue_prom_core_tata"),
    ("bundled-bad-split", lambda t, f, c: load_bundled("gue_prom_core_tata", split="validation"),
     ValueError, r"split.*validation"),
    ("genomic-benchmark-not-a-dir", lambda t, f, c: load_genomic_benchmark(t / "missing_task"),
     FileNotFoundError, r"missing_task"),
    ("fasta-labeled-no-label", lambda t, f, c: load_fasta_labeled(write(t, "x.fa", ">seq1\nACGT\n")),
     ValueError, r"Record 'seq1' of .*x.fa has no label separator '\|'.*pass label_sep=None"),
    ("fasta-missing", lambda t, f, c: open_fasta(t / "genome.fa"),
     FileNotFoundError, r"genome.fa does not exist"),
    ("fasta-unknown-record", lambda t, f, c: fetch_sequence(open_fasta(GENOME), "chrZ", 0, 10),
     KeyError, r"Record 'chrZ' is not in .*it has"),
    ("fasta-interval-past-end", lambda t, f, c: fetch_sequence(
        open_fasta(GENOME), next(iter(open_fasta(GENOME).keys())), 0, 10**9),
     ValueError, r"outside the record, which has \d+ bases"),
    ("pretrainer-bed-unknown-record", lambda t, f, c: HyenaPretrainer(max_steps=1, device="cpu").fit(
        GENOME, intervals=write(t, "x.bed", "chrZ\t0\t100\n")), KeyError, r"chrZ.*it has"),
    ("pretrainer-bed-malformed", lambda t, f, c: HyenaPretrainer(max_steps=1, device="cpu").fit(
        GENOME, intervals=write(t, "x.bed", "chrM\tten\t100\n")), ValueError, r"x.bed, line 1: start and end"),
    ("pretrainer-not-dna", lambda t, f, c: HyenaPretrainer(max_steps=1, device="cpu").fit([12345]),
     TypeError, r"X\[0\]|12345|str"),
]


def _signature(case):
    return case[0]


@pytest.mark.parametrize("case", CASES, ids=_signature)
def test_bad_input_gives_a_clear_error(case, tmp_path, fitted, checkpoint):
    _, call, error, pattern = case
    with pytest.raises(error, match=pattern) as info:
        call(tmp_path, fitted, checkpoint)
    # Raised by dnaestim's own checks, not from deep inside torch, numpy or pandas.
    origin = traceback.extract_tb(info.tb)[-1].filename
    assert "dnaestim" in origin or "sklearn" in origin, f"raised from {origin}"


def test_catalogue_covers_thirty_kinds_and_every_entry_point():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


# --- command line: errors are one line on stderr with exit status 2, never a traceback ---

CLI_CASES = [
    ("pretrain-missing-fasta", ["pretrain", "no_such.fa", "--output", "{tmp}/out"], r"no_such.fa does not exist"),
    ("pretrain-bad-device", ["pretrain", str(GENOME), "--output", "{tmp}/out", "--device", "tpu"], r"device='tpu'"),
    ("pretrain-bad-precision", ["pretrain", str(GENOME), "--output", "{tmp}/out", "--precision", "8"],
     r"precision must be one of"),
    ("embed-missing-checkpoint", ["embed-genome", str(GENOME), "--checkpoint", "{tmp}/none", "--output",
                                  "{tmp}/x.npz"], r"none"),
    ("inspect-unknown-record", ["inspect", "--record", "chrZ", "--windows", "1", "--length", "64"], r"chrZ"),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=_signature)
def test_command_line_bad_input(case, tmp_path):
    _, args, pattern = case
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = subprocess.run([sys.executable, "-m", "dnaestim", *args], capture_output=True, text=True, cwd=ROOT,
                            timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    import re

    assert re.search(pattern, result.stderr), result.stderr[-2000:]
