"""Labelled datasets: the bundled benchmarks and the loaders for Genomic Benchmarks, labelled FASTA and CSV files."""

import gzip
import re
import tempfile
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.utils import Bunch

from dnaestim.datasets import (
    list_bundled_datasets,
    load_bundled,
    load_csv,
    load_fasta_labeled,
    load_genomic_benchmark,
    load_gue_prom_core_tata,
    load_human_enhancers_cohn,
    load_human_enhancers_cohn_subset,
    load_human_nontata_promoters,
)

# Per-split counts (per label) and lengths of the bundled files, as published (the benchmarks manifest).
MANIFEST = {
    "human_nontata_promoters": {"test": ({"negative": 4119, "positive": 4915}, 251)},
    "human_enhancers_cohn_subset": {
        "train": ({"negative": 146, "positive": 157}, 500),
        "test": ({"negative": 51, "positive": 51}, 500),
    },
    "gue_prom_core_tata": {
        "train": ({"0": 2455, "1": 2449}, 70),
        "dev": ({"0": 306, "1": 307}, 70),
        "test": ({"0": 304, "1": 309}, 70),
    },
}
LOADERS = {
    "human_nontata_promoters": load_human_nontata_promoters,
    "human_enhancers_cohn_subset": load_human_enhancers_cohn_subset,
    "gue_prom_core_tata": load_gue_prom_core_tata,
}
SPLITS = [(name, split) for name, splits in MANIFEST.items() for split in splits]
ACGTN = re.compile(r"[ACGTN]+")


# ---------------------------------------------------------------------------------------------------------------
# Bundled benchmarks
# ---------------------------------------------------------------------------------------------------------------


def test_list_bundled_datasets_matches_the_package_data():
    names = list_bundled_datasets()
    assert names == sorted(MANIFEST)
    root = resources.files("dnaestim").joinpath("data", "benchmarks")
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == names
    for name in names:
        files = sorted(p.name for p in root.joinpath(name).iterdir())
        assert files == sorted(f"{split}.csv.gz" for split in MANIFEST[name])
    assert root.joinpath("README.md").is_file()


@pytest.mark.parametrize("name, split", SPLITS, ids=[f"{n}-{s}" for n, s in SPLITS])
def test_bundled_counts_labels_and_alphabet(name, split):
    counts, length = MANIFEST[name][split]
    bunch = load_bundled(name, split=split)
    assert isinstance(bunch, Bunch)
    assert bunch.split == split and bunch.frame is None
    assert isinstance(bunch.data, np.ndarray) and bunch.data.ndim == 1 and bunch.data.dtype == object
    assert isinstance(bunch.target, np.ndarray) and bunch.target.shape == bunch.data.shape
    assert len(bunch.data) == sum(counts.values())
    labels, n = np.unique(bunch.target, return_counts=True)
    assert dict(zip(labels.tolist(), n.tolist())) == counts
    assert bunch.target_names.tolist() == sorted(counts)
    assert all(isinstance(y, str) for y in bunch.target)
    assert all(isinstance(x, str) and len(x) == length and ACGTN.fullmatch(x) for x in bunch.data)
    assert name in bunch.DESCR and f"{split}: {len(bunch.data)} sequences" in bunch.DESCR


