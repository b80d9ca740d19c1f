"""Fidelity check of `vtprune forward` against the PyTorch reference (hf_reference.py).

    /usr/bin/python3 tools/reference/fidelity.py make DIR      # random checkpoints + inputs + cases.json
    (run `vtprune forward` on every case of DIR/cases.json, writing its "java" file)
    /usr/bin/python3 tools/reference/fidelity.py compare DIR   # reference on every case, compare, exit 1 on mismatch
    /usr/bin/python3 tools/reference/fidelity.py run [--vtprune ./vtprune] [DIR]   # all three steps

The checkpoints are tiny and random but use the real Hugging Face key layout and config.json
fields of InternVL2-1B (InternViT + Qwen2), InternVL2-2B (InternViT + InternLM2, packed wqkv,
GQA with 3 query heads per kv head) and llava-1.5 (CLIP + Llama, legacy and transformers >= 4.52
key layouts), plus a Qwen2 with tie_word_embeddings and no lm_head, and pruned runs (the
reference drops the tokens vtprune's `kept` names).

Tolerance: both sides compute in float32, with different kernels (LibTorch's SDPA and fused
linear layers vs explicit matmul-softmax here) and so different summation orders: each op's
result may differ by a few float32 ulps (2^-24 ~ 6e-8 relative), amplified through a few
layers of attention and normalisation. Every output must satisfy
max|vtprune - reference| <= 1e-4 * max(1, max|reference|), i.e. roughly 1000 ulps, far below
any real bug (a swapped head, a wrong RoPE half or a wrong tile order changes outputs at
order 1e-1..1). The reference is also run in float64, and the measured float32 errors of both
implementations against it are printed, to show that vtprune's error is of the reference's own
float32 size.
"""
import json
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference  # noqa: E402
import st  # noqa: E402

RTOL = 1e-4


