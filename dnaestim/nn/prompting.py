"""Soft prompts and in-context demonstrations in front of a frozen HyenaDNA language model.

The input of one query is laid out as published (RECIPES §3)::

    [prompt vectors] [demo_1 SEP label_1 SEP] ... [demo_m SEP label_m SEP] [query SEP]

where the prompt is ``n_prompt_tokens`` learned ``d_model`` vectors prepended to the token embeddings, each
demonstration and the query are left-padded to a fixed length, and the class is read from the hidden state at
the final ``SEP`` as the language model's next-token scores of one vocabulary token per class (``head="lm"``),
or by a small linear layer on the query's hidden states averaged over its nucleotides (``head="linear"``). The language model itself is frozen (no gradients, always in
eval mode); only the prompt and the linear head train.
"""

from __future__ import annotations

import torch
from torch import nn

from .heads import pool
from .hyena import HyenaLM

__all__ = ["PROMPT_HEADS", "SoftPromptModel"]

PROMPT_HEADS = ("lm", "linear")


class SoftPromptModel(nn.Module):
    """A frozen :class:`HyenaLM` with a trainable soft prompt, fixed demonstrations and a class read-out.

    Parameters
    ----------
    lm : HyenaLM
        The language model; its parameters are set to ``requires_grad=False`` and it stays in eval mode.
    n_prompt_tokens : int
        Learned vectors prepended to the embeddings (0 for none), initialised N(0, 0.02) as published.
    n_classes : int
        Number of classes.
    head : {"lm", "linear"}
        ``"lm"``: class scores are the LM head's logits of ``label_token_ids`` at the final SEP; ``"linear"``: a
        trainable ``Linear(d_model, n_classes)`` on the query's hidden states averaged over its nucleotides.
    label_token_ids : sequence of int
        One vocabulary id per class (used by ``head="lm"`` and to write demonstration labels).
    demo_ids : LongTensor of shape (T,)
        Token ids of the demonstrations (empty for none), placed after the prompt and before every query.
    prompt_dropout : float, default=0.1
        Dropout on the prompt vectors in training (published: 0.1).
    sep_token_id : int, default=1
    generator : torch.Generator, optional
        Source of randomness for the prompt and head initialisation.
    """

    def __init__(self, lm: HyenaLM, n_prompt_tokens: int, n_classes: int, head: str, label_token_ids,
                 demo_ids: torch.Tensor, prompt_dropout: float = 0.1, sep_token_id: int = 1,
                 *, generator: torch.Generator | None = None):
        super().__init__()
        if head not in PROMPT_HEADS:
            raise ValueError(f"head must be one of {PROMPT_HEADS}; got {head!r}.")
        self.lm = lm.requires_grad_(False).eval()
        d_model = lm.config.d_model
        self.head_type = head
        self.prompt = nn.Parameter(torch.empty(n_prompt_tokens, d_model).normal_(0.0, 0.02, generator=generator))
        self.prompt_dropout = nn.Dropout(prompt_dropout)
        self.head = None
        if head == "linear":
            self.head = nn.Linear(d_model, n_classes)
            self.head.weight.data.normal_(0.0, 0.02, generator=generator)
            self.head.bias.data.zero_()
        self.register_buffer("label_token_ids", torch.as_tensor(list(label_token_ids), dtype=torch.long))
        self.register_buffer("demo_ids", torch.as_tensor(demo_ids, dtype=torch.long).reshape(-1))
        self.register_buffer("sep", torch.tensor([sep_token_id], dtype=torch.long))

    @property
    def n_prompt_tokens(self) -> int:
        return self.prompt.shape[0]

    def train(self, mode: bool = True):
        super().train(mode)
        self.lm.eval()  # frozen: dropout inside the language model is never applied
        return self

    def trainable_state(self) -> dict:
        """Everything but the language model: the prompt, the head, the demonstrations and the label tokens."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("lm.")}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Class scores (B, n_classes) for left-padded query ids (B, L) with their mask (True at nucleotides)."""
        hidden = self._hidden_states(input_ids)
        if self.head is not None:
            return self.head(self._pooled_query(hidden, input_ids, attention_mask).to(self.head.weight.dtype))
        last = hidden[:, -1]  # (B, D): the state at the final SEP, whose next token is the label
        return last @ self.lm.output_weight[self.label_token_ids].T.to(last.dtype)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """What ``head="linear"`` reads: the query's hidden states averaged over its nucleotides, (B, d_model)."""
        return self._pooled_query(self._hidden_states(input_ids), input_ids, attention_mask)

    @staticmethod
    def _pooled_query(hidden, input_ids, attention_mask):
        query = hidden[:, -input_ids.shape[1] - 1:-1]  # the query's positions: after the prompt and demos, before SEP
        return pool(query, attention_mask, "mean")

    def _hidden_states(self, input_ids):
        batch = input_ids.shape[0]
        ids = torch.cat([self.demo_ids.expand(batch, -1), input_ids, self.sep.expand(batch, 1)], dim=1)
        embeds = self.lm.backbone.embeddings(ids)  # (B, T, D)
        if self.n_prompt_tokens:
            prompt = self.prompt_dropout(self.prompt).to(embeds.dtype)
            embeds = torch.cat([prompt.expand(batch, -1, -1), embeds], dim=1)
        return self.lm.backbone(inputs_embeds=embeds)  # (B, T, D)
