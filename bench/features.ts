/**
 * `npm run bench:features`: `saelab features` on a 16,384-latent topk SAE (k = 32, randomly
 * initialised: the pass costs the same as for a trained one) over 1M stories260K tokens at
 * blocks.2.hook_resid_post, then the latent page's data (the dashboard's /api/sae/ID/latent/J through
 * HTTP, and the query alone) for random latents. Targets: the pass under 10 minutes on 2 cores, a
 * latent page under 200 ms. When a python3 with torch is found it also times PyTorch encoding the
 * same rows with the same SAE (x W_enc + b_enc, top-k, ReLU; no contexts, histograms or database),
 * the part of the work both have to do, as a yardstick.
 *
 * The activations are extracted once into --data (default: $TMPDIR/saelab-bench-features), reused after.
 * Flags (or env SAELAB_BENCH_<FLAG>): --tokens 1000000  --dSae 16384  --k 32  --data DIR  --torch auto|off
 */
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../src/cli/main.js";
import type { CliIO } from "../src/cli/args.js";
import { openActivations } from "../src/io/activations.js";
import { saveSaelensSae, SAE_WEIGHTS_FILENAME } from "../src/io/saelens.js";
import { createSae } from "../src/sae/model.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { configureThreads, loadKernels } from "../src/tensor/backend.js";
import { buildCatalog } from "../src/dashboard/catalog.js";
import { Api } from "../src/dashboard/api.js";
import { startDashboard } from "../src/dashboard/server.js";
import { Rng } from "../src/tensor/rng.js";

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return process.env[`SAELAB_BENCH_${name.toUpperCase()}`] ?? def;
}

const TOKENS = Number(flag("tokens", "1000000"));
const D_SAE = Number(flag("dSae", "16384"));
const K = Number(flag("k", "32"));
const DATA = flag("data", join(tmpdir(), "saelab-bench-features"));
const HOOK = "blocks.2.hook_resid_post";
const SEQ_LEN = 256;

const log = (t: string) => console.log(t);
const cliIO = (cwd: string, tty = false): CliIO => ({ out: log, err: (t) => console.error(t), isTTY: tty, cwd });
const cpu = () => `${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}`;

