"""Variants from VCF files: the strict reader, scores of every kind of allele on equal-length windows, the written
table and annotated VCF, and ``python -m dnaestim score-vcf``. A 300-base random chromosome and a tiny model keep
every test fast."""

import argparse
import gzip

import numpy as np
import pandas as pd
import pytest
import torch

from dnaestim import HyenaConfig, HyenaLM, save_pretrained, score_variants
from dnaestim.__main__ import build_parser, main
from dnaestim.scoring import sequence_log_likelihood
from dnaestim.vcf import VcfVariant, annotate_vcf, iter_vcf, read_vcf, write_scores

WINDOW = 64
LENGTH = 300


def _chromosome():
    rng = np.random.default_rng(21)
    bases = list("".join(rng.choice(list("ACGT"), size=LENGTH)))
    placed = ((14, "G"), (17, "T"), (110, "A"), (150, "GTC"), (260, "AC"), (280, "ACG"), (295, "ACGTA"), (300, "T"))
    for pos, allele in placed:
        bases[pos - 1:pos - 1 + len(allele)] = allele
    text = "".join(bases)
    return text[:100] + text[100:130].lower() + text[130:]  # a soft-masked stretch, as in real assemblies


CHROM = _chromosome()
HEADER = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNA00001\tNA00002\n"
META = ("##fileformat=VCFv4.2\n##fileDate=20090805\n##source=myImputationProgramV3.1\n"
        '##INFO=<ID=NS,Number=1,Type=Integer,Description="Number of Samples With Data">\n'
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
#: (pos, id, ref, alt) of the records of the spec-like VCF, after the 5 meta lines and the header (line 7 on)
RECORDS = [
    (14, "rs6054257", "G", "A"),              # SNV
    (17, ".", "T", "a"),                      # SNV, lower-case ALT
    (110, "rs6040355", "A", "G,T"),           # multi-allelic SNV, in the soft-masked stretch
    (123, ".", CHROM[122].upper(), "."),      # no ALT
    (150, "microsat1", "GTC", "G,GTCT"),      # deletion and insertion
    (200, "sv1", CHROM[199].upper(), "<DEL>"),
    (220, "bnd_W", CHROM[219].upper(), CHROM[219].upper() + "]20:250]"),
    (240, ".", CHROM[239].upper(), "C,*"),    # a substitution and a spanning deletion
    (260, "mnv1", "AC", "GT"),                # multi-nucleotide substitution
    (280, "cx1", "ACG", "TT"),                # complex
    (295, "del_end", "ACGTA", "A"),           # deletion at the end of the chromosome
]


def vcf_text(records=RECORDS, chrom="20", header=HEADER, meta=META):
    rows = "".join(f"{chrom}\t{pos}\t{ident}\t{ref}\t{alt}\t50\tPASS\tNS=2\tGT\t0|1\t1/1\n"
                   for pos, ident, ref, alt in records)
    return meta + header + rows


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vcf")
    fasta = folder / "ref.fa"
    fasta.write_text(">20 test chromosome\n" + "".join(CHROM[i:i + 70] + "\n" for i in range(0, LENGTH, 70)))
    vcf = folder / "calls.vcf"
    vcf.write_text(vcf_text())
    return vcf, fasta


@pytest.fixture(scope="module")
def model():
    return HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=128, w=10),
                   generator=torch.Generator().manual_seed(0)).eval()


def write(tmp_path, text, name="bad.vcf"):
    path = tmp_path / name
    path.write_text(text)
    return path


# -- the reader --------------------------------------------------------------------------------------------------


