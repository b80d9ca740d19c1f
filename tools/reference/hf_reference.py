"""An independent PyTorch reference of the checkpoints vtprune loads, for `vtprune forward`.

Written from the Hugging Face / OpenGVLab modeling sources (modeling_clip.py, modeling_llava.py,
modeling_llama.py, modeling_qwen2.py in transformers; modeling_intern_vit.py,
modeling_internlm2.py, modeling_internvl_chat.py in the InternVL repositories), reading the
checkpoint's own key names and config.json, without any vtprune code. Plain torch >= 1.13
(Debian's python3-torch): attention is the explicit softmax(q k^T / sqrt(d)) v, no SDPA.

Same contract as `vtprune forward` (see FullForward.java): pixel_values [T, 3, S, S] and
input_ids [L] in, vision_features, visual_embeds, logits and hidden_i out, no batch axis.

    /usr/bin/python3 tools/reference/hf_reference.py --model-dir DIR --input F.safetensors \
        --out R.safetensors [--hidden 0,1,2] [--kept K.safetensors] [--dtype float64]
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402


# ----------------------------------------------------------------------------- checkpoint


class Checkpoint:
    """config.json and the tensors (single file or sharded index) of a model directory."""

    def __init__(self, model_dir, dtype):
        self.dir = model_dir
        with open(os.path.join(model_dir, "config.json")) as f:
            self.config = json.load(f)
        index = os.path.join(model_dir, "model.safetensors.index.json")
        self.tensors = {}
        if os.path.exists(index):
            with open(index) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            for s in shards:
                self.tensors.update(st.load(os.path.join(model_dir, s)))
        else:
            self.tensors = st.load(os.path.join(model_dir, "model.safetensors"))
        self.dtype = dtype

    def has(self, key):
        return key in self.tensors

    def __getitem__(self, key):
        return self.tensors[key].to(self.dtype)


def get(cfg, key, default):
    v = cfg.get(key)
    return default if v is None else v


# ----------------------------------------------------------------------------- shared math


def layer_norm(x, ck, prefix, eps):
    return F.layer_norm(x, (x.shape[-1],), ck[prefix + ".weight"], ck[prefix + ".bias"], eps)


def linear(x, ck, prefix, bias=True):
    return F.linear(x, ck[prefix + ".weight"], ck[prefix + ".bias"] if bias else None)


def rms_norm(x, weight, eps):
    # Llama/Qwen2/InternLM2: normalise in float32 (or wider), scale in the model dtype.
    h = x.to(torch.float32) if x.dtype in (torch.float16, torch.bfloat16) else x
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def attention(q, k, v, causal):
    """q [H, N, d], k and v [H, N, d] (kv heads already repeated)."""
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        n = q.shape[-2]
        mask = torch.ones(n, n, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.matmul(scores.softmax(-1), v)


def gelu(x):
    return F.gelu(x)  # exact erf GELU: ACT2FN["gelu"] and nn.GELU()


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


# ----------------------------------------------------------------------------- vision


def intern_vit(ck, prefix, vcfg, pixels, select_layer):
    """InternViT-300M (layer_norm, qkv bias, no qk-norm): hidden_states[select_layer], CLS first."""
    h = vcfg["hidden_size"]
    heads = vcfg["num_attention_heads"]
    eps = get(vcfg, "layer_norm_eps", 1e-6)
    p = vcfg["patch_size"]
    w = ck[prefix + "embeddings.patch_embedding.weight"]
    x = F.conv2d(pixels.to(w.dtype), w, ck[prefix + "embeddings.patch_embedding.bias"], stride=p)
    t, _, gh, gw = x.shape
    x = x.flatten(2).transpose(1, 2)
    cls = ck[prefix + "embeddings.class_embedding"].reshape(1, 1, h).expand(t, 1, h)
    pos = ck[prefix + "embeddings.position_embedding"]  # [1, 1 + g*g, h]
    g = int(round(math.sqrt(pos.shape[1] - 1)))
    # Upstream resamples the patch positions to the input grid with bicubic interpolation
    # (the identity when the grid is the trained one, as here).
    grid = pos[:, 1:, :].float().reshape(1, g, g, h).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
    grid = grid.reshape(1, h, gh * gw).permute(0, 2, 1).to(x.dtype)
    x = torch.cat([cls, x], 1) + torch.cat([pos[:, :1, :], grid], 1)
    states = [x]
    for i in range(vcfg["num_hidden_layers"]):
        lp = f"{prefix}encoder.layers.{i}."
        y = layer_norm(x, ck, lp + "norm1", eps)
        n = y.shape[1]
        qkv = linear(y, ck, lp + "attn.qkv").reshape(t, n, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
        a = torch.stack([attention(qkv[0, b], qkv[1, b], qkv[2, b], False) for b in range(t)])
        a = linear(a.transpose(1, 2).reshape(t, n, h), ck, lp + "attn.proj")
        x = x + a * ck[lp + "ls1"]
        m = linear(gelu(linear(layer_norm(x, ck, lp + "norm2", eps), ck, lp + "mlp.fc1")), ck, lp + "mlp.fc2")
        x = x + m * ck[lp + "ls2"]
        states.append(x)
    return states[select_layer]


def clip_vision(ck, prefix, vcfg, pixels, feature_layer):
    """CLIP vision tower: hidden_states[feature_layer] (pre_layrnorm applied, no post-layernorm)."""
    h = get(vcfg, "hidden_size", 768)
    heads = get(vcfg, "num_attention_heads", 12)
    layers = get(vcfg, "num_hidden_layers", 12)
    eps = get(vcfg, "layer_norm_eps", 1e-5)
    p = get(vcfg, "patch_size", 32)
    w = ck[prefix + "embeddings.patch_embedding.weight"]
    x = F.conv2d(pixels.to(w.dtype), w, None, stride=p).flatten(2).transpose(1, 2)
    t = x.shape[0]
    cls = ck[prefix + "embeddings.class_embedding"].reshape(1, 1, h).expand(t, 1, h)
    x = torch.cat([cls, x], 1) + ck[prefix + "embeddings.position_embedding.weight"].unsqueeze(0)
    x = layer_norm(x, ck, prefix + "pre_layrnorm", eps)
    states = [x]
    for i in range(layers):
        lp = f"{prefix}encoder.layers.{i}."
        y = layer_norm(x, ck, lp + "layer_norm1", eps)
        n, d = y.shape[1], h // heads

        def split(name):
            return linear(y, ck, lp + "self_attn." + name).reshape(t, n, heads, d).transpose(1, 2)

        q, k, v = split("q_proj"), split("k_proj"), split("v_proj")
        a = torch.stack([attention(q[b], k[b], v[b], False) for b in range(t)])
        x = x + linear(a.transpose(1, 2).reshape(t, n, h), ck, lp + "self_attn.out_proj")
        y = layer_norm(x, ck, lp + "layer_norm2", eps)
        x = x + linear(quick_gelu(linear(y, ck, lp + "mlp.fc1")), ck, lp + "mlp.fc2")
        states.append(x)
    return states[feature_layer]


def pixel_shuffle_v2(x, scale):
    """InternVL's pixel_shuffle with ps_version v2 on [T, w, h, C]."""
    n, w, h, c = x.shape
    x = x.reshape(n, w, int(h * scale), int(c / scale)).permute(0, 2, 1, 3).contiguous()
    x = x.reshape(n, int(h * scale), int(w * scale), int(c / (scale * scale)))
    return x.permute(0, 2, 1, 3).contiguous()


