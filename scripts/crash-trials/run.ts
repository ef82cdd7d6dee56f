/**
 * kill -9 trials (train, sweep, features, activations): each command runs once uninterrupted (the reference), then per trial it is started
 * afresh, killed with SIGKILL at a random moment of its reference duration, resumed as a user would,
 * and every output file is compared byte for byte with the reference's.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Rng } from "../../src/tensor/rng.js";
import { referenceKernels } from "../../src/tensor/reference.js";
import { saveSaelensSae } from "../../src/io/saelens.js";
import { createSae } from "../../src/sae/model.js";
import { SaeConfigSchema } from "../../src/sae/registry.js";
import { getPreset } from "../../src/toy/presets.js";
import { sqliteDump } from "./sqlite-dump.js";

/** A command under trial: how to start it in a directory and how to resume it there. */
export interface TrialCommand {
  name: string;
  /** Writes any inputs the command needs into `dir` (once per run). */
  prepare(dir: string): void;
  /** The saelab arguments of the first start (run with cwd = dir). */
  start: string[];
  /** The arguments that resume a killed run in `dir`; null when the run had finished before the kill (nothing to resume). */
  resume(dir: string): string[] | null;
  /** Output paths (relative to dir) that are inputs, not results, and so are not compared. */
  inputs: readonly string[];
  /** Masks what differs between two uninterrupted runs too (wall times, the run's own directory), so the comparison sees only the rest. */
  normalize?(name: string, bytes: Buffer, dir: string): Buffer;
}

/** One command's trial figures. */
export interface TrialResult {
  command: string;
  trials: number;
  /** The kill landed before the run finished (otherwise the trial only checks a complete run). */
  killed: number;
  resumed: number;
  identical: number;
  /** Reference files missing after the resume, summed over trials. */
  lost: number;
  /** Files whose bytes differ from the reference's, summed over trials. */
  corrupt: number;
  /** Leftover temporary files of interrupted atomic writes, summed over trials. */
  leftovers: number;
  /** Names of differing or missing files with the trial they occurred in (first few). */
  examples: string[];
  referenceSeconds: number;
}

const CLI = new URL("./cli.ts", import.meta.url).pathname;
/** tsx by absolute URL: the commands run with their trial directory as cwd. */
const TSX = import.meta.resolve("tsx");
const TEMP = /\.tmp-\d+-[0-9a-z]+$/;

/** Runs saelab with `args` in `cwd`; kills it with SIGKILL after `killAfterMs` when given. */
function runSaelab(args: string[], cwd: string, killAfterMs?: number): Promise<{ code: number | null; killed: boolean; ms: number; stderr: string }> {
  return new Promise((resolveRun) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ["--import", TSX, CLI, ...args], { cwd, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, SAELAB_DEBUG: "" } });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (c: string) => {
      stderr = (stderr + c).slice(-2000);
    });
    let killed = false;
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => {
      killed = child.kill("SIGKILL");
    }, killAfterMs);
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      resolveRun({ code, killed: killed && code === null, ms: Date.now() - t0, stderr });
    });
  });
}

