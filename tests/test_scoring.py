"""Likelihood scoring and variant effects."""

import numpy as np
import pytest
import torch

from dnaestim import HyenaConfig, HyenaLM, save_pretrained, score_variants
from dnaestim.genome import bundled_genome_path, fetch_sequence, open_fasta
from dnaestim.scoring import sequence_log_likelihood, token_log_probs


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=128, w=10)).eval()


def test_token_log_probs_match_a_direct_computation(model):
    seqs = ["ACGTACGTTT", "GGA"]
    values = token_log_probs(model, seqs)
    ids = torch.tensor([[7, 8, 9, 10, 7, 8, 9, 10, 10, 10]])
    with torch.inference_mode():
        direct = torch.log_softmax(model(ids[:, :-1]), -1).gather(-1, ids[:, 1:, None])[0, :, 0]
    np.testing.assert_allclose(values[0], direct.numpy(), rtol=1e-5)
    assert len(values[1]) == 2
    np.testing.assert_allclose(sequence_log_likelihood(model, seqs), [v.sum() for v in values])


def test_variant_scores_are_log_likelihood_ratios(model):
    reference = "ACGTTGCA" * 12
    scores = score_variants(model, [40, 41], ["A", "T"], sequence=reference, refs=["A", "C"], window=32)
    start = 40 - 16
    ref_window = reference[start:start + 32]
    alt_window = ref_window[:16] + "A" + ref_window[17:]
    expected = sequence_log_likelihood(model, [alt_window])[0] - sequence_log_likelihood(model, [ref_window])[0]
    assert scores[0] == pytest.approx(expected, abs=1e-9)
    # The reference allele as "alternative" changes nothing.
    assert score_variants(model, [41], ["C"], sequence=reference, window=32)[0] == pytest.approx(0.0, abs=1e-12)


def test_variants_near_the_ends_and_from_fasta(model, tmp_path):
    with open_fasta(bundled_genome_path()) as fasta:
        reference = fetch_sequence(fasta, "Homo_sapiens_MT")
    scores = score_variants(model, [0, 5, 16568], ["T", "C", "A"], fasta=bundled_genome_path(),
                            record="Homo_sapiens_MT", window=64)
    again = score_variants(model, [0, 5, 16568], ["T", "C", "A"], sequence=reference, window=64)
    np.testing.assert_allclose(scores, again)
    assert np.all(np.isfinite(scores))
    save_pretrained(model, tmp_path / "ckpt")
    np.testing.assert_allclose(score_variants(tmp_path / "ckpt", [5], ["C"], sequence=reference, window=64),
                               scores[1:2], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"positions": [3], "alts": ["AT"]}, ValueError, r"Variant 0: alternative allele 'AT' is not a single"),
        ({"positions": [3], "alts": ["X"]}, ValueError, "not a single nucleotide"),
        ({"positions": [500], "alts": ["A"]}, ValueError, r"Variant 0: position 500 is outside the reference, which has 64"),
        ({"positions": [3], "alts": ["A"], "refs": ["G"]}, ValueError, r"reference has 'T', not 'G'.*0-based"),
        ({"positions": [3, 4], "alts": ["A"]}, ValueError, "equal length"),
        ({"positions": [3.5], "alts": ["A"]}, TypeError, "positions must be integers"),
        ({"positions": [3], "alts": ["A"], "window": 1000}, ValueError, r"window must be an int in \[2, 129\]"),
    ],
)
def test_variant_errors(model, kwargs, error, message):
    with pytest.raises(error, match=message):
        score_variants(model, sequence="ACGT" * 16, **kwargs)


def test_reference_arguments(model):
    with pytest.raises(ValueError, match="either as sequence= or as fasta="):
        score_variants(model, [1], ["A"])
    with pytest.raises(ValueError, match="needs record="):
        score_variants(model, [1], ["A"], fasta=bundled_genome_path())
    with pytest.raises(KeyError, match="Record 'chrQ' is not in"):
        score_variants(model, [1], ["A"], fasta=bundled_genome_path(), record="chrQ")
    with pytest.raises(TypeError, match="model must be"):
        score_variants(42, [1], ["A"], sequence="ACGT")
