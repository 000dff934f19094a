"""Genome input, atomic writes and the command line."""

import subprocess
import sys

import pytest

from dnaestim import DNATokenizer
from dnaestim.__main__ import main
from dnaestim._atomic import atomic_write
from dnaestim.genome import bundled_genome_path, fetch_sequence, open_fasta

MT_LENGTHS = {"Homo_sapiens_MT": 16569, "Pongo_MT": 16499, "Mus_musculus_AJ512208.1": 16300}


def test_bundled_genome_is_intact():
    with open_fasta(bundled_genome_path()) as fasta:
        assert len(fasta.keys()) == 8
        for name, length in MT_LENGTHS.items():
            assert len(fasta[name]) == length
        # The revised Cambridge Reference Sequence starts with GATCACAGGTCTATCACCC.
        assert fetch_sequence(fasta, "Homo_sapiens_MT", 0, 19) == "GATCACAGGTCTATCACCC"
        sequence = fetch_sequence(fasta, "Pongo_MT")
    assert len(sequence) == 16499
    assert DNATokenizer().encode(sequence).min() >= 7


def test_fetch_errors_name_the_record_and_interval():
    with open_fasta(bundled_genome_path()) as fasta:
        with pytest.raises(KeyError, match=r"Record 'chr1' is not in .*Homo_sapiens_MT"):
            fetch_sequence(fasta, "chr1")
        with pytest.raises(ValueError, match=r"Homo_sapiens_MT:16000-17000 is outside the record, which has 16569"):
            fetch_sequence(fasta, "Homo_sapiens_MT", 16000, 17000)


def test_open_fasta_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_fasta(tmp_path / "missing.fa")
    with pytest.raises(TypeError, match="FASTA path"):
        open_fasta(3)
    plain = tmp_path / "plain.fa"
    plain.write_text(">r1\nACGTACGT\nAC\n>r2\nGG\n")
    with open_fasta(plain) as fasta:
        assert fetch_sequence(fasta, "r1", 6, 10) == "GTAC"


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as fh:
            fh.write("new, half written")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["file.txt"]
    with atomic_write(target, "w") as fh:
        fh.write("new")
    assert target.read_text() == "new"
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(target, "a"):
            pass


def test_demo_trains_and_compares_with_kmers(capsys):
    assert main(["demo", "--max-time", "2"]) == 0
    out = capsys.readouterr().out
    assert "HyenaClassifier" in out and "4-mer counts + LogisticRegression" in out
    assert "ROC AUC" in out


def test_inspect_runs(capsys):
    assert main(["inspect", "--windows", "2", "--length", "256", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "Hidden states: (2, 256, 128)" in out
    assert "tokens/s" in out


def test_demo_reports_errors_without_traceback(capsys, tmp_path):
    assert main(["inspect", "--checkpoint", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "dnaestim", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in result.stdout and "inspect" in result.stdout
