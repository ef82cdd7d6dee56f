"""PyTorch reference for `npm run bench:train`: the same standard-SAE training step saelab times.

One step = forward (SAELens StandardTrainingSAE: relu((x - b_dec) @ W_enc + b_enc), decode
acts @ W_dec + b_dec), loss (squared error summed over d_in and averaged over the batch, plus the L1
penalty weighted by decoder row norms), backward (autograd) and torch.optim.Adam. Dense, as SAELens
computes it. "Trained" sparsity is emulated the way bench/train.ts does it: b_enc is set so that each
latent fires on about l0 / d_sae of a calibration batch.

Prints one JSON line: {"tokens_per_sec", "seconds_per_step", "median_seconds_per_step", "l0",
"threads", "torch", "blas", "encoder_gflops"}; tokens_per_sec and seconds_per_step come from the best
timed step (as bench/train.ts reports ours), the median beside it. "blas" names the BLAS library this
process actually loaded (from /proc/self/maps): Debian's torch is built against the generic libblas.so.3
interface (its compile-time BLAS_INFO says "generic") and runs whatever implementation the system's
alternatives select, OpenBLAS or the far slower reference BLAS.
Usage: python3 sae_step.py --d-in 768 --d-sae 16384 --batch 4096 --steps 3 --warmup 1 [--l0 64] [--threads 2]
"""
import argparse
import json
import os
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d-in", type=int, required=True)
    ap.add_argument("--d-sae", type=int, required=True)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--l0", type=float, default=0, help="target latents per sample; 0 = at initialisation")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--l1", type=float, default=1e-3)
    ap.add_argument("--lr", type=float, default=1e-5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    n, d, B = a.d_in, a.d_sae, a.batch

    # Synthetic activations: sparse non-negative combinations of random unit directions plus noise.
    dirs = torch.nn.functional.normalize(torch.randn(4 * d, n), dim=-1)

    def batch() -> torch.Tensor:
        idx = torch.randint(0, dirs.shape[0], (B, 32))
        mags = torch.rand(B, 32) + 0.5
        return (mags.unsqueeze(-1) * dirs[idx]).sum(1) + 0.05 * torch.randn(B, n)

    data = [batch() for _ in range(2)]
    W_dec = torch.empty(d, n)
    torch.nn.init.kaiming_uniform_(W_dec)
    W_dec = torch.nn.Parameter(W_dec / W_dec.norm(dim=-1, keepdim=True) * 0.1)
    W_enc = torch.nn.Parameter(W_dec.detach().T.clone().contiguous())
    b_dec = torch.nn.Parameter(data[0].mean(0).clone())
    b_enc = torch.nn.Parameter(torch.zeros(d))
    if a.l0 > 0:
        with torch.no_grad():
            pre = (data[0] - b_dec) @ W_enc
            q = torch.quantile(pre, 1 - a.l0 / d, dim=0)
            b_enc.copy_(-q)
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=a.lr)

    def step(x: torch.Tensor) -> float:
        opt.zero_grad(set_to_none=True)
        acts = torch.relu((x - b_dec) @ W_enc + b_enc)
        recon = acts @ W_dec + b_dec
        mse = (recon - x).pow(2).sum(-1).mean()
        l1 = (acts * W_dec.norm(dim=1)).sum(-1).mean() * a.l1
        (mse + l1).backward()
        opt.step()
        return float((acts > 0).float().sum(-1).mean())

    for i in range(a.warmup):
        step(data[i % 2])
    l0 = 0.0
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        l0 = step(data[i % 2])
        times.append(time.perf_counter() - t0)
    times.sort()
    dt = times[0]
    with torch.no_grad():
        x = data[0]
        x @ W_enc
        gemm = float("inf")
        for _ in range(3):
            t1 = time.perf_counter()
            x @ W_enc
            gemm = min(gemm, time.perf_counter() - t1)
    print(json.dumps({
        "tokens_per_sec": B / dt, "seconds_per_step": dt, "median_seconds_per_step": times[len(times) // 2], "l0": l0,
        "threads": a.threads, "torch": torch.__version__, "blas": runtime_blas(), "encoder_gflops": 2 * B * n * d / gemm / 1e9,
    }))


def runtime_blas() -> str:
    """Names the BLAS implementation mapped into this process (torch's BLAS_INFO is only the build-time interface)."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "blas" in line.split()[-1].lower()})
    except OSError:
        libs = []
    named = [p for p in libs if "openblas" in os.path.basename(p).lower()] or [p for p in libs if "openblas" in p.lower()]
    if named:
        return "OpenBLAS (" + os.path.basename(named[0]) + ")"
    if any("mkl" in p.lower() for p in libs):
        return "MKL"
    if libs:
        return "reference BLAS (" + os.path.basename(libs[0]) + ")"
    info = next((p.split("=", 1)[1] for p in torch.__config__.show().replace(",", " ").split() if p.startswith("BLAS_INFO=")), "?")
    return f"BLAS_INFO={info}"


if __name__ == "__main__":
    main()
