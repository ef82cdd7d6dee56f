/**
 * A new architecture is its definition plus one registry row. `relu_toy` (ReLU latents with a plain,
 * unweighted L1 penalty: l1 = c * mean_b sum_j f_bj) is defined only in this file; the one row is
 * added by mocking src/sae/architectures.ts, the module that holds the rows. Nothing else in src/
 * names it, yet it trains, saves (as a SAELens standard SAE), loads back exactly, sweeps over its
 * sparsity parameter and evaluates, through the same library calls and `saelab` commands as the
 * registered architectures.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { ARCHITECTURE_IDS, SaeConfigSchema, architectureOf } from "../src/sae/registry.js";
import { createTrainer, train } from "../src/train/trainer.js";
import { worldStream } from "../src/train/stream.js";
import { TrainConfigSchema } from "../src/train/config.js";
import { loadSaelensSae, saveSaelensSae } from "../src/io/saelens.js";
import { getPreset } from "../src/toy/presets.js";
import { createWorld } from "../src/toy/world.js";
import { evaluateOnWorld } from "../src/experiments/evaluate.js";
import { main } from "../src/cli/main.js";
import type { CliIO } from "../src/cli/args.js";
import type { Sae } from "../src/sae/model.js";
import type { ArchitectureDef, StepCtx } from "../src/sae/arch.js";
import type { z as zod } from "zod";
import { kernels } from "./sae-fixtures.js";

vi.mock("../src/sae/architectures.js", async (importOriginal) => {
  const original = await importOriginal<{ ARCHITECTURES: object }>();
  return { ARCHITECTURES: { ...original.ARCHITECTURES, relu_toy: await reluToyDefinition() } };
});

/** The whole definition of the new architecture: its config schema and its ArchitectureDef. */
async function reluToyDefinition() {
  const { z } = await import("zod");
  const { baseShape, checkBase, warmUpField } = await import("../src/sae/config.js");
  const { scratchF32 } = await import("../src/sae/arch.js");
  const schema = z
    .object({
      architecture: z.literal("relu_toy").describe("ReLU latents with a plain L1 penalty."),
      ...baseShape,
      l1Coefficient: z.number().min(0).default(1).describe("Weight of the plain L1 penalty."),
      l1WarmUpSteps: warmUpField("L1"),
    })
    .strict()
    .superRefine((cfg, ctx) => checkBase(cfg, ctx));
  const def: ArchitectureDef<zod.infer<typeof schema>> = {
    id: "relu_toy",
    schema,
    summary: "ReLU latents, plain L1 penalty (a test-only architecture)",
    hasThresholdParam: false,
    sparsityParameter: "l1Coefficient",
    penalty: { coefficient: "l1Coefficient", warmUpSteps: "l1WarmUpSteps" },
    saelens: { architecture: "standard", trainingDetails: (cfg) => ({ l1_coefficient: cfg.l1Coefficient, lp_norm: 1 }) },
    refit: { architecture: "standard", keep: (cfg) => ({ l1Coefficient: cfg.l1Coefficient }) },
    levels: (cfg) => [{ width: cfg.dSae, multiplier: 1, lossName: "mse" }],
    activateTrain: (ctx) => void ctx.kernels.sparsifyAbove(ctx.ws.pre, ctx.batch, ctx.sae.dSae, ctx.ws.acts),
    activateInfer: (sae, k, pre, rows, out) => k.sparsifyAbove(pre, rows, sae.dSae, out),
    // d l1 / d f_bj = c / batch for every active latent.
    valueGradBias: (ctx: StepCtx) => scratchF32(ctx.ws, "relu_toy:grad", ctx.sae.dSae).fill(ctx.coefficient / ctx.batch),
    terms(ctx: StepCtx) {
      let total = 0;
      for (let j = 0; j < ctx.sae.dSae; j++) total += ctx.ws.actSum[j]!;
      ctx.losses.l1 = (ctx.coefficient / ctx.batch) * total;
    },
  };
  return def;
}

const WORLD = "absorption-basic";

function cliIO(cwd: string): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTTY: false, cwd };
}

/** Plain-loop L1 of the test's formula: c * mean over samples of the summed latent activations. */
function plainL1(sae: Sae, x: Float32Array, batch: number, c: number): number {
  const acts = sae.encode(x, batch);
  let s = 0;
  for (let e = 0; e < acts.nnz; e++) s += acts.values[e]!;
  return (c * s) / batch;
}

