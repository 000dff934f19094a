"""scikit-learn estimators built on the HyenaDNA backbone.

One private module per estimator (``_classifier``, ``_embedder``, ``_pretrainer``, ``_soft_prompt``) on shared
plumbing (``_base`` for all, ``_classification`` for the two classifiers); the public names are these.
"""

from ._classifier import HyenaClassifier
from ._embedder import HyenaEmbedder
from ._pretrainer import CHECKPOINT_NAME, HyenaPretrainer
from ._soft_prompt import SoftPromptClassifier

__all__ = ["CHECKPOINT_NAME", "HyenaClassifier", "HyenaEmbedder", "HyenaPretrainer", "SoftPromptClassifier"]
