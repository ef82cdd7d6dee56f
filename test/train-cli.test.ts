/** `saelab train` end to end (through runTrain, with a small stand-in World implementing the contract). */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseArgs, type CliIO, type Command } from "../src/cli/args.js";
import { runTrain, saeConfigHelp, trainFlagsShape, type TrainInput, type TrainFlags } from "../src/cli/train-run.js";
import { sequentialStream, worldStream } from "../src/train/stream.js";
import { renderProgressLine, formatDuration, createProgressBar, progressBar } from "../src/cli/progress.js";
import { loadSaelensSae } from "../src/io/saelens.js";
import { readSafetensors } from "../src/io/safetensors.js";
import { emptySparse } from "../src/tensor/kernels.js";
import { Rng } from "../src/tensor/rng.js";
import type { World } from "../src/toy/types.js";
import { z } from "zod";
import { kernels } from "./sae-fixtures.js";
import { main } from "../src/cli/main.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { TrainConfigSchema } from "../src/train/config.js";
import { createTrainer } from "../src/train/trainer.js";

const D = 10;

/** A stand-in world: 16 random unit features firing independently with probability 0.15. */
function toyWorld(): World {
  const nF = 16;
  const fv = new Rng(3).fillNormal(new Float32Array(nF * D));
  for (let f = 0; f < nF; f++) {
    const n = Math.hypot(...fv.subarray(f * D, (f + 1) * D));
    for (let i = 0; i < D; i++) fv[f * D + i]! /= n;
  }
  const w = {
    nFeatures: nF, dModel: D, featureVectors: fv, bias: new Float32Array(D), parent: new Int32Array(nF).fill(-1), children: [],
    mutuallyExclusive: new Uint8Array(nF), firingProbability: new Float64Array(nF).fill(0.15), magnitudeMean: new Float64Array(nF).fill(1), config: { toy: true },
    sampler(seed: number) {
      const rng = new Rng(seed);
      return {
        next(batch: number) {
          const acts = new Float32Array(batch * D);
          for (let b = 0; b < batch; b++) for (let f = 0; f < nF; f++) if (rng.bernoulli(0.15)) for (let i = 0; i < D; i++) acts[b * D + i]! += fv[f * D + i]!;
          return { batch, dModel: D, nFeatures: nF, acts, features: emptySparse(batch, nF) };
        },
      };
    },
  };
  return w as unknown as World;
}

const schema = z.object(trainFlagsShape).strict();
const cmd = { path: ["train"], summary: "", schema, run: async () => 0 } as unknown as Command;

function io(cwd: string): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTTY: false, cwd };
}

function setup(saes: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "saelab-train-cli-"));
  writeFileSync(join(dir, "sae.json"), JSON.stringify(saes));
  return dir;
}

const flags = (argv: string[]) => parseArgs(cmd, [...argv, "--backend", "reference", "--batchSize", "64"]) as unknown as TrainFlags;
const source = (): TrainInput => ({ stream: worldStream(toyWorld()), description: { world: "toy" } });

/** The world source with `edit(step, batch)` applied to each batch. */
function withBatch(edit: (step: number, x: Float32Array) => Float32Array): TrainInput {
  const src = source();
  return {
    ...src,
    stream: {
      dIn: D,
      *batches(from, b, seed) {
        let s = from;
        for (const x of src.stream.batches(from, b, seed)) yield edit(s++, x);
      },
    },
  };
}