def test_every_loader_defaults_to_split_all():
    # One rule for every loader with splits: split="all" returns everything the dataset has.
    import inspect

    for loader in (*LOADERS.values(), load_human_enhancers_cohn, load_bundled, load_genomic_benchmark):
        assert inspect.signature(loader).parameters["split"].default == "all", loader.__name__


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_named_loaders_default_split_and_variants(name):
    loader = LOADERS[name]
    bunch = loader()
    assert bunch.split == "all"
    assert len(bunch.data) == sum(sum(counts.values()) for counts, _ in MANIFEST[name].values())
    expected = load_bundled(name, split="all")
    np.testing.assert_array_equal(bunch.data, expected.data)
    np.testing.assert_array_equal(bunch.target, expected.target)

    X, y = loader(return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)

    framed = loader(as_frame=True)
    assert isinstance(framed.frame, pd.DataFrame)
    assert list(framed.frame.columns) == ["sequence", "label"]
    assert isinstance(framed.data, pd.Series) and framed.data.name == "sequence"
    assert isinstance(framed.target, pd.Series) and framed.target.name == "label"
    assert framed.data.tolist() == bunch.data.tolist()
    assert framed.target.tolist() == bunch.target.tolist()
    assert framed.target_names.tolist() == bunch.target_names.tolist()

    X, y = loader(return_X_y=True, as_frame=True)
    assert isinstance(X, pd.Series) and X.name == "sequence" and X.tolist() == bunch.data.tolist()
    assert isinstance(y, pd.Series) and y.name == "label" and y.tolist() == bunch.target.tolist()


def test_enhancers_alias_is_the_subset_loader_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old = load_human_enhancers_cohn(split="test", as_frame=True)
        X, y = load_human_enhancers_cohn(return_X_y=True)
    new = load_human_enhancers_cohn_subset(split="test", as_frame=True)
    pd.testing.assert_frame_equal(old.frame, new.frame)
    assert old.DESCR == new.DESCR and old.split == new.split == "test"
    np.testing.assert_array_equal(X, load_human_enhancers_cohn_subset(return_X_y=True)[0])
    assert len(X) == 405 and len(y) == 405
    assert "load_human_enhancers_cohn_subset" in load_human_enhancers_cohn.__doc__


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_descr_gives_the_size_of_every_split(name):
    sizes = {split: sum(counts.values()) for split, (counts, _) in MANIFEST[name].items()}
    expected = "Splits: " + ", ".join(f"{split} {n}" for split, n in sizes.items())
    if len(sizes) > 1:
        expected += f" ({sum(sizes.values())} in all)"
    for split in (*sizes, "all"):
        lines = load_bundled(name, split=split).DESCR.splitlines()
        assert lines[1] == expected + "."
        assert lines[0].startswith(f"{name} ({split}: ") and lines[2] == ""


def test_gue_labels_stay_strings():
    X, y = load_gue_prom_core_tata(split="test", return_X_y=True)
    assert sorted(set(y)) == ["0", "1"]
    assert y.dtype == object and isinstance(y[0], str)
    _, y = load_gue_prom_core_tata(split="test", return_X_y=True, as_frame=True)
    assert set(y) == {"0", "1"}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_split_all_concatenates_train_dev_test(name):
    everything = load_bundled(name, split="all", as_frame=True)
    order = [s for s in ("train", "dev", "test", "all") if s in MANIFEST[name]]
    parts = [load_bundled(name, split=s, as_frame=True).frame for s in order]
    expected = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(everything.frame, expected)
    assert everything.split == "all"
    assert list(everything.frame.index) == list(range(len(expected)))


def test_split_all_of_gue_and_enhancers():
    X, y = load_gue_prom_core_tata(split="all", return_X_y=True)
    assert len(X) == 4904 + 613 + 613
    assert X[0] == load_gue_prom_core_tata(split="train").data[0]
    assert X[4904] == load_gue_prom_core_tata(split="dev").data[0]
    assert X[4904 + 613] == load_gue_prom_core_tata(split="test").data[0]
    assert load_human_enhancers_cohn(split="all").data.shape == (405,)
    assert load_human_nontata_promoters(split="all").data.shape == (9034,)


def test_unknown_split_and_dataset_errors():
    with pytest.raises(ValueError, match=r"'gue_prom_core_tata' has no split 'validation'; available splits: "
                                         r"'train', 'dev', 'test', 'all'"):
        load_gue_prom_core_tata(split="validation")
    with pytest.raises(ValueError, match=r"has no split 'train'; available splits: 'test', 'all'"):
        load_human_nontata_promoters(split="train")
    with pytest.raises(ValueError, match=r"has no split 'dev'; available splits: 'train', 'test', 'all'\."):
        load_human_enhancers_cohn(split="dev")
    with pytest.raises(ValueError, match=r"has no split None"):
        load_human_enhancers_cohn(split=None)
    with pytest.raises(ValueError, match=r"No bundled dataset named 'human_enhancers_cohn'; the bundled datasets "
                                         r"are: gue_prom_core_tata, human_enhancers_cohn_subset"):
        load_bundled("human_enhancers_cohn")