/** Returns every regular file under `dir` (relative paths) with its bytes. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** Runs `trials` kill -9 trials of `cmd` under `work`; returns the figures. */
export async function crashTrials(cmd: TrialCommand, trials: number, seed: number, work: string, log: (line: string) => void = () => {}): Promise<TrialResult> {
  const refDir = join(work, `${cmd.name}-reference`);
  rmSync(refDir, { recursive: true, force: true });
  mkdirSync(refDir, { recursive: true });
  cmd.prepare(refDir);
  const ref = await runSaelab(cmd.start, refDir);
  if (ref.code !== 0) throw new Error(`${cmd.name}: the reference run failed (exit ${ref.code}): ${ref.stderr}`);
  const norm = (m: Map<string, Buffer>, dir: string): Map<string, Buffer> => new Map([...m].map(([k, v]) => [k, cmd.normalize ? cmd.normalize(k, v, dir) : v]));
  const want = norm(snapshot(refDir), refDir);
  for (const i of cmd.inputs) want.delete(i);
  const r: TrialResult = { command: cmd.name, trials, killed: 0, resumed: 0, identical: 0, lost: 0, corrupt: 0, leftovers: 0, examples: [], referenceSeconds: ref.ms / 1000 };
  const rng = new Rng(seed);
  for (let t = 0; t < trials; t++) {
    const dir = join(work, `${cmd.name}-trial-${t}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    cmd.prepare(dir);
    // Anywhere from process start-up to just past the reference's end (the resume then has little or nothing to do).
    const killAt = Math.round(rng.uniformIn(0.1, 1.05) * ref.ms);
    const first = await runSaelab(cmd.start, dir, killAt);
    if (first.killed) r.killed++;
    const resumeArgs = cmd.resume(dir);
    const again = resumeArgs ? await runSaelab(resumeArgs, dir) : { code: 0, stderr: "" };
    if (again.code === 0) r.resumed++;
    const got = norm(snapshot(dir), dir);
    for (const i of cmd.inputs) got.delete(i);
    let same = again.code === 0;
    for (const [name, bytes] of want) {
      const g = got.get(name);
      if (!g) {
        r.lost++;
        same = false;
        if (r.examples.length < 6) r.examples.push(`trial ${t} (killed at ${killAt} ms): ${name} missing`);
      } else if (!g.equals(bytes)) {
        r.corrupt++;
        same = false;
        if (r.examples.length < 6) r.examples.push(`trial ${t} (killed at ${killAt} ms): ${name} differs`);
      }
    }
    for (const name of got.keys()) {
      if (TEMP.test(name)) r.leftovers++;
      else if (!want.has(name)) {
        same = false;
        if (r.examples.length < 6) r.examples.push(`trial ${t}: extra file ${name}`);
      }
    }
    if (same) r.identical++;
    log(`${cmd.name} trial ${t + 1}/${trials}: killed at ${killAt} ms${first.killed ? "" : " (it had finished)"}, resume exit ${again.code}, ${same ? "identical" : "DIFFERENT"}`);
    if (same) rmSync(dir, { recursive: true, force: true });
  }
  return r;
}

/** The commands tried, sized to run a few seconds each. */
export function trialCommands(modelDir: string | undefined): TrialCommand[] {
  const saeJson = JSON.stringify([
    { architecture: "standard", name: "std", dSae: 16, l1Coefficient: 0.3 },
    { architecture: "topk", name: "topk-tied", dSae: 16, k: 3, tying: "tied" },
  ]);
  const spec = {
    name: "crash-trial",
    world: "absorption-basic",
    axes: { childGivenParent: [0.15, 0.33] },
    saes: [{ architecture: "standard", name: "standard", dSae: 8 }, { architecture: "topk", name: "topk", dSae: 8, k: 2, tying: "tied" }],
    seeds: [1],
    train: { steps: 150, batchSize: 256, lr: 3e-3 },
    eval: { samples: 2000 },
  };
  const out: TrialCommand[] = [
    {
      name: "train",
      prepare: (dir) => writeFileSync(join(dir, "sae.json"), saeJson),
      start: ["train", "--preset", "absorption-basic", "--sae", "sae.json", "--out", "out", "--steps", "400", "--batchSize", "256", "--checkpointEvery", "50", "--logEvery", "10", "--seed", "3"],
      resume: (dir) => (existsSync(join(dir, "out", "checkpoint.safetensors"))
        ? ["train", "--preset", "absorption-basic", "--sae", "sae.json", "--out", "out", "--steps", "400", "--batchSize", "256", "--checkpointEvery", "50", "--logEvery", "10", "--seed", "3", "--resume"]
        : ["train", "--preset", "absorption-basic", "--sae", "sae.json", "--out", "out", "--steps", "400", "--batchSize", "256", "--checkpointEvery", "50", "--logEvery", "10", "--seed", "3"]),
      inputs: ["sae.json"],
      // Step and end events carry wall-clock rates and durations: the only bytes that differ between identical runs.
      normalize: (name, bytes) => (name === "out/train_log.jsonl" ? Buffer.from(bytes.toString("utf8").replace(/"(tokensPerSec|seconds)":[0-9.e+-]+/g, '"$1":0')) : bytes),
    },
    {
      name: "sweep",
      prepare: (dir) => writeFileSync(join(dir, "spec.json"), JSON.stringify(spec)),
      start: ["sweep", "spec.json", "--out", "out", "--workers", "2"],
      resume: () => ["sweep", "spec.json", "--out", "out", "--workers", "2"],
      inputs: ["spec.json"],
      // A cell records its wall times and the report the run's duration: the only bytes that differ between identical runs.
      normalize: (name, bytes) => {
        if (/^out\/cells\/.*\.json$/.test(name)) return Buffer.from(bytes.toString("utf8").replace(/"seconds":\s*\{[^}]*\}/g, '"seconds":{}'));
        if (name === "out/report.html") return Buffer.from(bytes.toString("utf8").replace(/this run took [^<]*?\./g, "this run took (masked)."));
        return bytes;
      },
    },
  ];
  // A pass over a toy world that checkpoints every 0.3 s, so kills land before, between and after checkpoints.
  const featuresArgs = ["features", "sae", "--preset", "absorption-basic", "--tokens", "40000", "--detectRows", "4096", "--checkpointSeconds", "0.3", "--backend", "reference"];
  out.push({
    name: "features",
    prepare: (dir) => saveSaelensSae(join(dir, "sae"), createSae(referenceKernels(), SaeConfigSchema.parse({ architecture: "standard", dSae: 32 }), { dIn: getPreset("absorption-basic").dModel, seed: 5 })),
    start: featuresArgs,
    resume: () => featuresArgs,
    inputs: ["sae/cfg.json", "sae/sae_weights.safetensors", "sae/saelab.json"],
    // Compared as content (a resumed run lays its pages out differently); the creation time and the run's own directory are masked.
    normalize: (name, bytes, dir) => (name === "sae/features.sqlite" ? sqliteDump(bytes, (l) => l.split(dir).join("<dir>").replace(/^(meta \["created",)".*"\]$/, '$1"(masked)"]')) : bytes),
  });
  if (modelDir) {
    const args = ["activations", "--model", join(modelDir, "stories260K.bin"), "--tokenizer", join(modelDir, "tok512.bin"), "--hook", "blocks.2.hook_resid_post", "--out", "out", "--sequences", "48", "--seqLen", "64", "--shardTokens", "500"];
    // A finished directory is refused by a second run (it will not overwrite a manifest): nothing to resume then.
    out.push({ name: "activations", prepare: () => {}, start: args, resume: (dir) => (existsSync(join(dir, "out", "manifest.json")) ? null : args), inputs: [] });
  }
  return out;
}