describe("saelab train", () => {
  it("writes a SAELens directory, saelab.json, a checkpoint and a JSONL log", async () => {
    const dir = setup({ architecture: "topk", dSae: 32, k: 4, tying: "tied" });
    const c = io(dir);
    expect(await runTrain(flags(["--sae", "sae.json", "--steps", "20", "--out", "run", "--seed", "3", "--logEvery", "5"]), c, source())).toBe(0);
    const out = join(dir, "run");
    for (const f of ["cfg.json", "sae_weights.safetensors", "saelab.json", "checkpoint.safetensors", "train_log.jsonl"]) expect(existsSync(join(out, f))).toBe(true);
    const meta = JSON.parse(readFileSync(join(out, "saelab.json"), "utf8"));
    expect(meta).toMatchObject({ tying: "tied", seed: 3, data: { world: "toy" }, training: { steps: 20 } });
    const log = readFileSync(join(out, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(log.map((e) => e.type)).toEqual(["start", "step", "step", "step", "step", "end"]);
    expect(log[4].saes[0].losses).toHaveProperty("auxk");
    const { sae } = loadSaelensSae(out, kernels);
    expect(sae.tied).toBe(true);
    expect(sae.dIn).toBe(D);
    expect(c.stdout.join("\n")).toMatch(/trained 1 SAE for 20 steps/);
  });

  it("--resume after a crash ends with the same weights as an uninterrupted run", async () => {
    const cfg = [
      { architecture: "standard", name: "a", dSae: 24, l1Coefficient: 0.01 },
      { architecture: "batchtopk", name: "b", dSae: 24, k: 3, tying: "tie_loss", tieLoss: { coefficient: 0.1 } },
    ];
    const dir = setup(cfg);
    const args = ["--sae", "sae.json", "--steps", "12", "--checkpointEvery", "4", "--lrDecay", "cosine", "--logEvery", "1"];
    await runTrain(flags([...args, "--out", "full"]), io(dir), source());
    const crashing = withBatch((s, x) => {
      if (s === 6) throw new Error("power cut");
      return x;
    });
    await expect(runTrain(flags([...args, "--out", "part"]), io(dir), crashing)).rejects.toThrow("power cut");
    await expect(runTrain(flags([...args, "--out", "part"]), io(dir), source())).rejects.toThrow(/already holds a training run.*--resume/);
    await expect(runTrain(flags([...args, "--out", "part", "--resume", "--lr", "0.1"]), io(dir), source())).rejects.toThrow(/lr: checkpoint 0.0003, now 0.1/);
    const c = io(dir);
    await runTrain(flags([...args, "--out", "part", "--resume"]), c, source());
    expect(c.stderr.join("\n")).toMatch(/resuming at step 4 of 12/);
    for (const name of ["a", "b"]) {
      const x = readFileSync(join(dir, "full", name, "sae_weights.safetensors"));
      const y = readFileSync(join(dir, "part", name, "sae_weights.safetensors"));
      expect(y.equals(x)).toBe(true);
    }
    // Every file byte for byte (issue 14): saelab.json and the checkpoint's metadata in the same key
    // order, and the log without the killed run's events past step 4 or a second start event. Only
    // wall-clock rates and durations in the log may differ.
    const wallClock = (b: Buffer) => b.toString("latin1").replace(/"(tokensPerSec|seconds)":[0-9.e+-]+/g, '"$1":0');
    const files = (root: string): string[] => readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length)).sort();
    expect(files(join(dir, "part"))).toEqual(files(join(dir, "full")));
    for (const f of files(join(dir, "full"))) expect(wallClock(readFileSync(join(dir, "part", f))), f).toBe(wallClock(readFileSync(join(dir, "full", f))));
    const ck = readSafetensors(join(dir, "part", "checkpoint.safetensors"));
    expect(JSON.parse(ck.metadata.saelab!).step).toBe(12);
    const again = io(dir);
    expect(await runTrain(flags([...args, "--out", "part", "--resume"]), again, source())).toBe(0);
    expect(again.stdout.join("\n")).toMatch(/already finished \(12 of 12 steps\); nothing to do/);
    expect(readFileSync(join(dir, "part", "a", "sae_weights.safetensors")).equals(readFileSync(join(dir, "full", "a", "sae_weights.safetensors")))).toBe(true);
  });

  it("stops on NaN with a clear message and keeps the last good checkpoint", async () => {
    const dir = setup({ architecture: "standard", dSae: 16 });
    const bad = withBatch((s, x) => {
      if (s === 5) x[0] = Infinity;
      return x;
    });
    await expect(runTrain(flags(["--sae", "sae.json", "--steps", "10", "--checkpointEvery", "2", "--out", "r"]), io(dir), bad)).rejects.toThrow(
      /non-finite loss at step 5.*the input batch itself contains NaN or Inf values; the last good checkpoint is kept at .*checkpoint.safetensors/,
    );
    expect(JSON.parse(readSafetensors(join(dir, "r", "checkpoint.safetensors")).metadata.saelab!).step).toBe(4);
    expect(existsSync(join(dir, "r", "cfg.json"))).toBe(false);
  });

  it("a non-seekable stream source resumes by skipping, to the same weights", async () => {
    const dir = setup({ architecture: "jumprelu", dSae: 16 });
    const rows = source();
    const stream = (crashAt: number): TrainInput => ({
      stream: sequentialStream(D, function* (b, seed) {
        let s = 0;
        for (const x of rows.stream.batches(0, b, seed)) {
          if (s++ === crashAt) throw new Error("disk error");
          yield x;
        }
      }),
      description: { shards: "toy" },
    });
    const args = ["--sae", "sae.json", "--steps", "9", "--checkpointEvery", "3"];
    await runTrain(flags([...args, "--out", "full"]), io(dir), stream(-1));
    await expect(runTrain(flags([...args, "--out", "part"]), io(dir), stream(4))).rejects.toThrow("disk error");
    await runTrain(flags([...args, "--out", "part", "--resume"]), io(dir), stream(-1));
    expect(readFileSync(join(dir, "part", "sae_weights.safetensors")).equals(readFileSync(join(dir, "full", "sae_weights.safetensors")))).toBe(true);
  });

  it("validates the SAE config file and its width against the data", async () => {
    const dir = setup([{ architecture: "topk", dSae: 8, k: 2, dIn: 7 }]);
    await expect(runTrain(flags(["--sae", "sae.json", "--steps", "2", "--out", "r"]), io(dir), source())).rejects.toThrow(/config says dIn 7 but the data has width 10/);
    writeFileSync(join(dir, "sae.json"), JSON.stringify({ architecture: "topk", dSae: 8, kk: 2 }));
    await expect(runTrain(flags(["--sae", "sae.json", "--steps", "2", "--out", "r"]), io(dir), source())).rejects.toThrow(/unknown key "kk"/);
    expect(() => flags(["--sae", "s", "--steps", "0", "--out", "r"])).toThrow(/steps/);
  });
});

