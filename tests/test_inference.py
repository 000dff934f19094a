"""The one batched inference loop (dnaestim._inference.predict_batches)."""

import numpy as np
import pytest
import torch

from dnaestim import DNATokenizer
from dnaestim._inference import predict_batches

RIGHT = DNATokenizer(padding_side="right")


def test_batches_are_tokenised_one_by_one_in_length_order_and_results_come_back_in_input_order():
    """A long sequence pads only its own batch: the others are tokenised at their own widths."""
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGT"), n)) for n in rng.integers(5, 30, 40)]
    sequences[7] = "ACGT" * 2500  # 10 kb among short ones
    module = torch.nn.Identity().train()
    widths = []

    def forward(ids, mask):
        widths.append(ids.shape[1])
        assert not module.training and torch.is_inference_mode_enabled()
        return mask.sum(1)

    lengths = np.empty(len(sequences), dtype=np.int64)
    for index, n_tokens in predict_batches(module, sequences, forward, tokenizer=RIGHT, batch_size=8,
                                           device=torch.device("cpu")):
        lengths[index] = n_tokens
    np.testing.assert_array_equal(lengths, [len(s) for s in sequences])
    assert widths == sorted(widths) and widths[-1] == 10_000 and widths[-2] < 30
    assert module.training  # the caller's mode is restored


def test_fixed_layout_cuts_and_pads_every_batch_to_max_length():
    left = DNATokenizer(padding_side="left")
    seen = []
    out = list(predict_batches(torch.nn.Identity(), ["ACGT", "A", "ACGTACGTAC"], lambda ids, mask: seen.append(
        ids.shape) or ids, tokenizer=left, batch_size=2, device="cpu", max_length=6, pad_to_max_length=True))
    assert seen == [(2, 6), (1, 6)]
    assert len(out) == 2


def test_tuple_outputs_and_low_precision_come_back_as_float32():
    results = list(predict_batches(torch.nn.Identity(), ["AC", "GT"], lambda ids, mask: (
        ids.to(torch.bfloat16), mask), tokenizer=RIGHT, batch_size=4, device="cpu"))
    (index, (values, mask)), = results
    assert values.dtype == np.float32 and mask.dtype == bool


def test_a_bad_sequence_is_named_by_its_place_in_the_input():
    sequences = ["ACGT"] * 5 + ["ACXT"] + ["AC"] * 3
    with pytest.raises(ValueError, match="^Sequence 5 has the character 'X'"):
        list(predict_batches(torch.nn.Identity(), sequences, lambda ids, mask: ids, tokenizer=RIGHT, batch_size=2,
                             device="cpu"))
