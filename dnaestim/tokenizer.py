"""Single-nucleotide tokenizer with the published HyenaDNA token ids.

Every character is one token. The ids are those of the published character tokenizer::

    [CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5 [UNK]=6 A=7 C=8 G=9 T=10 N=11

Encoding is vectorised: a batch is joined into one byte string and translated through a 256-entry
lookup table, so the cost per character is a numpy gather, not a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import numpy as np

__all__ = [
    "DNATokenizer",
    "EncodedBatch",
    "SPECIAL_TOKENS",
    "VOCAB",
    "reverse_complement",
    "reverse_complement_ids",
]

SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]")
NUCLEOTIDES = "ACGTN"
#: Token string -> id, in the published order.
VOCAB = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + tuple(NUCLEOTIDES))}

CLS_ID, SEP_ID, BOS_ID, MASK_ID, PAD_ID, RESERVED_ID, UNK_ID = range(7)
A_ID, C_ID, G_ID, T_ID, N_ID = range(7, 12)

_INVALID = 255
_UNKNOWN_MODES = ("raise", "N", "unk")
_SPECIAL_TOKEN_MODES = (None, "sep", "cls_sep")
_PADDING_SIDES = ("left", "right")

# IUPAC nucleotide codes and their complements; anything not listed is its own complement.
_IUPAC_COMPLEMENT = "ACGTUNRYKMSWBDHV"
_IUPAC_COMPLEMENTED = "TGCAANYRMKSWVHDB"
_COMPLEMENT_TABLE = str.maketrans(
    _IUPAC_COMPLEMENT + _IUPAC_COMPLEMENT.lower(),
    _IUPAC_COMPLEMENTED + _IUPAC_COMPLEMENTED.lower(),
)
_ID_COMPLEMENT = np.arange(256, dtype=np.int64)
_ID_COMPLEMENT[[A_ID, C_ID, G_ID, T_ID]] = [T_ID, G_ID, C_ID, A_ID]


class EncodedBatch(NamedTuple):
    """A tokenized batch.

    Attributes
    ----------
    input_ids : ndarray of shape (n_sequences, length), dtype int64
        Token ids, padded with ``[PAD]`` (id 4).
    attention_mask : ndarray of shape (n_sequences, length), dtype bool
        True where ``input_ids`` holds a real token (special tokens included), False at padding.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray


def reverse_complement(sequence: str) -> str:
    """Return the reverse complement of a DNA string.

    IUPAC-aware (``R``<->``Y``, ``K``<->``M``, ``B``<->``V``, ``D``<->``H``; ``N``, ``S`` and ``W`` map to
    themselves) and case-preserving, so soft-masked repeats stay lower case.

    Parameters
    ----------
    sequence : str
        DNA sequence.

    Returns
    -------
    str
        The reverse complement; applying the function twice returns ``sequence``
        (``U`` is complemented to ``A``, so RNA input comes back as DNA).

    Examples
    --------
    >>> reverse_complement("AACGTn")
    'nACGTT'
    """
    return sequence.translate(_COMPLEMENT_TABLE)[::-1]


def reverse_complement_ids(input_ids, attention_mask=None):
    """Reverse-complement tokenized sequences, keeping padding where it was.

    ``A``<->``T`` and ``C``<->``G`` are swapped, every other id (``N``, special tokens) is kept, and the real
    tokens of each row are reversed in place: a left-padded row stays left-padded.

    Parameters
    ----------
    input_ids : array-like or torch.Tensor of shape (n_sequences, length)
        Token ids.
    attention_mask : array-like or torch.Tensor of shape (n_sequences, length), optional
        True at real tokens. Without it every position is treated as real.

    Returns
    -------
    ndarray or torch.Tensor
        Reverse-complemented ids, of the same type and shape as ``input_ids``.
    """
    import torch

    if isinstance(input_ids, torch.Tensor):
        return _reverse_complement_tensor(torch, input_ids, attention_mask)
    ids = np.asarray(input_ids)
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be 2-D (n_sequences, length); got shape {ids.shape}.")
    complemented = _ID_COMPLEMENT[ids]
    if attention_mask is None:
        return complemented[:, ::-1].astype(ids.dtype)
    mask = np.asarray(attention_mask, dtype=bool)
    if mask.shape != ids.shape:
        raise ValueError(f"attention_mask shape {mask.shape} does not match input_ids shape {ids.shape}.")
    out = ids.copy()
    # Reversing the row and its mask keeps the real tokens' relative order reversed; writing them back through
    # the original mask puts them where the real tokens were (row-major order is preserved by boolean indexing).
    out[mask] = complemented[:, ::-1][mask[:, ::-1]]
    return out