# ----------------------------------------------------------------------------- language


def rope(x, positions, theta):
    """rotate_half RoPE on [H, L, d], inv_freq and angles in float32 as transformers forms them."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    ang = positions.float()[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    half = d // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def decoder(ck, lcfg, kind, prefix, head_key, embeds, hidden_wanted):
    """Llama / Qwen2 / InternLM2 decoder on [L, D] embeddings: logits [L, V] and hidden_states."""
    n_layers = lcfg["num_hidden_layers"]
    hidden = lcfg["hidden_size"]
    heads = lcfg["num_attention_heads"]
    kv = get(lcfg, "num_key_value_heads", heads)
    d = hidden // heads
    eps = get(lcfg, "rms_norm_eps", 1e-6)
    theta = get(lcfg, "rope_theta", 10000.0)
    length = embeds.shape[0]
    pos = torch.arange(length)
    x = embeds
    states = [x]
    for i in range(n_layers):
        lp = f"{prefix}layers.{i}."
        if kind == "internlm2":
            y = rms_norm(x, ck[lp + "attention_norm.weight"], eps)
            groups = heads // kv
            # wqkv rows: per kv head, `groups` query heads, then its key head, then its value head.
            qkv = F.linear(y, ck[lp + "attention.wqkv.weight"]).reshape(length, kv, groups + 2, d)
            q = qkv[:, :, :groups, :].reshape(length, heads, d)
            k = qkv[:, :, groups, :]
            v = qkv[:, :, groups + 1, :]
            wo = ck[lp + "attention.wo.weight"]
        else:
            y = rms_norm(x, ck[lp + "input_layernorm.weight"], eps)
            bias = kind == "qwen2" or get(lcfg, "attention_bias", False)
            q = linear(y, ck, lp + "self_attn.q_proj", bias).reshape(length, heads, d)
            k = linear(y, ck, lp + "self_attn.k_proj", bias).reshape(length, kv, d)
            v = linear(y, ck, lp + "self_attn.v_proj", bias).reshape(length, kv, d)
            wo = ck[lp + "self_attn.o_proj.weight"]
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [heads, L, d]
        q, k = rope(q, pos, theta), rope(k, pos, theta)
        # GQA: query head j reads kv head j // (heads / kv) (repeat_kv).
        k = k.repeat_interleave(heads // kv, 0)
        v = v.repeat_interleave(heads // kv, 0)
        a = attention(q, k, v, True).transpose(0, 1).reshape(length, hidden)
        x = x + F.linear(a, wo)
        if kind == "internlm2":
            y = rms_norm(x, ck[lp + "ffn_norm.weight"], eps)
            f = lp + "feed_forward."
            m = F.linear(F.silu(F.linear(y, ck[f + "w1.weight"])) * F.linear(y, ck[f + "w3.weight"]), ck[f + "w2.weight"])
        else:
            y = rms_norm(x, ck[lp + "post_attention_layernorm.weight"], eps)
            f = lp + "mlp."
            m = F.linear(F.silu(F.linear(y, ck[f + "gate_proj.weight"])) * F.linear(y, ck[f + "up_proj.weight"]),
                         ck[f + "down_proj.weight"])
        x = x + m
        states.append(x)
    x = rms_norm(x, ck[prefix + "norm.weight"], eps)
    states[-1] = x  # transformers: the last entry of hidden_states is after the final norm
    embed_key = prefix + ("tok_embeddings.weight" if kind == "internlm2" else "embed_tokens.weight")
    if get(lcfg, "tie_word_embeddings", False):
        head = ck[embed_key]
    else:
        head = ck[head_key]  # absent and untied: a KeyError naming it
    logits = F.linear(x, head)
    return logits, {i: states[i] for i in hidden_wanted}


# ----------------------------------------------------------------------------- models


def image_context_id(model_dir):
    added = os.path.join(model_dir, "added_tokens.json")
    if os.path.exists(added):
        with open(added) as f:
            table = json.load(f)
        if "<IMG_CONTEXT>" in table:
            return table["<IMG_CONTEXT>"]
    with open(os.path.join(model_dir, "tokenizer_config.json")) as f:
        for key, tok in json.load(f)["added_tokens_decoder"].items():
            if tok["content"] == "<IMG_CONTEXT>":
                return int(key)
    raise KeyError("no <IMG_CONTEXT> in " + model_dir)


def forward(model_dir, pixels, ids, hidden_wanted, kept=None, dtype=torch.float32):
    ck = Checkpoint(model_dir, dtype)
    cfg = ck.config
    out = {}
    if cfg.get("model_type") == "internvl_chat":
        vcfg, lcfg = cfg["vision_config"], cfg["llm_config"]
        arch = lcfg["architectures"][0]
        kind = {"InternLM2ForCausalLM": "internlm2", "Qwen2ForCausalLM": "qwen2"}[arch]
        feats = intern_vit(ck, "vision_model.", vcfg, pixels, get(cfg, "select_layer", -1))[:, 1:, :]
        t, n, c = feats.shape
        g = int(round(math.sqrt(n)))
        x = pixel_shuffle_v2(feats.reshape(t, g, g, c), get(cfg, "downsample_ratio", 0.5))
        x = x.reshape(t, -1, x.shape[-1])
        x = F.layer_norm(x, (x.shape[-1],), ck["mlp1.0.weight"], ck["mlp1.0.bias"], 1e-5)
        x = F.linear(gelu(F.linear(x, ck["mlp1.1.weight"], ck["mlp1.1.bias"])), ck["mlp1.3.weight"], ck["mlp1.3.bias"])
        visual = x.reshape(-1, x.shape[-1])
        token = image_context_id(model_dir)
        lm_prefix = "language_model.model."
        head_key = "language_model.output.weight" if kind == "internlm2" else "language_model.lm_head.weight"
        expand = False
    elif cfg.get("model_type") == "llava":
        vcfg, lcfg = cfg["vision_config"], cfg["text_config"]
        kind = "llama"
        modern = any(k.startswith("model.language_model.") for k in ck.tensors)
        vprefix = "model.vision_tower.vision_model." if modern else "vision_tower.vision_model."
        feats = clip_vision(ck, vprefix, vcfg, pixels, get(cfg, "vision_feature_layer", -2))[:, 1:, :]
        pp = "model.multi_modal_projector." if modern else "multi_modal_projector."
        x = F.linear(gelu(F.linear(feats, ck[pp + "linear_1.weight"], ck[pp + "linear_1.bias"])),
                     ck[pp + "linear_2.weight"], ck[pp + "linear_2.bias"])
        visual = x.reshape(-1, x.shape[-1])
        token = get(cfg, "image_token_index", get(cfg, "image_token_id", 32000))
        lm_prefix = "model.language_model." if modern else "language_model.model."
        head_key = "lm_head.weight" if modern else "language_model.lm_head.weight"
        expand = True
    else:
        raise ValueError("unsupported model_type " + str(cfg.get("model_type")))
    out["vision_features"] = feats
    out["visual_embeds"] = visual

    # Merge: each image-context id takes the next visual token (LLaVA's one id takes all of
    # them); tokens not in `kept` leave the sequence.
    keep = set(range(visual.shape[0])) if kept is None else set(int(k) for k in kept)
    embed_key = lm_prefix + ("tok_embeddings.weight" if kind == "internlm2" else "embed_tokens.weight")
    table = ck[embed_key]
    rows, nxt = [], 0
    for tok in ids.tolist():
        if tok != token:
            rows.append(table[tok])
            continue
        for _ in range(visual.shape[0] if expand else 1):
            if nxt in keep:
                rows.append(visual[nxt].to(table.dtype))
            nxt += 1
    assert nxt == visual.shape[0], f"{nxt} image-context slots for {visual.shape[0]} visual tokens"
    embeds = torch.stack(rows)
    logits, states = decoder(ck, lcfg, kind, lm_prefix, head_key, embeds, hidden_wanted)
    out["logits"] = logits
    for i, s in states.items():
        out[f"hidden_{i}"] = s
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", default="")
    ap.add_argument("--kept", help="a safetensors file with `kept` (e.g. vtprune's output) to prune the same tokens")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    a = ap.parse_args(argv)
    inputs = st.load(a.input)
    kept = st.load(a.kept)["kept"] if a.kept else None
    hidden = [int(i) for i in a.hidden.split(",") if i != ""]
    with torch.no_grad():
        out = forward(a.model_dir, inputs["pixel_values"], inputs["input_ids"], hidden, kept,
                      getattr(torch, a.dtype))
    st.save(a.out, {k: v.float().contiguous() for k, v in out.items()})


if __name__ == "__main__":
    main()
