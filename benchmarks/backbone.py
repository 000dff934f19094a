"""Speed and memory of the Hyena backbone against a plain transcription of the model and causal attention.

Usage::

    python benchmarks/backbone.py [--lengths 1024,4096,16384,65536,262144,1048576] [--reference-max 262144]
                                  [--attention-max 16384] [--chunk-size auto] [--device cpu|cuda]
                                  [--precision 32,bf16] [--compile] [--json OUT] [--plot OUT.png]

The first line says what it ran on: CPU model, the flags that decide its speed (avx2, avx512f, avx512_bf16,
amx_bf16), torch's ``get_cpu_capability()``, threads (and the GPU with ``--device cuda``).

Forward (inference, batch 1) of the large-1m shape (d_model 256, 8 layers, d_inner 1024) at each length, for
three implementations, each measured in its own subprocess so that its peak memory (``ru_maxrss``, the whole
process) is its own:

* ``ours``: dnaestim's backbone as users get it (cached filter spectrum, (B, L, D) layout, 5-smooth FFT length,
  and the default ``chunk_size="auto"``: chunked evaluation above 8192 tokens), once per ``--precision``
  (default float32 and bf16 autocast side by side on GPUs and on CPUs with bfloat16 units, else float32);
* ``plain``: ``benchmarks/reference_hyena.py``, SPEC.md transcribed the way the published code is built, in
  float32: every ``x plain`` ratio is against it;
* ``attention``: a causal-attention transformer of the same width, depth and MLP
  (``scaled_dot_product_attention``), float32, up to ``--attention-max``.

Time is the median of several calls after one warm-up call (on CUDA each call ends with a synchronize, and
the peak is ``torch.cuda.max_memory_allocated``). The relative error (max abs difference over max abs value) of
ours in each precision, one pass and chunked, against the plain transcription in float32 with the same weights
is checked at every length up to ``--error-max``. Then training throughput (forward, backward and AdamW step of
the language model) for the tiny-1k (8 x 1024) and small-32k (1 x 32,768) shapes, each also with
``retain_freed_memory()`` called in both processes ("retained": large freed blocks stay in the process, see
``dnaestim.memory``); ``--compile`` adds ``torch.compile``-d variants. Ratios > 1 mean dnaestim is faster.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import describe, summary  # noqa: E402  (sibling benchmark script)

SHAPES = {
    "tiny-1k": dict(d_model=128, n_layer=2, d_inner=512),
    "small-32k": dict(d_model=256, n_layer=4, d_inner=1024),
    "large-1m": dict(d_model=256, n_layer=8, d_inner=1024),
}


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def peak_gib(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return peak_rss_gib()


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device, precision):
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[precision]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def config_for(shape: str, length: int):
    from dnaestim.nn import HyenaConfig

    return HyenaConfig(**SHAPES[shape], l_max=length, embed_dropout=0.0, resid_dropout=0.0)


def build(kind: str, shape: str, length: int):
    """A model of ``kind`` in eval mode with seed-0 weights (shared by ours and plain)."""
    from dnaestim.nn import HyenaLM

    torch.manual_seed(0)
    config = config_for(shape, length)
    ours = HyenaLM(config)
    if kind == "ours":
        return ours
    if kind == "plain":
        from reference_hyena import ReferenceLM

        plain = ReferenceLM(config)
        plain.load_state_dict(ours.state_dict())
        return plain
    if kind == "attention":
        return AttentionLM(config)
    raise ValueError(kind)


class AttentionBlock(torch.nn.Module):
    def __init__(self, d_model, d_inner, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.norm1, self.norm2 = torch.nn.LayerNorm(d_model), torch.nn.LayerNorm(d_model)
        self.qkv, self.out = torch.nn.Linear(d_model, 3 * d_model), torch.nn.Linear(d_model, d_model)
        self.fc1, self.fc2 = torch.nn.Linear(d_model, d_inner), torch.nn.Linear(d_inner, d_model)

    def forward(self, x):
        b, length, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, length, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(a.transpose(1, 2).reshape(b, length, d))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x)), approximate="tanh"))


class AttentionLM(torch.nn.Module):
    """Causal transformer with the Hyena model's width, depth and MLP (64-dimensional heads)."""

    def __init__(self, config):
        super().__init__()
        self.embeddings = torch.nn.Embedding(config.padded_vocab_size, config.d_model)
        self.layers = torch.nn.ModuleList(
            AttentionBlock(config.d_model, config.d_inner, config.d_model // 64) for _ in range(config.n_layer)
        )
        self.ln_f = torch.nn.LayerNorm(config.d_model)

    def backbone(self, ids):
        x = self.embeddings(ids)
        for layer in self.layers:
            x = layer(x)
        return self.ln_f(x)


def forward_fn(kind, model, chunk_size):
    if kind == "ours":
        return lambda ids: model.backbone(ids, chunk_size=chunk_size)  # "auto": chunked above 8192 tokens
    return model.backbone


def time_calls(fn, repeats, device):
    fn()  # warm-up (caches, allocator)
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def child_forward(kind, shape, length, chunk_size, repeats, device="cpu", precision="32"):
    device = torch.device(device)
    model = build(kind, shape, length).eval().to(device)
    ids = torch.randint(7, 11, (1, length), generator=torch.Generator().manual_seed(1)).to(device)
    fn = forward_fn(kind, model, chunk_size)
    with torch.inference_mode(), autocast(device, precision):
        seconds = time_calls(lambda: fn(ids), repeats, device)
    return {"seconds": seconds, "peak_gib": peak_gib(device)}


def child_error(shape, length, chunk_size, device="cpu", precision="32"):
    """Relative error of ours in ``precision`` (one pass, and chunked) against the plain model in float32."""
    device = torch.device(device)
    ours, plain = build("ours", shape, length).eval().to(device), build("plain", shape, length).eval().to(device)
    ids = torch.randint(7, 11, (1, length), generator=torch.Generator().manual_seed(1)).to(device)
    with torch.inference_mode():
        expected = plain.backbone(ids)
        with autocast(device, precision):
            errors = {"one pass": rel_error(ours.backbone(ids, chunk_size=None), expected),
                      "chunked": rel_error(ours.backbone(ids, chunk_size=chunk_size), expected)}
    return errors


def rel_error(actual, expected):
    return float((actual.float() - expected).abs().max() / expected.abs().max())


def training_step(forward, optimizer, ids, device, precision):
    """One next-token training step (forward, cross-entropy, backward, optimiser) on ``ids`` (B, L + 1)."""
    with autocast(device, precision):
        logits = forward(ids[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def child_training(kind, shape, batch, length, seconds, device="cpu", precision="32", compile=False,
                   retain_memory=False):
    if retain_memory:
        from dnaestim import retain_freed_memory

        retain_freed_memory()
    device = torch.device(device)
    model = build(kind, shape, length).train().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    forward = torch.compile(model) if compile else model
    generator = torch.Generator().manual_seed(2)
    batches = [torch.randint(7, 11, (batch, length + 1), generator=generator).to(device) for _ in range(4)]

    def step(ids):
        training_step(forward, optimizer, ids, device, precision)

    for ids in batches[:2]:  # warm-up (and compilation)
        step(ids)
    synchronize(device)
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        start = time.perf_counter()
        step(batches[len(times) % len(batches)])
        synchronize(device)
        times.append(time.perf_counter() - start)
    return {"tokens_per_s": batch * length / statistics.median(times), "peak_gib": peak_gib(device)}


def run_child(job: dict, timeout: float) -> dict | None:
    """Run one measurement in a fresh interpreter; None when it failed or ran out of time."""
    try:
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        print(f"  ({job['task']} {job.get('kind', '')} {job.get('length', '')} failed: "
              f"{out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})", flush=True)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def repeats_for(length):
    return 5 if length <= 16384 else 3 if length <= 65536 else 1


def scaling_exponent(lengths, seconds):
    """Least-squares slope of log(time) against log(length)."""
    xs, ys = [math.log(x) for x in lengths], [math.log(y) for y in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def fmt(value, spec):
    return format(value, spec) if value is not None else "-"


def precision_list(text):
    precisions = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in precisions if p not in ("32", "bf16", "16")]
    if not precisions or unknown:
        raise argparse.ArgumentTypeError(f"precisions are 32, bf16 or 16, comma-separated; got {text!r}")
    return precisions


def default_precisions(device):
    """float32, plus bf16 where it can pay off: CUDA, or a CPU with bfloat16 units."""
    if device.startswith("cuda"):
        return ["32", "bf16"]
    from dnaestim.nn._fast.onednn import cpu_has_bf16

    return ["32", "bf16"] if cpu_has_bf16() else ["32"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child")
    parser.add_argument("--shape", default="large-1m", choices=sorted(SHAPES))
    parser.add_argument("--lengths", default="1024,4096,16384,65536,262144,1048576")
    parser.add_argument("--reference-max", type=int, default=262144, help="longest input for the plain model")
    parser.add_argument("--attention-max", type=int, default=16384, help="longest input for attention")
    parser.add_argument("--error-max", type=int, default=262144, help="longest input for the error check")
    parser.add_argument("--chunk-size", default="auto",
                        help="ours: chunk_size of the backbone (default 'auto'; an int, or 'none' for one pass)")
    parser.add_argument("--train-seconds", type=float, default=20.0, help="per training measurement")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-retained", action="store_true", help="no training rows with retain_freed_memory()")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per measurement, seconds")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--precision", type=precision_list, default=None,
                        help="comma-separated precisions of dnaestim's rows: 32 (float32), bf16, 16 (autocast; the "
                             "long convolution stays float32). Default: 32,bf16 on GPUs and on CPUs with bfloat16 "
                             "units, else 32. The plain transcription and attention always run in float32")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile-d training steps")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()

    if args.chunk_size != "auto":
        args.chunk_size = None if args.chunk_size == "none" else int(args.chunk_size)
    if args.child:
        job = json.loads(args.child)
        task = job.pop("task")
        result = {"forward": child_forward, "error": child_error, "training": child_training}[task](**job)
        print(json.dumps(result))
        return

    precisions = args.precision or default_precisions(args.device)
    hardware = describe(args.device)
    print(summary(hardware))
    print(f"shape {args.shape}; batch 1; dnaestim in {', '.join(PRECISION_NAMES[p] for p in precisions)}; "
          f"plain transcription and attention in float32")
    on = {"device": args.device}
    lengths = [int(x) for x in args.lengths.split(",")]
    runs = {f"ours {p}": ("ours", p, max(lengths)) for p in precisions}
    runs.update({"plain": ("plain", "32", args.reference_max), "attention": ("attention", "32", args.attention_max)})
    forward = {name: {} for name in runs}
    errors = {}
    header = f"{'length':>8} {'plain s':>8} {'GiB':>5} {'attn s':>8}"
    for p in precisions:
        header += f" {'ours ' + p + ' s':>12} {'GiB':>5} {'x plain':>7} {'rel err':>8}"
    print(header)
    for length in lengths:
        for name, (kind, precision, limit) in runs.items():
            if length <= limit:
                result = run_child({"task": "forward", "kind": kind, "shape": args.shape, "length": length,
                                    "chunk_size": args.chunk_size, "repeats": repeats_for(length),
                                    "precision": precision, **on}, args.timeout)
                if result is not None:
                    forward[name][length] = result
        if length <= min(args.error_max, args.reference_max):
            errors[length] = {p: run_child({"task": "error", "shape": args.shape, "length": length,
                                            "chunk_size": args.chunk_size, "precision": p, **on}, args.timeout)
                              for p in precisions}
        plain, attn = forward["plain"].get(length), forward["attention"].get(length)
        line = (f"{length:8d} {fmt(plain and plain['seconds'], '8.3f')} {fmt(plain and plain['peak_gib'], '5.2f')} "
                f"{fmt(attn and attn['seconds'], '8.3f')}")
        for p in precisions:
            ours = forward[f"ours {p}"].get(length)
            err = errors.get(length, {}).get(p)
            line += (f" {fmt(ours and ours['seconds'], '12.3f')} {fmt(ours and ours['peak_gib'], '5.2f')} "
                     f"{fmt(plain and ours and plain['seconds'] / ours['seconds'], '7.2f')} "
                     f"{fmt(err and max(err.values()), '8.1e')}")
        print(line, flush=True)

    summary_rows = {}
    for name, results in forward.items():
        long = [n for n in sorted(results) if n >= 16384]
        if len(long) >= 2:
            summary_rows[f"exponent_{name.replace(' ', '_')}"] = scaling_exponent(
                long, [results[n]["seconds"] for n in long])
    for key, value in summary_rows.items():
        print(f"{key}: {value:.2f}")

    training = {}
    if not args.skip_training:
        header = f"\n{'training (tokens/s)':>29} {'plain 32':>10}"
        for p in precisions:
            header += f" {'ours ' + p:>10} {'x plain':>7}"
        print(header)
        variants = [(False, False)] + ([] if args.skip_retained else [(False, True)])
        variants += [(True, False)] if args.compile else []
        for shape, batch, length in (("tiny-1k", 8, 1024), ("small-32k", 1, 32768)):
            for compiled, retain in variants:
                job = {"task": "training", "shape": shape, "batch": batch, "length": length,
                       "seconds": args.train_seconds, "compile": compiled, "retain_memory": retain, **on}
                result = {"plain": run_child({**job, "kind": "plain", "precision": "32"}, args.timeout)}
                for p in precisions:
                    result[f"ours {p}"] = run_child({**job, "kind": "ours", "precision": p}, args.timeout)
                label = f"{shape} {batch}x{length}" + " compiled" * compiled + " retained" * retain
                training[label] = result
                plain = result["plain"]
                line = f"{label:>29} {fmt(plain and plain['tokens_per_s'], '10,.0f')}"
                for p in precisions:
                    ours = result[f"ours {p}"]
                    line += (f" {fmt(ours and ours['tokens_per_s'], '10,.0f')} "
                             f"{fmt(ours and plain and ours['tokens_per_s'] / plain['tokens_per_s'], '7.2f')}")
                print(line, flush=True)

    results = {"shape": args.shape, "hardware": hardware, "precisions": precisions, "forward": forward,
               "relative_error": errors, "summary": summary_rows, "training": training}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.plot:
        plot(results, args.plot)


PRECISION_NAMES = {"32": "float32", "bf16": "bf16 autocast", "16": "fp16 autocast"}


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"plain": "plain transcription (published style), float32", "attention": "causal attention, float32"}
    labels.update({f"ours {p}": f"dnaestim, {name}" for p, name in PRECISION_NAMES.items()})
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, series in results["forward"].items():
        if series:
            lengths = sorted(int(n) for n in series)
            ax.loglog(lengths, [series[n]["seconds"] for n in lengths], "o-", label=labels[name])
    ax.set_xlabel("tokens (batch 1)")
    ax.set_ylabel("forward time (s)")
    hardware = results["hardware"]
    where = hardware.get("gpu") or f"{hardware['cpu']}, {hardware['threads']} threads"
    ax.set_title(f"{results['shape']} shape, batch 1\n{where}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
