"""PyTorch eager reference for `npm run bench:lm -- --family gpt2`: the same GPT-2 work saelab times,
on the same weights (the snapshot bench/lm-family.ts writes: config.json + model.safetensors, read
here with numpy, no transformers needed).

- extract: batched forward of 64 sequences x 128 tokens through blocks 0..6 (what reading
  blocks.6.hook_resid_post needs), as HF's GPT2Model computes it (LayerNorm, Conv1D as addmm,
  scaled_dot_product_attention with a causal mask, gelu tanh approximation);
- generate: greedy decoding of 128 tokens after a 16-token prompt, batch 1, with a KV cache (keys
  and values concatenated per layer, as HF's eager cache does).

Prints one JSON line: {"extract_tokens_per_sec", "generate_tokens_per_sec", "peak_rss_mb",
"threads", "torch"}; each rate is the best of --reps runs after one warm-up.
Usage: python3 gpt2_lm.py --model DIR [--reps 3] [--threads 2]
"""
import argparse
import json
import os
import resource
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", name
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data, dtype=np.float32, count=(b - a) // 4, offset=a).reshape(e["shape"]).copy())
    return out


class Gpt2:
    def __init__(self, w, cfg):
        p = "transformer." if "transformer.wte.weight" in w else ""
        self.w = {k[len(p):] if k.startswith(p) else k: v for k, v in w.items()}
        self.d = cfg["n_embd"]
        self.h = cfg["n_head"]
        self.L = cfg["n_layer"]
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)

    def block(self, l, x, cache=None):
        w = self.w
        B, T, D = x.shape
        hd = D // self.h
        a = F.layer_norm(x, (D,), w[f"h.{l}.ln_1.weight"], w[f"h.{l}.ln_1.bias"], self.eps)
        qkv = torch.addmm(w[f"h.{l}.attn.c_attn.bias"], a.view(-1, D), w[f"h.{l}.attn.c_attn.weight"]).view(B, T, 3, self.h, hd)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        if cache is not None:
            if l in cache:
                k = torch.cat([cache[l][0], k], dim=2)
                v = torch.cat([cache[l][1], v], dim=2)
            cache[l] = (k, v)
        causal = T > 1
        z = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        z = z.transpose(1, 2).reshape(B * T, D)
        x = x + torch.addmm(w[f"h.{l}.attn.c_proj.bias"], z, w[f"h.{l}.attn.c_proj.weight"]).view(B, T, D)
        m = F.layer_norm(x, (D,), w[f"h.{l}.ln_2.weight"], w[f"h.{l}.ln_2.bias"], self.eps)
        hmid = F.gelu(torch.addmm(w[f"h.{l}.mlp.c_fc.bias"], m.view(-1, D), w[f"h.{l}.mlp.c_fc.weight"]), approximate="tanh")
        return x + torch.addmm(w[f"h.{l}.mlp.c_proj.bias"], hmid, w[f"h.{l}.mlp.c_proj.weight"]).view(B, T, D)

    def forward(self, ids, start=0, layers=None, cache=None):
        T = ids.shape[1]
        x = self.w["wte.weight"][ids] + self.w["wpe.weight"][start : start + T]
        for l in range(self.L if layers is None else layers):
            x = self.block(l, x, cache)
        return x

    def logits(self, x):
        x = F.layer_norm(x, (self.d,), self.w["ln_f.weight"], self.w["ln_f.bias"], self.eps)
        return x @ self.w["wte.weight"].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--layers", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    model = Gpt2(read_safetensors(os.path.join(args.model, "model.safetensors")), cfg)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg["vocab_size"], (64, 128), generator=g)
    prompt = torch.randint(0, cfg["vocab_size"], (1, 16), generator=g)

    def extract():
        with torch.inference_mode():
            return model.forward(ids, layers=args.layers)

    def gen():
        with torch.inference_mode():
            cache = {}
            x = model.forward(prompt, cache=cache)
            tok = model.logits(x[:, -1]).argmax(-1, keepdim=True)
            out = [tok]
            for t in range(127):
                x = model.forward(tok, start=16 + t, cache=cache)
                tok = model.logits(x[:, -1]).argmax(-1, keepdim=True)
                out.append(tok)
            return out

    def best(fn, work):
        fn()
        rates = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            fn()
            rates.append(work / (time.perf_counter() - t0))
        return max(rates)

    ext = best(extract, 64 * 128)
    gen_rate = best(gen, 128)
    print(json.dumps({
        "extract_tokens_per_sec": ext,
        "generate_tokens_per_sec": gen_rate,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