def test_read_vcf_gives_one_row_per_alt_allele_with_status(files):
    table = read_vcf(files[0])
    assert list(table.columns) == ["chrom", "pos", "id", "ref", "alt", "status", "line"]
    assert table["alt"].tolist() == ["A", "a", "G", "T", ".", "G", "GTCT", "<DEL>", RECORDS[6][3], "C", "*", "GT",
                                     "TT", "A"]
    assert table["status"].tolist() == ["ok", "ok", "ok", "ok", "no ALT", "ok", "ok", "symbolic allele", "breakend",
                                        "ok", "spanning deletion", "ok", "ok", "ok"]
    assert table["line"].tolist() == [7, 8, 9, 9, 10, 11, 11, 12, 13, 14, 14, 15, 16, 17]
    assert table["pos"].tolist()[:4] == [14, 17, 110, 110] and table["pos"].dtype == np.int64
    assert table["id"].tolist()[:4] == ["rs6054257", None, "rs6040355", "rs6040355"]
    assert (table["chrom"] == "20").all()
    first = next(iter_vcf(files[0]))
    assert first == VcfVariant("20", 14, "rs6054257", "G", "A", 7, "ok")


@pytest.mark.parametrize("alt, status", [("<CN0>", "symbolic allele"), ("<INS:ME:ALU>", "symbolic allele"),
                                         ("N[chr2:321682[", "breakend"), ("]13:123456]T", "breakend"),
                                         ("C[<ctg1>:7[", "breakend"), (".A", "breakend"), ("G.", "breakend"),
                                         ("*", "spanning deletion"), ("acgtn", "ok")])
def test_alleles_that_cannot_be_scored_are_kept_with_a_status(tmp_path, alt, status):
    table = read_vcf(write(tmp_path, vcf_text([(5, ".", "N", alt)])))
    assert table["status"].tolist() == [status]


def test_gzip_and_bgzip_are_detected_from_the_content(files, tmp_path):
    from Bio.bgzf import BgzfWriter

    text = files[0].read_text()
    with gzip.open(tmp_path / "calls.vcf.gz", "wt") as fh:
        fh.write(text)
    with BgzfWriter(str(tmp_path / "calls.bgz.vcf"), "wb") as fh:  # bgzip under a plain name
        fh.write(text.encode())
    expected = read_vcf(files[0])
    pd.testing.assert_frame_equal(read_vcf(tmp_path / "calls.vcf.gz"), expected)
    pd.testing.assert_frame_equal(read_vcf(tmp_path / "calls.bgz.vcf"), expected)
    write(tmp_path, text.replace("\n", "\r\n"), "crlf.vcf")
    pd.testing.assert_frame_equal(read_vcf(tmp_path / "crlf.vcf"), expected)


def test_a_vcf_without_records_is_an_empty_table(tmp_path):
    table = read_vcf(write(tmp_path, META + HEADER))
    assert len(table) == 0 and list(table.columns) == ["chrom", "pos", "id", "ref", "alt", "status", "line"]


RECORD = "20\t14\trs1\tG\tA\t50\tPASS\t.\tGT\t0|1\t1/1\n"


