/**
 * What the fuzzer fuzzes: one entry per parser or loader that a user's file reaches. Each entry
 * builds valid seed inputs (file name -> bytes, written into a fresh directory per mutant), loads
 * them through the same call chain the CLI uses, and checks an accepted input for consistency. A
 * new parser is one more entry here.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/errors.js";
import { serializeSafetensors, readSafetensors, toFloat32 } from "../../src/io/safetensors.js";
import { npyHeaderBytes, readNpy } from "../../src/io/npy.js";
import {
  checkpointArrays, parseLlama2cCheckpoint, readLlama2cCheckpoint, readLlama2cTokenizer, serializeLlama2cTokenizer,
} from "../../src/io/llama2c.js";
import { loadSaelensSae, saveSaelensSae } from "../../src/io/saelens.js";
import { readHfSnapshot, writeHfSnapshot } from "../../src/io/hf-snapshot.js";
import { llama2cToHfSnapshot } from "../../src/io/llama2c-to-hf.js";
import { tokenizerFromSnapshot } from "../../src/io/tokenizer-files.js";
import { weightsFromSnapshot } from "../../src/lm/load.js";
import { loadWorld, readJsonFile, saveWorld } from "../../src/io/world.js";
import { ActivationShardWriter, openActivations } from "../../src/io/activations.js";
import { loadSteeringVector, saveSteeringVector } from "../../src/io/steering.js";
import { readCheckpoint } from "../../src/io/checkpoint.js";
import { Tokenizer } from "../../src/lm/tokenizer.js";
import { createSae } from "../../src/sae/model.js";
import { resolveSaeConfig, SaeConfigSchema } from "../../src/sae/registry.js";
import { TrainConfigSchema } from "../../src/train/config.js";
import { nonFiniteParams, restoreTrainer, snapshotTrainer } from "../../src/train/checkpoint.js";
import { createTrainer } from "../../src/train/trainer.js";
import { referenceKernels } from "../../src/tensor/reference.js";
import { Rng } from "../../src/tensor/rng.js";
import { createWorld, WorldConfigSchema } from "../../src/toy/world.js";
import { PRESETS } from "../../src/toy/presets.js";
import { planSweepFile } from "../../src/cli/sweep.js";
import { SWEEP_PRESETS } from "../../src/experiments/sweep-presets.js";
import type { FuzzFiles } from "./mutate.js";
import { filesOf, sampleFinite, tempFiles, tinyCheckpoint, tinyVocab } from "./seeds.js";
import { dashboardTarget } from "./dashboard-target.js";

/** One fuzzed parser. */
export interface FuzzTarget {
  /** Name used by --parser. */
  name: string;
  /** Valid inputs the mutants start from (built once per child). */
  seeds(): FuzzFiles[] | Promise<FuzzFiles[]>;
  /** The files mutations edit (default: all of them). */
  mutable?: readonly string[];
  /** The path handed to the loader, relative to the mutant's directory ("" = the directory itself). */
  entry: string;
  /** Loads the input as the CLI would; returns what `check` needs. */
  load(path: string): unknown;
  /** Returns a problem with an accepted input (inconsistent or unusable result), or undefined. */
  check(loaded: unknown, files: FuzzFiles): string | undefined;
  /** Not fuzzed by default (the watchdog's own test target). */
  internal?: boolean;
}

const kernels = referenceKernels();
const CKPT_TRAIN = TrainConfigSchema.parse({ steps: 10, batchSize: 4, seed: 1 });
const CKPT_SAES = [resolveSaeConfig(SaeConfigSchema.parse({ architecture: "topk", dSae: 6, k: 2, name: "a" }), 4), resolveSaeConfig(SaeConfigSchema.parse({ architecture: "jumprelu", dSae: 5, tying: "tied", name: "b" }), 4)];
const enc = new TextEncoder();
const FIXTURES = new URL("../../test/fixtures/", import.meta.url).pathname;

