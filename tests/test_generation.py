"""Generation from the language model: the cached step equals the full forward pass, sampling is reproducible."""

import numpy as np
import pytest
import torch

from dnaestim import HyenaPretrainer
from dnaestim.nn import HyenaConfig, HyenaLM
from dnaestim.nn import generation
from dnaestim.tokenizer import GENOME_WINDOWS


def random_model(seed=0, dtype=torch.float32, **overrides):
    """A small model with weights spread enough that its next-token distribution depends on the context."""
    torch.manual_seed(seed)
    config = HyenaConfig(**{"d_model": 24, "n_layer": 2, "d_inner": 48, "l_max": 128, "emb_dim": 5,
                            "filter_order": 16, **overrides})
    model = HyenaLM(config).to(dtype).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def greedy_by_recomputation(model, prompt, n):
    text = prompt
    with torch.no_grad():
        for _ in range(n):
            ids = torch.as_tensor(GENOME_WINDOWS.encode(text))[None]
            text += "ACGT"[int(model(ids)[0, -1, list(generation.BASE_IDS)].argmax())]
    return text


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-4), (torch.float64, 1e-10)])
def test_cached_steps_give_the_logits_of_the_full_forward_pass(dtype, tolerance):
    model = random_model(dtype=dtype)
    ids = torch.randint(7, 11, (3, 40), generator=torch.Generator().manual_seed(1))
    prompt_length = 5
    with torch.no_grad():
        expected = model(ids)[..., list(generation.BASE_IDS)]  # (3, 40, 4)
        backbone = model.backbone
        head = model.output_weight[list(generation.BASE_IDS)]
        hidden, residual = backbone.embeddings(ids[:, :prompt_length]), None
        caches = []
        for block in backbone.layers:
            caches.append(generation._LayerCache(block, hidden, residual, capacity=ids.shape[1]))
            hidden, residual = caches[-1].output
        prefill = backbone.ln_f(hidden + residual) @ head.T
        torch.testing.assert_close(prefill, expected[:, :prompt_length], rtol=tolerance, atol=tolerance)
        for t in range(prompt_length, ids.shape[1]):
            hidden, residual = backbone.embeddings(ids[:, t:t + 1]), None
            for block, cache in zip(backbone.layers, caches):
                hidden, residual = cache.step(block, hidden, residual)
            logits = backbone.ln_f(hidden + residual)[:, 0] @ head.T
            torch.testing.assert_close(logits, expected[:, t], rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_generation_equals_greedy_recomputation(seed):
    model = random_model(seed)
    prompt = "ACGTTGCAAGGTCA"
    out = model.generate(prompt, 50, temperature=0)
    assert out == greedy_by_recomputation(model, prompt, 50)
    assert len(set(out[len(prompt):])) > 1  # the model is not degenerate: the test compares real choices


def test_sampling_is_reproducible_and_over_acgt():
    model = random_model()
    prompts = ["ACGTAC", "TTGACA", "GGGCCC"]
    first = model.generate(prompts, 60, random_state=0)
    assert first == model.generate(prompts, 60, random_state=0)
    assert first != model.generate(prompts, 60, random_state=1)
    for prompt, out in zip(prompts, first):
        assert out.startswith(prompt) and len(out) == len(prompt) + 60
        assert set(out[len(prompt):]) <= set("ACGT")
    assert model.generate(prompts, 30, temperature=0, random_state=0) == \
        model.generate(prompts, 30, temperature=0, random_state=5)


def test_top_k_1_and_a_tiny_top_p_are_greedy():
    model = random_model()
    greedy = model.generate("ACGTAGGA", 40, temperature=0)
    assert model.generate("ACGTAGGA", 40, top_k=1, random_state=3) == greedy
    assert model.generate("ACGTAGGA", 40, top_p=1e-6, random_state=3) == greedy


def test_top_k_and_top_p_restrict_the_choice():
    logits = torch.tensor([[3.0, 2.0, 0.0, -1.0]]).repeat(2000, 1)
    generator = torch.Generator().manual_seed(0)
    picked = generation._next_tokens(logits, 1.0, 2, None, generator)
    assert set(picked.tolist()) == {0, 1}
    probabilities = logits[0].softmax(-1)  # 0.705, 0.259, ...: top_p=0.9 keeps the first two
    assert probabilities[:2].sum() > 0.9 > probabilities[0]
    picked = generation._next_tokens(logits, 1.0, None, 0.9, generator)
    assert set(picked.tolist()) == {0, 1}
    picked = generation._next_tokens(logits, 1.0, None, None, generator)
    assert set(picked.tolist()) == {0, 1, 2, 3}
    frequencies = np.bincount(picked.numpy(), minlength=4) / len(picked)
    np.testing.assert_allclose(frequencies, probabilities.numpy(), atol=0.04)


def test_prompts_of_different_lengths_are_continued_as_alone():
    model = random_model()
    prompts = ["ACGTAC", "TTGACATTGA", "G", "ACGTAC"]
    together = model.generate(prompts, 25, temperature=0)
    assert together == [model.generate(p, 25, temperature=0) for p in prompts]
    assert model.generate([], 5) == []
    assert model.generate("acgtn", 3, temperature=0).startswith("ACGTN")


@pytest.mark.parametrize("kwargs, match", [
    (dict(prompts="", max_new_tokens=5), "Prompt 0 must be a non-empty str"),
    (dict(prompts=["ACGT", 5], max_new_tokens=5), "Prompt 1 must be a non-empty str"),
    (dict(prompts="A" * 100, max_new_tokens=29), "Prompt 0 .100 tokens. plus max_new_tokens=29 is longer than the model's l_max=128"),
    (dict(prompts="ACGT", max_new_tokens=-1), "max_new_tokens must be an int >= 0"),
    (dict(prompts="ACGT", max_new_tokens=5, temperature=-0.1), "temperature must be a number >= 0"),
    (dict(prompts="ACGT", max_new_tokens=5, top_k=0), "top_k must be None or an int >= 1"),
    (dict(prompts="ACGT", max_new_tokens=5, top_p=1.5), r"top_p must be None or a number in \(0, 1\]"),
    (dict(prompts=["ACGT", "ACGX"], max_new_tokens=5), "Prompt 1 has the character 'X' at position 3"),
])
def test_generate_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_model().generate(**kwargs)


def test_pretrainer_generate_reads_prompts_with_its_unknown_rule():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        HyenaPretrainer().generate("ACGT", 5)
    pre = HyenaPretrainer(d_model=16, n_layer=1, max_length=64, max_steps=3, random_state=0, unknown="N")
    pre.fit(["ACGTTGCA" * 20])
    out = pre.generate(["ACRT", "GGCC"], 10, random_state=0)
    assert out[0].startswith("ACNT") and len(out[1]) == 14
    assert out == pre.generate(["ACRT", "GGCC"], 10, random_state=0)


def test_generate_restores_training_mode_and_ignores_dropout():
    model = random_model(embed_dropout=0.5, resid_dropout=0.5).train()
    first = model.generate("ACGTAGGA", 20, temperature=0)
    assert model.training
    assert first == model.eval().generate("ACGTAGGA", 20, temperature=0)
