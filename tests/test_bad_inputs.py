"""The bad-input catalogue: every public entry point, fed what users get wrong.

Each case names an entry point and a bad input, the exception type it must raise and a pattern its message must
match: the pattern pins both the offending item (which sequence, character, parameter, file) and the advice (what
to do). A case fails if the error comes from deep inside torch or numpy instead of our own checks.
"""

import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from dnaestim import (CheckpointError, DNATokenizer, HyenaClassifier, HyenaConfig, HyenaEmbedder, HyenaLM,
                      HyenaPretrainer, HyenaRegressor, SoftPromptClassifier, load_pretrained, save_pretrained,
                      score_variants)
from dnaestim.datasets import load_bundled, load_csv, load_fasta_labeled, load_genomic_benchmark
from dnaestim.genome import bundled_genome_path, fetch_sequence, open_fasta
from dnaestim.interpret import gradient_x_input, mutagenesis_frame, saturation_mutagenesis
from dnaestim.models import bundled_model_path
from dnaestim.vcf import annotate_vcf, read_vcf, write_scores

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
    from safetensors.torch import save_file

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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- fitted estimators some cases need, built once on first use ---

Y_MULTI = np.array([[0, 1], [1, 0], [1, 1]] * 4)


@functools.lru_cache(maxsize=None)
def regressor():
    """A fitted tiny single-output HyenaRegressor."""
    return HyenaRegressor(**TINY).fit(GOOD_X, np.arange(12.0))


@functools.lru_cache(maxsize=None)
def multilabel():
    """A fitted tiny multi-label HyenaClassifier (labels 0 and 1)."""
    return clf().fit(GOOD_X, Y_MULTI)


@functools.lru_cache(maxsize=None)
def pretrainer():
    """A fitted tiny HyenaPretrainer (l_max=32)."""
    return HyenaPretrainer(d_model=16, n_layer=1, max_length=32, max_steps=1, batch_size=2, device="cpu",
                           random_state=0).fit(["ACGT" * 20])


def tiny_lm():
    return HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64))


def warm(estimator):
    """A copy of a fitted estimator set to continue training (the shared one stays as it is)."""
    return copy.deepcopy(estimator).set_params(warm_start=True)


VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
#: The bundled human mitochondrion starts GATCACAGG: position 5 (1-based) is an A.
GOOD_RECORD = "Homo_sapiens_MT\t5\t.\tA\tG\t.\tPASS\t.\n"


def vcf(tmp_path, records, header=VCF_HEADER):
    """A small VCF file: ``header`` then ``records`` (text)."""
    return write(tmp_path, "calls.vcf", header + records)