/** Returns the safetensors header JSON text of `bytes` (undefined when it is not framed as one). */
function safetensorsHeaderText(bytes: Uint8Array): string | undefined {
  if (bytes.length < 8) return undefined;
  const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
  return 8 + n <= bytes.length ? Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8") : undefined;
}

const SMALL_WORLD = { nFeatures: 6, dModel: 4, seed: 3, firing: { kind: "linear", max: 0.4, min: 0.1 }, hierarchy: { nodes: [{ feature: 0, children: [1, 2], mutuallyExclusive: true }] } };
const COPULA_WORLD = { nFeatures: 8, dModel: 5, firing: { kind: "zipf", exponent: 1, max: 0.4, min: 0.05 }, correlation: { kind: "low_rank", rank: 2, scale: 0.3 }, biasNorm: 0.5, magnitude: { std: { kind: "constant", value: 0.2 } } };

/** Returns the world described by `cfg` when it is small enough to build in a fuzz iteration. */
function buildIfSmall(cfg: { nFeatures: number; dModel: number; orthogonalize?: { steps: number } | undefined; correlation?: unknown }): boolean {
  return cfg.nFeatures * cfg.dModel <= 20_000 && cfg.nFeatures <= 2048 && (cfg.orthogonalize?.steps ?? 0) * cfg.nFeatures * cfg.nFeatures <= 2e6;
}