def test_dataset_whose_only_split_is_all(tmp_path, monkeypatch):
    # No bundled dataset has a stored split named "all" (one without an official split would); the loader must
    # read it as-is for split="all", list it once in errors, and keep it as the default.
    from dnaestim import datasets

    folder = tmp_path.joinpath(*datasets._BENCHMARKS_DIR, "only_all")
    folder.mkdir(parents=True)
    (folder / "all.csv.gz").write_bytes(gzip.compress(b"sequence,label\nACGT,+\nGGCC,-\nTTAA,+\n"))
    monkeypatch.setattr(datasets, "resources", type("R", (), {"files": staticmethod(lambda package: tmp_path)}))
    monkeypatch.setitem(datasets._BUNDLED, "only_all", datasets._BundledDataset(splits=("all",), description="x"))
    bunch = load_bundled("only_all")
    assert bunch.split == "all" and bunch.data.tolist() == ["ACGT", "GGCC", "TTAA"]
    assert bunch.target.tolist() == ["+", "-", "+"] and bunch.target_names.tolist() == ["+", "-"]
    assert "only_all (all: 3 sequences; +=2, -=1)" in bunch.DESCR
    X, y = load_bundled("only_all", split="all", return_X_y=True, as_frame=True)
    assert X.name == "sequence" and y.name == "label" and y.tolist() == ["+", "-", "+"]
    with pytest.raises(ValueError, match=r"has no split 'test'; available splits: 'all'\."):
        load_bundled("only_all", split="test")


def test_bundled_keyword_only():
    with pytest.raises(TypeError):
        load_gue_prom_core_tata("test")


# ---------------------------------------------------------------------------------------------------------------
# Genomic Benchmarks layout
# ---------------------------------------------------------------------------------------------------------------


def write_genomic_benchmark(root, split, classes):
    """Write ``{class name: [file contents, ...]}`` in the given (dict) order; files are named 0.txt, 1.txt, ..."""
    for class_name, contents in classes.items():
        folder = root / split / class_name
        folder.mkdir(parents=True)
        for i, text in enumerate(contents):
            (folder / f"{i}.txt").write_text(text)


def test_genomic_benchmark_sorted_classes_and_multiline_files(tmp_path):
    # Created "positive" first, "negative" second: the result must not depend on creation or listing order.
    write_genomic_benchmark(tmp_path, "train", {
        "positive": ["ACGT\n", "GG\nCC\n\n", "  TTAA  "],
        "negative": ["aaaa", "CCCC\r\nGGGG\r\n"],
    })
    (tmp_path / "train" / "positive" / "notes.md").write_text("not a sequence")
    (tmp_path / "train" / "positive" / "._0.txt").write_bytes(b"\x00\x05\x16\x07 macOS metadata")
    (tmp_path / "train" / ".ipynb_checkpoints").mkdir()
    bunch = load_genomic_benchmark(tmp_path, split="train")
    assert bunch.split == "train" and bunch.frame is None
    assert bunch.target_names.tolist() == ["negative", "positive"]
    assert bunch.data.tolist() == ["aaaa", "CCCCGGGG", "ACGT", "GGCC", "TTAA"]
    assert bunch.target.tolist() == ["negative", "negative", "positive", "positive", "positive"]
    assert str(tmp_path) in bunch.DESCR


