"""Cost of attribution and generation with the bundled backbone.

Usage::

    python benchmarks/interpret_generate.py [--pretrained dnaestim-multispecies-tiny-1k] [--length 1000]
                                            [--new-tokens 200,900] [--json OUT]

1. **Saturation mutagenesis** of ``--length``-nt random sequences (3 L mutants each) with a ``HyenaClassifier``
   on the bundled backbone (fitted for one epoch on 64 random sequences: the time does not depend on the
   weights) and with the backbone's language model (``HyenaPretrainer``, change of log-likelihood); gradient x
   input for comparison. Median of 3 sequences.
2. **Generation**: tokens/s of :meth:`HyenaLM.generate <dnaestim.nn.HyenaLM.generate>` (cached long-convolution
   history) against greedy decoding by recomputation (a forward pass over the whole prefix per new token),
   batch 1 and 8, from 100-nt prompts. The two give the same tokens at temperature 0 (checked here).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dnaestim import HyenaClassifier, HyenaPretrainer, load_pretrained
from dnaestim.interpret import gradient_x_input, saturation_mutagenesis
from dnaestim.models import DEFAULT_BACKBONE
from dnaestim.nn.generation import BASE_IDS
from dnaestim.tokenizer import RIGHT_PADDED

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import describe, summary  # noqa: E402  (sibling benchmark script)


def random_sequences(n, length, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def median_seconds(function, inputs):
    function(inputs[0][:100])  # warm-up (filter spectra, allocator)
    times = []
    for item in inputs:
        start = time.perf_counter()
        function(item)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def attribution(args):
    train = random_sequences(64, args.length, 0)
    clf = HyenaClassifier(pretrained=args.pretrained, max_iter=1, random_state=0).fit(train, [0, 1] * 32)
    pre = HyenaPretrainer(pretrained=args.pretrained, max_steps=1, max_length=args.length + 1,
                          random_state=0).fit(train)
    sequences = random_sequences(4, args.length, 1)
    rows = {
        "ISM, classifier": median_seconds(lambda s: saturation_mutagenesis(clf, s, target=1), sequences[1:]),
        "ISM, log-likelihood": median_seconds(lambda s: saturation_mutagenesis(pre, s), sequences[1:]),
        "gradient x input, classifier": median_seconds(lambda s: gradient_x_input(clf, s, target=1), sequences[1:]),
    }
    print(f"\n{args.length}-nt sequence, {3 * args.length} mutants")
    for name, seconds in rows.items():
        print(f"  {name:<30} {seconds:8.3f} s")
    return rows


def greedy_by_recomputation(model, prompts, n):
    ids = torch.as_tensor(np.stack([RIGHT_PADDED.encode(p) for p in prompts]))
    with torch.inference_mode():
        for _ in range(n):
            logits = model(ids)[:, -1, list(BASE_IDS)]
            ids = torch.cat([ids, torch.as_tensor(BASE_IDS)[logits.argmax(-1)][:, None]], dim=1)
    return [RIGHT_PADDED.decode(row) for row in ids.tolist()]


def generation(args):
    model = load_pretrained(args.pretrained).eval()
    rows = {}
    print(f"\n{'batch':>5} {'new':>5} {'cached tok/s':>13} {'recompute tok/s':>16} {'ratio':>6} {'same':>5}")
    for batch in (1, 8):
        prompts = random_sequences(batch, 100, 2)
        for n in args.new_tokens:
            model.generate(prompts, 5, temperature=0)  # warm-up
            start = time.perf_counter()
            cached = model.generate(prompts, n, temperature=0)
            cached_s = time.perf_counter() - start
            start = time.perf_counter()
            recomputed = greedy_by_recomputation(model, prompts, n)
            recompute_s = time.perf_counter() - start
            row = {"cached_tokens_per_s": batch * n / cached_s, "recompute_tokens_per_s": batch * n / recompute_s,
                   "same_tokens": cached == recomputed}
            rows[f"batch {batch}, {n} new"] = row
            print(f"{batch:5d} {n:5d} {row['cached_tokens_per_s']:13,.0f} {row['recompute_tokens_per_s']:16,.0f} "
                  f"{cached_s and recompute_s / cached_s:6.1f} {str(row['same_tokens']):>5}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained", default=DEFAULT_BACKBONE)
    parser.add_argument("--length", type=int, default=1000, help="nucleotides per mutagenesis sequence")
    parser.add_argument("--new-tokens", default="200,900", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    hardware = describe()
    print(summary(hardware))
    print(f"backbone {args.pretrained}")
    results = {"hardware": hardware, "attribution": attribution(args), "generation": generation(args)}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
