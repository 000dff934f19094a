"""The command line (``python -m dnaestim``): self-describing help, flags that reach the code they name, one-line
errors, and genome jobs that honour BED strands. Tiny models and a small FASTA file keep every test fast."""

import argparse

import numpy as np
import pytest
import torch

import dnaestim
from dnaestim import HyenaConfig, HyenaEmbedder, HyenaLM, reverse_complement, save_pretrained
from dnaestim.__main__ import build_parser, main
from dnaestim.genome import GenomeSource, bundled_genome_path, read_bed
from dnaestim.genome.jobs import tile_genome

RNG_SEQUENCES = {name: "".join(np.random.default_rng(seed).choice(list("ACGT"), size=length))
                 for name, seed, length in (("r1", 1, 300), ("r2", 2, 150))}


def subcommands(parser):
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


def all_parsers():
    parser = build_parser()
    return [("dnaestim", parser)] + [(f"dnaestim {name}", sub) for name, sub in subcommands(parser).items()]


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """A plain FASTA file of two random records and a tiny random model saved in the published layout."""
    folder = tmp_path_factory.mktemp("genome")
    fasta = folder / "tiny.fa"
    fasta.write_text("".join(f">{name}\n{seq[:80]}\n{seq[80:160]}\n{seq[160:]}\n"
                             for name, seq in RNG_SEQUENCES.items()))
    config = HyenaConfig(d_model=16, n_layer=1, d_inner=32, l_max=128, emb_dim=5, filter_order=16)
    save_pretrained(HyenaLM(config, generator=torch.Generator().manual_seed(0)), folder / "model")
    return fasta, folder / "model"


def embed_genome(genome, tmp_path, *flags):
    fasta, model = genome
    output = tmp_path / "out.npz"
    assert main(["embed-genome", str(fasta), "--checkpoint", str(model), "--output", str(output), "--device", "cpu",
                 *flags]) == 0
    with np.load(output) as data:
        return {key: data[key] for key in data.files}


def direct_embeddings(model, sequences, **params):
    embedder = HyenaEmbedder(pretrained=str(model), device="cpu", **params).fit()
    return embedder.transform(sequences)