def _reverse_complement_tensor(torch, ids, attention_mask):
    """:func:`reverse_complement_ids` on a tensor, on its own device (no trip through host memory)."""
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be 2-D (n_sequences, length); got shape {tuple(ids.shape)}.")
    table = torch.as_tensor(_ID_COMPLEMENT, device=ids.device)
    complemented = table[ids.long()].to(ids.dtype)
    if attention_mask is None:
        return complemented.flip(1)
    mask = torch.as_tensor(attention_mask, device=ids.device).bool()
    if mask.shape != ids.shape:
        raise ValueError(f"attention_mask shape {tuple(mask.shape)} does not match input_ids shape {tuple(ids.shape)}.")
    out = ids.clone()
    out[mask] = complemented.flip(1)[mask.flip(1)]
    return out


@dataclass(frozen=True)
class DNATokenizer:
    """Character tokenizer for DNA with the published HyenaDNA ids.

    Parameters
    ----------
    padding_side : {"left", "right"}, default="left"
        Where ``[PAD]`` tokens go when sequences of a batch differ in length. Left is the published default.
    uppercase : bool, default=True
        Upper-case the input first, so soft-masked (lower-case) genome sequence maps to the nucleotide ids.
        The published tokenizer is case-sensitive and maps lower case to ``[UNK]``: use ``uppercase=False,
        unknown="unk"`` (or :meth:`published`) to reproduce it.
    unknown : {"raise", "N", "unk"}, default="raise"
        What to do with a character that is not ``A C G T N`` (after upper-casing): raise a ``ValueError``
        naming the sequence, position and character; map it to ``N``; or map it to ``[UNK]`` (published).
    special_tokens : {None, "sep", "cls_sep"}, default=None
        ``None`` adds nothing (as the published fine-tuning and the reference fixtures do); ``"sep"`` appends
        ``[SEP]`` as end-of-sequence (published pretraining); ``"cls_sep"`` writes ``[CLS] seq [SEP]`` (the
        published tokenizer called with its defaults).
    rna : bool, default=True
        Read ``U`` (uracil; ``u`` too with ``uppercase``) as ``T``, so RNA sequences tokenize as the DNA they
        were transcribed from. The published tokenizer has no such rule (:meth:`published` turns it off).

    Examples
    --------
    >>> tok = DNATokenizer()
    >>> tok.encode("ACGTn").tolist()
    [7, 8, 9, 10, 11]
    >>> batch = tok(["ACG", "T"])
    >>> batch.input_ids.tolist()
    [[7, 8, 9], [4, 4, 10]]
    >>> tok.decode(batch.input_ids[1])
    'T'
    """

    padding_side: str = "left"
    uppercase: bool = True
    unknown: str = "raise"
    special_tokens: str | None = None
    rna: bool = True

    pad_token_id = PAD_ID
    vocab = VOCAB
    vocab_size = len(VOCAB)

    def __post_init__(self):
        if self.padding_side not in _PADDING_SIDES:
            raise ValueError(f"padding_side must be 'left' or 'right'; got {self.padding_side!r}.")
        if self.unknown not in _UNKNOWN_MODES:
            raise ValueError(f"unknown must be one of {_UNKNOWN_MODES}; got {self.unknown!r}.")
        if self.special_tokens not in _SPECIAL_TOKEN_MODES:
            raise ValueError(
                f"special_tokens must be None, 'sep' or 'cls_sep'; got {self.special_tokens!r}."
            )
        object.__setattr__(self, "_table", self._lookup_table())

    @classmethod
    def published(cls, *, padding_side="left", special_tokens="cls_sep"):
        """The exact behaviour of the published tokenizer called with its defaults.

        Case-sensitive (lower case becomes ``[UNK]``), any other character becomes ``[UNK]``, and
        ``[CLS] ... [SEP]`` around each sequence. Pass ``special_tokens=None`` for the ids the reference fixtures
        and the published fine-tuning use, or ``"sep"`` for published pretraining.

        Returns
        -------
        DNATokenizer
        """
        return cls(padding_side=padding_side, uppercase=False, unknown="unk", special_tokens=special_tokens,
                   rna=False)

    @property
    def n_special_tokens(self):
        """Number of special tokens added around each sequence (0, 1 or 2)."""
        return {None: 0, "sep": 1, "cls_sep": 2}[self.special_tokens]

    def _lookup_table(self):
        fill = {"raise": _INVALID, "N": N_ID, "unk": UNK_ID}[self.unknown]
        table = np.full(256, fill, dtype=np.uint8)
        ids = {char: VOCAB[char] for char in NUCLEOTIDES}
        if self.rna:
            ids["U"] = T_ID
        for char, token_id in ids.items():
            table[ord(char)] = token_id
            if self.uppercase:
                table[ord(char.lower())] = token_id
        return table.tobytes()  # a bytes.translate table: the fastest byte-to-byte map in CPython

    def _translate(self, text: str, offsets: np.ndarray | None = None) -> np.ndarray:
        """Map one (possibly joined) string to uint8 ids; ``offsets`` locates errors in the original batch."""
        if self.unknown != "raise":
            raw = text.encode("ascii", errors="replace")  # one '?' per non-ASCII character keeps positions
        else:
            try:
                raw = text.encode("ascii")
            except UnicodeEncodeError as err:
                self._raise_invalid(text, err.start, offsets)
        ids = np.frombuffer(raw.translate(self._table), dtype=np.uint8)
        if self.unknown == "raise" and ids.size and ids.max() == _INVALID:
            self._raise_invalid(text, int(np.argmax(ids == _INVALID)), offsets)
        return ids

    def _raise_invalid(self, text, flat_position, offsets):
        if offsets is None:
            index, position = 0, flat_position
        else:
            index = int(np.searchsorted(offsets, flat_position, side="right") - 1)
            position = flat_position - int(offsets[index])
        allowed = "A, C, G, T, N" + (", U" if self.rna else "") + (" (either case)" if self.uppercase else
                                                                   " (upper case)")
        raise ValueError(
            f"Sequence {index} has the character {text[flat_position]!r} at position {position}, which is not "
            f"a nucleotide ({allowed}). Remove or replace it (for example by N), or pass unknown='N' (to a dnaestim "
            "estimator or to DNATokenizer) to read such characters as N."
        )

    def encode(self, sequence: str) -> np.ndarray:
        """Tokenize one sequence (no padding, special tokens as configured).

        Parameters
        ----------
        sequence : str
            DNA sequence.

        Returns
        -------
        ndarray of shape (len(sequence) + n_special_tokens,), dtype int64
        """
        if not isinstance(sequence, str):
            raise TypeError(f"sequence must be a str; got {type(sequence).__name__}.")
        return self._add_special(self._translate(sequence).astype(np.int64))

    def _add_special(self, ids):
        if self.special_tokens == "sep":
            return np.concatenate([ids, [SEP_ID]])
        if self.special_tokens == "cls_sep":
            return np.concatenate([[CLS_ID], ids, [SEP_ID]])
        return ids

    def __call__(
        self,
        sequences: Iterable[str],
        *,
        max_length: int | None = None,
        padding: str | bool = "longest",
        truncation: bool = False,
        padding_side: str | None = None,
    ) -> EncodedBatch:
        """Tokenize and pad a batch of sequences.

        Parameters
        ----------
        sequences : iterable of str
            DNA sequences.
        max_length : int, optional
            Length to pad to (``padding="max_length"``) and the longest allowed output. Special tokens count.
        padding : {"longest", "max_length"} or bool, default="longest"
            ``"longest"`` (or True) pads to the longest sequence of the batch, ``"max_length"`` to
            ``max_length``. ``False`` requires all sequences to come out the same length.
        truncation : bool, default=False
            Cut sequences longer than ``max_length`` (keeping their start, and room for special tokens). Without
            it, a sequence longer than ``max_length`` raises a ``ValueError``.
        padding_side : {"left", "right"}, optional
            Overrides the tokenizer's ``padding_side`` for this call.

        Returns
        -------
        EncodedBatch
            ``input_ids`` (int64) and ``attention_mask`` (bool), both of shape (n_sequences, length).
        """
        seqs = list(sequences) if not isinstance(sequences, list) else sequences
        for i, seq in enumerate(seqs):
            if not isinstance(seq, str):
                raise TypeError(f"Sequence {i} is a {type(seq).__name__}, not a str.")
        side = self.padding_side if padding_side is None else padding_side
        if side not in _PADDING_SIDES:
            raise ValueError(f"padding_side must be 'left' or 'right'; got {side!r}.")
        if padding is True:
            padding = "longest"
        if padding not in ("longest", "max_length", False):
            raise ValueError(f"padding must be 'longest', 'max_length', True or False; got {padding!r}.")
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length.")
        if max_length is not None and (not isinstance(max_length, (int, np.integer)) or max_length < 1):
            raise ValueError(f"max_length must be a positive int; got {max_length!r}.")

        extra = self.n_special_tokens
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        if max_length is not None:
            room = max_length - extra
            too_long = np.flatnonzero(lengths > room)
            if too_long.size:
                if not truncation:
                    i = int(too_long[0])
                    raise ValueError(
                        f"Sequence {i} has {lengths[i]} nucleotides, more than max_length={max_length}"
                        + (f" minus {extra} special tokens" if extra else "")
                        + ". Pass truncation=True to cut it, or raise max_length."
                    )
                if room < 0:
                    raise ValueError(f"max_length={max_length} leaves no room for {extra} special tokens.")
                seqs = [s[:room] if len(s) > room else s for s in seqs]
                lengths = np.minimum(lengths, room)

        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = self._translate("".join(seqs), offsets[:-1]) if len(seqs) else np.zeros(0, np.uint8)

        token_lengths = lengths + extra
        if padding == "max_length":
            width = int(max_length)
        else:
            width = int(token_lengths.max()) if len(seqs) else 0
            if padding is False and len(seqs) and token_lengths.min() != width:
                i = int(np.argmin(token_lengths))
                raise ValueError(
                    f"padding=False but sequences differ in length (sequence {i} has {lengths[i]} nucleotides, "
                    f"the longest {width - extra}). Pass padding='longest'."
                )
        if extra == 0 and len(seqs) and (token_lengths == width).all():
            # Every sequence fills the row (a single sequence, equal-length windows): no padding to place.
            return EncodedBatch(flat.astype(np.int64).reshape(len(seqs), width), np.ones((len(seqs), width), bool))
        positions = np.arange(width)
        if side == "right":
            mask = positions[None, :] < token_lengths[:, None]
        else:
            mask = positions[None, :] >= (width - token_lengths)[:, None]
        ids = np.full((len(seqs), width), PAD_ID, dtype=np.int64)
        if extra == 0:
            ids[mask] = flat
        else:
            # Nucleotides sit between the optional leading [CLS] and the trailing [SEP].
            lead = 1 if self.special_tokens == "cls_sep" else 0
            starts = (0 if side == "right" else width - token_lengths)
            nucleotide_mask = mask.copy()
            rows = np.arange(len(seqs))
            nucleotide_mask[rows, starts + token_lengths - 1] = False
            if lead:
                nucleotide_mask[rows, starts] = False
                ids[rows, starts] = CLS_ID
            ids[rows, starts + token_lengths - 1] = SEP_ID
            ids[nucleotide_mask] = flat
        return EncodedBatch(ids, mask)

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        """Turn token ids back into a string.

        Parameters
        ----------
        ids : sequence of int or 1-D array
            Token ids of one sequence.
        skip_special_tokens : bool, default=True
            Leave out ``[PAD]``, ``[CLS]``, ``[SEP]`` and the other special tokens. If False they are written
            as their bracketed names.

        Returns
        -------
        str
        """
        ids = np.asarray(ids).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(_ID_STRINGS)):
            bad = ids[(ids < 0) | (ids >= len(_ID_STRINGS))][0]
            raise ValueError(f"Token id {int(bad)} is not in the vocabulary (0..{len(_ID_STRINGS) - 1}).")
        if skip_special_tokens:
            ids = ids[ids >= A_ID]
        return "".join(_ID_STRINGS[ids].tolist())

    def batch_decode(self, ids, *, skip_special_tokens: bool = True) -> list[str]:
        """Decode each row of a 2-D array of ids; see :meth:`decode`."""
        return [self.decode(row, skip_special_tokens=skip_special_tokens) for row in np.asarray(ids)]


_ID_STRINGS = np.array(list(SPECIAL_TOKENS) + list(NUCLEOTIDES), dtype=object)


#: Right padding, A/C/G/T/N only: the layout of the estimators and of scoring (see ``estimators._base``).
RIGHT_PADDED = DNATokenizer(padding_side="right")
#: Left padding: the published layout, for inputs read at one fixed length (soft prompts).
LEFT_PADDED = DNATokenizer(padding_side="left")
#: Right padding with IUPAC codes and any other unknown character read as N: windows cut from genomes.
GENOME_WINDOWS = DNATokenizer(padding_side="right", unknown="N")