def test_genomic_benchmark_class_names_b_a_c(tmp_path):
    write_genomic_benchmark(tmp_path, "test", {"b": ["CC"], "a": ["AA", "AAA"], "c": ["GG"]})
    write_genomic_benchmark(tmp_path, "train", {"a": ["T"]})
    bunch = load_genomic_benchmark(tmp_path, split="test", as_frame=True)
    assert bunch.target_names.tolist() == ["a", "b", "c"]
    assert bunch.frame.to_dict("list") == {"sequence": ["AA", "AAA", "CC", "GG"], "label": ["a", "a", "b", "c"]}
    X, y = load_genomic_benchmark(tmp_path, split="test", return_X_y=True)
    assert X.tolist() == ["AA", "AAA", "CC", "GG"] and y.tolist() == ["a", "a", "b", "c"]
    X, y = load_genomic_benchmark(str(tmp_path), split="test", return_X_y=True, as_frame=True)
    assert X.name == "sequence" and y.name == "label" and y.tolist() == ["a", "a", "b", "c"]


def test_genomic_benchmark_files_sorted_by_name(tmp_path):
    folder = tmp_path / "train" / "x"
    folder.mkdir(parents=True)
    for name, seq in [("c.txt", "CCC"), ("a.txt", "AAA"), ("b.txt", "GGG")]:
        (folder / name).write_text(seq)
    assert load_genomic_benchmark(tmp_path).data.tolist() == ["AAA", "GGG", "CCC"]


def test_genomic_benchmark_split_all_is_train_then_others_then_test(tmp_path):
    write_genomic_benchmark(tmp_path, "test", {"neg": ["TT"], "pos": ["CC"]})
    write_genomic_benchmark(tmp_path, "train", {"pos": ["AA", "AC"], "neg": ["GG"]})
    write_genomic_benchmark(tmp_path, "valid", {"other": ["NN"]})
    bunch = load_genomic_benchmark(tmp_path, as_frame=True)
    assert bunch.split == "all"
    assert bunch.frame.to_dict("list") == {
        "sequence": ["GG", "AA", "AC", "NN", "TT", "CC"],
        "label": ["neg", "pos", "pos", "other", "neg", "pos"],
    }
    assert bunch.target_names.tolist() == ["neg", "other", "pos"]
    assert "Splits read: train 3, valid 1, test 2." in bunch.DESCR
    parts = [load_genomic_benchmark(tmp_path, split=s).data.tolist() for s in ("train", "valid", "test")]
    assert bunch.data.tolist() == sum(parts, [])


def test_genomic_benchmark_directory_named_all_is_read_alone(tmp_path):
    write_genomic_benchmark(tmp_path, "all", {"a": ["AAA"]})
    write_genomic_benchmark(tmp_path, "train", {"a": ["CCC"]})
    assert load_genomic_benchmark(tmp_path).data.tolist() == ["AAA"]


@given(st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8),
    st.lists(st.text(alphabet="ACGTN", min_size=1, max_size=30), min_size=1, max_size=4),
    min_size=1, max_size=5,
))
def test_genomic_benchmark_round_trip(classes):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_genomic_benchmark(root, "train", classes)
        X, y = load_genomic_benchmark(root, return_X_y=True)
    expected = [(c, s) for c in sorted(classes) for s in
                [classes[c][i] for i in sorted(range(len(classes[c])), key=lambda i: f"{i}.txt")]]
    assert y.tolist() == [c for c, _ in expected]
    assert X.tolist() == [s for _, s in expected]