# -- help, version, errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("prog, parser", all_parsers(), ids=[name for name, _ in all_parsers()])
def test_help_lists_every_flag_with_help_and_default(prog, parser, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # no wrapping: each option's help is on one line
    with pytest.raises(SystemExit) as exit_info:
        main([*prog.split()[1:], "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        assert action.help, f"{prog}: {action.dest} has no help text"
        help_text = " ".join(action.help.split())
        assert help_text in text
        for option in action.option_strings:
            assert option in text, f"{prog} --help does not mention {option}"
        if action.option_strings and action.default is not argparse.SUPPRESS:
            after = text[text.index(help_text):][:len(help_text) + 80]
            assert "(default" in after or (action.required and "(required)" in after), \
                f"{prog} --help shows no default for {action.option_strings[0]}: {after!r}"
            if action.choices is not None and not isinstance(action.default, bool):
                assert action.default in action.choices


def test_fixed_sets_of_values_are_choices():
    commands = subcommands(build_parser())
    for name in ("pretrain", "embed-genome", "score-genome"):
        actions = {a.dest: a for a in commands[name]._actions}
        assert tuple(actions["precision"].choices) == ("auto", "32", "bf16", "16", "64")
    assert tuple({a.dest: a for a in commands["embed-genome"]._actions}["pooling"].choices) == ("mean", "last")


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"dnaestim {dnaestim.__version__}"


def test_progress_has_one_meaning_everywhere():
    flags = [a for name, parser in all_parsers() for a in parser._actions if "--progress" in a.option_strings]
    assert len(flags) >= 4  # demo, pretrain, embed-genome, score-genome
    assert all(isinstance(a, argparse._StoreTrueAction) for a in flags)
    assert len({a.help for a in flags}) == 1


@pytest.mark.parametrize("argv, message", [
    (["pretrain", "g.fa", "--output", "o", "--precision", "8"],
     "argument --precision: precision must be one of ('auto', '32', 'bf16', '16', '64'); got '8'"),
    (["pretrain", "g.fa", "--output", "o", "--device", "gpu"],
     "argument --device: device='gpu' is not a device; use auto, cpu"),
    (["pretrain", "g.fa", "--output", "o", "--batch-size", "0"], "argument --batch-size: must be >= 1; got 0"),
    (["pretrain", "g.fa", "--output", "o", "--max-steps", "ten"], "argument --max-steps: expected an integer"),
    (["pretrain", "g.fa", "--output", "o", "--validation-fraction", "1.5"], "must be in [0, 1); got 1.5"),
    (["pretrain", "g.fa", "--output", "o", "--lr", "nan"], "argument --lr: must be > 0; got nan"),
    (["pretrain", "g.fa"], "the following arguments are required: --output"),
    (["demo", "--progress", "1"], "unrecognized arguments: 1"),
    (["embed-genome", "g.fa", "--checkpoint", "m", "--output", "o", "--pooling", "max"],
     "argument --pooling: pooling must be one of ('mean', 'last'); got 'max'"),
    (["embed-genome", "g.fa", "--checkpoint", "m", "--output", "o", "--chunk-size", "0"],
     "argument --chunk-size: expected a positive integer, 'auto' or 'none'; got '0'"),
    (["score-genome", "g.fa", "--checkpoint", "m", "--output", "o", "--chunk-size", "big"], "got 'big'"),
    (["score-genome", "g.fa", "--checkpoint", "m", "--output", "o", "--pooling", "mean"],
     "unrecognized arguments: --pooling mean"),
    (["demo", "--dataset", "mnist"], "argument --dataset: dataset must be one of ('gue_prom_core_tata', "),
    (["nonsense"], "invalid choice: 'nonsense'"),
])
def test_bad_flag_values_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], captured.err
    assert lines[0].startswith("dnaestim") and "Traceback" not in captured.err and not captured.out


@pytest.mark.parametrize("text, value", [("auto", "auto"), ("none", None), ("None", None), ("4096", 4096)])
def test_chunk_size_values(text, value):
    args = build_parser().parse_args(["embed-genome", "g.fa", "--checkpoint", "m", "--output", "o",
                                      "--chunk-size", text])
    assert args.chunk_size == value


# -- pretrain ----------------------------------------------------------------------------------------------------


def test_pretrain_gradient_checkpointing_reaches_the_estimator(tmp_path, monkeypatch, capsys):
    from dnaestim import HyenaPretrainer

    seen = {}
    fit = HyenaPretrainer.fit

    def spy(self, *args, **kwargs):
        result = fit(self, *args, **kwargs)
        seen["params"] = self.get_params()
        seen["layer"] = self.model_.backbone.layers[0]
        return result

    monkeypatch.setattr(HyenaPretrainer, "fit", spy)
    assert build_parser().parse_args(["pretrain", "g.fa", "--output", "o"]).gradient_checkpointing is False
    assert main(["pretrain", str(bundled_genome_path()), "--output", str(tmp_path / "out"), "--device", "cpu",
                 "--precision", "32", "--d-model", "8", "--n-layer", "1", "--max-length", "32", "--batch-size", "2",
                 "--max-steps", "2", "--eval-interval", "1", "--gradient-checkpointing", "--rc-augment",
                 "--progress"]) == 0
    assert seen["params"]["gradient_checkpointing"] is True and seen["params"]["rc_augment"] is True
    assert seen["params"]["verbose"] == 2  # --progress: a table row per evaluation and a progress bar
    assert seen["layer"].checkpoint_mixer and seen["layer"].checkpoint_mlp
    assert "train loss" in capsys.readouterr().err


# -- genome jobs -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision, param_dtype, autocast_dtype", [("64", torch.float64, None),
                                                                    ("bf16", torch.float32, torch.bfloat16)])
