/**
 * The sweep spec: a base world, axes that edit it (sweep-axes.ts), SAE configs crossed with the
 * sparsity levels, seeds, training and evaluation settings. One strict zod schema; the checks that
 * need the world or the SAE registry (every SAE config valid at every sparsity level, the sparsity
 * lists matching the architectures) are superRefine issues naming the field, so a bad spec fails
 * before anything trains. Grid expansion and the per-cell world checks live in sweep-grid.ts.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { parseConfig } from "../errors.js";
import { canonicalJson } from "../json.js";
import { seed } from "../schema.js";
import { WorldConfigSchema, type WorldConfig } from "../toy/config.js";
import { getPreset, presetNames } from "../toy/presets.js";
import { SaeConfigSchema, type ArchitectureId, type SaeConfig } from "../sae/registry.js";
import { saeName } from "../sae/config.js";
import { EvalOptionsSchema } from "../metrics/schemas.js";
import { TrainConfigSchema, type TrainConfig } from "../train/config.js";
import { DEFAULT_EVAL_SEED } from "./evaluate.js";
import { architecturesWithSparsity, sparsityParameterOf, SparsityAxisSchema, WORLD_AXES, WORLD_AXIS_NAMES, sparsityLevels, type SparsityAxis, type WorldAxisName } from "./sweep-axes.js";

const axisValues = (name: WorldAxisName) => {
  const def = WORLD_AXES[name];
  const v = def.domain === "probability" ? z.number().min(0, "must be >= 0 (a probability)").max(1, "must be <= 1 (a probability)") : z.number().positive().refine(Number.isFinite, "must be finite");
  return z
    .array(v)
    .min(1)
    .refine((a) => new Set(a).size === a.length, "values must be distinct")
    .optional()
    .describe(`${def.label}: ${def.description}`);
};

/** The axes: each key optional; a world axis is a list of values, the sparsity axis one list per parameter. */
export const SweepAxesSchema = z
  .object({
    sparsity: SparsityAxisSchema.optional(),
    ...(Object.fromEntries(WORLD_AXIS_NAMES.map((n) => [n, axisValues(n)])) as Record<WorldAxisName, ReturnType<typeof axisValues>>),
  })
  .strict()
  .describe("What to sweep. World axes edit the base world (their values cross); sparsity levels cross with them and set each SAE's sparsity parameter.");

const { seed: _seed, checkpointEvery: _ce, logEvery: _le, ...trainShape } = TrainConfigSchema.shape;

/** Training settings shared by every cell (the seed comes from `seeds`). */
export const SweepTrainSchema = z.object(trainShape).strict().describe("Training settings of every SAE (TrainConfig without seed, checkpointEvery and logEvery).");

/** Evaluation settings shared by every cell. */
export const SweepEvalSchema = z
  .object({
    samples: z.number().int().positive().default(20_000).describe("Evaluation samples per cell (one stream, shown to every SAE of the cell)."),
    seed: seed().default(DEFAULT_EVAL_SEED).describe("Seed of the evaluation stream (the same in every cell)."),
    options: EvalOptionsSchema.optional().describe("Metric options (main latents, SAEBench thresholds, ...); defaults as `saelab eval`."),
  })
  .strict();

/** A sweep spec as JSON. */
export const SweepSpecSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '.', '_' or '-'").describe("Name of the sweep (report title)."),
    description: z.string().optional().describe("Free text shown in the report."),
    world: z
      .union([z.string().min(1), z.record(z.string(), z.unknown())])
      .describe(`The base world: a preset name (${presetNames().join(", ")}), an inline world config object, or (in a spec file) a path to a world config .json or a saved world directory, relative to the spec file.`),
    axes: SweepAxesSchema,
    saes: z
      .array(z.record(z.string(), z.unknown()))
      .min(1)
      .describe("SAE configs (any registered architecture and tying variant, as `saelab train` takes them) without the parameter the sparsity axis sets; names must be distinct."),
    seeds: z.array(seed()).min(1).default([1]).describe("Training seeds (initialisation and data stream); each is its own set of cells."),
    train: SweepTrainSchema,
    eval: SweepEvalSchema.prefault({}),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    checkWorld(spec.world, issue);
    checkSaes(spec.saes, spec.axes.sparsity, issue);
    if (new Set(spec.seeds).size !== spec.seeds.length) issue(["seeds"], "seeds must be distinct");
    // TrainConfig's cross-field rules, once the fields themselves passed (else each field error would be said twice).
    if (!SweepTrainSchema.safeParse(spec.train).success) return;
    const t = TrainConfigSchema.safeParse({ ...spec.train, seed: 0, checkpointEvery: 0 });
    if (!t.success) for (const i of t.error.issues) issue(["train", ...(i.path as (string | number)[])], i.message);
  });
export type SweepSpec = z.infer<typeof SweepSpecSchema>;
export type SweepSpecInput = z.input<typeof SweepSpecSchema>;

type Issue = (path: (string | number)[], message: string) => void;

