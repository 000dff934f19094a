"""DNATokenizer: published ids, padding, truncation, case, errors and reverse complement."""

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dnaestim import DNATokenizer, reverse_complement, reverse_complement_ids
from dnaestim.tokenizer import VOCAB

dna = st.text(alphabet="ACGTNacgtn", max_size=60)
iupac = st.text(alphabet="ACGTNRYKMSWBDHVacgtnrykmswbdhv", max_size=60)


def test_published_ids():
    assert VOCAB == {"[CLS]": 0, "[SEP]": 1, "[BOS]": 2, "[MASK]": 3, "[PAD]": 4, "[RESERVED]": 5, "[UNK]": 6,
                     "A": 7, "C": 8, "G": 9, "T": 10, "N": 11}
    assert DNATokenizer().encode("ACGTN").tolist() == [7, 8, 9, 10, 11]


def test_matches_reference_fixture_ids(reference):
    """The fixtures' ids were made by the published tokenizer without special tokens."""
    sequences = (reference["dir"] / "sequences.txt").read_text().splitlines()
    tok = DNATokenizer.published(special_tokens=None)
    ids = reference["input_ids"].numpy()
    batch = tok(sequences, max_length=ids.shape[1], padding="max_length")
    np.testing.assert_array_equal(batch.input_ids, ids)


def test_soft_masked_sequence_is_upper_cased_by_default():
    assert DNATokenizer().encode("acgtn").tolist() == [7, 8, 9, 10, 11]
    assert DNATokenizer.published(special_tokens=None).encode("acgtN").tolist() == [6, 6, 6, 6, 11]


def test_published_special_tokens():
    assert DNATokenizer.published().encode("AC").tolist() == [0, 7, 8, 1]
    assert DNATokenizer(special_tokens="sep").encode("AC").tolist() == [7, 8, 1]
    batch = DNATokenizer.published()(["A", "ACG"])
    assert batch.input_ids.tolist() == [[4, 4, 0, 7, 1], [0, 7, 8, 9, 1]]
    right = DNATokenizer(special_tokens="cls_sep", padding_side="right")(["A", "ACG"])
    assert right.input_ids.tolist() == [[0, 7, 1, 4, 4], [0, 7, 8, 9, 1]]
    assert right.attention_mask.tolist() == [[True, True, True, False, False], [True] * 5]


def test_left_padding_default_and_right_padding():
    batch = DNATokenizer()(["ACGT", "GG"])
    assert batch.input_ids.tolist() == [[7, 8, 9, 10], [4, 4, 9, 9]]
    assert batch.attention_mask.tolist() == [[True] * 4, [False, False, True, True]]
    right = DNATokenizer()(["ACGT", "GG"], padding_side="right")
    assert right.input_ids.tolist() == [[7, 8, 9, 10], [9, 9, 4, 4]]


def test_max_length_padding_and_truncation():
    tok = DNATokenizer()
    assert tok(["AC"], max_length=4, padding="max_length").input_ids.tolist() == [[4, 4, 7, 8]]
    with pytest.raises(ValueError, match=r"Sequence 1 has 5 nucleotides, more than max_length=3.*truncation=True"):
        tok(["AC", "ACGTA"], max_length=3)
    assert tok(["AC", "ACGTA"], max_length=3, truncation=True).input_ids.tolist() == [[4, 7, 8], [7, 8, 9]]
    sep = DNATokenizer(special_tokens="sep")
    assert sep(["ACGTA"], max_length=3, truncation=True).input_ids.tolist() == [[7, 8, 1]]


def test_padding_false_requires_equal_lengths():
    tok = DNATokenizer()
    assert tok(["AC", "GT"], padding=False).input_ids.shape == (2, 2)
    with pytest.raises(ValueError, match="differ in length"):
        tok(["AC", "G"], padding=False)


@pytest.mark.parametrize(
    "sequences, message",
    [
        (["ACGT", "ACXT"], r"Sequence 1 has the character 'X' at position 2"),
        (["ACGT", "AC-T"], r"Sequence 1 has the character '-' at position 2"),
        (["AAAA", "AC", "GGRT"], r"Sequence 2 has the character 'R' at position 2"),
        (["ACGé"], r"Sequence 0 has the character 'é' at position 3"),
        (["AC GT"], r"Sequence 0 has the character ' ' at position 2"),
    ],
)
def test_invalid_characters_are_named(sequences, message):
    with pytest.raises(ValueError, match=message) as info:
        DNATokenizer()(sequences)
    assert "unknown='N'" in str(info.value)


def test_rna_uracil_reads_as_thymine_except_in_the_published_mode():
    assert DNATokenizer().encode("ACGUu").tolist() == DNATokenizer().encode("ACGTT").tolist()
    assert DNATokenizer(uppercase=False).encode("U").tolist() == [10]
    with pytest.raises(ValueError, match="character 'U'"):
        DNATokenizer(rna=False).encode("ACGU")
    assert DNATokenizer.published(special_tokens=None).encode("ACGU").tolist() == [7, 8, 9, 6]