def test_genomic_benchmark_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "missing")) + " does not exist"):
        load_genomic_benchmark(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("ACGT")
    with pytest.raises(NotADirectoryError, match=re.escape(str(tmp_path / "file.txt"))):
        load_genomic_benchmark(tmp_path / "file.txt")

    write_genomic_benchmark(tmp_path, "train", {"a": ["ACGT"]})
    (tmp_path / "test").mkdir()
    with pytest.raises(ValueError, match=r"no split directory 'dev'; available splits: 'test', 'train', 'all'\."):
        load_genomic_benchmark(tmp_path, split="dev")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "test")) + " holds no class directories"):
        load_genomic_benchmark(tmp_path)  # split="all" reads test too
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "test")) + " holds no class directories"):
        load_genomic_benchmark(tmp_path, split="test")

    (tmp_path / "test" / "positive").mkdir()
    (tmp_path / "test" / "positive" / "README").write_text("not a .txt file")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "test" / "positive")) + " holds no .txt"):
        load_genomic_benchmark(tmp_path, split="test")

    (tmp_path / "test" / "positive" / "0.txt").write_text("ACGT")
    (tmp_path / "test" / "positive" / "1.txt").write_text(" \n\n")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "test" / "positive" / "1.txt")) + " is empty"):
        load_genomic_benchmark(tmp_path, split="test")

    (tmp_path / "test" / "positive" / "1.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "test" / "positive" / "1.txt")) + " is not text"):
        load_genomic_benchmark(tmp_path, split="test")
    with pytest.raises(TypeError, match="split must be a str"):
        load_genomic_benchmark(tmp_path, split=0)


# ---------------------------------------------------------------------------------------------------------------
# Labelled FASTA
# ---------------------------------------------------------------------------------------------------------------

NT_FASTA = ">seq0|1\nACGTAC\nGG\n>seq1|0\nTTTT\n>chr1:100-200 some description|positive\nnnAC\n"


def test_fasta_pipe_labels(tmp_path):
    path = tmp_path / "data.fa"
    path.write_text(NT_FASTA)
    bunch = load_fasta_labeled(path)
    assert bunch.data.tolist() == ["ACGTACGG", "TTTT", "nnAC"]
    assert bunch.target.tolist() == ["1", "0", "positive"]
    assert bunch.target_names.tolist() == ["0", "1", "positive"]
    assert bunch.split is None and bunch.frame is None and str(path) in bunch.DESCR
    X, y = load_fasta_labeled(path, return_X_y=True, as_frame=True)
    assert X.name == "sequence" and X.tolist() == ["ACGTACGG", "TTTT", "nnAC"]
    assert y.name == "label" and y.tolist() == ["1", "0", "positive"]


def test_fasta_last_character_labels(tmp_path):
    # The published rule: last character of the whole header line (pyfaidx long name), trailing blanks removed.
    path = tmp_path / "data.fasta"
    path.write_text(">promoter_1\nACGT\n>promoter_0 \nGG\nCC\n>chr1 desc 1\nTT\n")
    X, y = load_fasta_labeled(path, label_sep=None, return_X_y=True)
    assert X.tolist() == ["ACGT", "GGCC", "TT"] and y.tolist() == ["1", "0", "1"]
    empty_header = tmp_path / "noheader.fa"
    empty_header.write_text(">\nACGT\n")
    with pytest.raises(ValueError, match=r"Record number 1 of .*noheader\.fa has an empty header line"):
        load_fasta_labeled(empty_header, label_sep=None)


def test_fasta_other_separator(tmp_path):
    path = tmp_path / "data.fa"
    path.write_text(">a_b_neg\nAC\n>c_pos\nGT\n")
    assert load_fasta_labeled(path, label_sep="_").target.tolist() == ["neg", "pos"]


@pytest.mark.parametrize("name", ["data.fa.gz", "data.fa"])  # gzip is recognised by content, not suffix
def test_fasta_gzip(tmp_path, name):
    path = tmp_path / name
    with gzip.open(path, "wt") as handle:
        handle.write(NT_FASTA)
    bunch = load_fasta_labeled(path, as_frame=True)
    assert bunch.frame.to_dict("list") == {"sequence": ["ACGTACGG", "TTTT", "nnAC"], "label": ["1", "0", "positive"]}


@given(st.lists(st.tuples(st.text(alphabet="ACGTNacgtn", min_size=1, max_size=200),
                          st.sampled_from(["0", "1", "neg", "pos", "+", "-"])), min_size=1, max_size=10),
       st.integers(min_value=1, max_value=80), st.booleans())
def test_fasta_round_trip(records, width, compress):
    text = "".join(
        f">r{i}|{label}\n" + "".join(seq[j:j + width] + "\n" for j in range(0, len(seq), width))
        for i, (seq, label) in enumerate(records)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.fa"
        if compress:
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
        X, y = load_fasta_labeled(path, return_X_y=True)
    assert X.tolist() == [s for s, _ in records]
    assert y.tolist() == [label for _, label in records]


def test_fasta_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "missing.fa")) + " does not exist"):
        load_fasta_labeled(tmp_path / "missing.fa")
    with pytest.raises(IsADirectoryError, match=re.escape(str(tmp_path))):
        load_fasta_labeled(tmp_path)

    empty = tmp_path / "empty.fa"
    empty.write_text("")
    with pytest.raises(ValueError, match=re.escape(str(empty)) + r" holds no FASTA records.*FASTA file"):
        load_fasta_labeled(empty)
    csv = tmp_path / "table.csv"
    csv.write_text("sequence,label\nACGT,1\n")
    with pytest.raises(ValueError, match=re.escape(str(csv)) + " is not a FASTA file"):
        load_fasta_labeled(csv)
    binary = tmp_path / "binary.fa"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match=re.escape(str(binary)) + " is not a text FASTA file"):
        load_fasta_labeled(binary)
    truncated = tmp_path / "truncated.fa.gz"
    truncated.write_bytes(gzip.compress(NT_FASTA.encode())[:20])
    with pytest.raises(ValueError, match=re.escape(str(truncated))):
        load_fasta_labeled(truncated)

    no_sep = tmp_path / "nosep.fa"
    no_sep.write_text(">seq0|1\nACGT\n>seq1_0\nGGCC\n")
    with pytest.raises(ValueError, match=r"Record 'seq1_0' of .*nosep\.fa has no label separator '\|'.*label_sep=None"):
        load_fasta_labeled(no_sep)
    no_label = tmp_path / "nolabel.fa"
    no_label.write_text(">seq0|\nACGT\n")
    with pytest.raises(ValueError, match=r"Record 'seq0\|' of .*nolabel\.fa has nothing after"):
        load_fasta_labeled(no_label)

    empty_seq = tmp_path / "emptyseq.fa"
    empty_seq.write_text(">seq0|1\nACGT\n>seq1|0\n>seq2|1\nGG\n")
    with pytest.raises(ValueError, match=r"Record 'seq1\|0' of .*emptyseq\.fa has an empty sequence"):
        load_fasta_labeled(empty_seq)
    with pytest.raises(ValueError, match=r"Record 'seq1\|0' of .*emptyseq\.fa has an empty sequence"):
        load_fasta_labeled(empty_seq, label_sep=None)

    for bad in ("", 3):
        with pytest.raises(ValueError, match="label_sep must be a non-empty str or None"):
            load_fasta_labeled(no_sep, label_sep=bad)


