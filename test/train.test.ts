/** The trainer: schedules, one stream for many SAEs, dead latents, checkpoints, resume and divergence. */
import { mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mixSeed, Rng } from "../src/tensor/rng.js";
import { SaeConfigSchema, type SaeConfig } from "../src/sae/registry.js";
import { TrainConfigSchema, type TrainConfig } from "../src/train/config.js";
import { lrSchedule, warmUp } from "../src/train/schedules.js";
import { createTrainer, train, type Trainer } from "../src/train/trainer.js";
import { stepStream } from "../src/train/stream.js";
import { TrainingDivergedError, type TrainEvent } from "../src/train/events.js";
import { restoreTrainer, snapshotTrainer } from "../src/train/checkpoint.js";
import { readCheckpoint, writeCheckpoint } from "../src/io/checkpoint.js";
import { kernels } from "./sae-fixtures.js";

const D_IN = 8;
const B = 32;

/** A toy stream: sparse non-negative combinations of 12 fixed directions plus noise; batch s depends only on (seed, s). */
function toyBatch(seed: number, step: number): Float32Array {
  const dirs = new Rng(99).fillNormal(new Float32Array(12 * D_IN));
  const rng = new Rng(mixSeed(seed, step));
  const x = new Float32Array(B * D_IN);
  for (let b = 0; b < B; b++) {
    for (let f = 0; f < 12; f++) {
      if (!rng.bernoulli(0.2)) continue;
      const a = 1 + rng.uniform();
      for (let i = 0; i < D_IN; i++) x[b * D_IN + i]! += a * dirs[f * D_IN + i]!;
    }
    for (let i = 0; i < D_IN; i++) x[b * D_IN + i]! += 0.05 * rng.normal();
  }
  return x;
}

const SAES: SaeConfig[] = [
  { architecture: "standard", name: "std", dSae: 24, l1Coefficient: 0.05, l1WarmUpSteps: 4 },
  { architecture: "standard", name: "std-tied", dSae: 24, tying: "tied", l1Coefficient: 0.05 },
  { architecture: "topk", name: "topk-gain", dSae: 24, k: 3, tying: "tied_gain" },
  { architecture: "batchtopk", name: "btk-tie", dSae: 24, k: 3, tying: "tie_loss", tieLoss: { coefficient: 0.1, form: "squared" } },
  { architecture: "jumprelu", name: "jr", dSae: 24, l0Coefficient: 0.01, jumpreluBandwidth: 0.2 },
  { architecture: "matryoshka_batchtopk", name: "mat", dSae: 24, k: 3, matryoshkaWidths: [4, 12, 24], innerLossMultiplier: 0.5 },
].map((c) => SaeConfigSchema.parse(c));

function config(over: Partial<TrainConfig> = {}): TrainConfig {
  return TrainConfigSchema.parse({ steps: 12, batchSize: B, lr: 3e-3, lrWarmUpSteps: 3, lrDecay: "cosine", deadLatentWindow: 2, checkpointEvery: 5, logEvery: 4, ...over });
}

const data = (seed = 5) => stepStream(D_IN, (s) => toyBatch(seed, s));

function buffersOf(t: Trainer): Float32Array[] {
  return t.runs.flatMap((r) => [r.sae.params.buffer, r.adam.m, r.adam.v]);
}

describe("schedules", () => {
  it("warm up linearly and decay to the end factor", () => {
    const w = warmUp(2, 4);
    expect([0, 1, 2, 3, 10].map(w)).toEqual([0.5, 1, 1.5, 2, 2]);
    expect(warmUp(2, 0)(0)).toBe(2);
    const lin = lrSchedule({ lr: 1, totalSteps: 10, warmUpSteps: 0, decay: "linear", endFactor: 0 });
    expect([0, 5, 9].map(lin)).toEqual([1, 0.5, 1 - 0.9]);
    const cos = lrSchedule({ lr: 1, totalSteps: 12, warmUpSteps: 2, decay: "cosine", decaySteps: 4, endFactor: 0.1 });
    expect(cos(0)).toBe(0.5);
    expect(cos(7)).toBe(1);
    expect(cos(8)).toBeCloseTo(1, 12);
    expect(cos(10)).toBeCloseTo(0.1 + 0.9 * 0.5, 12);
    expect(lrSchedule({ lr: 3, totalSteps: 10, warmUpSteps: 0, decay: "constant", endFactor: 0 })(9)).toBe(3);
  });

  it("rejects warm-up plus decay longer than the run", () => {
    expect(() => TrainConfigSchema.parse({ steps: 10, lrWarmUpSteps: 6, lrDecaySteps: 5 })).toThrow(/lrDecaySteps/);
  });
});

