"""scikit-learn estimators built on the HyenaDNA backbone."""

from .classifier import HyenaClassifier
from .embedder import HyenaEmbedder
from .pretrainer import HyenaPretrainer
from .soft_prompt import SoftPromptClassifier

__all__ = ["HyenaClassifier", "HyenaEmbedder", "HyenaPretrainer", "SoftPromptClassifier"]
