"""GPU workloads whose telemetry ``record.py`` records as labelled traces (PyTorch, one GPU).

One workload per process, as a job runs on a real node: its memory appears when it starts and
goes when it ends. Each runs for ``--seconds`` after its set-up and appends what it did (its
checkpoints, its request batches) to ``--events`` as ``unix_time,workload,event,detail`` rows,
so a trace's stalls can be read against their cause.

- ``train-ckpt``: a decoder-only transformer (about 0.5 B parameters at ``--size big``) trained
  with AdamW in bf16 autocast on synthetic tokens, with a synchronous checkpoint (model and
  optimizer state, ``torch.save`` then ``fsync``) every ``--ckpt-every`` seconds: the GPU waits
  while the state is written, as in most training code.
- ``train-filler``: the same training, but each checkpoint copies the state to host memory and
  writes it from a thread while the GPU runs matrix products until the write is done: the
  evasion that fills a training run's pauses with synthetic load.
- ``infer-batched``: offline batched generation with a KV cache (32 prompts of 512 tokens, 256
  new tokens each, greedy), batch after batch.
- ``infer-requests``: a request-driven server: requests arrive as a Poisson process whose rate
  wanders (bursts and lulls); whatever has arrived is generated as one batch (at most 16).
- ``stress``: back-to-back bf16 matrix products (a burn-in).

Nothing here reads a file or the network: the model's weights are random, the data synthetic.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812  (the usual name)
from torch import nn

SIZES = {
    # d_model, layers, vocab, train sequence, train batch
    "big": (1280, 24, 50304, 1024, 8),
    "tiny": (64, 2, 1000, 64, 2),
}
HEAD_DIM = 64
WORKLOADS = ("train-ckpt", "train-filler", "infer-batched", "infer-requests", "stress")


class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.heads = d // HEAD_DIM
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d, bias=False)
        self.out = nn.Linear(4 * d, d, bias=False)

    def forward(self, x, cache=None):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, HEAD_DIM).permute(2, 0, 3, 1, 4)
        first = cache is None
        if not first:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        # a prompt attends causally; one decoded token attends to everything before it
        a = F.scaled_dot_product_attention(q, k, v, is_causal=first and t > 1)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        x = x + self.out(F.gelu(self.fc(self.ln2(x))))
        return x, (k, v)


class Gpt(nn.Module):
    def __init__(self, d: int, layers: int, vocab: int, max_len: int = 2048) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, idx, caches=None, offset: int = 0):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(offset, offset + t, device=idx.device))
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if caches is None else caches[i])
            new.append(kv)
        return self.ln(x) @ self.tok.weight.T, new


class Events:
    def __init__(self, path: Path, workload: str) -> None:
        self.f = path.open("a", buffering=1)
        self.workload = workload

    def __call__(self, event: str, detail: str = "") -> None:
        self.f.write(f"{time.time():.3f},{self.workload},{event},{detail}\n")


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def autocast(dev: torch.device):
    return torch.autocast(dev.type, dtype=torch.bfloat16)


def train(args, dev, ev: Events, filler: bool) -> None:  # noqa: PLR0915  (one loop, read top to bottom)
    d, layers, vocab, seq, batch = SIZES[args.size]
    model = Gpt(d, layers, vocab).to(dev)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    ev("setup", f"params={params} seq={seq} batch={batch}")
    ckpt = Path(args.ckpt_dir) / f"{args.workload}.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    a = b = None
    if filler:
        n = 256 if args.size == "tiny" else 8192
        a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    deadline = time.monotonic() + args.seconds
    next_ckpt = time.monotonic() + args.ckpt_every
    step = 0
    ev("start")
    while time.monotonic() < deadline:
        x = torch.randint(0, vocab, (batch, seq + 1), device=dev)
        with autocast(dev):
            logits, _ = model(x[:, :-1])
            loss = F.cross_entropy(logits.float().view(-1, vocab), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        if step % 20 == 0:
            ev("step", f"step={step} loss={loss.item():.4f}")  # .item() waits for the GPU
        if time.monotonic() >= next_ckpt and time.monotonic() < deadline - 5:
            sync(dev)
            ev("ckpt_begin", f"step={step}")
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step}
            if filler:
                host = _to_host(state)
                ev("ckpt_copied", f"step={step}")
                writer = threading.Thread(target=_save, args=(host, ckpt))
                writer.start()
                n = 0
                while writer.is_alive():
                    for _ in range(8):
                        _c = a @ b
                    sync(dev)
                    n += 8
                writer.join()
                ev("ckpt_end", f"step={step} filler_products={n}")
            else:
                _save(state, ckpt)
                ev("ckpt_end", f"step={step}")
            next_ckpt = time.monotonic() + args.ckpt_every
    sync(dev)
    ev("end", f"steps={step}")
    ckpt.unlink(missing_ok=True)


def _to_host(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu")
    if isinstance(obj, dict):
        return {k: _to_host(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_host(v) for v in obj)
    return obj


def _save(state, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@torch.no_grad()
def generate(model: Gpt, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
    logits, caches = model(prompt)
    nxt = logits[:, -1].argmax(-1, keepdim=True)
    out = [nxt]
    offset = prompt.shape[1]
    for _ in range(new_tokens - 1):
        logits, caches = model(nxt, caches, offset)
        offset += 1
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out.append(nxt)
    return torch.cat(out, dim=1)


def _server_model(args, dev) -> tuple[Gpt, int]:
    d, layers, vocab, _seq, _batch = SIZES[args.size]
    model = Gpt(d, layers, vocab).to(dev, dtype=torch.bfloat16).eval()
    return model, vocab


def infer_batched(args, dev, ev: Events) -> None:
    model, vocab = _server_model(args, dev)
    small = args.size == "tiny"
    batch, prompt_len, new = (2, 16, 8) if small else (32, 512, 256)
    deadline = time.monotonic() + args.seconds
    ev("start", f"batch={batch} prompt={prompt_len} new={new}")
    n = 0
    while time.monotonic() < deadline:
        prompt = torch.randint(0, vocab, (batch, prompt_len), device=dev)
        tokens = generate(model, prompt, new).tolist()  # to the host, as results are written
        n += 1
        ev("batch", f"n={n} tokens={sum(len(t) for t in tokens)}")
    ev("end", f"batches={n}")


def infer_requests(args, dev, ev: Events) -> None:
    model, vocab = _server_model(args, dev)
    small = args.size == "tiny"
    rng = random.Random(args.seed)
    start = time.monotonic()
    deadline = start + args.seconds
    # arrivals: a Poisson process whose rate wanders between lulls and bursts
    arrivals: list[tuple[float, int, int]] = []  # (time, prompt tokens, new tokens)
    t = 0.0
    rate = 1.0
    while t < args.seconds:
        if rng.random() < 0.05:
            rate = rng.choice([0.05, 0.3, 1.0, 2.0, 4.0])
        t += rng.expovariate(rate)
        arrivals.append(
            (
                start + t,
                rng.randint(8, 64) if small else rng.randint(64, 1024),
                rng.randint(2, 8) if small else rng.randint(16, 200),
            )
        )
    ev("start", f"requests={len(arrivals)}")
    i = 0
    served = 0
    while time.monotonic() < deadline and i < len(arrivals):
        now = time.monotonic()
        if arrivals[i][0] > now:
            time.sleep(min(arrivals[i][0], deadline) - now)
            continue
        batch = []
        while i < len(arrivals) and arrivals[i][0] <= now and len(batch) < 16:
            batch.append(arrivals[i])
            i += 1
        prompt_len = max(r[1] for r in batch)
        new = max(r[2] for r in batch)
        prompt = torch.randint(0, vocab, (len(batch), prompt_len), device=dev)
        generate(model, prompt, new).tolist()
        served += len(batch)
        ev("batch", f"requests={len(batch)} prompt={prompt_len} new={new} waited={now - batch[0][0]:.2f}")
    ev("end", f"served={served}")


def stress(args, dev, ev: Events) -> None:
    n = 256 if args.size == "tiny" else 8192
    a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    deadline = time.monotonic() + args.seconds
    ev("start", f"n={n}")
    k = 0
    while time.monotonic() < deadline:
        for _ in range(16):
            _c = a @ b
        sync(dev)
        k += 16
    ev("end", f"products={k} tflops={2 * n**3 * k / args.seconds / 1e12:.0f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=WORKLOADS)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--events", type=Path, required=True)
    p.add_argument("--size", choices=sorted(SIZES), default="big")
    p.add_argument("--device", default="cuda")
    p.add_argument("--ckpt-every", type=float, default=30.0)
    p.add_argument("--ckpt-dir", required=True)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    dev = torch.device(args.device)
    ev = Events(args.events, args.workload)
    try:
        if args.workload in ("train-ckpt", "train-filler"):
            train(args, dev, ev, filler=args.workload == "train-filler")
        elif args.workload == "infer-batched":
            infer_batched(args, dev, ev)
        elif args.workload == "infer-requests":
            infer_requests(args, dev, ev)
        else:
            stress(args, dev, ev)
    except Exception as e:
        ev("failed", f"{type(e).__name__}: {e}".replace(",", ";").replace("\n", " "))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
