"""dnaestim: HyenaDNA genomic foundation models as scikit-learn estimators.

The public API:

* :class:`DNATokenizer` and :func:`reverse_complement` — single-nucleotide tokens with the published ids.
* :class:`HyenaConfig` and :class:`HyenaLM` — the HyenaDNA backbone and language model (PyTorch).
* :func:`load_pretrained` and :func:`save_pretrained` — the backbone bundled with dnaestim by name
  (:func:`list_pretrained`), and published checkpoint layouts from local files; nothing is downloaded.
* :class:`HyenaClassifier` (single- and multi-label), :class:`HyenaRegressor`, :class:`HyenaEmbedder`,
  :class:`HyenaPretrainer` and :class:`SoftPromptClassifier` —
  scikit-learn estimators.
* :func:`save` and :func:`load` — fitted estimators saved without pickle (JSON and safetensors; loading runs no
  code from the files).
* :mod:`dnaestim.datasets` — bundled labelled DNA tasks and loaders for the common on-disk formats.
* :mod:`dnaestim.interpret` — attributions of a fitted estimator's output: in-silico saturation mutagenesis and
  gradient × input (plots in :mod:`dnaestim.plotting`).
* :func:`retain_freed_memory` — twice the CPU training speed on long windows (a process-wide glibc setting).
"""

from .checkpoints import CheckpointError, load_pretrained, save_pretrained
from .estimators import HyenaClassifier, HyenaEmbedder, HyenaPretrainer, HyenaRegressor, SoftPromptClassifier
from .estimators._base import InconsistentVersionWarning
from .memory import retain_freed_memory
from .models import list_pretrained
from .nn import HyenaConfig, HyenaLM
from .persistence import load, save
from .scoring import score_variants
from .tokenizer import DNATokenizer, reverse_complement, reverse_complement_ids

from ._version import __version__

__all__ = [
    "CheckpointError",
    "DNATokenizer",
    "HyenaClassifier",
    "HyenaEmbedder",
    "HyenaPretrainer",
    "HyenaRegressor",
    "HyenaConfig",
    "HyenaLM",
    "InconsistentVersionWarning",
    "list_pretrained",
    "load",
    "load_pretrained",
    "reverse_complement",
    "retain_freed_memory",
    "reverse_complement_ids",
    "save",
    "save_pretrained",
    "score_variants",
    "SoftPromptClassifier",
]