@pytest.mark.parametrize("text, message", [
    (META + RECORD, r"line 6: a record comes before the header line \(#CHROM POS"),
    (META, r"has no header line \(#CHROM POS ID REF ALT QUAL FILTER INFO"),
    ("", "has no header line"),
    (META + HEADER.replace("\t", " ") + RECORD, r"line 6: the header line must be .*separated by spaces"),
    (META + HEADER.replace("QUAL", "QUALITY") + RECORD, "line 6: the header line must be"),
    (META + HEADER + "20\t14\trs1\tG\tA\t50\tPASS\t.\n",
     r"line 7 \(20 14 rs1 G A\): the record has 8 tab-separated columns, but the header \(line 6\) has 11"),
    (META + HEADER + RECORD.replace("\t", " "), "has 1 tab-separated columns.*separated by spaces"),
    (META + HEADER + RECORD.replace("\t14\t", "\t0\t"), r"line 7 .*POS '0' is not a positive integer.*1-based"),
    (META + HEADER + RECORD.replace("\t14\t", "\t1.5e3\t"), "POS '1.5e3' is not a positive integer"),
    (META + HEADER + RECORD.replace("\t14\t", "\t-3\t"), "POS '-3' is not a positive integer"),
    (META + HEADER + RECORD.replace("\tG\tA\t", "\tR\tA\t"), r"REF 'R' has characters other than A, C, G, T, N"),
    (META + HEADER + RECORD.replace("\tG\tA\t", "\t.\tA\t"), r"REF '\.' has characters other than"),
    (META + HEADER + RECORD.replace("\tG\tA\t", "\tG\tX\t"), r"ALT allele 'X' is not valid.*symbolic allele"),
    (META + HEADER + RECORD.replace("\tG\tA\t", "\tG\tA,,T\t"), "ALT allele '' is not valid"),
    (META + HEADER + RECORD.replace("\tG\tA\t", "\tG\tA,.\t"), r"ALT allele '\.' is not valid"),
    (META + HEADER + RECORD + "##INFO=<ID=DP>\n", r"line 8: a header or meta-information line after the header"),
    (META + HEADER + "\t14\trs1\tG\tA\t50\tPASS\t.\tGT\t0|1\t1/1\n", "CHROM '' is empty"),
])
def test_malformed_vcf_errors_name_the_file_line_and_record(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as info:
        read_vcf(path)
    assert str(path) in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="VCF file .*missing.vcf does not exist"):
        read_vcf(tmp_path / "missing.vcf")
    with pytest.raises(TypeError, match="str or os.PathLike"):
        read_vcf(42)
    data = gzip.compress(vcf_text().encode())
    (tmp_path / "cut.vcf.gz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="damaged or truncated"):
        read_vcf(tmp_path / "cut.vcf.gz")
    (tmp_path / "binary.vcf").write_bytes(b"##fileformat=VCFv4.2\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"line 2: not UTF-8 text"):
        read_vcf(tmp_path / "binary.vcf")


# -- scores ------------------------------------------------------------------------------------------------------


def test_snv_scores_equal_the_array_api(model, files, tmp_path):
    snvs = [(1, ".", CHROM[0].upper(), "T"), (14, "rs1", "G", "C"), (17, ".", "T", "A"), (110, ".", "A", "G"),
            (115, ".", CHROM[114].upper(), "C"), (LENGTH, ".", CHROM[-1].upper(), "A")]
    table = score_variants(model, vcf=write(tmp_path, vcf_text(snvs), "snvs.vcf"), fasta=files[1], window=WINDOW)
    arrays = score_variants(model, [p - 1 for p, *_ in snvs], [a for *_, a in snvs], fasta=files[1], record="20",
                            refs=[r for _, _, r, _ in snvs], window=WINDOW)
    np.testing.assert_array_equal(table["score"].to_numpy(), arrays)
    assert (table["status"] == "ok").all()


def hand_windows(position, ref, alt, window=WINDOW):
    """The equal-length windows of the documented rule, written out independently of the library."""
    start = max(0, min(position - window // 2, LENGTH - window))
    ref_window = CHROM[start:start + window]
    alt_window = (CHROM[start:position] + alt + CHROM[position + len(ref):])[:window]
    n = min(len(ref_window), len(alt_window))
    return ref_window[:n], alt_window[:n]


def test_every_allele_kind_scores_on_equal_length_windows(model, files):
    table = score_variants(model, vcf=files[0], fasta=files[1], window=WINDOW)
    assert list(table.columns) == ["chrom", "pos", "id", "ref", "alt", "score", "status", "line"]
    pd.testing.assert_frame_equal(table.drop(columns="score"), read_vcf(files[0]))
    scorable = table["status"] == "ok"
    assert np.isfinite(table["score"][scorable]).all() and table["score"][~scorable].isna().all()
    near_end = hand_windows(294, "ACGTA", "A")
    assert len(near_end[0]) == len(near_end[1]) == WINDOW - 4  # the deletion leaves 4 bases fewer to the end
    for row in table[scorable].itertuples():
        ref_window, alt_window = hand_windows(row.pos - 1, row.ref, row.alt)
        assert len(ref_window) == len(alt_window)
        expected = np.subtract(*sequence_log_likelihood(model, [alt_window, ref_window]))
        assert row.score == pytest.approx(expected, abs=1e-6), row
    # a SNV scored among indels equals its array-API score
    snv = score_variants(model, [13], ["A"], fasta=files[1], record="20", window=WINDOW)[0]
    assert table["score"][0] == pytest.approx(snv, abs=1e-6)


def test_ref_mismatch_raises_or_is_flagged(model, files, tmp_path):
    records = [(14, "rs1", "G", "A"), (17, "rs2", "C", "A"), (298, "long", "GTAAA", "G")]  # 17 is T; 298 runs off
    vcf = write(tmp_path, vcf_text(records))
    with pytest.raises(ValueError, match=r"bad.vcf, line 8: REF 'C' at 20:17 does not match .*ref.fa: the "
                                         r"reference has 'T' there. Check .* same assembly.*on_ref_mismatch='flag'"):
        score_variants(model, vcf=vcf, fasta=files[1], window=WINDOW)
    table = score_variants(model, vcf=vcf, fasta=files[1], window=WINDOW, on_ref_mismatch="flag")
    assert table["status"].tolist() == ["ok", "REF mismatch", "REF mismatch"]
    assert np.isfinite(table["score"][0]) and table["score"][1:].isna().all()
    with pytest.raises(ValueError, match=r"REF 'GTAAA' at 20:298 .*at the end of 20 \(300 bases\)"):
        score_variants(model, vcf=write(tmp_path, vcf_text(records[2:]), "end.vcf"), fasta=files[1], window=WINDOW)
    with pytest.raises(ValueError, match=r"REF 'A' at 20:400 .*20 has only 300 bases"):
        score_variants(model, vcf=write(tmp_path, vcf_text([(400, ".", "A", "C")]), "far.vcf"), fasta=files[1],
                       window=WINDOW)


def test_chromosome_missing_from_the_fasta(model, files, tmp_path):
    with pytest.raises(ValueError, match=r"Chromosome 'chr20' of .*chr.vcf \(line 7\) is not in .*ref.fa, which has "
                                         r"1 record\(s\): 20. It has '20': the two files name chromosomes"):
        score_variants(model, vcf=write(tmp_path, vcf_text(chrom="chr20"), "chr.vcf"), fasta=files[1])
    with pytest.raises(ValueError, match=r"Chromosome 'X' .*which has 1 record\(s\): 20. Check .* same assembly"):
        score_variants(model, vcf=write(tmp_path, vcf_text(chrom="X"), "x.vcf"), fasta=files[1])
    # a chromosome with nothing to score (symbolic alleles only) needs no sequence
    table = score_variants(model, vcf=write(tmp_path, vcf_text([(5, ".", "N", "<DEL>")], chrom="X"), "sv.vcf"),
                           fasta=files[1])
    assert table["status"].tolist() == ["symbolic allele"]


def test_argument_styles(model, files):
    with pytest.raises(ValueError, match=r"not both: vcf= was given with positions=, alts="):
        score_variants(model, [1], ["A"], vcf=files[0], fasta=files[1])
    with pytest.raises(ValueError, match=r"not both: vcf= was given with record="):
        score_variants(model, vcf=files[0], fasta=files[1], record="20")
    with pytest.raises(ValueError, match="vcf= needs fasta="):
        score_variants(model, vcf=files[0])
    with pytest.raises(ValueError, match="either as positions= and alts= .* or as vcf="):
        score_variants(model, sequence="ACGT" * 8)
    with pytest.raises(ValueError, match="on_ref_mismatch must be 'raise' or 'flag'; got 'warn'"):
        score_variants(model, vcf=files[0], fasta=files[1], on_ref_mismatch="warn")
    with pytest.raises(ValueError, match=r"window must be an int in \[2, 129\]"):
        score_variants(model, vcf=files[0], fasta=files[1], window=500)


def test_array_api_flags_ref_mismatches(model):
    reference = "ACGTTGCA" * 12
    flagged = score_variants(model, [40, 41], ["A", "T"], sequence=reference, refs=["G", "C"], window=32,
                             on_ref_mismatch="flag")
    assert np.isnan(flagged[0])
    assert flagged[1] == pytest.approx(score_variants(model, [41], ["T"], sequence=reference, window=32)[0], abs=1e-9)


# -- writing -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scores(model, files):
    return score_variants(model, vcf=files[0], fasta=files[1], window=WINDOW)


def info_scores(path):
    """``line -> [values]`` of DNAESTIM_LLR in a written VCF (None where absent)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    out = {}
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            info = dict(entry.split("=", 1) for entry in line.split("\t")[7].split(";") if "=" in entry)
            out[(line.split("\t")[0], int(line.split("\t")[1]))] = info.get("DNAESTIM_LLR")
    return out


def test_written_table_round_trips(scores, tmp_path):
    path = write_scores(scores, tmp_path / "scores.tsv")
    assert path == tmp_path / "scores.tsv"
    lines = path.read_text().splitlines()
    assert lines[0] == "chrom\tpos\tid\tref\talt\tscore\tstatus\tline"
    assert lines[2].split("\t")[:3] == ["20", "17", "."]
    assert lines[5].split("\t")[5:7] == ["NaN", "no ALT"]
    back = pd.read_csv(path, sep="\t", dtype={"chrom": str})
    np.testing.assert_array_equal(back["score"].to_numpy(), scores["score"].to_numpy())
    assert back["alt"].tolist() == scores["alt"].tolist() and back["line"].tolist() == scores["line"].tolist()
    with pytest.raises(FileNotFoundError, match="the directory .*nowhere does not exist"):
        write_scores(scores, tmp_path / "nowhere" / "scores.tsv")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['score'\]"):
        write_scores(scores.drop(columns="score"), tmp_path / "x.tsv")


@pytest.mark.parametrize("name", ["scored.vcf", "scored.vcf.gz"])
def test_annotated_vcf_carries_the_scores(files, scores, tmp_path, name):
    path = annotate_vcf(files[0], scores, tmp_path / name)
    if name.endswith(".gz"):
        with open(path, "rb") as fh:
            assert fh.read(4) == b"\x1f\x8b\x08\x04"  # BGZF: gzip with the extra field, indexable by tabix
    text = gzip.open(path, "rt").read() if name.endswith(".gz") else path.read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[-2].startswith("##INFO=<ID=DNAESTIM_LLR,Number=A,Type=Float,Description=\"")
    assert header[-1] == HEADER.rstrip("\n")
    values = info_scores(path)
    assert values[("20", 123)] is None and values[("20", 200)] is None  # nothing scorable: no key
    assert values[("20", 240)].split(",")[1] == "."                      # the '*' of "C,*"
    for (chrom, pos), group in scores.groupby(["chrom", "pos"], sort=False):
        if group["score"].notna().any():
            written = [np.nan if v == "." else float(v) for v in values[(chrom, pos)].split(",")]
            np.testing.assert_allclose(written, group["score"], rtol=1e-5, atol=1e-6)
    again = read_vcf(path)
    pd.testing.assert_frame_equal(again.drop(columns="line"), read_vcf(files[0]).drop(columns="line"))
    assert (again["line"] == read_vcf(files[0])["line"] + 1).all()  # one header line more
    # annotating the annotated file replaces the field and its header line
    twice = annotate_vcf(path, scores.assign(line=scores["line"] + 1, score=1.0), tmp_path / ("2" + name))
    text = gzip.open(twice, "rt").read() if name.endswith(".gz") else twice.read_text()
    assert text.count("##INFO=<ID=DNAESTIM_LLR") == 1 and "NS=2;DNAESTIM_LLR=1,1\t" in text


def test_annotating_with_scores_of_another_file_fails_and_writes_nothing(files, scores, tmp_path):
    out = tmp_path / "scored.vcf"
    with pytest.raises(ValueError, match=r"14 row\(s\) of scores match no ALT allele .*line 107 ALT 'A'"):
        annotate_vcf(files[0], scores.assign(line=scores["line"] + 100), out)
    assert not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match=r"scores row for line 7 \(21:14 A\) does not match that line"):
        annotate_vcf(files[0], scores.assign(chrom="21"), out)
    with pytest.raises(ValueError, match="two rows for ALT 'A' of line 7"):
        annotate_vcf(files[0], pd.concat([scores, scores.iloc[:1]]), out)
    assert not list(tmp_path.iterdir())


# -- command line ------------------------------------------------------------------------------------------------


def test_score_vcf_command(model, files, tmp_path, capsys):
    save_pretrained(model, tmp_path / "model")
    table, scored = tmp_path / "scores.tsv", tmp_path / "scored.vcf.gz"
    assert main(["score-vcf", "--vcf", str(files[0]), "--fasta", str(files[1]), "--checkpoint",
                 str(tmp_path / "model"), "--window", str(WINDOW), "--batch-size", "4", "--device", "cpu",
                 "--output", str(table), "--output-vcf", str(scored)]) == 0
    out = capsys.readouterr().out
    assert "score-vcf: 10 of 14 ALT alleles scored (not scored: " in out and "1 symbolic allele" in out
    expected = score_variants(model, vcf=files[0], fasta=files[1], window=WINDOW)
    back = pd.read_csv(table, sep="\t", dtype={"chrom": str})
    # the same model from its checkpoint, in batches of 4 windows instead of 16: float32 rounding differs
    np.testing.assert_allclose(back["score"], expected["score"], rtol=1e-5, atol=1e-5)
    assert back["status"].tolist() == expected["status"].tolist()
    assert float(info_scores(scored)[("20", 14)]) == pytest.approx(expected["score"][0], abs=1e-5)


def test_score_vcf_errors_are_one_line(model, files, tmp_path, capsys):
    save_pretrained(model, tmp_path / "model")
    vcf = write(tmp_path, vcf_text([(17, ".", "C", "A")]))
    argv = ["score-vcf", "--vcf", str(vcf), "--fasta", str(files[1]), "--checkpoint", str(tmp_path / "model"),
            "--output", str(tmp_path / "s.tsv")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dnaestim score-vcf: error: ") and "line 7: REF 'C' at 20:17" in err[0]
    assert not (tmp_path / "s.tsv").exists()
    assert main([*argv, "--on-ref-mismatch", "flag"]) == 0
    assert pd.read_csv(tmp_path / "s.tsv", sep="\t")["status"].tolist() == ["REF mismatch"]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--on-ref-mismatch", "warn"])
    assert info.value.code == 2
    assert "on_ref_mismatch must be one of ('raise', 'flag'); got 'warn'" in capsys.readouterr().err


def test_score_vcf_help_and_defaults(capsys, monkeypatch):
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser = action.choices["score-vcf"]
    args = parser.parse_args(["--vcf", "a.vcf", "--fasta", "g.fa", "--output", "s.tsv"])
    assert args.checkpoint == "dnaestim-multispecies-tiny-1k" and args.window is None
    assert args.on_ref_mismatch == "raise" and args.output_vcf is None
    monkeypatch.setenv("COLUMNS", "2000")
    with pytest.raises(SystemExit):
        main(["score-vcf", "--help"])
    text = capsys.readouterr().out
    for flag in ("--vcf", "--fasta", "--checkpoint", "--output", "--output-vcf", "--window", "--batch-size",
                 "--on-ref-mismatch", "--device"):
        assert flag in text