def write_bytes(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
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
    # --- bundled models and pretrained sources ---
    ("bundled-model-path-unknown", lambda t, f, c: bundled_model_path("no-such-model"),
     KeyError, r"No bundled model is named 'no-such-model'; the bundled models are: dnaestim-multispecies-tiny-1k"),
    ("load-pretrained-not-a-path", lambda t, f, c: load_pretrained(42),
     TypeError, r"path must be a directory path \(str or os.PathLike\); got int"),
    ("pretrained-unfitted-pretrainer", lambda t, f, c: HyenaEmbedder(pretrained=HyenaPretrainer(), device="cpu").fit(),
     ValueError, r"pretrained is an unfitted HyenaPretrainer; fit it first, or pass a checkpoint directory"),
    # --- multi-label and warm-started classifier targets ---
    ("multilabel-y-not-0-1", lambda t, f, c: clf().fit(GOOD_X, np.array([[0, 2]] * 12)),
     ValueError, r"y\[0, 1\] \(label 1\) is 2; a multi-label y holds only 0 and 1 \(give one 0/1 column per label"),
    ("multilabel-y-wrong-rows", lambda t, f, c: clf().fit(GOOD_X, Y_MULTI[:11]),
     ValueError, r"X has 12 sequences but y has 11 rows; give one row per sequence"),
    ("multilabel-dataframe-text", lambda t, f, c: clf().fit(GOOD_X, pd.DataFrame({"tss": ["1", "0"] * 6,
                                                                                  "cpg": ["0", "yes"] * 6})),
     ValueError, r"y\[1, 1\] \(label 'cpg'\) is 'yes', not a number.*encode the labels as 0/1 columns"),
    ("multilabel-duplicate-label-names", lambda t, f, c: clf().fit(GOOD_X, pd.DataFrame(Y_MULTI, columns=["a", "a"])),
     ValueError, r"y's columns name a label twice: \['a', 'a'\]; give every label its own name"),
    ("warm-start-changes-y-form", lambda t, f, c: warm(f).fit(GOOD_X, Y_MULTI),
     ValueError, r"With warm_start=True, y must keep its form \(single-label or multi-label\); refit with "
                 r"warm_start=False"),
    ("warm-start-unseen-class", lambda t, f, c: warm(f).fit(GOOD_X, [0, 1, 2] * 4),
     ValueError, r"y holds label\(s\) \[2\] that the fitted model does not know \(classes_: \[0, 1\]\).*Refit with "
                 r"warm_start=False"),
    ("classifier-continuous-y", lambda t, f, c: clf().fit(GOOD_X, np.linspace(0, 1, 12)),
     ValueError, r"y must hold class labels for classification; got a 'continuous' target. Use integer or string"),
    ("class-weight-unknown-string", lambda t, f, c: clf(class_weight="weird").fit(GOOD_X, GOOD_Y),
     ValueError, r"class_weight must be None, 'balanced' or a dict; got 'weird'"),
    ("class-weight-negative", lambda t, f, c: clf(class_weight={0: -1}).fit(GOOD_X, GOOD_Y),
     ValueError, r"class_weight\[0\] must be a finite number >= 0; got -1"),
    ("sample-weight-wrong-length", lambda t, f, c: clf().fit(GOOD_X, GOOD_Y, sample_weight=[1.0] * 3),
     ValueError, r"X has 12 sequences but sample_weight has 3 values; give one weight per sequence"),
    ("sample-weight-all-zero", lambda t, f, c: clf().fit(GOOD_X, GOOD_Y, sample_weight=[0.0] * 12),
     ValueError, r"sample_weight sums to zero; at least one sequence needs a positive weight"),
    # --- regression targets ---
    ("regressor-nan-y", lambda t, f, c: HyenaRegressor(**TINY).fit(GOOD_X, [1.0] * 5 + [np.nan] + [1.0] * 6),
     ValueError, r"y\[5\] is nan; every target must be a finite number \(drop or fill missing values first\)"),
    ("regressor-string-y", lambda t, f, c: HyenaRegressor(**TINY).fit(GOOD_X, ["1.5", "2", "high"] * 4),
     ValueError, r"y\[2\] is 'high': y must hold numbers for regression. Use HyenaClassifier for class labels"),
    ("regressor-3d-y", lambda t, f, c: HyenaRegressor(**TINY).fit(GOOD_X, np.zeros((12, 1, 1))),
     ValueError, r"y must have shape \(n_samples,\) or \(n_samples, n_targets\); got \(12, 1, 1\)"),
    ("regressor-mismatched-rows", lambda t, f, c: HyenaRegressor(**TINY).fit(GOOD_X, np.zeros(11)),
     ValueError, r"X has 12 sequences but y has 11 rows; give one per sequence"),
    ("regressor-sample-weight-2d", lambda t, f, c: HyenaRegressor(**TINY).fit(GOOD_X, np.zeros(12),
                                                                             sample_weight=np.ones((12, 1))),
     ValueError, r"sample_weight must be a 1-D array with one weight per sequence; got shape \(12, 1\)"),
    ("regressor-scoring-unknown", lambda t, f, c: HyenaRegressor(**TINY, scoring="no_such_metric").fit(
        GOOD_X, np.zeros(12)), ValueError, r"scoring must be 'loss', a scikit-learn scorer name "
                                           r"\(sklearn.metrics.get_scorer_names\(\)\).*got 'no_such_metric'"),
    ("regressor-warm-start-more-targets", lambda t, f, c: warm(regressor()).fit(GOOD_X, np.zeros((12, 2))),
     ValueError, r"y has 2 targets but the fitted model has 1; with warm_start=True the targets must stay the same"),
    # --- training parameters ---
    ("max-time-negative", lambda t, f, c: clf(max_time=-1).fit(GOOD_X, GOOD_Y),
     ValueError, r"max_time must be in \(0, inf\]; got -1"),
    ("validation-fraction-over-one", lambda t, f, c: clf(validation_fraction=1.5).fit(GOOD_X, GOOD_Y),
     ValueError, r"validation_fraction must be in \(0, 1\); got 1.5"),
    ("head-init-unknown", lambda t, f, c: clf(head_init="zeros").fit(GOOD_X, GOOD_Y),
     ValueError, r"head_init must be one of \('probe', 'random'\); got 'zeros'"),
    ("length-feature-unknown", lambda t, f, c: HyenaRegressor(**TINY, length_feature="yes").fit(GOOD_X, np.zeros(12)),
     ValueError, r"length_feature must be 'auto', True or False; got 'yes'"),
    ("rc-average-unknown", lambda t, f, c: HyenaClassifier(**TINY, rc_average="both").fit(GOOD_X, GOOD_Y),
     ValueError, r"rc_average must be 'auto', True or False; got 'both'"),
    ("rc-augment-unknown", lambda t, f, c: HyenaClassifier(**TINY, rc_augment="yes").fit(GOOD_X, GOOD_Y),
     ValueError, r"rc_augment must be 'auto', True or False; got 'yes'"),
    ("head-dropout-one", lambda t, f, c: HyenaRegressor(**TINY, head_dropout=1.0).fit(GOOD_X, np.zeros(12)),
     ValueError, r"head_dropout must be in \[0, 1\); got 1.0"),
    ("max-iter-zero", lambda t, f, c: clf(max_iter=0).fit(GOOD_X, GOOD_Y),
     ValueError, r"max_iter must be an int >= 1; got 0"),
    ("pretrainer-from-scratch-without-max-length", lambda t, f, c: HyenaPretrainer(max_length=None, device="cpu")
     .fit(["ACGT" * 10]), ValueError, r"max_length must be an int >= 2; got None"),
    ("pretrainer-resume-without-checkpoint-dir", lambda t, f, c: HyenaPretrainer(max_length=32, max_steps=1,
                                                                                  device="cpu").fit(
        ["ACGT" * 10], resume=True), ValueError, r"resume=True needs checkpoint_dir"),
    ("pretrainer-resume-missing", lambda t, f, c: HyenaPretrainer(max_length=32, max_steps=1, device="cpu").fit(
        ["ACGT" * 10], resume=t / "run"), FileNotFoundError, r"No checkpoint to resume from at .*run"),
    ("pretrainer-intervals-with-sequences", lambda t, f, c: HyenaPretrainer(max_length=32, max_steps=1, device="cpu")
     .fit(["ACGT" * 10], intervals=[("X", 0, 4)]), ValueError, r"intervals apply to FASTA files; X holds sequences"),
    ("embedder-from-scratch-without-X", lambda t, f, c: HyenaEmbedder(pretrained=None, device="cpu").fit(),
     ValueError, r"A randomly initialised HyenaEmbedder needs X or max_length to size its model"),
    ("soft-prompt-without-pretrained", lambda t, f, c: SoftPromptClassifier(pretrained=None).fit(GOOD_X, GOOD_Y),
     ValueError, r"SoftPromptClassifier adapts a pretrained model: pass pretrained=.*use HyenaClassifier"),
    ("soft-prompt-multilabel-y", lambda t, f, c: SoftPromptClassifier(pretrained=c, device="cpu").fit(GOOD_X, Y_MULTI),
     ValueError, r"SoftPromptClassifier reads one class per sequence; for multi-label y .*use HyenaClassifier"),
    ("soft-prompt-too-many-shots", lambda t, f, c: SoftPromptClassifier(pretrained=c, n_shots=6, device="cpu").fit(
        GOOD_X, GOOD_Y), ValueError, r"n_shots=6 needs more than 6 examples of class 0, which has 6. Lower n_shots"),
    ("soft-prompt-keep-backbone-needs-directory", lambda t, f, c: SoftPromptClassifier(
        pretrained=tiny_lm(), keep_backbone=False, device="cpu").fit(GOOD_X, GOOD_Y),
     ValueError, r"keep_backbone=False .*pretrained must be a checkpoint directory.*got a HyenaLM. Save it with "
                 r"save_pretrained"),
    # --- generation ---
    ("generate-empty-prompt", lambda t, f, c: tiny_lm().generate("", 5),
     ValueError, r"Prompt 0 must be a non-empty str of nucleotides; got ''"),
    ("generate-longer-than-l_max", lambda t, f, c: pretrainer().generate("ACGT", 40),
     ValueError, r"Prompt 0 \(4 tokens\) plus max_new_tokens=40 is longer than the model's l_max=32; shorten the "
                 r"prompt .* or generate less"),
    ("generate-negative-max-new-tokens", lambda t, f, c: tiny_lm().generate("ACGT", -1),
     ValueError, r"max_new_tokens must be an int >= 0; got -1"),
    ("generate-negative-temperature", lambda t, f, c: tiny_lm().generate("ACGT", 4, temperature=-1),
     ValueError, r"temperature must be a number >= 0 \(0: greedy\); got -1"),
    ("generate-top-k-zero", lambda t, f, c: tiny_lm().generate("ACGT", 4, top_k=0),
     ValueError, r"top_k must be None or an int >= 1; got 0"),
    ("generate-top-p-over-one", lambda t, f, c: tiny_lm().generate("ACGT", 4, top_p=1.5),
     ValueError, r"top_p must be None or a number in \(0, 1\]; got 1.5"),
    ("generate-invalid-character", lambda t, f, c: pretrainer().generate(["ACGT", "ACGRT"], 4),
     ValueError, r"Prompt 1 has the character 'R' at position 3.*unknown='N'"),
    ("generate-unfitted-pretrainer", lambda t, f, c: HyenaPretrainer().generate("ACGT", 4),
     NotFittedError, r"This HyenaPretrainer instance is not fitted yet. Call 'fit'"),
    ("pretrainer-log-likelihood-one-nucleotide", lambda t, f, c: pretrainer().log_likelihood(["ACGT", "A"]),
     ValueError, r"X\[1\] has 1 nucleotide; scoring needs at least 2"),
    # --- interpretation ---
    ("ism-unsupported-estimator", lambda t, f, c: saturation_mutagenesis(LogisticRegression(), "ACGT"),
     TypeError, r"saturation_mutagenesis explains a fitted HyenaClassifier, SoftPromptClassifier, HyenaRegressor or "
                r"HyenaPretrainer; got LogisticRegression"),
    ("gradient-embedder-has-no-output", lambda t, f, c: gradient_x_input(HyenaEmbedder(), "ACGT"),
     TypeError, r"got HyenaEmbedder \(it has no output to attribute; attribute the classifier or regressor"),
    ("ism-unfitted", lambda t, f, c: saturation_mutagenesis(clf(), "ACGT"),
     NotFittedError, r"This HyenaClassifier instance is not fitted yet. Call 'fit'"),
    ("ism-target-not-a-class", lambda t, f, c: saturation_mutagenesis(f, "ACGTACGT", target=7),
     ValueError, r"target 7 is not one of this HyenaClassifier's classes: \[0, 1\]"),
    ("ism-multilabel-without-target", lambda t, f, c: saturation_mutagenesis(multilabel(), "ACGTACGT"),
     ValueError, r"This HyenaClassifier is multi-label: pass target= the label to explain, one of \[0, 1\]"),
    ("ism-batch-size-zero", lambda t, f, c: saturation_mutagenesis(f, "ACGTACGT", batch_size=0),
     ValueError, r"batch_size must be an int >= 1 or None; got 0"),
    ("ism-list-of-sequences", lambda t, f, c: saturation_mutagenesis(f, ["ACGT", "ACGT"]),
     TypeError, r"sequence must be one DNA string; got list. Call saturation_mutagenesis once per sequence"),
    ("ism-pretrainer-with-target", lambda t, f, c: saturation_mutagenesis(pretrainer(), "ACGT", target=1),
     ValueError, r"target does not apply to a HyenaPretrainer.*Leave target=None; got 1"),
    ("gradient-pretrainer-one-nucleotide", lambda t, f, c: gradient_x_input(pretrainer(), ["ACGT", "A"]),
     ValueError, r"sequences\[1\] has 1 nucleotide; a log-likelihood needs at least 2"),
    ("gradient-regressor-target-out-of-range", lambda t, f, c: gradient_x_input(regressor(), "ACGT", target=3),
     ValueError, r"target must be an output index in \[0, 1\) of this HyenaRegressor \(it predicts 1 target\); "
                 r"got 3"),
    ("mutagenesis-frame-wrong-shape", lambda t, f, c: mutagenesis_frame(np.zeros((3, 4)), "ACGTA"),
     ValueError, r"ism must have shape \(len\(sequence\), 4\) = \(5, 4\), one row per position .*got \(3, 4\)"),
    # --- CSV files ---
    ("csv-no-label-column", lambda t, f, c: load_csv(write(t, "x.csv", "sequence,y\nACGT,1\n")),
     ValueError, r"x.csv has no column 'label' \(label_column\); its columns are: 'sequence', 'y'. Pass label_column="),
    ("csv-target-not-a-number", lambda t, f, c: load_csv(write(t, "x.csv", "sequence,label\nACGT,1\nACGT,high\n"),
                                                         numeric=True),
     ValueError, r"x.csv: data row 1 \(0-based, header not counted\) has 'high' in column 'label', which is not a "
                 r"finite number"),
    ("csv-empty-cell", lambda t, f, c: load_csv(write(t, "x.csv", "sequence,label\nACGT,1\nACGT,\n")),
     ValueError, r"x.csv: data row 1 .* has no value in column 'label'; fill or drop such rows"),
    ("csv-tab-separated-read-as-comma", lambda t, f, c: load_csv(write(t, "x.tsv", "sequence\tlabel\nACGT\t1\n")),
     ValueError, r"x.tsv has no column 'sequence'.*is the file separated by '\\t'\? Pass sep='\\t'"),
    ("csv-sep-two-characters", lambda t, f, c: load_csv(write(t, "x.csv", "sequence,label\nACGT,1\n"), sep=",;"),
     ValueError, r"sep must be one character other than a quote or a line break, such as ',' .*got ',;'"),
    ("csv-label-is-sequence-column", lambda t, f, c: load_csv(write(t, "x.csv", "sequence,label\nACGT,1\n"),
                                                              label_column="sequence"),
     ValueError, r"label_column names a column twice or names the sequence column: 'sequence'"),
    ("csv-empty-file", lambda t, f, c: load_csv(write(t, "x.csv", "")),
     ValueError, r"x.csv is empty; expected a CSV file with a header line"),
    # --- VCF files ---
    ("vcf-record-before-header", lambda t, f, c: read_vcf(vcf(t, GOOD_RECORD, header="")),
     ValueError, r"calls.vcf, line 1: a record comes before the header line .*add the header"),
    ("vcf-no-header-line", lambda t, f, c: read_vcf(vcf(t, "", header="##fileformat=VCFv4.2\n")),
     ValueError, r"calls.vcf has no header line \(#CHROM POS ID REF ALT QUAL FILTER INFO, tab-separated\); is it a "
                 r"VCF file\?"),
    ("vcf-header-with-spaces", lambda t, f, c: read_vcf(vcf(t, "", header="#CHROM POS ID REF ALT QUAL FILTER INFO\n")),
     ValueError, r"calls.vcf, line 1: the header line must be the tab-separated columns .*separated by spaces; VCF "
                 r"needs tabs"),
    ("vcf-wrong-column-count", lambda t, f, c: read_vcf(vcf(t, "Homo_sapiens_MT\t5\t.\tA\tG\t.\tPASS\n")),
     ValueError, r"calls.vcf, line 3 \(Homo_sapiens_MT 5 . A G\): the record has 7 tab-separated columns, but the "
                 r"header \(line 2\) has 8. Every record needs as many columns"),
    ("vcf-pos-not-integer", lambda t, f, c: read_vcf(vcf(t, "Homo_sapiens_MT\tfive\t.\tA\tG\t.\tPASS\t.\n")),
     ValueError, r"calls.vcf, line 3 .*POS 'five' is not a positive integer. VCF positions are 1-based integers"),
    ("vcf-ref-iupac", lambda t, f, c: read_vcf(vcf(t, "Homo_sapiens_MT\t5\t.\tR\tG\t.\tPASS\t.\n")),
     ValueError, r"calls.vcf, line 3 .*REF 'R' has characters other than A, C, G, T, N .*Fix the record, or remove it"),
    ("vcf-alt-invalid", lambda t, f, c: read_vcf(vcf(t, "Homo_sapiens_MT\t5\t.\tA\tG,X\t.\tPASS\t.\n")),
     ValueError, r"calls.vcf, line 3 .*ALT allele 'X' is not valid. An ALT allele is bases .*fix or remove the record"),
    ("vcf-meta-after-header", lambda t, f, c: read_vcf(vcf(t, GOOD_RECORD + "##INFO=<ID=DP>\n")),
     ValueError, r"calls.vcf, line 4: a header or meta-information line after the header line \(line 2\); remove it "
                 r"or move it above"),
    ("vcf-gzip-damaged", lambda t, f, c: read_vcf(write_bytes(t, "calls.vcf.gz", b"\x1f\x8bnot really gzip")),
     ValueError, r"calls.vcf.gz: the compressed file is damaged or truncated .*compress VCF files with bgzip or gzip"),
    ("vcf-not-text", lambda t, f, c: read_vcf(write_bytes(t, "calls.vcf", b"\xff\xfe\x00\x01binary")),
     ValueError, r"calls.vcf, line 1: not UTF-8 text .*is it a VCF file\?"),
    # --- variant scoring ---
    ("vcf-ref-mismatch", lambda t, f, c: score_variants(c, vcf=vcf(t, "Homo_sapiens_MT\t5\t.\tC\tG\t.\tPASS\t.\n"),
                                                        fasta=GENOME),
     ValueError, r"calls.vcf, line 3: REF 'C' at Homo_sapiens_MT:5 does not match .*: the reference has 'A' there.*"
                 r"on_ref_mismatch='flag'"),
    ("vcf-ref-past-chromosome-end", lambda t, f, c: score_variants(
        c, vcf=vcf(t, "Homo_sapiens_MT\t20000\t.\tA\tG\t.\tPASS\t.\n"), fasta=GENOME),
     ValueError, r"line 3: REF 'A' at Homo_sapiens_MT:20000 .*Homo_sapiens_MT has only 16569 bases.*same assembly"),
    ("vcf-chromosome-not-in-fasta", lambda t, f, c: score_variants(c, vcf=vcf(t, "chrM\t5\t.\tA\tG\t.\tPASS\t.\n"),
                                                                   fasta=GENOME),
     ValueError, r"Chromosome 'chrM' of .*calls.vcf \(line 3\) is not in .*which has 8 record\(s\): Homo_sapiens_MT.*"
                 r"Check that the VCF and the FASTA file are of the same assembly"),
    ("vcf-without-fasta", lambda t, f, c: score_variants(c, vcf=vcf(t, GOOD_RECORD)),
     ValueError, r"vcf= needs fasta=, the reference genome \(FASTA\) the variants were called against"),
    ("vcf-and-positions", lambda t, f, c: score_variants(c, [4], ["G"], vcf=vcf(t, GOOD_RECORD), fasta=GENOME),
     ValueError, r"either as vcf= .* or as positions= and alts= .*not both: vcf= was given with positions=, alts="),
    ("vcf-missing", lambda t, f, c: score_variants(c, vcf=t / "calls.vcf", fasta=GENOME),
     FileNotFoundError, r"VCF file .*calls.vcf does not exist"),
    ("score-variants-fasta-missing", lambda t, f, c: score_variants(c, vcf=vcf(t, GOOD_RECORD), fasta=t / "ref.fa"),
     FileNotFoundError, r"FASTA file .*ref.fa does not exist"),
    ("score-variants-bad-on-ref-mismatch", lambda t, f, c: score_variants(c, vcf=vcf(t, GOOD_RECORD), fasta=GENOME,
                                                                          on_ref_mismatch="ignore"),
     ValueError, r"on_ref_mismatch must be 'raise' or 'flag'; got 'ignore'"),
    ("score-variants-window-too-long", lambda t, f, c: score_variants(c, vcf=vcf(t, GOOD_RECORD), fasta=GENOME,
                                                                      window=1000),
     ValueError, r"window must be an int in \[2, 65\] \(the model's l_max \+ 1\); got 1000"),
    ("score-variants-batch-size-zero", lambda t, f, c: score_variants(c, [1], ["A"], sequence="ACGTACGT",
                                                                      batch_size=0),
     ValueError, r"batch_size must be an int >= 1; got 0"),
    ("score-variants-no-variants", lambda t, f, c: score_variants(c),
     ValueError, r"Give the variants either as positions= and alts= .* or as vcf= \(a VCF file, with fasta=\)"),
    ("score-variants-not-a-language-model", lambda t, f, c: score_variants(LogisticRegression(), [1], ["A"],
                                                                           sequence="ACGT"),
     TypeError, r"model must be a HyenaLM, a fitted HyenaPretrainer or a checkpoint directory; got LogisticRegression"),
    ("score-variants-unfitted-pretrainer", lambda t, f, c: score_variants(HyenaPretrainer(), [1], ["A"],
                                                                          sequence="ACGT"),
     TypeError, r"model is an unfitted HyenaPretrainer; fit it first"),
    ("score-variants-multi-base-alt", lambda t, f, c: score_variants(c, [1], ["AG"], sequence="ACGTACGT"),
     ValueError, r"Variant 0: alternative allele 'AG' is not a single nucleotide \(A, C, G, T, N\)"),
    ("score-variants-position-outside", lambda t, f, c: score_variants(c, [1, 100], ["A", "C"], sequence="ACGTACGT"),
     ValueError, r"Variant 1: position 100 is outside the reference, which has 8 bases"),
    ("score-variants-float-positions", lambda t, f, c: score_variants(c, [1.5], ["A"], sequence="ACGTACGT"),
     TypeError, r"positions must be integers; got dtype float64"),
    ("score-variants-refs-mismatch", lambda t, f, c: score_variants(c, [1], ["A"], sequence="ACGTACGT", refs=["G"]),
     ValueError, r"Variant 0 at position 1: the reference has 'C', not 'G'. Positions are 0-based; check for an "
                 r"off-by-one"),
    ("score-variants-fasta-without-record", lambda t, f, c: score_variants(c, [1], ["A"], fasta=GENOME),
     ValueError, r"fasta= needs record= \(the chromosome or contig of the variants\)"),
    ("score-variants-unknown-record", lambda t, f, c: score_variants(c, [1], ["A"], fasta=GENOME, record="chrZ"),
     KeyError, r"Record 'chrZ' is not in .*mammalia_mtDNA_8species.fa.gz; it has: Homo_sapiens_MT"),
    ("write-scores-not-a-frame", lambda t, f, c: write_scores([0.1, 0.2], t / "scores.tsv"),
     TypeError, r"scores must be a pandas DataFrame \(from score_variants\(..., vcf=...\)\); got list"),
    ("write-scores-missing-directory", lambda t, f, c: write_scores(
        pd.DataFrame({k: [1] for k in ("chrom", "pos", "ref", "alt", "score")}), t / "out" / "scores.tsv"),
     FileNotFoundError, r"Cannot write .*scores.tsv: the directory .*out does not exist"),
    ("annotate-vcf-other-file", lambda t, f, c: annotate_vcf(
        vcf(t, GOOD_RECORD), pd.DataFrame({"chrom": ["Homo_sapiens_MT"], "pos": [7], "alt": ["T"], "score": [0.1],
                                           "line": [9]}), t / "annotated.vcf"),
     ValueError, r"1 row\(s\) of scores match no ALT allele of .*calls.vcf \(line 9 ALT 'T'\); pass the VCF file that "
                 r"was scored"),
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


# --- command line: errors are one line on stderr with exit status 2, never a traceback ---

#: A VCF file whose one record has REF C where the bundled human mitochondrion has an A.
MISMATCHED_VCF = VCF_HEADER + "Homo_sapiens_MT\t5\t.\tC\tG\t.\tPASS\t.\n"
LABELLED_CSV = "sequence,label\nACGTACGT,promoter\nTTGACCAT,other\n"

# Each case: (id, arguments, pattern of the error on stderr[, {file name in {tmp}: text written there first}]).
CLI_CASES = [
    ("pretrain-missing-fasta", ["pretrain", "no_such.fa", "--output", "{tmp}/out"], r"no_such.fa does not exist"),
    ("pretrain-bad-device", ["pretrain", str(GENOME), "--output", "{tmp}/out", "--device", "tpu"], r"device='tpu'"),
    ("pretrain-bad-precision", ["pretrain", str(GENOME), "--output", "{tmp}/out", "--precision", "8"],
     r"precision must be one of"),
    ("embed-missing-checkpoint", ["embed-genome", str(GENOME), "--checkpoint", "{tmp}/none", "--output",
                                  "{tmp}/x.npz"], r"none"),
    ("inspect-unknown-record", ["inspect", "--record", "chrZ", "--windows", "1", "--length", "64"], r"chrZ"),
    ("pretrain-max-steps-zero", ["pretrain", str(GENOME), "--output", "{tmp}/out", "--max-steps", "0"],
     r"argument --max-steps: must be >= 1; got 0"),
    ("embed-genome-bad-pooling", ["embed-genome", str(GENOME), "--checkpoint", "{tmp}/none", "--output",
                                  "{tmp}/x.npz", "--pooling", "max"],
     r"argument --pooling: pooling must be one of \('mean', 'last'\); got 'max'"),
    ("score-genome-chunk-size-zero", ["score-genome", str(GENOME), "--checkpoint", "{tmp}/none", "--output",
                                      "{tmp}/x.npz", "--chunk-size", "0"],
     r"argument --chunk-size: expected a positive integer, 'auto' or 'none'; got '0'"),
    ("score-genome-bad-precision", ["score-genome", str(GENOME), "--checkpoint", "{tmp}/none", "--output",
                                    "{tmp}/x.npz", "--precision", "bf16x"],
     r"argument --precision: precision must be one of \('auto', '32', 'bf16', '16', '64'\); got 'bf16x'"),
    ("demo-unknown-dataset", ["demo", "--dataset", "human_everything"],
     r"argument --dataset: dataset must be one of \('gue_prom_core_tata'.*got 'human_everything'"),
    ("score-vcf-missing-vcf", ["score-vcf", "--vcf", "{tmp}/calls.vcf", "--fasta", str(GENOME), "--output",
                               "{tmp}/scores.tsv"], r"score-vcf: error: VCF file .*calls.vcf does not exist"),
    ("score-vcf-missing-fasta", ["score-vcf", "--vcf", "{tmp}/calls.vcf", "--fasta", "{tmp}/ref.fa", "--output",
                                 "{tmp}/scores.tsv"], r"score-vcf: error: FASTA file .*ref.fa does not exist",
     {"calls.vcf": VCF_HEADER + GOOD_RECORD}),
    ("score-vcf-ref-mismatch", ["score-vcf", "--vcf", "{tmp}/calls.vcf", "--fasta", str(GENOME), "--output",
                                "{tmp}/scores.tsv"],
     r"calls.vcf, line 3: REF 'C' at Homo_sapiens_MT:5 does not match .*\(--on-ref-mismatch flag\)",
     {"calls.vcf": MISMATCHED_VCF}),
    ("score-vcf-bad-on-ref-mismatch", ["score-vcf", "--vcf", "{tmp}/calls.vcf", "--fasta", str(GENOME), "--output",
                                       "{tmp}/scores.tsv", "--on-ref-mismatch", "ignore"],
     r"argument --on-ref-mismatch: on_ref_mismatch must be one of \('raise', 'flag'\); got 'ignore'"),
    ("score-vcf-output-directory-missing", ["score-vcf", "--vcf", "{tmp}/calls.vcf", "--fasta", str(GENOME),
                                            "--output", "{tmp}/out/scores.tsv", "--on-ref-mismatch", "flag"],
     r"Cannot write .*scores.tsv: the directory .*out does not exist", {"calls.vcf": MISMATCHED_VCF}),
    ("finetune-missing-file", ["finetune", "{tmp}/train.csv", "--output", "{tmp}/model.pkl"],
     r"finetune: error: Labelled file .*train.csv does not exist"),
    ("finetune-bad-task", ["finetune", "{tmp}/train.csv", "--output", "{tmp}/model.pkl", "--task", "classification"],
     r"argument --task: task must be one of \('classify', 'regress'\); got 'classification'"),
    ("finetune-missing-label-column", ["finetune", "{tmp}/train.csv", "--output", "{tmp}/model.pkl",
                                       "--label-column", "class"],
     r"train.csv has no column 'class' \(label_column\); its columns are: 'sequence', 'label'",
     {"train.csv": LABELLED_CSV}),
    ("finetune-regress-text-targets", ["finetune", "{tmp}/train.csv", "--output", "{tmp}/model.pkl", "--task",
                                       "regress"],
     r"train.csv: data row 0 .* has 'promoter' in column 'label', which is not a finite number",
     {"train.csv": LABELLED_CSV}),
    ("finetune-resume-without-checkpoint-dir", ["finetune", "{tmp}/train.csv", "--output", "{tmp}/model.pkl",
                                                "--resume"], r"finetune: error: --resume needs --checkpoint-dir",
     {"train.csv": LABELLED_CSV}),
    ("finetune-resume-nothing-saved", ["finetune", "{tmp}/train.csv", "--output", "{tmp}/model.pkl", "--resume",
                                       "--checkpoint-dir", "{tmp}/ckpt"],
     r"No fine-tuning checkpoint to resume from at .*ckpt/finetune_checkpoint.pt", {"train.csv": LABELLED_CSV}),
    ("finetune-resume-damaged-checkpoint", ["finetune", "{tmp}/train.csv", "--output", "{tmp}/model.pkl",
                                            "--resume", "--checkpoint-dir", "{tmp}/ckpt"],
     r"Checkpoint .*finetune_checkpoint.pt cannot be read .*damaged",
     {"train.csv": LABELLED_CSV, "ckpt/finetune_checkpoint.pt": "PK garbage"}),
    ("finetune-bad-save-format", ["finetune", "{tmp}/train.csv", "--output", "{tmp}/model.pkl", "--save-format",
                                  "joblib"], r"argument --save-format: save format must be one of \('pickle', "
                                             r"'dnaestim'\); got 'joblib'"),
    ("pretrain-resume-without-checkpoint-dir", ["pretrain", str(GENOME), "--output", "{tmp}/out", "--resume"],
     r"pretrain: error: --resume needs --checkpoint-dir"),
]


# Every case runs in one interpreter (one start-up, not one per case): ``main(argv)`` is what ``python -m dnaestim``
# runs, and a case's stderr and exit status are recorded as the shell would see them.
_CLI_DRIVER = """
import contextlib, io, json, sys, traceback
from dnaestim.__main__ import main
results = {}
for case_id, argv in json.loads(sys.stdin.read()):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
        except BaseException:
            traceback.print_exc()
            code = 1
    results[case_id] = [code, err.getvalue()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    runs = []
    for case in CLI_CASES:
        case_id, args, _, *files = case
        tmp_path = tmp_path_factory.mktemp(case_id)
        for name, text in (files[0] if files else {}).items():
            write(tmp_path, name, text)
        runs.append((case_id, [a.replace("{tmp}", str(tmp_path)) for a in args]))
    result = subprocess.run([sys.executable, "-c", _CLI_DRIVER], input=json.dumps(runs), capture_output=True,
                            text=True, cwd=ROOT, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", CLI_CASES, ids=_signature)
def test_command_line_bad_input(case, cli_results):
    returncode, stderr = cli_results[case[0]]
    pattern = case[2]
    assert returncode == 2, stderr[-2000:]
    assert "Traceback" not in stderr
    assert re.search(pattern, stderr), stderr[-2000:]


def test_catalogue_covers_a_hundred_cases_and_every_entry_point():
    assert len(CASES) + len(CLI_CASES) >= 100
    ids = [c[0] for c in CASES] + [c[0] for c in CLI_CASES]
    assert len(set(ids)) == len(ids)
