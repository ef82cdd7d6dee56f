/**
 * SAELens directories: golden fixtures written by an independent NumPy implementation of SAELens's
 * formulas (test/fixtures/saelens/make_saelens_fixtures.py), and save/load round trips for every
 * architecture x tying variant.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readNpy } from "../src/io/npy.js";
import { readSafetensors, getFloat32, writeSafetensors } from "../src/io/safetensors.js";
import { loadSaelensSae, saveSaelensSae } from "../src/io/saelens.js";
import type { SparseRows } from "../src/tensor/kernels.js";
import { BATCH, COMBOS, kernels, randomBatch, randomSae, smallConfig } from "./sae-fixtures.js";

const FIX = new URL("./fixtures/saelens/", import.meta.url).pathname;
const tmp = () => mkdtempSync(join(tmpdir(), "saelab-saelens-"));

function dense(s: SparseRows): Float64Array {
  const out = new Float64Array(s.rows * s.cols);
  for (let r = 0; r < s.rows; r++) for (let e = s.rowPtr[r]!; e < s.rowPtr[r + 1]!; e++) out[r * s.cols + s.colIdx[e]!] = s.values[e]!;
  return out;
}

describe("SAELens golden fixtures (NumPy reference of SAELens's encode/decode)", () => {
  it.each(["standard", "topk_rescale", "jumprelu_no_bdec", "legacy_topk_f16"])("%s: encode and decode match within 2e-5", (name) => {
    const dir = join(FIX, name);
    const { sae } = loadSaelensSae(dir, kernels);
    const x = readNpy(join(dir, "x.npy"));
    const want = readNpy(join(dir, "expected_acts.npy")).data;
    const wantRecon = readNpy(join(dir, "expected_recon.npy")).data;
    const B = x.shape[0]!;
    const acts = sae.encode(x.data as Float32Array, B);
    const got = dense(acts);
    expect(got.length).toBe(want.length);
    let fired = 0;
    for (let i = 0; i < got.length; i++) {
      expect(got[i] === 0).toBe(want[i] === 0);
      expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(2e-5 * (1 + Math.abs(want[i]!)));
      if (want[i] !== 0) fired++;
    }
    expect(fired).toBeGreaterThan(0);
    const recon = sae.decode(acts);
    for (let i = 0; i < recon.length; i++) expect(Math.abs(recon[i]! - wantRecon[i]!)).toBeLessThan(2e-5 * (1 + Math.abs(wantRecon[i]!)));
  });

  it("reads legacy and current fields: apply_b_dec_to_input, topk k from activation_fn_kwargs", () => {
    expect(loadSaelensSae(join(FIX, "jumprelu_no_bdec"), kernels).sae.applyBDecToInput).toBe(false);
    const legacy = loadSaelensSae(join(FIX, "legacy_topk_f16"), kernels);
    expect(legacy.sae.architecture).toBe("topk");
    expect(legacy.cfg.hook_name).toBe("blocks.3.hook_resid_pre");
    expect(legacy.sae.config.architecture === "topk" && legacy.sae.config.k).toBe(2);
  });

  it("rejects what it cannot reproduce, naming the problem", () => {
    const dir = tmp();
    cpSync(join(FIX, "standard"), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8"));
    writeFileSync(join(dir, "cfg.json"), JSON.stringify({ ...cfg, normalize_activations: "layer_norm" }));
    expect(() => loadSaelensSae(dir, kernels)).toThrow(/normalize_activations "layer_norm"/);
    writeFileSync(join(dir, "cfg.json"), JSON.stringify({ ...cfg, architecture: "gated" }));
    expect(() => loadSaelensSae(dir, kernels)).toThrow(/architecture "gated" is not supported/);
    writeFileSync(join(dir, "cfg.json"), JSON.stringify({ ...cfg, d_sae: 17 }));
    expect(() => loadSaelensSae(dir, kernels)).toThrow(/tensor "W_enc" has shape \[8, 16\], expected \[8, 17\]/);
    writeFileSync(join(dir, "cfg.json"), JSON.stringify(cfg));
    const w = readSafetensors(join(dir, "sae_weights.safetensors"));
    const t = (name: string) => ({ data: getFloat32(w, name, [-1, -1].slice(0, w.tensors.get(name)!.shape.length)), shape: w.tensors.get(name)!.shape });
    const bEnc = t("b_enc");
    bEnc.data[3] = NaN;
    writeSafetensors(join(dir, "sae_weights.safetensors"), { W_enc: t("W_enc"), W_dec: t("W_dec"), b_enc: bEnc, b_dec: t("b_dec") });
    expect(() => loadSaelensSae(dir, kernels)).toThrow(/tensor "b_enc" holds NaN or Inf/);
    rmSync(join(dir, "cfg.json"));
    expect(() => loadSaelensSae(dir, kernels)).toThrow(/cfg.json is missing/);
  });
});

describe.each(COMBOS)("SAELens directory round trip: %s (%s)", (arch, tying) => {
  it("saves SAELens files and loads back bitwise, with the same encoding", () => {
    const sae = randomSae(smallConfig(arch, tying));
    sae.state.topkThreshold = 0.123456789012345;
    const dir = tmp();
    saveSaelensSae(dir, sae, { seed: 7, world: { preset: "absorption-basic" } });
    const cfg = JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8"));
    const savedAs = { standard: "standard", topk: "topk", batchtopk: "jumprelu", jumprelu: "jumprelu", matryoshka_batchtopk: "jumprelu" }[arch];
    expect(cfg.architecture).toBe(savedAs);
    expect(cfg.metadata.training_architecture).toBe(arch);
    expect(Number.parseInt(cfg.metadata.sae_lens_version, 10)).toBeGreaterThanOrEqual(6);
    if (arch === "topk") expect(cfg).toMatchObject({ k: 3, rescale_acts_by_decoder_norm: false });
    const file = readSafetensors(join(dir, "sae_weights.safetensors"));
    expect([...file.tensors.keys()].sort()).toEqual(savedAs === "jumprelu" ? ["W_dec", "W_enc", "b_dec", "b_enc", "threshold"] : ["W_dec", "W_enc", "b_dec", "b_enc"]);
    expect(getFloat32(file, "W_enc", [sae.dIn, sae.dSae])).toEqual(sae.encoderWeights());
    if (arch === "batchtopk" || arch === "matryoshka_batchtopk") {
      expect(Array.from(getFloat32(file, "threshold", [sae.dSae])).every((v) => v === Math.fround(0.123456789012345))).toBe(true);
    }

    const back = loadSaelensSae(dir, kernels);
    expect(back.saelab?.seed).toBe(7);
    expect(back.sae.config).toEqual(sae.config);
    expect(back.sae.params.buffer).toEqual(sae.params.buffer);
    expect(back.sae.state.topkThreshold).toBe(0.123456789012345);
    const x = randomBatch(3);
    expect(dense(back.sae.encode(x, BATCH))).toEqual(dense(sae.encode(x, BATCH)));

    // What SAELens sees: without saelab.json the same files load as a plain untied SAE that encodes alike.
    rmSync(join(dir, "saelab.json"));
    const plain = loadSaelensSae(dir, kernels).sae;
    expect(plain.tied).toBe(false);
    expect(plain.architecture).toBe(savedAs);
    const a = dense(plain.encode(x, BATCH));
    const b = dense(sae.encode(x, BATCH));
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
  });
});
