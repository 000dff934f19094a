"""
Soft prompts on a frozen backbone
=================================

:class:`~dnaestim.SoftPromptClassifier` adapts a pretrained model to a task by learning only a few vectors put in
front of every input (and here a linear read-out); the backbone's weights never change. This example trains soft
prompts of several lengths on the backbone bundled with dnaestim, for GUE ``prom_core_tata`` (TATA-box core
promoters), a few seconds each, and plots test accuracy against the number of prompt vectors. The bundled
backbone is small (the published tiny shape) and soft prompting shines on large, well-pretrained models (see the
user guide), so read the plot for the mechanics more than for the numbers.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import accuracy_score

from dnaestim import SoftPromptClassifier, load_pretrained
from dnaestim.datasets import load_gue_prom_core_tata

X_train, y_train = load_gue_prom_core_tata(split="train", return_X_y=True)
X_test, y_test = load_gue_prom_core_tata(split="test", return_X_y=True)

# %%
# Accuracy against prompt length
# ------------------------------
# Each classifier trains for at most 6 seconds. ``n_prompt_tokens=0`` trains the linear read-out alone.

lengths = [0, 4, 16, 64]
accuracy = []
for n in lengths:
    clf = SoftPromptClassifier(n_prompt_tokens=n, head="linear", max_time=6, batch_size=32,
                               learning_rate_init=3e-3, random_state=0).fit(X_train, y_train)
    accuracy.append(accuracy_score(y_test, clf.predict(X_test)))
    print(f"{n:3d} prompt vectors: test accuracy {accuracy[-1]:.3f} ({clf.n_iter_} epochs, "
          f"{clf.input_length_} tokens per query)")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([max(n, 0.5) for n in lengths], accuracy, "o-")
ax.set_xscale("log")
ax.set_xticks([max(n, 0.5) for n in lengths], [str(n) for n in lengths])
ax.axhline(0.5, color="grey", ls="--", label="chance")
ax.set_xlabel("soft prompt vectors")
ax.set_ylabel("test accuracy")
ax.legend()
fig.tight_layout()

# %%
# The backbone did not change
# ---------------------------
# Each classifier works on a copy of the pretrained model; after training, the copy inside the last classifier
# is still bit-for-bit the bundled model: only the prompt and the read-out learned.

reference = load_pretrained(clf.pretrained).state_dict()
unchanged = all(torch.equal(reference[k], v.cpu()) for k, v in clf.model_.lm.state_dict().items())
print("backbone unchanged:", unchanged)
assert unchanged and np.all(np.isfinite(accuracy))
plt.show()
