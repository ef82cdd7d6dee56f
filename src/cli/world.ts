/**
 * `saelab world describe` and `saelab world sample`: thin wrappers over the toy-world library.
 */
import { mkdirSync, statfsSync } from "node:fs";
import { freemem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { NpyStreamWriter } from "../io/npy.js";
import { saveWorld } from "../io/world.js";
import { seed } from "../schema.js";
import { loadKernels, parseIsa, resolveBackend } from "../tensor/backend.js";
import { describeWorld, formatSummary } from "../toy/describe.js";
import type { CliIO, Command } from "./args.js";
import { loadWorldSource, worldSourceLabel, WorldSourceSchema } from "./world-source.js";

/** Returns a progress callback for world construction (orthogonalisation), drawn only on a terminal. */
function buildProgress(io: CliIO): ((stage: string, done: number, total: number) => void) | undefined {
  if (!io.isTTY) return undefined;
  let last = 0;
  return (stage, done, total) => {
    if (done < total && Date.now() - last < 100) return;
    last = Date.now();
    process.stderr.write(`\r${stage} ${done}/${total}${done === total ? "\n" : ""}`);
  };
}

const DescribeSchema = WorldSourceSchema.extend({
  json: z.boolean().default(false).describe("Print the summary as JSON."),
}).strict();

/** Returns the kernels (saying once on stderr if they fell back) and the world, with a progress bar while it builds. */
function openWorld(opts: { world?: string | undefined; preset?: string | undefined }, io: CliIO) {
  const { kernels, warning } = loadKernels(resolveBackend("auto", io.backendEnv), parseIsa(io.isaEnv));
  if (warning) io.err(warning);
  const onProgress = buildProgress(io);
  return { kernels, world: loadWorldSource(opts, io.cwd, { kernels, ...(onProgress ? { onProgress } : {}) }) };
}

export const worldDescribeCommand: Command<typeof DescribeSchema> = {
  path: ["world", "describe"],
  summary: "Summarise a toy world: true L0, firing rates, superposition, hierarchy, correlation.",
  details: "The world is a config .json file, a saved world directory, or --preset NAME.",
  schema: DescribeSchema,
  positionals: [{ key: "world", name: "config.json", optional: true }],
  async run(opts, io) {
    const { kernels, world } = openWorld(opts, io);
    const summary = describeWorld(world, { kernels });
    io.out(opts.json ? JSON.stringify(summary, null, 2) : formatSummary(summary, worldSourceLabel(opts)));
    return 0;
  },
};

const SampleSchema = WorldSourceSchema.extend({
  n: z.number().int().min(1).describe("Number of samples to write."),
  seed: seed().default(0).describe("Sampler seed (the stream depends only on the world and this seed)."),
  out: z.string().min(1).describe("Output directory: activations.npy, features.npy and world/."),
}).strict();

/** Returns the bytes of memory this process could still use (cgroup-aware when Node knows the limit). */
export function availableMemory(): number {
  const p = process as { availableMemory?: () => number };
  return typeof p.availableMemory === "function" ? p.availableMemory() : freemem();
}

function formatBytes(b: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let u = 0;
  while (b >= 1024 && u < units.length - 1) {
    b /= 1024;
    u++;
  }
  return `${b.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/** A progress line on stderr, drawn only when stderr is a terminal. */
function progress(io: CliIO, label: string, total: number): { update(done: number): void; done(): void } {
  const start = Date.now();
  let last = 0;
  const draw = (done: number) => {
    const secs = (Date.now() - start) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    process.stderr.write(`\r${label} ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} (${Math.floor((100 * done) / total)}%) ${rate.toLocaleString("en-US")} samples/s `);
  };
  return {
    update(done) {
      if (!io.isTTY || Date.now() - last < 100) return;
      last = Date.now();
      draw(done);
    },
    done() {
      if (!io.isTTY) return;
      draw(total);
      process.stderr.write("\n");
    },
  };
}

export const worldSampleCommand: Command<typeof SampleSchema> = {
  path: ["world", "sample"],
  summary: "Sample a toy world to activations.npy and features.npy, and save the world beside them.",
  details: "Writes OUT/activations.npy (float32 [N, dModel]), OUT/features.npy (float32 [N, nFeatures], the true feature magnitudes) and OUT/world/ (the world, loadable with --world OUT/world).",
  schema: SampleSchema,
  positionals: [{ key: "world", name: "config.json", optional: true }],
  async run(opts, io) {
    const { world } = openWorld(opts, io);
    const n = opts.n;
    const nf = world.nFeatures;
    const d = world.dModel;
    const featureBytes = n * nf * 4;
    const actBytes = n * d * 4;
    const avail = availableMemory();
    if (featureBytes > avail) {
      throw new UserError(
        `refusing --n ${n}: features.npy would hold ${n} x ${nf} float32 values (${formatBytes(featureBytes)}), more than the ${formatBytes(avail)} of memory available to load it back; use --n ${Math.floor(avail / (nf * 4))} or less`,
      );
    }
    const out = resolve(io.cwd, opts.out);
    mkdirSync(out, { recursive: true });
    const fs = statfsSync(out);
    const free = Number(fs.bavail) * Number(fs.bsize);
    if (featureBytes + actBytes > free) {
      throw new UserError(`refusing --n ${n}: the two files need ${formatBytes(featureBytes + actBytes)} but ${dirname(out)} has ${formatBytes(free)} free`);
    }
    saveWorld(join(out, "world"), world);
    const acts = new NpyStreamWriter(join(out, "activations.npy"), "<f4", [n, d]);
    const feats = new NpyStreamWriter(join(out, "features.npy"), "<f4", [n, nf]);
    const bar = progress(io, "sampling", n);
    try {
      // Blocks of at most ~16 MB of dense features; the stream does not depend on the block size.
      const block = Math.max(1, Math.min(4096, Math.floor((16 << 20) / (nf * 4))));
      const sampler = world.sampler(opts.seed);
      const dense = new Float32Array(block * nf);
      for (let done = 0; done < n; ) {
        const rows = Math.min(block, n - done);
        const b = sampler.next(rows);
        const f = dense.subarray(0, rows * nf);
        f.fill(0);
        for (let r = 0; r < rows; r++) {
          for (let e = b.features.rowPtr[r]!; e < b.features.rowPtr[r + 1]!; e++) f[r * nf + b.features.colIdx[e]!] = b.features.values[e]!;
        }
        acts.writeRows(b.acts);
        feats.writeRows(f);
        done += rows;
        bar.update(done);
      }
      acts.close();
      feats.close();
    } catch (e) {
      acts.abort();
      feats.abort();
      throw e;
    }
    bar.done();
    io.out(`wrote ${n} samples (seed ${opts.seed}) of ${worldSourceLabel(opts)} to ${out}: activations.npy [${n}, ${d}], features.npy [${n}, ${nf}], world/`);
    return 0;
  },
};
