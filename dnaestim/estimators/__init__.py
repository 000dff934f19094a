"""scikit-learn estimators built on the HyenaDNA backbone."""

from .classifier import HyenaClassifier
from .embedder import HyenaEmbedder

__all__ = ["HyenaClassifier", "HyenaEmbedder"]
