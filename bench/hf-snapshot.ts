/**
 * `npx tsx bench/hf-snapshot.ts [millions of params, default 100]`: writes a snapshot of that many
 * parameters as BF16 in two shards, then reads it with readHfSnapshot in a fresh process and prints
 * the load time and the memory it took: the float32 weights (4 bytes a parameter) and the peak
 * resident set above that process's baseline (the converted weights plus one shard file being read).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readHfSnapshot, writeHfSnapshot } from "../src/io/hf-snapshot.js";

const gb = (b: number) => (b / 1e9).toFixed(3);

if (process.argv[2] === "--read") {
  const base = process.memoryUsage().rss;
  const t0 = performance.now();
  const snap = await readHfSnapshot(process.argv[3]!);
  const secs = (performance.now() - t0) / 1000;
  const peak = process.resourceUsage().maxRSS * 1024;
  let f32 = 0;
  let n = 0;
  for (const x of snap.tensors.values()) {
    f32 += x.data.byteLength;
    n += x.data.length;
  }
  console.log(`load ${secs.toFixed(2)} s (${(n / secs / 1e6).toFixed(0)}M params/s); float32 weights ${gb(f32)} GB = ${(f32 / n).toFixed(2)} bytes/param, i.e. ${(f32 / n).toFixed(2)} GB per billion params`);
  console.log(`peak RSS above the process's baseline: ${gb(peak - base)} GB = ${((peak - base) / n).toFixed(2)} bytes/param (float32 weights + one BF16 shard = ${(4 + 2 / 2).toFixed(2)} expected)`);
} else {
  const params = Math.round(Number(process.argv[2] ?? 100) * 1e6);
  const tensors = 8;
  const per = Math.ceil(params / tensors);
  const dir = mkdtempSync(join(tmpdir(), "saelab-bench-hf-"));
  try {
    const t: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (let i = 0; i < tensors; i++) t[`model.layers.${i}.mlp.up_proj.weight`] = { shape: [per], data: new Float32Array(per).fill(0.5 + i) };
    writeHfSnapshot(dir, { config: { model_type: "llama" }, tensors: t, dtype: "BF16", shards: 2 });
    console.log(`bench:hf-snapshot  ${((per * tensors) / 1e6).toFixed(1)}M params stored as BF16 in 2 shards (${gb(per * tensors * 2)} GB on disk), node ${process.version}`);
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--read", dir], { encoding: "utf8" });
    process.stdout.write(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