def test_embed_genome_pooling_precision_and_chunk_size(genome, tmp_path, monkeypatch, precision, param_dtype,
                                                       autocast_dtype):
    import dnaestim.genome.jobs as jobs
    from dnaestim.nn.hyena import HyenaBackbone

    seen = {"chunk_size": set()}
    predict_batches, backbone_forward = jobs.predict_batches, HyenaBackbone.forward

    def spy_batches(module, *args, **kwargs):
        seen["dtype"], seen["autocast"] = next(module.parameters()).dtype, kwargs["autocast_dtype"]
        return predict_batches(module, *args, **kwargs)

    def spy_forward(self, *args, **kwargs):
        seen["chunk_size"].add(kwargs.get("chunk_size"))
        return backbone_forward(self, *args, **kwargs)

    monkeypatch.setattr(jobs, "predict_batches", spy_batches)
    monkeypatch.setattr(HyenaBackbone, "forward", spy_forward)
    out = embed_genome(genome, tmp_path, "--window", "100", "--pooling", "last", "--precision", precision,
                       "--chunk-size", "16")
    assert seen == {"dtype": param_dtype, "autocast": autocast_dtype, "chunk_size": {16}}
    assert out["start"].tolist() == [0, 100, 200, 0, 100] and out["end"].tolist() == [100, 200, 300, 100, 150]
    assert out["embedding"].shape == (5, 16) and out["strand"].tolist() == ["+"] * 5
    monkeypatch.undo()
    windows = [RNG_SEQUENCES[r][s:e] for r, s, e in zip(out["record"], out["start"], out["end"])]
    expected = direct_embeddings(genome[1], windows, pooling="last", precision="32", chunk_size=None)
    tolerance = 1e-5 if precision == "64" else 0.05  # bf16 autocast rounds to 8 bits of mantissa
    np.testing.assert_allclose(out["embedding"], expected, rtol=tolerance, atol=tolerance)
    mean = embed_genome(genome, tmp_path, "--window", "100")  # the defaults: mean pooling in float32
    np.testing.assert_allclose(mean["embedding"], direct_embeddings(genome[1], windows, precision="32"),
                               rtol=1e-4, atol=1e-5)
    assert not np.allclose(mean["embedding"], out["embedding"], atol=1e-2)


def test_embed_genome_minus_strand_embeds_the_reverse_complement(genome, tmp_path, capsys):
    bed = tmp_path / "regions.bed"
    bed.write_text("# name score strand\n"
                   "r1\t10\t90\tplus\t0\t+\n"
                   "r1\t50\t120\tminus\t0\t-\n"
                   "r2\t0\t100\tunknown\t0\t.\n"
                   "r2\t20\t60\n")
    out = embed_genome(genome, tmp_path, "--intervals", str(bed), "--window", "128", "--progress")
    assert "embed-genome" in capsys.readouterr().err  # the progress bar
    assert out["strand"].tolist() == ["+", "-", "+", "+"]
    assert out["start"].tolist() == [10, 50, 0, 20] and out["end"].tolist() == [90, 120, 100, 60]
    r1, r2 = RNG_SEQUENCES["r1"], RNG_SEQUENCES["r2"]
    sequences = [r1[10:90], reverse_complement(r1[50:120]), r2[0:100], r2[20:60]]
    np.testing.assert_allclose(out["embedding"], direct_embeddings(genome[1], sequences, precision="32"),
                               rtol=1e-4, atol=1e-5)
    forward = direct_embeddings(genome[1], [r1[50:120]], precision="32")[0]
    assert not np.allclose(out["embedding"][1], forward, atol=1e-3)