class Weights:
    """Random tensors scaled like a trained model's (unit-variance activations)."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.t = {}

    def normal(self, mean, std, *shape):
        return torch.randn(*shape, generator=self.g) * std + mean

    def linear(self, key, out, inp, bias=True):
        self.t[key + ".weight"] = self.normal(0, inp ** -0.5, out, inp)
        if bias:
            self.t[key + ".bias"] = self.normal(0, 0.1, out)

    def norm(self, key, n, bias=True):
        self.t[key + ".weight"] = self.normal(1, 0.1, n)
        if bias:
            self.t[key + ".bias"] = self.normal(0, 0.1, n)

    def put(self, key, *shape, mean=0.0, std=1.0):
        self.t[key] = self.normal(mean, std, *shape)


def intern_vit(w, v):
    h, m, p, g = v["hidden_size"], v["intermediate_size"], v["patch_size"], v["image_size"] // v["patch_size"]
    w.put("vision_model.embeddings.class_embedding", 1, 1, h)
    w.linear("vision_model.embeddings.patch_embedding", h, 3 * p * p)
    w.t["vision_model.embeddings.patch_embedding.weight"] = w.t["vision_model.embeddings.patch_embedding.weight"].reshape(h, 3, p, p)
    w.put("vision_model.embeddings.position_embedding", 1, 1 + g * g, h, std=0.5)
    for i in range(v["num_hidden_layers"]):
        lp = f"vision_model.encoder.layers.{i}."
        w.norm(lp + "norm1", h)
        w.linear(lp + "attn.qkv", 3 * h, h)
        w.linear(lp + "attn.proj", h, h)
        w.put(lp + "ls1", h, mean=0.5, std=0.2)
        w.norm(lp + "norm2", h)
        w.linear(lp + "mlp.fc1", m, h)
        w.linear(lp + "mlp.fc2", h, m)
        w.put(lp + "ls2", h, mean=0.5, std=0.2)


def clip(w, v, prefix):
    h, m, p, g = v["hidden_size"], v["intermediate_size"], v["patch_size"], v["image_size"] // v["patch_size"]
    w.put(prefix + "embeddings.class_embedding", h)
    w.put(prefix + "embeddings.patch_embedding.weight", h, 3, p, p, std=(3 * p * p) ** -0.5)
    w.put(prefix + "embeddings.position_embedding.weight", 1 + g * g, h, std=0.5)
    w.norm(prefix + "pre_layrnorm", h)
    for i in range(v["num_hidden_layers"]):
        lp = f"{prefix}encoder.layers.{i}."
        w.norm(lp + "layer_norm1", h)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w.linear(lp + "self_attn." + n, h, h)
        w.norm(lp + "layer_norm2", h)
        w.linear(lp + "mlp.fc1", m, h)
        w.linear(lp + "mlp.fc2", h, m)
    w.norm(prefix + "post_layernorm", h)  # present in the Hub files, unused by LLaVA


def decoder(w, l, kind, prefix, head_key):
    d, m, vocab = l["hidden_size"], l["intermediate_size"], l["vocab_size"]
    heads, kv = l["num_attention_heads"], l.get("num_key_value_heads", l["num_attention_heads"])
    hd = d // heads
    w.put(prefix + ("tok_embeddings.weight" if kind == "internlm2" else "embed_tokens.weight"), vocab, d)
    for i in range(l["num_hidden_layers"]):
        lp = f"{prefix}layers.{i}."
        if kind == "internlm2":
            w.norm(lp + "attention_norm", d, bias=False)
            w.linear(lp + "attention.wqkv", (heads + 2 * kv) * hd, d, bias=False)
            w.linear(lp + "attention.wo", d, heads * hd, bias=False)
            w.norm(lp + "ffn_norm", d, bias=False)
            for n, o, i_ in (("w1", m, d), ("w3", m, d), ("w2", d, m)):
                w.linear(lp + "feed_forward." + n, o, i_, bias=False)
        else:
            bias = kind == "qwen2"
            w.norm(lp + "input_layernorm", d, bias=False)
            w.linear(lp + "self_attn.q_proj", heads * hd, d, bias)
            w.linear(lp + "self_attn.k_proj", kv * hd, d, bias)
            w.linear(lp + "self_attn.v_proj", kv * hd, d, bias)
            w.linear(lp + "self_attn.o_proj", d, heads * hd, bias=False)
            w.norm(lp + "post_attention_layernorm", d, bias=False)
            for n, o, i_ in (("gate_proj", m, d), ("up_proj", m, d), ("down_proj", d, m)):
                w.linear(lp + "mlp." + n, o, i_, bias=False)
    w.norm(prefix + "norm", d, bias=False)
    if not l.get("tie_word_embeddings", False):
        w.linear(head_key[:-len(".weight")], vocab, d, bias=False)


INTERN_VIT = {"architectures": ["InternVisionModel"], "model_type": "intern_vit_6b", "hidden_act": "gelu",
              "hidden_size": 32, "image_size": 56, "intermediate_size": 64, "layer_norm_eps": 1e-06,
              "norm_type": "layer_norm", "num_attention_heads": 2, "num_channels": 3, "num_hidden_layers": 2,
              "patch_size": 14, "qk_normalization": False, "qkv_bias": True}


def internvl_config(llm):
    return {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "downsample_ratio": 0.5,
            "dynamic_image_size": True, "force_image_size": 56, "max_dynamic_patch": 4, "min_dynamic_patch": 1,
            "ps_version": "v2", "select_layer": -1, "use_thumbnail": True, "vision_config": dict(INTERN_VIT),
            "llm_config": llm}


QWEN2 = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu", "hidden_size": 64,
         "intermediate_size": 96, "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
         "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": False, "vocab_size": 320}
INTERNLM2 = {"architectures": ["InternLM2ForCausalLM"], "model_type": "internlm2", "bias": False,
             "hidden_act": "silu", "hidden_size": 96, "intermediate_size": 128, "num_attention_heads": 6,
             "num_hidden_layers": 3, "num_key_value_heads": 2, "rms_norm_eps": 1e-05,
             "rope_scaling": {"factor": 2.0, "type": "dynamic"}, "rope_theta": 1000000, "tie_word_embeddings": False,
             "vocab_size": 330}
# llava-hf leaves out what equals the transformers defaults (rope_theta, eps of the text model).
LLAVA = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "image_token_index": 300,
         "projector_hidden_act": "gelu", "tie_word_embeddings": False, "vision_feature_layer": -2,
         "vision_feature_select_strategy": "default",
         "vision_config": {"hidden_size": 32, "image_size": 42, "intermediate_size": 64, "model_type": "clip_vision_model",
                           "num_attention_heads": 2, "num_hidden_layers": 3, "patch_size": 14},
         "text_config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
                         "intermediate_size": 112, "num_attention_heads": 4, "num_hidden_layers": 2,
                         "rms_norm_eps": 1e-05, "vocab_size": 320}}


def write_model(path, config, tensors, extra_files):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    for name, content in extra_files.items():
        with open(os.path.join(path, name), "w") as f:
            json.dump(content, f)
    st.save(os.path.join(path, "model.safetensors"), tensors, {"format": "pt"})


def make_input(path, seed, tiles, size, vocab, token, slots):
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(0, vocab, (13,), generator=g)
    text[text == token] = 1
    ids = torch.cat([text[:5], torch.full((slots,), token, dtype=torch.int64), text[5:]])
    st.save(path, {"pixel_values": torch.randn(tiles, 3, size, size, generator=g), "input_ids": ids})


def make(root):
    os.makedirs(root, exist_ok=True)
    cases = []

    def internvl(name, llm, kind, seed, tokens_file, tied=False, tiles=3, args=()):
        llm = dict(llm, tie_word_embeddings=tied)
        cfg = internvl_config(llm)
        w = Weights(seed)
        intern_vit(w, INTERN_VIT)
        merged = INTERN_VIT["hidden_size"] * 4
        w.norm("mlp1.0", merged)
        w.linear("mlp1.1", llm["hidden_size"], merged)
        w.linear("mlp1.3", llm["hidden_size"], llm["hidden_size"])
        head = "language_model.output.weight" if kind == "internlm2" else "language_model.lm_head.weight"
        decoder(w, llm, kind, "language_model.model.", head)
        token = llm["vocab_size"] - 7
        files = ({"added_tokens.json": {"<img>": token - 2, "</img>": token - 1, "<IMG_CONTEXT>": token}}
                 if tokens_file == "added_tokens.json" else
                 {"tokenizer_config.json": {"added_tokens_decoder": {
                     str(token - 1): {"content": "</img>", "special": True},
                     str(token): {"content": "<IMG_CONTEXT>", "special": True}}}})
        d = os.path.join(root, name)
        write_model(d, cfg, w.t, files)
        per_tile = (INTERN_VIT["image_size"] // INTERN_VIT["patch_size"] // 2) ** 2
        make_input(os.path.join(d, "input.safetensors"), seed + 1, tiles, INTERN_VIT["image_size"],
                   llm["vocab_size"], token, tiles * per_tile)
        cases.append({"name": name, "dir": d, "layers": llm["num_hidden_layers"], "args": list(args)})

    def llava(name, seed, modern=False, kv=None, args=()):
        cfg = json.loads(json.dumps(LLAVA))
        if kv:
            cfg["text_config"]["num_key_value_heads"] = kv
        w = Weights(seed)
        clip(w, cfg["vision_config"], "model.vision_tower.vision_model." if modern else "vision_tower.vision_model.")
        pp = "model.multi_modal_projector." if modern else "multi_modal_projector."
        d_lm = cfg["text_config"]["hidden_size"]
        w.linear(pp + "linear_1", d_lm, cfg["vision_config"]["hidden_size"])
        w.linear(pp + "linear_2", d_lm, d_lm)
        decoder(w, cfg["text_config"], "llama", "model.language_model." if modern else "language_model.model.",
                "lm_head.weight" if modern else "language_model.lm_head.weight")
        d = os.path.join(root, name)
        write_model(d, cfg, w.t, {})
        make_input(os.path.join(d, "input.safetensors"), seed + 1, 1, cfg["vision_config"]["image_size"],
                   cfg["text_config"]["vocab_size"], cfg["image_token_index"], 1)
        cases.append({"name": name, "dir": d, "layers": cfg["text_config"]["num_hidden_layers"], "args": list(args)})

    internvl("internvl2-1b-like", QWEN2, "qwen2", 11, "added_tokens.json")
    internvl("internvl2-1b-like-tied", QWEN2, "qwen2", 21, "added_tokens.json", tied=True, tiles=1)
    internvl("internvl2-2b-like", INTERNLM2, "internlm2", 31, "tokenizer_config.json")
    internvl("internvl2-2b-like-ptp", INTERNLM2, "internlm2", 31, "tokenizer_config.json",
             args=("--method", "ptp", "--ratio", "0.5"))
    llava("llava-1.5-like", 41)
    llava("llava-1.5-like-modern-gqa", 51, modern=True, kv=2)
    llava("llava-1.5-like-random", 41, args=("--method", "random", "--ratio", "0.4", "--seed", "3"))
    for c in cases:
        c["input"] = os.path.join(c["dir"], "input.safetensors")
        c["java"] = os.path.join(c["dir"], "vtprune.safetensors")
        c["hidden"] = ",".join(str(i) for i in range(c["layers"] + 1))
    with open(os.path.join(root, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    return cases


def compare(root):
    with open(os.path.join(root, "cases.json")) as f:
        cases = json.load(f)
    failed = []
    print(f"{'case':28s} {'output':16s} {'shape':>14s} {'max|ref|':>9s} {'max abs err':>11s} {'rel err':>9s} "
          f"{'vt-f64':>9s} {'ref32-f64':>9s}")
    for c in cases:
        java = st.load(c["java"])
        inputs = st.load(c["input"])
        hidden = [int(i) for i in c["hidden"].split(",")]
        kept = java.get("kept")
        if any(a == "--method" for a in c["args"]) and kept is None:
            failed.append(f"{c['name']}: pruned run without 'kept'")
            continue
        with torch.no_grad():
            ref32 = hf_reference.forward(c["dir"], inputs["pixel_values"], inputs["input_ids"], hidden, kept,
                                         torch.float32)
            ref64 = hf_reference.forward(c["dir"], inputs["pixel_values"].double(), inputs["input_ids"], hidden, kept,
                                         torch.float64)
        missing = sorted(set(ref32) - set(java))
        if missing:
            failed.append(f"{c['name']}: vtprune wrote no {missing}")
        for name, r in ref32.items():
            if name not in java:
                continue
            j = java[name]
            if tuple(j.shape) != tuple(r.shape):
                failed.append(f"{c['name']}/{name}: shape {list(j.shape)}, reference {list(r.shape)}")
                continue
            scale = r.abs().max().item()
            err = (j.double() - r.double()).abs().max().item()
            vt64 = (j.double() - ref64[name]).abs().max().item()
            r64 = (r.double() - ref64[name]).abs().max().item()
            rel = err / max(scale, 1e-30)
            ok = err <= RTOL * max(1.0, scale)
            print(f"{c['name']:28s} {name:16s} {str(list(r.shape)):>14s} {scale:9.3g} {err:11.3g} {rel:9.2g} "
                  f"{vt64:9.2g} {r64:9.2g}{'' if ok else '  MISMATCH'}")
            if not ok:
                failed.append(f"{c['name']}/{name}: max abs err {err:.3g} > {RTOL} * max(1, {scale:.3g})")
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed))
        return 1
    print(f"all {len(cases)} cases match (max abs err <= {RTOL} * max(1, max|ref|) for every output)")
    return 0


def run(root, vtprune):
    cases = make(root)
    for c in cases:
        cmd = vtprune + ["forward", "--model-dir", c["dir"], "--input", c["input"], "--out", c["java"],
                         "--hidden", c["hidden"]] + c["args"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return compare(root)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("make", "compare", "run"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "run":
        rest = sys.argv[2:]
        tool = ["./vtprune"]
        if rest[:1] == ["--vtprune"]:
            tool, rest = rest[1].split(), rest[2:]
        sys.exit(run(rest[0] if rest else "target/fidelity", tool))
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(compare(sys.argv[2]))
