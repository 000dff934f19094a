"""scikit-learn estimators built on the HyenaDNA backbone.

One private module per estimator (``_classifier``, ``_regressor``, ``_embedder``, ``_pretrainer``,
``_soft_prompt``) on shared plumbing: ``_base`` for all, ``_finetuning`` for the supervised ones (split, loop,
validation), ``_classification`` for the two classifiers, ``_pooled_head`` for the backbone-plus-linear-head
model of the classifier and the regressor. The public names are these.
"""

from ._classifier import HyenaClassifier
from ._embedder import HyenaEmbedder
from ._pretrainer import CHECKPOINT_NAME, HyenaPretrainer
from ._regressor import HyenaRegressor
from ._soft_prompt import SoftPromptClassifier

__all__ = ["CHECKPOINT_NAME", "HyenaClassifier", "HyenaEmbedder", "HyenaPretrainer", "HyenaRegressor",
           "SoftPromptClassifier"]