describe("saelab train on a preset world (the registered command)", () => {
  it("trains from --preset and writes a loadable SAELens directory; --help documents the SAE config", async () => {
    const dir = setup({ architecture: "batchtopk", dSae: 16, k: 2 });
    const c = io(dir);
    expect(await main(["train", "--preset", "absorption-basic", "--sae", "sae.json", "--steps", "4", "--batchSize", "64", "--out", "r", "--backend", "reference"], c)).toBe(0);
    const { sae, cfg, saelab } = loadSaelensSae(join(dir, "r"), kernels);
    expect(cfg.architecture).toBe("jumprelu");
    expect(sae.architecture).toBe("batchtopk");
    expect(sae.dIn).toBe(50);
    expect(saelab?.data).toMatchObject({ world: { nFeatures: 8 } });
    const h = io(dir);
    expect(await main(["train", "--help"], h)).toBe(0);
    expect(h.stdout.join("\n")).toMatch(/--preset <value>/);
    expect(h.stdout.join("\n")).toMatch(/"architecture": "matryoshka_batchtopk"/);
    const bad = io(dir);
    expect(await main(["train", "--sae", "sae.json", "--steps", "4", "--out", "r2"], bad)).toBe(1);
    expect(bad.stderr.join("\n")).toMatch(/no world given/);
  });
});