export const TARGETS: readonly FuzzTarget[] = [
  {
    name: "safetensors",
    entry: "x.safetensors",
    seeds: () => [
      { "x.safetensors": Buffer.concat(serializeSafetensors({ W: { data: new Rng(1).fillNormal(new Float32Array(12)), shape: [3, 4] }, ids: { data: Int32Array.from([1, -2, 3]), shape: [3] } }, { format: "test" })) },
      { "x.safetensors": Buffer.concat(serializeSafetensors({ e: { data: new Float32Array(0), shape: [0, 3] }, s: { data: Float32Array.from([2]), shape: [] } })) },
      { "x.safetensors": readFileSync(join(FIXTURES, "unaligned.safetensors")) },
      { "x.safetensors": readFileSync(join(FIXTURES, "saelens/legacy_topk_f16/sae_weights.safetensors")) },
    ],
    load: (p) => {
      const f = readSafetensors(p);
      for (const [name, t] of f.tensors) toFloat32(t, name);
      return f;
    },
    check: (loaded, files) => {
      const f = loaded as ReturnType<typeof readSafetensors>;
      const text = safetensorsHeaderText(files["x.safetensors"]!) ?? "";
      // Independent of the parser: every tensor entry carries one data_offsets key.
      const entries = text.split('"data_offsets"').length - 1;
      if (entries !== f.tensors.size) return `header has ${entries} tensor entries but ${f.tensors.size} tensors were read`;
      for (const [name, t] of f.tensors) {
        if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0 && d < 2 ** 40)) return `tensor ${name} has shape [${t.shape.join(", ")}]`;
      }
      return undefined;
    },
  },
  {
    name: "npy",
    entry: "x.npy",
    seeds: () => [
      ...readdirSync(FIXTURES).filter((n) => n.endsWith(".npy")).map((n) => ({ "x.npy": readFileSync(join(FIXTURES, n)) })),
      { "x.npy": Buffer.concat([npyHeaderBytes("<f4", [2, 3]), new Uint8Array(new Float32Array(6).fill(1.5).buffer)]) },
      { "x.npy": Buffer.concat([npyHeaderBytes("<i4", [4]), new Uint8Array(Int32Array.from([1, 2, 3, 4]).buffer)]) },
    ],
    load: (p) => readNpy(p),
    check: (loaded, files) => {
      const a = loaded as ReturnType<typeof readNpy>;
      if (a.data.length !== a.shape.reduce((x, y) => x * y, 1)) return `${a.data.length} values for shape [${a.shape.join(", ")}]`;
      const header = Buffer.from(files["x.npy"]!.subarray(0, 4096)).toString("latin1");
      for (const key of ["descr", "fortran_order", "shape"]) if (header.split(`'${key}'`).length > 2) return `key '${key}' appears twice but the file was read`;
      return undefined;
    },
  },
  {
    name: "llama2c-checkpoint",
    entry: "model.bin",
    seeds: () => [{ "model.bin": tinyCheckpoint(true) }, { "model.bin": tinyCheckpoint(false) }],
    load: (p) => readLlama2cCheckpoint(p),
    check: (loaded) => {
      const c = loaded as ReturnType<typeof readLlama2cCheckpoint>;
      for (const [name, count] of checkpointArrays(c.config)) {
        if (name === "ropeReal" || name === "ropeImag") continue;
        const w = c.weights[name];
        if (!w && name === "wcls" && c.config.sharedClassifier) continue;
        if (!w || w.length !== count) return `${name} has ${w?.length} values, the config needs ${count}`;
        if (!w.every(Number.isFinite)) return `${name} is not finite`;
      }
      return undefined;
    },
  },
  {
    name: "llama2c-tokenizer",
    entry: "tok.bin",
    seeds: () => {
      const out: FuzzFiles[] = [{ "tok.bin": serializeLlama2cTokenizer(tinyVocab()) }];
      const shared = new URL("../../../shared/models/stories260K/tok512.bin", import.meta.url).pathname;
      try {
        out.push({ "tok.bin": readFileSync(shared) });
      } catch {
        // The shared model is optional (CI has it; a bare checkout may not).
      }
      return out;
    },
    load: (p) => readLlama2cTokenizer(p),
    check: (loaded) => {
      try {
        const tok = new Tokenizer(loaded as ReturnType<typeof readLlama2cTokenizer>);
        const ids = tok.encode("Once upon a time, ü 日本 \u0000!");
        tok.decode(ids);
        return undefined;
      } catch (e) {
        return `the tokenizer was accepted but encoding fails: ${(e as Error).message}`;
      }
    },
  },
  {
    name: "saelens",
    entry: "",
    seeds: () => {
      const out = ["standard", "topk_rescale", "jumprelu_no_bdec", "legacy_topk_f16"].map((d) => filesOf(join(FIXTURES, "saelens", d), ["cfg.json", "sae_weights.safetensors"]));
      const made: [string, Record<string, unknown>][] = [
        ["topk", { architecture: "topk", k: 2, tying: "tied" }],
        ["jumprelu", { architecture: "jumprelu" }],
        ["batchtopk", { architecture: "batchtopk", k: 2, tying: "tied_gain" }],
      ];
      for (const [name, over] of made) {
        const sae = createSae(kernels, SaeConfigSchema.parse({ dIn: 4, dSae: 6, ...over }), { seed: 1 });
        if (sae.params.threshold) sae.params.threshold.fill(0.1);
        out.push(tempFiles(`sae-${name}`, (dir) => saveSaelensSae(dir, sae, { seed: 1 })));
      }
      return out;
    },
    load: (p) => loadSaelensSae(p, kernels),
    check: (loaded, files) => {
      const { sae, saelab } = loaded as ReturnType<typeof loadSaelensSae>;
      const x = new Rng(5).fillNormal(new Float32Array(3 * sae.dIn));
      if (!sampleFinite(sae.decode(sae.encode(x, 3)))) return "reconstruction is not finite";
      if (saelab) return undefined;
      let cfg: Record<string, unknown>;
      try {
        cfg = JSON.parse(Buffer.from(files["cfg.json"]!).toString("utf8")) as Record<string, unknown>;
      } catch {
        return undefined;
      }
      let names: string[] = [];
      try {
        names = Object.keys(JSON.parse(safetensorsHeaderText(files["sae_weights.safetensors"]!) ?? "{}") as object);
      } catch {
        // Unparseable headers are the parser's to refuse; an accepted one parsed.
      }
      if (names.some((k) => k === "threshold" || k === "log_threshold") && !sae.threshold) return `the weights hold a threshold but the SAE was read as ${sae.architecture}`;
      if (cfg.k !== undefined && cfg.k !== null && sae.architecture !== "topk") return `cfg.json has k but the SAE was read as ${sae.architecture}`;
      if ("apply_b_dec_to_input" in cfg && typeof cfg.apply_b_dec_to_input !== "boolean") return `apply_b_dec_to_input ${JSON.stringify(cfg.apply_b_dec_to_input)} was accepted`;
      return undefined;
    },
  },
  {
    name: "hf-snapshot",
    entry: "",
    seeds: () => [1, 2].map((shards) => {
      const vocab = tinyVocab();
      const snap = llama2cToHfSnapshot(parseLlama2cCheckpoint(tinyCheckpoint(shards === 1, vocab.pieces.length)), vocab);
      return tempFiles(`hf-${shards}`, (dir) => writeHfSnapshot(dir, { ...snap, shards }));
    }),
    // As --model DIR reads it: config.json (family, spec), the weights (single file or index + shards), tokenizer.json.
    load: async (p) => {
      const snap = await readHfSnapshot(p);
      return { loaded: weightsFromSnapshot(snap), tok: tokenizerFromSnapshot(snap) };
    },
    check: (loaded) => {
      const { loaded: w, tok } = loaded as { loaded: ReturnType<typeof weightsFromSnapshot>; tok: ReturnType<typeof tokenizerFromSnapshot> };
      if (w.weights.embed.length !== w.spec.vocabSize * w.spec.dModel) return `embed has ${w.weights.embed.length} values for vocab ${w.spec.vocabSize} x dModel ${w.spec.dModel}`;
      if (!sampleFinite(w.weights.embed)) return "embed is not finite";
      try {
        tok.decode(tok.encode("Once upon a time, ü 日本"));
      } catch (e) {
        return `the tokenizer was accepted but fails: ${(e as Error).message}`;
      }
      return undefined;
    },
  },
  {
    name: "world-dir",
    entry: "",
    seeds: () => [SMALL_WORLD, COPULA_WORLD].map((c, i) => tempFiles(`world-${i}`, (dir) => saveWorld(dir, createWorld(parseConfig(WorldConfigSchema, c, "seed world"))))),
    load: (p) => loadWorld(p),
    check: (loaded) => (sampleFinite((loaded as ReturnType<typeof loadWorld>).sampler(1).next(32).acts) ? undefined : "samples are not finite"),
  },
  {
    name: "world-config",
    entry: "world.json",
    seeds: () => [SMALL_WORLD, COPULA_WORLD, ...Object.values(PRESETS)].map((c) => ({ "world.json": enc.encode(JSON.stringify(c, null, 2)) })),
    load: (p) => {
      const cfg = parseConfig(WorldConfigSchema, readJsonFile(p), p);
      return buildIfSmall(cfg) ? createWorld(cfg) : cfg;
    },
    check: (loaded) => {
      const w = loaded as { sampler?: (s: number) => { next(n: number): { acts: Float32Array } } };
      if (!w.sampler) return undefined;
      return sampleFinite(w.sampler(2).next(32).acts) ? undefined : "samples are not finite";
    },
  },
  {
    name: "sweep-spec",
    entry: "spec.json",
    seeds: () => Object.values(SWEEP_PRESETS).map((s) => ({ "spec.json": enc.encode(JSON.stringify(s, null, 2)) })),
    load: (p) => planSweepFile(p),
    check: (loaded) => ((loaded as { cells: unknown[] }).cells.length > 0 ? undefined : "the plan has no cells"),
  },
  {
    name: "activations",
    entry: "",
    seeds: () => [
      tempFiles("acts", (dir) => {
        const w = new ActivationShardWriter(dir, "blocks.0.hook_resid_post", 3, 5);
        const rng = new Rng(4);
        w.append({ activations: rng.fillNormal(new Float32Array(12 * 3)), tokens: Int32Array.from({ length: 12 }, (_, i) => i), positions: Int32Array.from({ length: 12 }, (_, i) => i % 6), sequences: Int32Array.from({ length: 12 }, (_, i) => Math.floor(i / 6)) });
        w.finish({ model: "tiny" });
      }),
    ],
    load: (p) => {
      const ds = openActivations(p);
      let rows = 0;
      for (const b of ds.batches({ batchSize: 4, seed: 1, shuffle: true })) {
        if (!sampleFinite(b)) throw new Error("a batch is not finite");
        rows += b.length / ds.dModel;
      }
      return { rows, total: ds.totalTokens };
    },
    check: (loaded) => {
      const r = loaded as { rows: number; total: number };
      return r.rows === r.total ? undefined : `batches hold ${r.rows} rows but the manifest says ${r.total}`;
    },
  },
  {
    name: "steering",
    entry: "v.safetensors",
    seeds: () => [
      tempFiles("steer", (dir) => saveSteeringVector(join(dir, "v.safetensors"), { layerActivations: new Map([[0, Float32Array.from([1, 2, 3])], [2, Float32Array.from([0.5, -1, 0])]]), layerType: "decoder_block", settings: { lambda: 2 } })),
    ],
    load: (p) => loadSteeringVector(p),
    check: (loaded) => ([...(loaded as ReturnType<typeof loadSteeringVector>).layerActivations.values()].every(sampleFinite) ? undefined : "non-finite vector"),
  },
  {
    name: "checkpoint",
    entry: "checkpoint.safetensors",
    seeds: () => {
      const t = createTrainer(kernels, CKPT_SAES, CKPT_TRAIN, 4);
      t.step = 3;
      const { tensors, meta } = snapshotTrainer(t, { seed: 1 });
      return [{ "checkpoint.safetensors": Buffer.concat(serializeSafetensors(tensors, { saelab: JSON.stringify(meta) })) }];
    },
    // As `saelab train --resume` reads it: the file, then the trainer restored against the run's settings.
    load: (p) => {
      const ck = readCheckpoint(p);
      return restoreTrainer(kernels, ck.tensors, ck.meta, p, { train: CKPT_TRAIN, saes: CKPT_SAES });
    },
    check: (loaded) => {
      const t = loaded as ReturnType<typeof restoreTrainer>;
      return nonFiniteParams(t).length === 0 ? undefined : `restored parameters ${nonFiniteParams(t).join(", ")} are not finite`;
    },
  },
  dashboardTarget,
  {
    // Tests the watchdog: seed i (i + 1 bytes long) is accepted (i = 0), hangs (1), dies (2), exhausts the heap (3), throws a plain Error (4).
    name: "watchdog-selftest",
    internal: true,
    entry: "x",
    seeds: () => [0, 1, 2, 3, 4].map((i) => ({ x: new Uint8Array(i + 1) })),
    load: (p) => {
      const i = readFileSync(p).length - 1;
      const kind = i % 5;
      if (kind === 1) for (;;);
      if (kind === 2) process.exit(3);
      if (kind === 3) {
        const hog: number[][] = [];
        for (;;) hog.push(new Array<number>(1 << 20).fill(i));
      }
      if (kind === 4) throw new Error("plain");
      return i;
    },
    check: () => undefined,
  },
];

/** The parsers fuzzed when --parser is not given. */
export const DEFAULT_TARGETS: readonly string[] = TARGETS.filter((t) => !t.internal).map((t) => t.name);

/** Returns the target called `name`, or throws listing the names. */
export function targetNamed(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`unknown parser "${name}"; the parsers are: ${TARGETS.map((x) => x.name).join(", ")}`);
  return t;
}
