"""An independent PyTorch reference of CLIP's text tower (HF CLIPTextModel + CLIPModel.text_projection).

Written from transformers' modeling_clip.py / configuration_clip.py (CLIPTextEmbeddings,
CLIPAttention, CLIPMLP, CLIPEncoderLayer, CLIPTextTransformer), reading the checkpoint's own
key names and config.json, without any vtprune code. Plain torch >= 1.13, explicit softmax
attention with the causal mask, computed in the --dtype (default float64).

    /usr/bin/python3 tools/reference/clip_text_reference.py --model-dir DIR --ids 49406,320,49407 \
        --out R.safetensors

Writes last_hidden_state [n, hidden] (after final_layer_norm), features [n, projection]
(text_projection of every token) and text_embeds [projection] (HF's pooled feature: the EOS
token, as CLIPTextTransformer picks it).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402


def text_tower(cfg, w, ids, dtype):
    t = cfg["text_config"]
    h = t.get("hidden_size", 512)
    heads = t.get("num_attention_heads", 8)
    eps = t.get("layer_norm_eps", 1e-5)
    d = h // heads
    n = ids.numel()

    def p(k):
        return w[k].to(dtype)

    def lin(x, m, bias=True):
        y = x @ p(m + ".weight").T
        return y + p(m + ".bias") if bias else y

    def ln(x, m):
        return torch.nn.functional.layer_norm(x, (h,), p(m + ".weight"), p(m + ".bias"), eps)

    x = p("text_model.embeddings.token_embedding.weight")[ids] + p("text_model.embeddings.position_embedding.weight")[:n]
    mask = torch.full((n, n), float("-inf"), dtype=dtype).triu(1)  # token i attends to 0..i
    i = 0
    while "text_model.encoder.layers.%d.layer_norm1.weight" % i in w:
        l = "text_model.encoder.layers.%d." % i
        a = ln(x, l + "layer_norm1")
        q, k, v = (lin(a, l + "self_attn." + s).view(n, heads, d).transpose(0, 1) for s in ("q_proj", "k_proj", "v_proj"))
        probs = torch.softmax(q @ k.transpose(1, 2) * d ** -0.5 + mask, dim=-1)
        x = x + lin((probs @ v).transpose(0, 1).reshape(n, h), l + "self_attn.out_proj")
        m = lin(ln(x, l + "layer_norm2"), l + "mlp.fc1")
        x = x + lin(m * torch.sigmoid(1.702 * m), l + "mlp.fc2")  # quick_gelu
        i += 1
    hidden = ln(x, "text_model.final_layer_norm")
    features = lin(hidden, "text_projection", bias=False)
    # CLIPTextTransformer's pooling: legacy configs (eos_token_id 2) take the highest id, others the first EOS.
    eos = t.get("eos_token_id", 2)
    at = int(ids.argmax()) if eos == 2 else int((ids == eos).int().argmax())
    return hidden, features, features[at]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--ids", required=True, help="comma-separated CLIP token ids, special tokens included")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="float64")
    a = ap.parse_args()
    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    w = st.load(os.path.join(a.model_dir, "model.safetensors"))
    ids = torch.tensor([int(s) for s in a.ids.split(",")], dtype=torch.long)
    hidden, features, pooled = text_tower(cfg, w, ids, getattr(torch, a.dtype))
    st.save(a.out, {"last_hidden_state": hidden, "features": features, "text_embeds": pooled})


if __name__ == "__main__":
    main()