describe("saelab train output", () => {
  it("--steps defaults to 2000; off a terminal it prints ten plain progress lines; the result names explained variance and the MSE's unit", async () => {
    const dir = setup({ architecture: "standard", dSae: 8, l1Coefficient: 0.01 });
    const c = io(dir);
    expect(await runTrain(flags(["--sae", "sae.json", "--out", "run", "--batchSize", "16"]), c, source())).toBe(0);
    const lines = c.stderr.filter((l) => l.startsWith("train "));
    expect(lines.map((l) => Number(/^train (\d+)\/2000 \(\d+%\) \| /.exec(l)![1]))).toEqual([200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000]);
    for (const l of lines) expect(l).toMatch(/\| mse [\d.e+-]+ {2}EV -?[\d.e+-]+ {2}L0 [\d.]+ {2}dead \d+$/);
    expect(lines.some((l) => l.includes("\r") || l.includes("\u001b") || l.includes("#"))).toBe(false);
    const text = c.stdout.join("\n");
    expect(text).toMatch(/trained 1 SAE for 2000 steps/);
    // The printed explained variance is the last step event's, i.e. 1 - mse / (batch variance).
    const log = readFileSync(join(dir, "run", "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const last = log.filter((e) => e.type === "step").at(-1).saes[0];
    expect(Number(/explained variance (-?[\d.]+)/.exec(text)![1])).toBeCloseTo(last.explainedVariance, 3);
    expect(text).toMatch(/mse is \|\|x - x_hat\|\|\^2 summed over the input's dimensions and averaged over the batch/);
  });

  it("a step's explained variance is 1 - E||x - x_hat||^2 / E||x - mean x||^2 of its batch, with the weights before the update", () => {
    const cfg = TrainConfigSchema.parse({ steps: 3, batchSize: 32, seed: 5 });
    const trainer = createTrainer(kernels, [SaeConfigSchema.parse({ architecture: "topk", dSae: 12, k: 3 })], cfg, D);
    const sampler = toyWorld().sampler(9);
    trainer.trainStep(sampler.next(32).acts);
    const x = sampler.next(32).acts;
    const sae = trainer.runs[0]!.sae;
    const xHat = sae.decode(sae.encode(x, 32)).slice();
    let resid = 0;
    let total = 0;
    for (let j = 0; j < D; j++) {
      let mean = 0;
      for (let r = 0; r < 32; r++) mean += x[r * D + j]! / 32;
      for (let r = 0; r < 32; r++) {
        resid += (x[r * D + j]! - xHat[r * D + j]!) ** 2;
        total += (x[r * D + j]! - mean) ** 2;
      }
    }
    trainer.trainStep(x);
    expect(trainer.stats()[0]!.explainedVariance).toBeCloseTo(1 - resid / total, 4);
  });

  it("--help says why the defaults (SAELens's lr 3e-4 and l1Coefficient 1) differ from the examples'", async () => {
    const c = io("/");
    expect(await main(["train", "--help"], c)).toBe(0);
    const h = c.stdout.join("\n");
    expect(h).toMatch(/--steps <n> +Number of optimizer steps\. \[default: 2000\]/);
    expect(h).toMatch(/--lr <n> +.*\[default: 0\.0003\]/);
    expect(h).toMatch(/lr 3e-4 and l1Coefficient 1 are SAELens's defaults/);
  });
});

describe("train help", () => {
  it("documents every architecture's config fields from the schemas", () => {
    const h = saeConfigHelp();
    for (const id of ["standard", "topk", "batchtopk", "jumprelu", "matryoshka_batchtopk"]) expect(h).toContain(`"architecture": "${id}"`);
    expect(h).toMatch(/matryoshkaWidths +Strictly increasing prefix widths.*\(required\)/);
    expect(h).toMatch(/tying +Weight tying: untied .*\[default: "untied"\]/);
  });
});

describe("progress bar", () => {
  it("renders done/total, rate, eta and fields, and draws nothing off a terminal", () => {
    const line = renderProgressLine({ total: 100, done: 25, elapsed: 10, label: "train", unit: "tok", rateOf: (d) => d * 1000, fields: { mse: 0.01234, L0: 12.5, dead: 3 }, barWidth: 8 });
    expect(line).toBe("train [##------] 25% 25/100 | 2.5k tok/s | eta 0:30 | mse 0.0123  L0 12.5  dead 3");
    expect(formatDuration(3725)).toBe("1:02:05");
    const writes: string[] = [];
    const off = createProgressBar({ total: 3, write: (t) => writes.push(t), isTTY: false });
    off.update(1);
    off.finish();
    expect(writes).toEqual([]);
    let t = 0;
    const on = createProgressBar({ total: 3, write: (t2) => writes.push(t2), isTTY: true, now: () => (t += 50), minIntervalMs: 120 });
    on.update(1);
    on.update(2);
    on.update(3);
    on.finish();
    expect(writes.length).toBe(4); // update(2) came too soon after update(1); the last update and finish always draw
    expect(writes[0]!.startsWith("\r")).toBe(true);
    expect(writes.at(-1)).toBe("\n");
  });

  it("progressBar(io, label) is silent off a terminal and draws then clears on one", () => {
    const quiet = progressBar(io("/"), "x");
    quiet.update(1, 2);
    quiet.finish();
    const spy: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((t: string) => spy.push(t) > 0) as typeof process.stderr.write;
    try {
      const p = progressBar({ ...io("/"), isTTY: true }, "extract");
      p.update(2, 4);
      p.finish();
    } finally {
      process.stderr.write = orig;
    }
    expect(spy[0]).toMatch(/^\rextract \[#+-+\] 50% 2\/4/);
    expect(spy.at(-1)).toBe("\r\x1b[K");
  });
});