describe("an architecture defined only in a test, with one registry row", () => {
  const world = createWorld(getPreset(WORLD), { kernels });
  const cfg = SaeConfigSchema.parse({ architecture: "relu_toy", name: "toy", dSae: 16, l1Coefficient: 0.05 });

  it("is registered: ids, config schema and lookups all come from the row", () => {
    expect(ARCHITECTURE_IDS).toContain("relu_toy");
    expect(architectureOf(cfg).summary).toMatch(/test-only/);
    expect(() => SaeConfigSchema.parse({ architecture: "relu_toy", dSae: 4, k: 2 })).toThrow(/k/);
  });

  it("trains, logging its own loss term, which matches the formula on the trained weights", () => {
    const tc = TrainConfigSchema.parse({ steps: 150, batchSize: 256, lr: 3e-3, seed: 4, checkpointEvery: 0, logEvery: 50 });
    const trainer = createTrainer(kernels, [cfg], tc, world.dModel);
    const losses: number[] = [];
    train({ trainer, data: worldStream(world), onStep: (t) => losses.push(t.stats()[0]!.loss) });
    expect(trainer.step).toBe(150);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.5);
    // One more forward step on a fresh batch: the logged l1 is the plain formula on the weights it used.
    const x = world.sampler(99).next(128).acts;
    const want = plainL1(trainer.runs[0]!.sae, x, 128, 0.05);
    trainer.trainStep(x);
    expect(trainer.stats()[0]!.losses.l1).toBeCloseTo(want, 4);
  });

  it("saves as a SAELens standard SAE and loads back as itself, bit for bit", () => {
    const tc = TrainConfigSchema.parse({ steps: 150, batchSize: 256, lr: 3e-3, seed: 2, checkpointEvery: 0 });
    const trainer = createTrainer(kernels, [cfg], tc, world.dModel);
    train({ trainer, data: (function* () { for (let s = 0; ; s++) yield world.sampler(s).next(256).acts; })() });
    const sae = trainer.runs[0]!.sae;
    const dir = join(mkdtempSync(join(tmpdir(), "saelab-newarch-")), "toy");
    saveSaelensSae(dir, sae);
    const saved = JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8"));
    expect(saved.architecture).toBe("standard");
    expect(saved.metadata.training_architecture).toBe("relu_toy");
    const back = loadSaelensSae(dir, kernels).sae;
    expect(back.architecture).toBe("relu_toy");
    expect(back.config).toEqual(sae.config);
    expect(back.params.buffer).toEqual(sae.params.buffer);
    const x = world.sampler(5).next(32).acts;
    expect(back.decode(back.encode(x, 32))).toEqual(sae.decode(sae.encode(x, 32)));
    const [ev] = evaluateOnWorld([back], world, { n: 2000, seed: 1 }, kernels);
    expect(ev!.sparsity.l0).toBeGreaterThan(0);
    expect(ev!.reconstruction.explainedVariance).toBeGreaterThan(0);
  });

  it("runs through saelab train, eval and sweep (its sparsity parameter on the sparsity axis)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "saelab-newarch-cli-"));
    writeFileSync(join(dir, "sae.json"), JSON.stringify([{ architecture: "relu_toy", name: "toy", dSae: 16, l1Coefficient: 0.05 }, { architecture: "standard", name: "std", dSae: 16 }]));
    const io = cliIO(dir);
    const backend = ["--backend", kernels.name];
    expect(await main(["train", "--preset", WORLD, "--sae", "sae.json", "--out", "run", "--steps", "60", "--batchSize", "128", ...backend], io)).toBe(0);
    expect(io.stdout.join("\n")).toMatch(/toy: loss .*l1 /);
    expect(await main(["eval", "run/toy", "--preset", WORLD, "--n", "2000", "--json", ...backend], io)).toBe(0);
    const ev = JSON.parse(io.stdout.at(-1)!);
    expect(ev.summary.l0).toBeGreaterThan(0);

    const spec = {
      name: "toy-sweep",
      world: WORLD,
      axes: { sparsity: { l1Coefficient: [0.01, 0.3] }, childGivenParent: [0.2] },
      saes: [{ architecture: "relu_toy", name: "toy", dSae: 16 }],
      train: { steps: 40, batchSize: 128 },
      eval: { samples: 2000 },
    };
    writeFileSync(join(dir, "spec.json"), JSON.stringify(spec));
    expect(await main(["sweep", "spec.json", "--out", "sweep", "--workers", "1", "--json", ...backend], io)).toBe(0);
    const rows = JSON.parse(io.stdout.at(-1)!) as { sae: string; architecture: string; sparsityParameter: string; sparsityValue: number; l0: number }[];
    expect(rows.map((r) => [r.sae, r.architecture, r.sparsityParameter, r.sparsityValue])).toEqual([
      ["toy", "relu_toy", "l1Coefficient", 0.01],
      ["toy", "relu_toy", "l1Coefficient", 0.3],
    ]);
    // A stronger penalty leaves fewer latents active: the swept value reached the toy's loss.
    expect(rows[1]!.l0).toBeLessThan(rows[0]!.l0);
  });
});