# ---------------------------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------------------------


def test_csv_default_columns_and_string_labels(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("sequence,label\nACGT,0\nGGCC,1\nNA,01\n")
    bunch = load_csv(path)
    assert bunch.data.tolist() == ["ACGT", "GGCC", "NA"]  # "NA" is a sequence here, not a missing value
    assert bunch.target.tolist() == ["0", "1", "01"]  # labels stay strings, leading zero included
    assert bunch.target_names.tolist() == ["0", "01", "1"]
    assert bunch.split is None and bunch.frame is None and str(path) in bunch.DESCR


def test_csv_custom_columns_and_as_frame(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("id,seq,class,extra\n7,AC,neg,x\n8,GT,pos,y\n")
    bunch = load_csv(path, sequence_column="seq", label_column="class", as_frame=True)
    assert bunch.frame.to_dict("list") == {"sequence": ["AC", "GT"], "label": ["neg", "pos"]}
    assert bunch.data.name == "sequence" and bunch.target.name == "label"
    X, y = load_csv(path, sequence_column="seq", label_column="class", return_X_y=True)
    assert isinstance(X, np.ndarray) and X.tolist() == ["AC", "GT"] and y.tolist() == ["neg", "pos"]


@pytest.mark.parametrize("name", ["data.csv.gz", "data.csv"])  # gzip is recognised by content, not suffix
def test_csv_gzip(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"sequence,label\nACGT,0\nGGCC,1\n"))
    X, y = load_csv(path, return_X_y=True, as_frame=True)
    assert X.tolist() == ["ACGT", "GGCC"] and y.tolist() == ["0", "1"]


def test_csv_reads_a_bundled_file_like_the_loader():
    path = Path(str(resources.files("dnaestim").joinpath("data", "benchmarks", "gue_prom_core_tata", "dev.csv.gz")))
    X, y = load_csv(path, return_X_y=True)
    expected = load_gue_prom_core_tata(split="dev")
    np.testing.assert_array_equal(X, expected.data)
    np.testing.assert_array_equal(y, expected.target)


@given(st.lists(st.tuples(st.text(alphabet="ACGTN", min_size=1, max_size=50),
                          st.text(alphabet="01abc+-", min_size=1, max_size=4)), min_size=1, max_size=20))
def test_csv_round_trip(rows):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.csv"
        pd.DataFrame(rows, columns=["sequence", "label"]).to_csv(path, index=False)
        X, y = load_csv(path, return_X_y=True)
    assert X.tolist() == [s for s, _ in rows]
    assert y.tolist() == [label for _, label in rows]


@pytest.mark.parametrize("sep, text", [
    ("\t", "id\tsequence\tlabel\n1\tACGT\t0\n2\tGG,CC\t1\n"),
    (";", "id;sequence;label\n1;ACGT;0\n2;GG,CC;1\n"),
    ("|", "id|sequence|label\n1|ACGT|0\n2|GG,CC|1\n"),
])
def test_csv_other_separators(tmp_path, sep, text):
    path = tmp_path / "data.tsv"
    path.write_text(text)
    bunch = load_csv(path, sep=sep, as_frame=True)
    assert bunch.frame.to_dict("list") == {"sequence": ["ACGT", "GG,CC"], "label": ["0", "1"]}
    assert repr(sep) in bunch.DESCR
    gz = tmp_path / "data.tsv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    X, y = load_csv(gz, sep=sep, return_X_y=True)
    assert X.tolist() == ["ACGT", "GG,CC"] and y.tolist() == ["0", "1"]
    assert "CSV read from" in load_csv(_write(tmp_path / "c.csv", "sequence,label\nA,1\n")).DESCR


def _write(path, text):
    path.write_text(text)
    return path


def test_csv_suggests_the_separator_of_a_one_column_header(tmp_path):
    tsv = _write(tmp_path / "data.tsv", "sequence\tlabel\nACGT\t0\n")
    with pytest.raises(ValueError, match=r"data\.tsv has no column 'sequence' \(sequence_column\); its columns are: "
                                         r"'sequence\\tlabel'\. The header was read as a single column and holds "
                                         r"'\\t': is the file separated by '\\t'\? Pass sep='\\t'\."):
        load_csv(tsv)
    assert load_csv(tsv, sep="\t").data.tolist() == ["ACGT"]
    csv = _write(tmp_path / "data.csv", "sequence,label\nACGT,0\n")
    with pytest.raises(ValueError, match=r"Pass sep=','\."):
        load_csv(csv, sep="\t")
    with pytest.raises(ValueError, match=r"Pass sep=';'\."):
        load_csv(_write(tmp_path / "semi.csv", "sequence;label\nACGT;0\n"))
    # A one-column header without another separator keeps the usual advice.
    with pytest.raises(ValueError, match=r"its columns are: 'seq'\. Pass sequence_column= to choose one\."):
        load_csv(_write(tmp_path / "one.csv", "seq\nACGT\n"))
    # A header with several columns is not second-guessed, even if a name holds a tab.
    with pytest.raises(ValueError, match=r"Pass sequence_column= to choose one\."):
        load_csv(_write(tmp_path / "two.csv", "se\tq,label\nACGT,0\n"))


@pytest.mark.parametrize("sep", ["", ",,", "\n", '"', None, 9])
def test_csv_bad_sep(tmp_path, sep):
    path = _write(tmp_path / "data.csv", "sequence,label\nACGT,0\n")
    with pytest.raises(ValueError, match="sep must be one character"):
        load_csv(path, sep=sep)


def test_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "missing.csv")) + " does not exist"):
        load_csv(tmp_path / "missing.csv")
    with pytest.raises(TypeError, match="CSV file path must be a str or os.PathLike"):
        load_csv(None)

    path = tmp_path / "data.csv"
    path.write_text("seq,target\nACGT,0\n")
    with pytest.raises(ValueError, match=r"data\.csv has no column 'sequence' \(sequence_column\); its columns are: "
                                         r"'seq', 'target'"):
        load_csv(path)
    with pytest.raises(ValueError, match=r"has no column 'label' \(label_column\); its columns are: 'seq', 'target'"):
        load_csv(path, sequence_column="seq")

    path.write_text("sequence,label\nACGT,0\nGGCC,\nTT,1\n")
    with pytest.raises(ValueError, match=r"data\.csv: data row 1 \(0-based, header not counted\) has no value in "
                                         r"column 'label'"):
        load_csv(path)
    path.write_text("s,y\nACGT,0\nGGCC,1\n,1\n,0\n")
    with pytest.raises(ValueError, match=r"data row 2 .* in column 's' \(1 more rows too\)"):
        load_csv(path, sequence_column="s", label_column="y")

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=re.escape(str(empty)) + " is empty"):
        load_csv(empty)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("sequence,label\nACGT,0\nGG,1,extra,fields\n")
    with pytest.raises(ValueError, match="Cannot read .*ragged\\.csv as CSV"):
        load_csv(ragged)