def test_lower_case_is_invalid_when_case_is_kept():
    with pytest.raises(ValueError, match=r"character 'a' at position 0.*upper case"):
        DNATokenizer(uppercase=False).encode("aC")


def test_unknown_characters_mapped_to_n_or_unk():
    assert DNATokenizer(unknown="N").encode("ARY-x").tolist() == [7, 11, 11, 11, 11]
    assert DNATokenizer(unknown="unk").encode("AR").tolist() == [7, 6]
    assert DNATokenizer(unknown="N").encode("AéC").tolist() == [7, 11, 8]
    assert DNATokenizer(unknown="unk")(["é", "AC"]).input_ids.tolist() == [[4, 6], [7, 8]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"padding_side": "middle"}, "padding_side"),
        ({"unknown": "skip"}, "unknown must be"),
        ({"special_tokens": "bos"}, "special_tokens"),
    ],
)
def test_invalid_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DNATokenizer(**kwargs)


def test_invalid_call_arguments():
    tok = DNATokenizer()
    with pytest.raises(TypeError, match="Sequence 1 is a int"):
        tok(["AC", 5])
    with pytest.raises(TypeError, match="Sequence 0 is a bytes"):
        tok([b"AC"])
    with pytest.raises(ValueError, match="needs max_length"):
        tok(["AC"], padding="max_length")
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        tok(["AC"], max_length=0)
    with pytest.raises(ValueError, match="padding must be"):
        tok(["AC"], padding="shortest")
    with pytest.raises(TypeError, match="must be a str"):
        tok.encode(None)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode([7, 99])


def test_empty_inputs():
    tok = DNATokenizer()
    assert tok([]).input_ids.shape == (0, 0)
    assert tok(["", "A"]).input_ids.tolist() == [[4], [7]]


@given(st.lists(dna, min_size=1, max_size=8), st.sampled_from(["left", "right"]))
def test_encode_decode_round_trip(sequences, side):
    tok = DNATokenizer(padding_side=side)
    batch = tok(sequences)
    assert tok.batch_decode(batch.input_ids) == [s.upper() for s in sequences]
    assert batch.attention_mask.sum(axis=1).tolist() == [len(s) for s in sequences]
    for seq, row, mask in zip(sequences, batch.input_ids, batch.attention_mask):
        np.testing.assert_array_equal(row[mask], tok.encode(seq))
        assert (row[~mask] == 4).all()


@given(st.lists(dna, min_size=1, max_size=6), st.sampled_from([None, "sep", "cls_sep"]))
def test_batch_equals_single_encodes(sequences, special):
    tok = DNATokenizer(special_tokens=special, padding_side="right")
    batch = tok(sequences)
    for i, seq in enumerate(sequences):
        single = tok.encode(seq)
        np.testing.assert_array_equal(batch.input_ids[i, : len(single)], single)
        assert (batch.input_ids[i, len(single):] == 4).all()


@given(iupac)
def test_reverse_complement_is_an_involution(seq):
    assert reverse_complement(reverse_complement(seq)) == seq
    assert len(reverse_complement(seq)) == len(seq)


def test_reverse_complement_iupac_and_case():
    assert reverse_complement("ACGTN") == "NACGT"
    assert reverse_complement("RYKMSWBDHV") == "BDHVWSKMRY"
    assert reverse_complement("acgTN") == "NAcgt"


@given(st.lists(dna, min_size=1, max_size=6), st.sampled_from(["left", "right"]))
def test_reverse_complement_ids_matches_strings(sequences, side):
    tok = DNATokenizer(padding_side=side)
    batch = tok(sequences)
    rc = reverse_complement_ids(batch.input_ids, batch.attention_mask)
    expected = tok([reverse_complement(s) for s in sequences])
    np.testing.assert_array_equal(rc, expected.input_ids)
    np.testing.assert_array_equal(reverse_complement_ids(rc, batch.attention_mask), batch.input_ids)
    on_tensors = reverse_complement_ids(torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask))
    np.testing.assert_array_equal(on_tensors.numpy(), rc)  # the tensor path never leaves the device


def test_reverse_complement_ids_on_tensors():
    ids = torch.tensor([[4, 7, 8, 11], [7, 7, 9, 10]])
    mask = ids != 4
    out = reverse_complement_ids(ids, mask)
    assert isinstance(out, torch.Tensor)
    assert out.tolist() == [[4, 11, 9, 10], [7, 8, 10, 10]]
    with pytest.raises(ValueError, match="2-D"):
        reverse_complement_ids(np.array([7, 8]))


def test_tokenizer_pickles():
    tok = DNATokenizer(padding_side="right", unknown="N")
    again = pickle.loads(pickle.dumps(tok))
    assert again == tok
    assert again.encode("ACR").tolist() == [7, 8, 11]
