/** SAELens SAE directories whose weights are stored as F16 or BF16 load as the float32 values they hold. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSaelensSae } from "../src/io/saelens.js";
import { getFloat32, readSafetensors, writeSafetensors } from "../src/io/safetensors.js";
import { kernels } from "./sae-fixtures.js";

const FIX = new URL("./fixtures/saelens/standard/", import.meta.url).pathname;

/** Drops the low mantissa bits so the value is exact in the target dtype (BF16: 7 bits; F16 range here: 10 bits). */
function exactIn(dtype: "F16" | "BF16", v: Float32Array): Float32Array {
  const out = Float32Array.from(v);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < u.length; i++) u[i] = u[i]! & (dtype === "BF16" ? 0xffff0000 : 0xffffe000);
  return out;
}

describe("SAELens directories with half-precision weights", () => {
  it.each(["F16", "BF16"] as const)("%s weights load as the exact float32 values stored, and encode as those weights do", (dtype) => {
    const dir = mkdtempSync(join(tmpdir(), "saelab-saelens-half-"));
    cpSync(FIX, dir, { recursive: true });
    const src = readSafetensors(join(FIX, "sae_weights.safetensors"));
    const shapes = { W_enc: [8, 16], W_dec: [16, 8], b_enc: [16], b_dec: [8] } as const;
    const exact = Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, exactIn(dtype, getFloat32(src, n, s))]));
    writeSafetensors(join(dir, "sae_weights.safetensors"), Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, { data: exact[n]!, shape: s, dtype }])));
    const cfg = JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "cfg.json"), JSON.stringify({ ...cfg, dtype: dtype === "F16" ? "float16" : "bfloat16" }));
    expect(readSafetensors(join(dir, "sae_weights.safetensors")).tensors.get("W_enc")!.dtype).toBe(dtype);
    const { sae } = loadSaelensSae(dir, kernels);
    expect(sae.encoderWeights()).toEqual(exact.W_enc);
    expect(sae.params.W_dec).toEqual(exact.W_dec);
    expect(sae.params.b_enc).toEqual(exact.b_enc);
    expect(sae.params.b_dec).toEqual(exact.b_dec);
    // ReLU(W_enc^T (x - b_dec) + b_enc) by plain loops on one input.
    const x = Float32Array.from({ length: 8 }, (_, i) => Math.cos(i));
    const acts = sae.encode(x, 1);
    for (let j = 0; j < 16; j++) {
      let pre = exact.b_enc![j]!;
      for (let i = 0; i < 8; i++) pre += (x[i]! - exact.b_dec![i]!) * exact.W_enc![i * 16 + j]!;
      let got = 0;
      for (let e = acts.rowPtr[0]!; e < acts.rowPtr[1]!; e++) if (acts.colIdx[e] === j) got = acts.values[e]!;
      expect(Math.abs(got - Math.max(0, pre))).toBeLessThan(1e-5);
    }
  });
});