// 1. The activations: model-sampled stories, extracted once.
const acts = join(DATA, `acts-${TOKENS}`);
if (!existsSync(join(acts, "manifest.json"))) {
  rmSync(acts, { recursive: true, force: true });
  const seqs = Math.ceil(TOKENS / (SEQ_LEN - 1));
  log(`extracting ~${TOKENS} tokens (${seqs} sampled stories of ${SEQ_LEN} tokens) into ${acts} (once)...`);
  const t = performance.now();
  if ((await main(["activations", "--hook", HOOK, "--sequences", String(seqs), "--seqLen", String(SEQ_LEN), "--out", acts], cliIO(DATA, process.stderr.isTTY))) !== 0) process.exit(1);
  log(`  took ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const total = openActivations(acts).totalTokens;

// 2. The SAE.
configureThreads(process.env.SAELAB_THREADS);
const { kernels } = loadKernels();
const saeDir = join(DATA, `sae-topk-${D_SAE}-k${K}`);
rmSync(join(saeDir, "features.sqlite"), { force: true });
rmSync(join(saeDir, "features.sqlite.partial"), { force: true });
if (!existsSync(join(saeDir, SAE_WEIGHTS_FILENAME))) {
  saveSaelensSae(saeDir, createSae(kernels, SaeConfigSchema.parse({ architecture: "topk", dSae: D_SAE, k: K }), { dIn: 64, seed: 1 }), {}, { hook_name: HOOK });
}

// 3. The features pass.
log(`\nsaelab features: ${D_SAE}-latent topk SAE (k ${K}) over ${Math.min(TOKENS, total)} stories260K tokens at ${HOOK} (${kernels.name} backend; ${cpu()}; the machine is shared, figures are under that load)`);
const t0 = performance.now();
if ((await main(["features", saeDir, "--activations", acts, "--tokens", String(TOKENS)], cliIO(DATA, process.stderr.isTTY))) !== 0) process.exit(1);
const featuresS = (performance.now() - t0) / 1000;
log(`features: ${featuresS.toFixed(1)} s (${(Math.min(TOKENS, total) / featuresS / 1000).toFixed(1)}k tokens/s; target < 600 s)`);

// 4. The latent page's data.
const catalog = buildCatalog([saeDir], DATA);
const api = new Api(catalog);
const rng = new Rng(3);
const latents = Array.from({ length: 50 }, () => Math.floor(rng.uniform() * D_SAE));
const time = (f: () => unknown) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};
const q = latents.map((j) => time(() => api.latent("s0", j))).sort((a, b) => a - b);
const page = latents.map(() => 0);
api.close();
const dash = await startDashboard(buildCatalog([saeDir], DATA), { host: "127.0.0.1", port: 0 });
for (let i = 0; i < latents.length; i++) {
  const t = performance.now();
  const r = await fetch(`${dash.url}api/sae/s0/latent/${latents[i]}`);
  await r.json();
  page[i] = performance.now() - t;
}
const tb = performance.now();
await (await fetch(`${dash.url}api/sae/s0/latents?sort=absorption&offset=8000&limit=50`)).json();
const browserMs = performance.now() - tb;
await dash.close();
page.sort((a, b) => a - b);
const med = (v: number[]) => v[Math.floor(v.length / 2)]!;
log(`latent page data over HTTP (50 random latents): median ${med(page).toFixed(1)} ms, max ${page.at(-1)!.toFixed(1)} ms (first request opens the database); query alone median ${med(q).toFixed(1)} ms, max ${q.at(-1)!.toFixed(1)} ms; target < 200 ms`);
log(`latent browser page (50 rows sorted by absorption score, offset 8000): ${browserMs.toFixed(1)} ms`);

// 5. PyTorch yardstick: encode + top-k of the same rows with the same weights.
if (flag("torch", "auto") !== "off") {
  const py = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "import torch"], { stdio: "ignore" }).status === 0);
  if (!py) log("PyTorch yardstick: no python3 with torch found (install python3-torch and libopenblas0-pthread)");
  else {
    const script = `
import json, sys, time, glob, os, struct, torch
torch.set_num_threads(${cpus().length})
def read(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n; data = open(path, 'rb').read()
    out = {}
    for k, v in h.items():
        if k == '__metadata__': continue
        a, b = v['data_offsets']; dt = {'F32': torch.float32, 'I32': torch.int32}[v['dtype']]
        out[k] = torch.frombuffer(bytearray(data[base + a: base + b]), dtype=dt).reshape(v['shape'])
    return out
w = read(${JSON.stringify(join(saeDir, SAE_WEIGHTS_FILENAME))})
shards = sorted(glob.glob(os.path.join(${JSON.stringify(acts)}, 'shard-*.safetensors')))
x = torch.cat([read(s)['activations'] for s in shards])[:${TOKENS}]
t = time.perf_counter(); fires = 0
with torch.no_grad():
    for i in range(0, x.shape[0], 4096):
        pre = (x[i:i+4096] - w['b_dec']) @ w['W_enc'] + w['b_enc']
        v, idx = pre.topk(${K}, dim=1)
        fires += int((v > 0).sum())
s = time.perf_counter() - t
print(json.dumps({'seconds': s, 'rows': x.shape[0], 'fires': fires, 'torch': torch.__version__, 'threads': torch.get_num_threads()}))
`;
    writeFileSync(join(DATA, "torch_encode.py"), script);
    const r = spawnSync(py, [join(DATA, "torch_encode.py")], { encoding: "utf8", maxBuffer: 1 << 24 });
    if (r.status !== 0) log(`PyTorch yardstick failed: ${r.stderr.trim().split("\n").at(-1)}`);
    else {
      const res = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { seconds: number; rows: number; torch: string; threads: number };
      log(`PyTorch ${res.torch} (${res.threads} threads), encode + top-k only of the same ${res.rows} rows: ${res.seconds.toFixed(1)} s; saelab features (everything) / PyTorch (encode only) = ${(featuresS / res.seconds).toFixed(2)}`);
    }
  }
}