describe("trainer", () => {
  it("trains several SAEs on one stream exactly as it trains each alone", () => {
    const together = createTrainer(kernels, SAES, config(), D_IN);
    train({ trainer: together, data: data() });
    SAES.forEach((c, i) => {
      const alone = createTrainer(kernels, [c], config(), D_IN);
      train({ trainer: alone, data: data() });
      expect(alone.runs[0]!.sae.params.buffer).toEqual(together.runs[i]!.sae.params.buffer);
    });
  });

  it("lowers the loss over a short run and keeps constrained decoder rows at unit norm", () => {
    const t = createTrainer(kernels, SAES, config({ steps: 60, lrDecay: "constant", deadLatentWindow: 1000 }), D_IN);
    const first: number[] = [];
    train({ trainer: t, data: data(), onStep: (tr) => { if (tr.step === 1) first.push(...tr.stats().map((s) => s.losses.mse!)); } });
    t.stats().forEach((s, i) => expect(s.losses.mse).toBeLessThan(first[i]! * 0.8));
    for (const r of t.runs) {
      if (!r.sae.config.normalizeDecoder) continue;
      for (let j = 0; j < r.sae.dSae; j++) expect(Math.hypot(...r.sae.W_dec.subarray(j * D_IN, (j + 1) * D_IN))).toBeCloseTo(1, 5);
    }
  });

  it("emits named loss terms, L0, dead latents and tokens/s to the sink", () => {
    const events: TrainEvent[] = [];
    let clock = 0;
    train({ trainer: createTrainer(kernels, SAES, config(), D_IN), data: data(), sink: (e) => events.push(e), now: () => (clock += 10) });
    expect(events.map((e) => e.type)).toEqual(["start", "step", "step", "step", "end"]);
    const last = events.at(-2);
    if (last?.type !== "step") throw new Error("no step event");
    expect(last.step).toBe(12);
    expect(last.tokensPerSec).toBeGreaterThan(0);
    const byName = Object.fromEntries(last.saes.map((s) => [s.name, s]));
    expect(Object.keys(byName.std!.losses).sort()).toEqual(["l1", "mse"]);
    expect(Object.keys(byName["btk-tie"]!.losses).sort()).toEqual(["auxk", "mse", "tie"]);
    expect(Object.keys(byName.mat!.losses).sort()).toEqual(["auxk", "inner_mse_12", "inner_mse_4", "mse"]);
    expect(byName.jr!.losses.l0).toBeGreaterThan(0);
    expect(byName.btk!).toBeUndefined();
    expect(byName["btk-tie"]!.threshold).toBeGreaterThan(0);
    for (const s of last.saes) expect(s.loss).toBeCloseTo(Object.values(s.losses).reduce((a, b) => a + b, 0), 10);
  });

  it("counts a latent dead once it has not fired for more than the window", () => {
    const cfg = SaeConfigSchema.parse({ architecture: "standard", dSae: 6, l1Coefficient: 0 });
    const t = createTrainer(kernels, [cfg], config({ steps: 6, lr: 1e-9, deadLatentWindow: 2 }), D_IN);
    t.runs[0]!.sae.params.b_enc[2] = -1e6; // latent 2 can never fire
    const dead: number[] = [];
    train({ trainer: t, data: data(), onStep: (tr) => dead.push(tr.runs[0]!.deadMask[2]!) });
    // deadMask is computed at the start of each step from the counts of the previous steps.
    expect(dead).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it("resumes from a checkpoint file to bitwise the same weights as an uninterrupted run", () => {
    const dir = mkdtempSync(join(tmpdir(), "saelab-train-"));
    const path = join(dir, "checkpoint.safetensors");
    const full = createTrainer(kernels, SAES, config(), D_IN);
    train({ trainer: full, data: data() });

    const first = createTrainer(kernels, SAES, config({ steps: 12 }), D_IN);
    let stopAt = 0;
    try {
      train({
        trainer: first,
        data: data(),
        onCheckpoint: (tr) => {
          writeCheckpoint(path, snapshotTrainer(tr));
          stopAt = tr.step;
          throw new Error("simulated crash");
        },
      });
    } catch (e) {
      expect((e as Error).message).toBe("simulated crash");
    }
    expect(stopAt).toBe(5);
    const ck = readCheckpoint(path);
    const resumed = restoreTrainer(kernels, ck.tensors, ck.meta, path, { train: config(), saes: full.runs.map((r) => r.sae.config) });
    expect(resumed.step).toBe(5);
    train({ trainer: resumed, data: data() });
    expect(resumed.step).toBe(12);
    const a = buffersOf(full);
    const b = buffersOf(resumed);
    a.forEach((buf, i) => expect(Buffer.from(b[i]!.buffer, b[i]!.byteOffset, b[i]!.byteLength).equals(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength))).toBe(true));
    full.runs.forEach((r, i) => expect(resumed.runs[i]!.sae.state.topkThreshold).toBe(r.sae.state.topkThreshold));
  });

  it("refuses to resume with different settings, naming them", () => {
    const t = createTrainer(kernels, SAES.slice(0, 1), config(), D_IN);
    const ck = snapshotTrainer(t);
    const tensors = new Map(Object.entries(ck.tensors).map(([k, v]) => [k, v.data]));
    const meta = JSON.parse(JSON.stringify(ck.meta));
    expect(() => restoreTrainer(kernels, tensors, meta, "ck", { train: config({ lr: 1 }), saes: [t.runs[0]!.sae.config] })).toThrow(/lr: checkpoint 0.003, now 1/);
    expect(() => restoreTrainer(kernels, tensors, meta, "ck", { train: config({ logEvery: 1 }), saes: [t.runs[0]!.sae.config] })).not.toThrow();
    expect(() => restoreTrainer(kernels, tensors, { format: "x" }, "ck")).toThrow(/not a saelab checkpoint/);
  });

  it("stops on a NaN loss with a clear error and keeps the last good checkpoint", () => {
    const dir = mkdtempSync(join(tmpdir(), "saelab-nan-"));
    const path = join(dir, "checkpoint.safetensors");
    const poisoned = stepStream(D_IN, (s) => {
      const x = toyBatch(5, s);
      if (s === 7) x[3] = NaN;
      return x;
    });
    const events: TrainEvent[] = [];
    const t = createTrainer(kernels, SAES, config(), D_IN);
    expect(() => train({ trainer: t, data: poisoned, sink: (e) => events.push(e), onCheckpoint: (tr) => writeCheckpoint(path, snapshotTrainer(tr)) })).toThrow(TrainingDivergedError);
    expect(events.at(-1)).toMatchObject({ type: "diverged", step: 7, sae: "std" });
    let msg = "";
    try {
      train({ trainer: createTrainer(kernels, SAES, config(), D_IN), data: poisoned });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/SAE "std" has a non-finite loss at step 7 \(mse = NaN.*the input batch itself contains NaN/);
    expect(existsSync(path)).toBe(true);
    const ck = readCheckpoint(path);
    const back = restoreTrainer(kernels, ck.tensors, ck.meta, path);
    expect(back.step).toBe(5);
    const ref = createTrainer(kernels, SAES, config(), D_IN);
    expect(train({ trainer: ref, data: Array.from({ length: 5 }, (_, s) => toyBatch(5, s)) }).reason).toBe("data exhausted");
    back.runs.forEach((r, i) => expect(r.sae.params.buffer).toEqual(ref.runs[i]!.sae.params.buffer));
  });

  it("rejects a batch that is not a whole number of rows", () => {
    const t = createTrainer(kernels, SAES.slice(0, 1), config(), D_IN);
    expect(() => train({ trainer: t, data: [new Float32Array(D_IN * 3 + 1)] })).toThrow(/not a whole number of rows of width 8/);
  });
});