def test_score_genome_minus_strand_scores_the_reverse_complement(genome, tmp_path):
    from dnaestim.scoring import token_log_probs

    fasta, model = genome
    bed = tmp_path / "regions.bed"
    bed.write_text("r1\t50\t120\tx\t0\t-\nr1\t50\t120\tx\t0\t+\n")
    assert main(["score-genome", str(fasta), "--checkpoint", str(model), "--output", str(tmp_path / "s.npz"),
                 "--intervals", str(bed), "--window", "129", "--chunk-size", "none"]) == 0
    with np.load(tmp_path / "s.npz") as data:
        log_likelihood, n_scored, strand = data["log_likelihood"], data["n_scored"], data["strand"]
    window = RNG_SEQUENCES["r1"][50:120]
    expected = [s.sum() for s in token_log_probs(str(model), [reverse_complement(window), window])]
    np.testing.assert_allclose(log_likelihood, expected, rtol=1e-6)
    assert n_scored.tolist() == [69, 69] and strand.tolist() == ["-", "+"]


def test_minus_strand_intervals_are_tiled_from_their_end():
    sequence = RNG_SEQUENCES["r1"]
    source = GenomeSource(sequences=[sequence], intervals=[("0", 5, 30, "-"), ("0", 5, 30, "+")],
                          validation_fraction=0)
    tiles = tile_genome(source, 10, 10)
    assert [(t.start, t.end, t.strand) for t in tiles] == [(20, 30, "-"), (10, 20, "-"), (5, 10, "-"),
                                                           (5, 15, "+"), (15, 25, "+"), (25, 30, "+")]
    minus = source.read(tiles[:3], stranded=True)
    assert "".join(minus) == reverse_complement(sequence[5:30])
    assert source.read(tiles[:3]) == [sequence[20:30], sequence[10:20], sequence[5:10]]  # as stored by default
    overlapping = tile_genome(source, 10, 4)
    assert [(t.start, t.end) for t in overlapping if t.strand == "-"] == [(20, 30), (16, 26), (12, 22), (8, 18),
                                                                          (5, 14)]


def test_bed_strand_is_read_and_checked(tmp_path):
    bed = tmp_path / "a.bed"
    bed.write_text("r1\t0\t10\tn\t0\t-\r\nr1\t5\t20\tn\t0\t.\nr2\t1\t2\n")
    assert read_bed(bed) == [("r1", 0, 10), ("r1", 5, 20), ("r2", 1, 2)]  # three columns, as before
    assert read_bed(bed, strand=True) == [("r1", 0, 10, "-"), ("r1", 5, 20, "+"), ("r2", 1, 2, "+")]
    bad = tmp_path / "bad.bed"
    bad.write_text("r1\t0\t10\tn\t0\t+\nr1\t0\t10\tn\t0\tminus\n")
    with pytest.raises(ValueError, match=r"bad\.bed, line 2: strand \(column 6\) must be '\+', '-' or '\.'; "
                                         r"got 'minus'"):
        read_bed(bad)
    with pytest.raises(ValueError, match=r"must be '\+', '-' or '\.'; got '\*'"):
        GenomeSource(sequences=["ACGTACGT"], intervals=[("0", 0, 4, "*")], validation_fraction=0)


def test_bad_bed_strand_is_a_one_line_cli_error(genome, tmp_path, capsys):
    fasta, model = genome
    bed = tmp_path / "bad.bed"
    bed.write_text("r1\t0\t10\tn\t0\t+\nr1\t0\t10\tn\t0\tminus\n")
    assert main(["embed-genome", str(fasta), "--checkpoint", str(model), "--output", str(tmp_path / "o.npz"),
                 "--intervals", str(bed), "--window", "64"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dnaestim embed-genome: error: ") and "Traceback" not in err
    assert f"{bed}, line 2: strand (column 6) must be '+', '-' or '.'; got 'minus'" in err


def test_pretraining_reads_minus_strand_intervals_as_stored(tmp_path):
    sequence = RNG_SEQUENCES["r1"]
    stranded = GenomeSource(sequences=[sequence], intervals=[("0", 0, 100, "-")], validation_fraction=0)
    plain = GenomeSource(sequences=[sequence], intervals=[("0", 0, 100)], validation_fraction=0)
    assert stranded.sample_windows(32, 4, seed=0, step=0) == plain.sample_windows(32, 4, seed=0, step=0)
    assert stranded.read(stranded.train_regions) == [sequence[:100]]
