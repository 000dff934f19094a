"""The recipe behind the bundled backbone (benchmarks/pretrain_bundled.py) runs end to end, resumes, and never
trains on a benchmark sequence."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from dnaestim import load_pretrained

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "benchmarks" / "pretrain_bundled.py"


def _genomes(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "genomes"
    folder.mkdir()
    planted = "".join(rng.choice(list("ACGT"), 80))
    worm = "".join(rng.choice(list("ACGT"), 3000))
    worm = worm[:500] + planted + worm[580:]
    fly = "".join(rng.choice(list("ACGT"), 2000))
    complement = str.maketrans("ACGT", "TGCA")
    fly = fly[:1000] + planted.translate(complement)[::-1] + fly[1080:]  # the other strand
    (folder / "worm_species_a.fa").write_text(f">X\n{worm}\n>I\n{worm[::-1]}\n")
    (folder / "fly_species_b.fa").write_text(f">X\n{fly}\n")
    tasks = tmp_path / "benchmarks" / "task_a"
    tasks.mkdir(parents=True)
    with gzip.open(tasks / "test.csv.gz", "wt") as fh:
        fh.write(f"sequence,label\n{planted},1\n{'ACGT' * 20},0\n")
    return folder, tmp_path / "benchmarks"


def _run(*args):
    command = [sys.executable, str(RECIPE), "--d-model", "16", "--n-layer", "1", "--max-length", "64",
               "--batch-size", "2", "--checkpoint-interval", "2", "--eval-interval", "2", "--validation-windows",
               "4", "--report-windows", "4", "--report-window", "64", "--markov-max-k", "3", "--precision", "32",
               *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_recipe_excludes_benchmark_sequences_resumes_and_exports(tmp_path):
    genomes, benchmarks = _genomes(tmp_path)
    out, export = tmp_path / "run", tmp_path / "export"
    _run("--genomes", genomes, "--exclude-benchmarks", benchmarks, "--out", out, "--steps", "4")
    plan = json.loads((out / "plan.json").read_text())
    # Found on both strands, in both files, under the file-qualified record names; cut out of training.
    assert plan["hits"] == {"task_a": 1}
    assert sorted(map(tuple, plan["excluded"])) == [("fly_species_b:X", 1000, 1080), ("worm_species_a:X", 500, 580)]
    for record, start, end in plan["train"]:
        for excluded_record, excluded_start, excluded_end in plan["excluded"]:
            assert record != excluded_record or end <= excluded_start or start >= excluded_end
    # The last quarter of every record is held out.
    assert ["fly_species_b:X", 1500, 2000] in plan["valid"] and ["I", 2250, 3000] in plan["valid"]
    first = torch.load(out / "checkpoint.pt", weights_only=True)
    assert first["step"] == 4

    # The same command with more steps continues the run; exporting writes a loadable model and its card.
    log = _run("--genomes", genomes, "--exclude-benchmarks", benchmarks, "--out", out, "--steps", "6",
               "--export", export, "--name", "test-model")
    assert "6 steps" in log
    model = load_pretrained(export)
    assert model.config.d_model == 16
    card = (export / "MODEL_CARD.md").read_text()
    assert card.startswith("# test-model") and "task_a 1" in card and "6 optimiser steps" in card
    held_out = json.loads((export / "held_out.json").read_text())
    assert {row["species"] for row in held_out} == {"worm_species", "fly_species"}
    assert all(0 < row["model_bits_per_nt"] < 5 and 0 < row["markov_bits_per_nt"] <= 2.01 for row in held_out)


def test_export_only_needs_a_checkpoint(tmp_path):
    genomes, _ = _genomes(tmp_path)
    command = [sys.executable, str(RECIPE), "--genomes", str(genomes), "--out", str(tmp_path / "run"),
               "--export", str(tmp_path / "export"), "--export-only"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0 and "No checkpoint in" in result.stderr
