#!/usr/bin/env python3
"""Times PyTorch's own composition of every op the native harness checked, on the same GPU, at
the same shapes (read from the harness's JSON), with CUDA events (median of many calls).

    python3 torch_baseline.py native.json torch.json [--iters N]

The compositions are what a PyTorch user would write for the same computation: materialised
attention where the op avoids it, a vectorised per-tile top-k, the budget split with tensor
ops and a host sync where the arithmetic needs one. Inputs are fresh random tensors, rotated
over several copies when they would sit in L2.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
L2_BYTES = 64 << 20


def median_us(fn, iters):
    for _ in range(5):
        fn(0)
    torch.cuda.synchronize()
    events = [torch.cuda.Event(enable_timing=True) for _ in range(iters + 1)]
    events[0].record()
    for i in range(iters):
        fn(i)
        events[i + 1].record()
    torch.cuda.synchronize()
    times = sorted(events[i].elapsed_time(events[i + 1]) * 1000.0 for i in range(iters))
    return times[iters // 2]


def rotating(make, nbytes):
    sets = 1 if nbytes >= L2_BYTES else min(8, L2_BYTES // max(nbytes, 1) + 1)
    return [make() for _ in range(sets)]


def softmax_rows(*shape, dtype):
    return (torch.randn(*shape, device="cuda") * 3).softmax(-1).to(dtype)


def region_budget(p, dt, iters):
    tiles = p["local_tiles"] + 1
    n = torch.full((p["local_tiles"],), p["tokens_per_tile"], device="cuda", dtype=torch.float64)
    sets = rotating(lambda: torch.randn(tiles, p["dim"], device="cuda", dtype=dt), tiles * p["dim"] * 4)

    def run(i):
        cls = sets[i % len(sets)].double()
        s = F.cosine_similarity(cls[:-1], cls[-1:], dim=1, eps=1e-8)
        w = s.softmax(0)
        k_local = math.floor(0.5 * float(n.sum()) + 0.5)
        x = w * k_local  # one round of the capped split: caps never bind at equal tile sizes here
        capped = x >= n
        if bool(capped.any()):  # a host sync, as the arithmetic needs
            x = torch.where(capped, n, x)
        base = x.floor()
        rest = int(k_local - base.sum().item())
        order = torch.argsort(x - base, descending=True, stable=True)[:rest]
        return base.index_add_(0, order, torch.ones(rest, device="cuda", dtype=torch.float64)).long()

    return median_us(run, iters)


def fused_topk(p, dt, iters):
    t, n = p["tiles"], p["tokens_per_tile"]
    sets = rotating(lambda: (torch.randn(t, n, device="cuda", dtype=dt), torch.rand(t, n, device="cuda", dtype=dt),
                             torch.randint(0, n + 1, (t,), device="cuda")), t * n * 8)

    def norm(x):
        lo, hi = x.amin(1, keepdim=True), x.amax(1, keepdim=True)
        r = hi - lo
        return torch.where(r > 1e-12, (x - lo) / r, torch.zeros_like(x))

    def run(i):
        b, c, k = sets[i % len(sets)]
        f = 0.5 * norm(b.float()) + 0.5 * norm(c.float())
        order = torch.argsort(f, dim=1, descending=True, stable=True)
        keep = torch.zeros_like(f, dtype=torch.bool).scatter_(1, order, torch.arange(n, device="cuda").expand(t, n) < k[:, None])
        return keep.flatten().nonzero().squeeze(1)  # ascending global indices (a host sync, like ours)

    return median_us(run, iters)


def rollout(p, dt, iters):
    s, h, m, d, layers = p["seqs"], p["heads"], p["tokens"], p.get("head_dim", 64), p["layers"]
    if p.get("qk"):
        q = [torch.randn(s, h, m, d, device="cuda", dtype=dt) for _ in range(layers)]
        k = [torch.randn(s, h, m, d, device="cuda", dtype=dt) for _ in range(layers)]
        attn = lambda l: (q[l].float() @ k[l].float().transpose(-1, -2) / math.sqrt(d)).softmax(-1)
    else:
        a = [softmax_rows(s, h, m, m, dtype=dt) for _ in range(layers)]
        attn = lambda l: a[l].float()
    values = torch.randn(s, m, h * d, device="cuda", dtype=dt)
    eye = torch.eye(m, device="cuda")

    def run(i):
        v = torch.zeros(s, 1, m, device="cuda")
        v[:, :, 0] = 1
        for l in range(layers - 1, -1, -1):
            mean = attn(l).mean(1)
            if l > 0:
                mean = mean + eye
                mean = mean / mean.sum(-1, keepdim=True)
            v = v @ mean
        r = v.squeeze(1)[:, 1:] * values.float().norm(dim=-1)[:, 1:]
        return r / r.sum(-1, keepdim=True)

    return median_us(run, iters)


def rollout_matrix(p, dt, iters):
    h, m, layers = p["heads"], p["tokens"], p["layers"]
    a = [softmax_rows(1, h, m, m, dtype=dt) for _ in range(layers)]
    eye = torch.eye(m, device="cuda")

    def run(i):
        r = a[0].float().mean(1)
        for l in range(1, layers):
            b = a[l].float().mean(1) + eye
            r = (b / b.sum(-1, keepdim=True)) @ r
        return r

    return median_us(run, iters)


def text_relevance(p, dt, iters):
    h, q, n = p["heads"], p["queries"], p["visual"]
    sets = rotating(lambda: torch.rand(h, q, n, device="cuda", dtype=dt), h * q * n * 2)
    return median_us(lambda i: sets[i % len(sets)].float().mean(0).amax(0), iters)


def text_relevance_qk(p, dt, iters):
    hq, hkv, d, nq, nk, v0, nv = (p[x] for x in ("q_heads", "kv_heads", "head_dim", "queries", "keys", "visual_start", "visual"))
    q = torch.randn(hq, nq, d, device="cuda", dtype=dt)
    k = torch.randn(hkv, nk, d, device="cuda", dtype=dt)
    qpos = torch.arange(nk - nq, nk, device="cuda")
    vpos = torch.arange(v0, v0 + nv, device="cuda")
    causal = torch.arange(nk, device="cuda")[None, :] > qpos[:, None]

    def run(i):
        kk = k.repeat_interleave(hq // hkv, dim=0)
        scores = (q.float() @ kk.float().transpose(1, 2)) / math.sqrt(d)
        probs = scores.masked_fill(causal, float("-inf")).softmax(-1)[:, :, vpos]
        return probs.mean(0).amax(0)

    return median_us(run, iters)


def cls_saliency(p, dt, iters):
    t, h, g, m, d = p["tiles"], p["heads"], p["grid"], p["merge"], p["head_dim"]
    if p.get("qk"):
        q = torch.randn(t, h, d, device="cuda", dtype=dt)
        k = torch.randn(t, h, g * g + 1, d, device="cuda", dtype=dt)
        rows = lambda: (q.float().unsqueeze(2) @ k.float().transpose(2, 3)).squeeze(2).div(math.sqrt(d)).softmax(-1)[:, :, 1:]
    else:
        a = softmax_rows(t, h, g * g, dtype=dt)
        rows = lambda: a.float()

    def run(i):
        s = rows().mean(1).view(t, g // m, m, g // m, m)
        return s.sum((2, 4)).view(t, -1)

    return median_us(run, iters)


OPS = {
    "region_budget (K1)": region_budget,
    "fused_topk (K2)": fused_topk,
    "rollout (K3)": rollout,
    "rollout_qk (K3)": rollout,
    "rollout_matrix (K3)": rollout_matrix,
    "text_relevance (K4)": text_relevance,
    "text_relevance_qk (K4)": text_relevance_qk,
    "cls_saliency (K5)": cls_saliency,
    "cls_saliency_qk (K5)": cls_saliency,
}


def main():
    args = sys.argv[1:]
    iters = 100
    if "--iters" in args:
        i = args.index("--iters")
        iters = int(args[i + 1])
        del args[i:i + 2]
    native_path, out_path = args
    rows = json.load(open(native_path))["rows"]
    torch.manual_seed(0)
    out = []
    with torch.no_grad():
        for r in rows:
            us = OPS[r["op"]](r["params"], DTYPES[r["dtype"]], iters)
            out.append({"op": r["op"], "shape": r["shape"], "dtype": r["dtype"], "torch_us": us})
            print(f"{r['op']:<24} {r['shape']:<44} {r['dtype']:<9} torch {us:10.2f} us", flush=True)
            torch.cuda.empty_cache()
    json.dump({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "rows": out}, open(out_path, "w"), indent=1)


if __name__ == "__main__":
    main()