def test_csv_numeric_targets_and_label_matrices(tmp_path):
    regression = tmp_path / "strength.csv"
    regression.write_text("sequence,target,name\nACGT,1.5,a\nGGCC,-0.25,b\nTTAA,3e2,c\n")
    X, y = load_csv(regression, label_column="target", numeric=True, return_X_y=True)
    assert y.dtype == np.float64 and y.tolist() == [1.5, -0.25, 300.0]
    assert load_csv(regression, label_column="target", numeric=True).target_names is None
    tracks = tmp_path / "tracks.csv.gz"
    with gzip.open(tracks, "wt") as handle:
        handle.write("sequence,region,heart,limb\nACGT,chr1:1-5,1,0\nGGCC,chr2:1-5,0,0\nTTAA,chr3:1-5,1,1\n")
    bunch = load_csv(tracks, label_column=["heart", "limb"], as_frame=True)
    assert bunch.target.columns.tolist() == bunch.target_names.tolist() == ["heart", "limb"]
    assert bunch.target.to_numpy().tolist() == [[1, 0], [0, 0], [1, 1]]
    assert bunch.frame.columns.tolist() == ["sequence", "heart", "limb"]
    _, Y = load_csv(tracks, label_column=["heart", "limb"], return_X_y=True)
    assert Y.shape == (3, 2) and Y.dtype == np.float64
    with pytest.raises(ValueError, match=r"data row 1 .* has 'x' in column 'target', which is not a finite number"):
        bad = tmp_path / "bad.csv"
        bad.write_text("sequence,target\nACGT,1\nACGT,x\n")
        load_csv(bad, label_column="target", numeric=True)
    with pytest.raises(ValueError, match="no column 'lung'"):
        load_csv(tracks, label_column=["heart", "lung"])
    with pytest.raises(ValueError, match="names a column twice"):
        load_csv(tracks, label_column=["heart", "heart"])
    with pytest.raises(ValueError, match="non-empty list"):
        load_csv(tracks, label_column=[])
