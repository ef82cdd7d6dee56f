"""PyTorch eager reference for bench/lm-family.ts: GPT-2, GPT-NeoX and Gemma 2 forward passes written from
Hugging Face's modelling code, in float32, on the snapshot the bench wrote (safetensors read with
NumPy). Usage: python3 lm_family.py SNAPSHOT_DIR HOOK STOP_AT_LAYER REPS  (tokens as JSON on stdin).
Prints one JSON line: extraction and generation tokens/s (best of REPS) and the greedy tokens."""
import json, math, os, resource, struct, sys, time
import numpy as np
import torch

torch.set_grad_enabled(False)
# Debian's torch starts with one intra-op thread here: give it every core, as saelab gets.
torch.set_num_threads(int(os.environ.get("SAELAB_TORCH_THREADS", os.cpu_count() or 1)))
snap, hook, stop_at, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cfg = json.load(open(f"{snap}/config.json"))
with open(f"{snap}/model.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    base = 8 + n
    buf = f.read()
W = {}
for k, v in header.items():
    if k == "__metadata__":
        continue
    a, b = v["data_offsets"]
    W[k] = torch.from_numpy(np.frombuffer(buf, dtype=np.float32, count=(b - a) // 4, offset=a).reshape(v["shape"]).copy())
del buf
inp = json.loads(sys.stdin.read())
fam = cfg["model_type"]
if fam == "gpt2":  # GPT-2's config names
    cfg.update(hidden_size=cfg["n_embd"], num_attention_heads=cfg["n_head"], num_hidden_layers=cfg["n_layer"], max_position_embeddings=cfg["n_positions"])
D, H, L, V = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["vocab_size"]
HD = cfg.get("head_dim", D // H)
KVH = cfg.get("num_key_value_heads", H)


def rope_tables(rot, base, T):
    inv = 1.0 / (base ** (torch.arange(0, rot, 2, dtype=torch.float32) / rot))
    f = torch.outer(torch.arange(T, dtype=torch.float32), inv)
    e = torch.cat([f, f], -1)
    return e.cos(), e.sin()


def rot_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def apply_rope(x, cos, sin, rot):  # x [B, heads, T, HD]
    xr, xp = x[..., :rot], x[..., rot:]
    return torch.cat([xr * cos + rot_half(xr) * sin, xp], -1)


def attend(q, k, v, pos0, scale, softcap=None, window=None):  # q [B,H,T,HD], k/v [B,KVH,S,HD]
    if k.shape[1] != q.shape[1]:
        rep = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    s = (q @ k.transpose(-1, -2)) * scale
    if softcap:
        s = softcap * torch.tanh(s / softcap)
    T, S = q.shape[2], k.shape[2]
    qp = torch.arange(pos0, pos0 + T)[:, None]
    kp = torch.arange(S)[None, :]
    mask = kp > qp
    if window:
        mask = mask | (qp - kp >= window)
    s = s.masked_fill(mask, float("-inf"))
    return torch.softmax(s, -1) @ v


class Model:
    def __init__(self):
        self.T = cfg["max_position_embeddings"]
        if fam == "gpt_neox":
            self.rot = int(HD * cfg.get("rotary_pct", 1))
            self.cos, self.sin = rope_tables(self.rot, cfg.get("rotary_emb_base", 10000), 512)
        else:
            self.rot = HD
            self.cos, self.sin = rope_tables(HD, cfg.get("rope_theta", 10000), 512)

    def layer(self, l, x, cache, pos0):
        B, T, _ = x.shape
        cos, sin = self.cos[pos0:pos0 + T], self.sin[pos0:pos0 + T]
        if fam == "gpt2":  # Conv1D weights [in, out]
            p = f"transformer.h.{l}."
            ln = lambda t, n: torch.nn.functional.layer_norm(t, (D,), W[p + n + ".weight"], W[p + n + ".bias"], cfg["layer_norm_epsilon"])
            qkv = torch.addmm(W[p + "attn.c_attn.bias"], ln(x, "ln_1").reshape(B * T, D), W[p + "attn.c_attn.weight"]).view(B, T, 3, H, HD)
            q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
            if cache is not None:
                if l in cache:
                    k, v = torch.cat([cache[l][0], k], 2), torch.cat([cache[l][1], v], 2)
                cache[l] = (k, v)
            z = attend(q, k, v, pos0, 1 / math.sqrt(HD)).transpose(1, 2).reshape(B * T, D)
            x = x + torch.addmm(W[p + "attn.c_proj.bias"], z, W[p + "attn.c_proj.weight"]).view(B, T, D)
            h = torch.nn.functional.gelu(torch.addmm(W[p + "mlp.c_fc.bias"], ln(x, "ln_2").reshape(B * T, D), W[p + "mlp.c_fc.weight"]), approximate="tanh")
            return x + torch.addmm(W[p + "mlp.c_proj.bias"], h, W[p + "mlp.c_proj.weight"]).view(B, T, D)
        if fam == "gpt_neox":
            p = f"gpt_neox.layers.{l}."
            ln = lambda t, n: torch.nn.functional.layer_norm(t, (D,), W[p + n + ".weight"], W[p + n + ".bias"], cfg["layer_norm_eps"])
            qkv = torch.nn.functional.linear(ln(x, "input_layernorm"), W[p + "attention.query_key_value.weight"], W[p + "attention.query_key_value.bias"])
            qkv = qkv.view(B, T, H, 3 * HD).permute(0, 2, 1, 3)
            q, k, v = qkv[..., :HD], qkv[..., HD:2 * HD], qkv[..., 2 * HD:]
            q, k = apply_rope(q, cos, sin, self.rot), apply_rope(k, cos, sin, self.rot)
            if cache is not None:
                if l in cache:
                    k, v = torch.cat([cache[l][0], k], 2), torch.cat([cache[l][1], v], 2)
                cache[l] = (k, v)
            z = attend(q, k, v, pos0, 1 / math.sqrt(HD)).permute(0, 2, 1, 3).reshape(B, T, D)
            a = torch.nn.functional.linear(z, W[p + "attention.dense.weight"], W[p + "attention.dense.bias"])
            h = torch.nn.functional.linear(ln(x, "post_attention_layernorm"), W[p + "mlp.dense_h_to_4h.weight"], W[p + "mlp.dense_h_to_4h.bias"])
            m = torch.nn.functional.linear(torch.nn.functional.gelu(h), W[p + "mlp.dense_4h_to_h.weight"], W[p + "mlp.dense_4h_to_h.bias"])
            return x + a + m
        p = f"model.layers.{l}."
        def rms(t, n):
            t = t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + cfg["rms_norm_eps"])
            return t * (1.0 + W[p + n + ".weight"])
        h = rms(x, "input_layernorm")
        q = torch.nn.functional.linear(h, W[p + "self_attn.q_proj.weight"]).view(B, T, H, HD).transpose(1, 2)
        k = torch.nn.functional.linear(h, W[p + "self_attn.k_proj.weight"]).view(B, T, KVH, HD).transpose(1, 2)
        v = torch.nn.functional.linear(h, W[p + "self_attn.v_proj.weight"]).view(B, T, KVH, HD).transpose(1, 2)
        q, k = apply_rope(q, cos, sin, HD), apply_rope(k, cos, sin, HD)
        if cache is not None:
            if l in cache:
                k, v = torch.cat([cache[l][0], k], 2), torch.cat([cache[l][1], v], 2)
            cache[l] = (k, v)
        window = cfg.get("sliding_window") if l % 2 == 0 else None
        z = attend(q, k, v, pos0, cfg["query_pre_attn_scalar"] ** -0.5, cfg.get("attn_logit_softcapping"), window)
        a = rms(torch.nn.functional.linear(z.transpose(1, 2).reshape(B, T, H * HD), W[p + "self_attn.o_proj.weight"]), "post_attention_layernorm")
        x = x + a
        h = rms(x, "pre_feedforward_layernorm")
        g = torch.nn.functional.gelu(torch.nn.functional.linear(h, W[p + "mlp.gate_proj.weight"]), approximate="tanh")
        m = torch.nn.functional.linear(g * torch.nn.functional.linear(h, W[p + "mlp.up_proj.weight"]), W[p + "mlp.down_proj.weight"])
        return x + rms(m, "post_feedforward_layernorm")

    def forward(self, toks, stop=None, cache=None, pos0=0):
        if fam == "gpt2":
            x = W["transformer.wte.weight"][toks] + W["transformer.wpe.weight"][pos0:pos0 + toks.shape[1]]
        elif fam == "gpt_neox":
            x = W["gpt_neox.embed_in.weight"][toks]
        else:
            x = W["model.embed_tokens.weight"][toks] * torch.tensor(D ** 0.5, dtype=torch.float32)
        for l in range(L if stop is None else stop):
            x = self.layer(l, x, cache, pos0)
        if stop is not None:
            return x
        if fam == "gpt2":
            x = torch.nn.functional.layer_norm(x, (D,), W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], cfg["layer_norm_epsilon"])
            return torch.nn.functional.linear(x[:, -1], W["transformer.wte.weight"])
        if fam == "gpt_neox":
            x = torch.nn.functional.layer_norm(x, (D,), W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"], cfg["layer_norm_eps"])
            return torch.nn.functional.linear(x[:, -1], W["embed_out.weight"])
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg["rms_norm_eps"]) * (1.0 + W["model.norm.weight"])
        logits = torch.nn.functional.linear(x[:, -1], W["model.embed_tokens.weight"])
        c = cfg.get("final_logit_softcapping")
        return c * torch.tanh(logits / c) if c else logits


model = Model()
seqs = torch.tensor(inp["seqs"], dtype=torch.long)
prompt = torch.tensor([inp["prompt"]], dtype=torch.long)
best_x = 0.0
for _ in range(reps):
    t0 = time.perf_counter()
    model.forward(seqs, stop=stop_at)
    best_x = max(best_x, seqs.numel() / (time.perf_counter() - t0))
best_g, tokens = 0.0, []
for _ in range(reps):
    t0 = time.perf_counter()
    cache, toks = {}, []
    logits = model.forward(prompt, cache=cache)
    pos = prompt.shape[1]
    for i in range(128):
        t = int(logits[0].argmax())
        toks.append(t)
        if i < 127:
            logits = model.forward(torch.tensor([[t]]), cache=cache, pos0=pos)
            pos += 1
    best_g = max(best_g, 128 / (time.perf_counter() - t0))
    tokens = toks
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"extract": best_x, "generate": best_g, "tokens": tokens, "threads": torch.get_num_threads(), "version": torch.__version__, "peak_rss_mb": peak}))
