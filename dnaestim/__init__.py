"""dnaestim: HyenaDNA genomic foundation models as scikit-learn estimators.

The public API:

* :class:`DNATokenizer` and :func:`reverse_complement` — single-nucleotide tokens with the published ids.
* :class:`HyenaConfig` and :class:`HyenaLM` — the HyenaDNA backbone and language model (PyTorch).
* :func:`load_pretrained` and :func:`save_pretrained` — published checkpoint layouts, local files only.
* :class:`HyenaClassifier` and :class:`HyenaEmbedder` — scikit-learn estimators on the backbone.
* :mod:`dnaestim.datasets` — bundled labelled DNA tasks and loaders for the common on-disk formats.
"""

from .checkpoints import CheckpointError, load_pretrained, save_pretrained
from .estimators import HyenaClassifier, HyenaEmbedder
from .nn import HyenaConfig, HyenaLM
from .tokenizer import DNATokenizer, reverse_complement, reverse_complement_ids

__version__ = "0.1.0.dev0"

__all__ = [
    "CheckpointError",
    "DNATokenizer",
    "HyenaClassifier",
    "HyenaEmbedder",
    "HyenaConfig",
    "HyenaLM",
    "load_pretrained",
    "reverse_complement",
    "reverse_complement_ids",
    "save_pretrained",
]