function checkWorld(world: SweepSpec["world"], issue: Issue): void {
  if (typeof world === "string") {
    if (!(presetNames() as string[]).includes(world)) issue(["world"], `unknown world preset "${world}"; the presets are ${presetNames().join(", ")} (or give an inline world config object, or a path to a world config .json or saved world directory)`);
    return;
  }
  const r = WorldConfigSchema.safeParse(world);
  if (r.success) return;
  for (const i of r.error.issues) {
    const keys = i.code === "unrecognized_keys" ? (i as { keys: string[] }).keys : null;
    issue(["world", ...(i.path as (string | number)[])], keys ? `unknown key${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${k}"`).join(", ")}` : i.message);
  }
}

function checkSaes(saes: readonly Record<string, unknown>[], sparsity: SparsityAxis | undefined, issue: Issue): void {
  const levels = sparsity ? sparsityLevels(sparsity) : 0;
  if (sparsity) {
    if (levels === 0) issue(["axes", "sparsity"], "give at least one list (l1Coefficient, l0Coefficient or k)");
    for (const [key, list] of Object.entries(sparsity)) {
      if (!list) continue;
      if (list.length !== levels) issue(["axes", "sparsity", key], `has ${list.length} values but the longest list has ${levels}; every list gives one value per level`);
      const users = saes.filter((s) => sparsityParameterOf(s.architecture) === key);
      if (users.length === 0) issue(["axes", "sparsity", key], `no SAE config uses ${key} (architectures: ${architecturesWithSparsity(key).join(", ")})`);
    }
  }
  const names = new Map<string, number>();
  saes.forEach((raw, i) => {
    const arch = raw.architecture as ArchitectureId;
    const param = sparsityParameterOf(arch);
    if (sparsity && param) {
      if (raw[param] !== undefined) issue(["saes", i, param], `the sparsity axis sets ${param}; remove it here`);
      else if (!sparsity[param]) issue(["axes", "sparsity", param], `SAE config saes[${i}] is ${arch}, so the sparsity axis needs a ${param} list`);
    }
    const variants = sparsity && param && sparsity[param] ? sparsity[param].map((v) => ({ ...raw, [param]: v })) : [raw];
    let first: SaeConfig | undefined;
    for (const [level, v] of variants.entries()) {
      const r = SaeConfigSchema.safeParse(v);
      if (r.success) {
        first ??= r.data;
        continue;
      }
      for (const is of r.error.issues) {
        const keys = is.code === "unrecognized_keys" ? (is as { keys: string[] }).keys : null;
        const at = variants.length > 1 ? ` (at sparsity level ${level}, ${param} = ${sparsity![param!]![level]})` : "";
        issue(["saes", i, ...(is.path as (string | number)[])], `${keys ? `unknown key${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${k}"`).join(", ")}` : is.message}${at}`);
      }
      break;
    }
    if (!first) return;
    const name = saeName(first);
    const prev = names.get(name);
    if (prev !== undefined) issue(["saes", i, "name"], `two SAE configs are named "${name}" (also saes[${prev}]); give each a distinct "name"`);
    else names.set(name, i);
  });
}

/** Returns a parsed spec, or throws a ConfigError naming every bad field. */
export function parseSweepSpec(raw: unknown, source = "sweep spec"): SweepSpec {
  return parseConfig(SweepSpecSchema, raw, source);
}

/** Returns the base world config of a parsed spec (a preset or the inline config), validated. */
export function baseWorldConfig(spec: SweepSpec): WorldConfig {
  return parseConfig(WorldConfigSchema, typeof spec.world === "string" ? getPreset(spec.world) : spec.world, "sweep spec world");
}

/** Returns the training settings of the cells trained with `seed`. */
export function sweepTrainConfig(spec: SweepSpec, seedValue: number): TrainConfig {
  return parseConfig(TrainConfigSchema, { ...spec.train, seed: seedValue, checkpointEvery: 0 }, "sweep spec train");
}

/** One SAE config of the spec with its configs per sparsity level. */
export interface SweepSae {
  /** The config's name (given, or <architecture>-<tying>). */
  name: string;
  architecture: ArchitectureId;
  tying: string;
  /** The parameter the sparsity axis sets, or null when there is no sparsity axis. */
  parameter: string | null;
  /** One validated config per sparsity level (a single one without a sparsity axis). */
  levels: { value: number | null; config: SaeConfig }[];
}

/** Returns the spec's SAE configs expanded over the sparsity levels; the trained SAEs are named `<name>` or `<name>.L<level>`. */
export function sweepSaes(spec: SweepSpec): SweepSae[] {
  const sp = spec.axes.sparsity;
  return spec.saes.map((raw, i) => {
    const parsed = parseConfig(SaeConfigSchema, sp ? { ...raw, ...levelValue(raw, sp, 0) } : raw, `sweep spec saes[${i}]`);
    const name = saeName(parsed);
    const param = sp ? (sparsityParameterOf(parsed.architecture) ?? null) : null;
    const values = param && sp?.[param] ? sp[param] : [null];
    const levels = values.map((value, level) => ({
      value,
      config: parseConfig(SaeConfigSchema, { ...raw, ...(value === null ? {} : { [param!]: value }), name: value === null ? name : `${name}.L${level}` }, `sweep spec saes[${i}]`),
    }));
    return { name, architecture: parsed.architecture, tying: parsed.tying, parameter: param, levels };
  });
}

function levelValue(raw: Record<string, unknown>, sp: SparsityAxis, level: number): Record<string, number> {
  const param = sparsityParameterOf(raw.architecture);
  const v = param === undefined ? undefined : sp[param]?.[level];
  return v === undefined ? {} : { [param!]: v };
}

/**
 * Returns the spec's identity: sha256 of the canonical JSON of the spec (defaults filled in) and of
 * its resolved base world, so results of a preset whose definition changed are not mixed either.
 */
export function specHash(spec: SweepSpec): string {
  return createHash("sha256").update(canonicalJson({ spec, baseWorld: baseWorldConfig(spec) })).digest("hex");
}
