/**
 * SAELens SAE directories (SAELens 6: sae_lens/saes/sae.py save_model / load_from_disk):
 *   cfg.json                 d_in, d_sae, dtype, device, apply_b_dec_to_input, normalize_activations,
 *                            reshape_activations, metadata{...}, architecture (+ k and
 *                            rescale_acts_by_decoder_norm for topk)
 *   sae_weights.safetensors  W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc, b_dec (+ threshold)
 * A trained SAE is saved as its SAELens inference architecture: batchtopk and matryoshka_batchtopk
 * as jumprelu with the running threshold for every latent (as SAELens does); a tied SAE with W_enc
 * materialised as W_dec^T (gain folded in), so SAELens loads it as a plain standard/topk/jumprelu
 * SAE. What SAELens has no place for (tying, variant, training config, world, seed, log) goes to
 * saelab.json beside it, and exact tied-gain parameters to saelab_extra.safetensors.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Kernels } from "../tensor/kernels.js";
import { parseConfig, UserError } from "../errors.js";
import { Sae } from "../sae/model.js";
import { architectureDefs, architectureOf, SaeConfigSchema, type ResolvedSaeConfig } from "../sae/registry.js";
import { writeFileAtomic } from "./atomic.js";
import { getFloat32, readSafetensors, writeSafetensors, type TensorToWrite } from "./safetensors.js";
import { SAELAB_VERSION } from "../version.js";

/** No trained SAE has a weight this large; beyond it float32 encodings and reconstructions of unit-scale inputs overflow. */
export const MAX_SAE_WEIGHT = 1e10;

export const SAE_CFG_FILENAME = "cfg.json";
export const SAE_WEIGHTS_FILENAME = "sae_weights.safetensors";
export const SAELAB_META_FILENAME = "saelab.json";
export const SAELAB_EXTRA_FILENAME = "saelab_extra.safetensors";
/**
 * SAELens reads this to decide whether cfg.json needs its pre-6.0 conversion (which would drop topk's
 * `k`); the files follow the 6.x format, so it must be at least 6.0.0.
 */
const SAELENS_FORMAT_VERSION = "6.0.0";

/** What saelab.json holds. */
export interface SaelabSaeMeta {
  format: "saelab-sae";
  version: 1;
  architecture: string;
  tying: string;
  /** The full saelab SAE config. */
  config: ResolvedSaeConfig;
  /** Running state (BatchTopK threshold, in float64). */
  state: { topkThreshold: number };
  /** Caller's information: world, seed, training config, training log summary. */
  [key: string]: unknown;
}

/**
 * Writes `sae` as a SAELens SAE directory at `dir` (plus saelab.json with `extra`); each file is
 * written atomically. `saelensMetadata` adds SAELens's own metadata fields (model_name, hook_name,
 * context_size, ...) to cfg.json when the SAE was trained on a model's activations.
 */
export function saveSaelensSae(dir: string, sae: Sae, extra: Record<string, unknown> = {}, saelensMetadata: Record<string, unknown> = {}): void {
  const { dIn, dSae } = sae;
  const def = architectureOf(sae.config);
  const tensors: Record<string, TensorToWrite> = {
    W_enc: { data: sae.encoderWeights(), shape: [dIn, dSae] },
    W_dec: { data: sae.params.W_dec, shape: [dSae, dIn] },
    b_enc: { data: sae.params.b_enc, shape: [dSae] },
    b_dec: { data: sae.params.b_dec, shape: [dIn] },
  };
  if (def.saelens.architecture === "jumprelu") tensors.threshold = { data: Float32Array.from(sae.threshold!), shape: [dSae] };
  const cfg: Record<string, unknown> = {
    d_in: dIn,
    d_sae: dSae,
    dtype: "float32",
    device: "cpu",
    apply_b_dec_to_input: sae.config.applyBDecToInput,
    normalize_activations: "none",
    reshape_activations: "none",
    metadata: {
      ...saelensMetadata,
      sae_lens_version: SAELENS_FORMAT_VERSION,
      sae_lens_training_version: SAELENS_FORMAT_VERSION,
      saelab_version: SAELAB_VERSION,
      training_architecture: sae.architecture,
      training_architecture_details: def.saelens.trainingDetails(sae.config),
      tied: sae.tied,
      tying: sae.config.tying,
    },
    architecture: def.saelens.architecture,
    ...(def.saelens.fields?.(sae) ?? {}),
  };
  writeSafetensors(join(dir, SAE_WEIGHTS_FILENAME), tensors);
  writeFileAtomic(join(dir, SAE_CFG_FILENAME), `${JSON.stringify(cfg, null, 2)}\n`);
  const meta: SaelabSaeMeta = {
    ...extra,
    format: "saelab-sae",
    version: 1,
    architecture: sae.architecture,
    tying: sae.config.tying,
    config: sae.config,
    state: { topkThreshold: sae.state.topkThreshold },
  };
  if (sae.params.encoder_gain) writeSafetensors(join(dir, SAELAB_EXTRA_FILENAME), { encoder_gain: { data: sae.params.encoder_gain, shape: [dSae] } });
  writeFileAtomic(join(dir, SAELAB_META_FILENAME), `${JSON.stringify(meta, null, 2)}\n`);
}

/** cfg.json fields about the data an SAE reads (legacy SAELens keeps them at the top level, 6.x under metadata). */
const DATA_METADATA_KEYS = ["model_name", "hook_name", "hook_head_index", "context_size", "prepend_bos", "dataset_path", "dataset_trust_remote_code", "seqpos_slice", "model_from_pretrained_kwargs", "exclude_special_tokens", "neuronpedia_id"];

/** Returns the metadata a derived SAE should keep from its source's cfg.json: its data fields (hook, model, context...), for saveSaelensSae. */
export function dataMetadataOf(cfg: Record<string, unknown>): Record<string, unknown> {
  const meta = typeof cfg.metadata === "object" && cfg.metadata !== null ? (cfg.metadata as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const k of DATA_METADATA_KEYS) {
    const v = k in meta ? meta[k] : cfg[k];
    if (v !== undefined && v !== null) out[k] = v;
  }
  return out;
}

/** A loaded SAE with what its directory said. */
export interface LoadedSae {
  sae: Sae;
  /** cfg.json after legacy fields were converted. */
  cfg: Record<string, unknown>;
  /** saelab.json, when the SAE was saved by saelab. */
  saelab: SaelabSaeMeta | null;
}

/**
 * Loads a SAELens SAE directory (standard, topk, jumprelu; legacy pre-6.0 cfg fields converted as
 * SAELens does). With saelab.json beside it, the original architecture and tying are restored exactly.
 */
export function loadSaelensSae(dir: string, kernels: Kernels): LoadedSae {
  const cfgPath = join(dir, SAE_CFG_FILENAME);
  const wPath = join(dir, SAE_WEIGHTS_FILENAME);
  if (!existsSync(cfgPath)) throw new UserError(`${dir} is not a SAELens SAE directory: ${SAE_CFG_FILENAME} is missing`);
  if (!existsSync(wPath)) throw new UserError(`${dir} is not a SAELens SAE directory: ${SAE_WEIGHTS_FILENAME} is missing`);
  const rawCfg = readJson(cfgPath);
  // SAELens reads any truthy value as true; "yes", 0 or null are mistakes, not settings.
  if ("apply_b_dec_to_input" in rawCfg && typeof rawCfg.apply_b_dec_to_input !== "boolean") {
    throw new UserError(`${cfgPath}: apply_b_dec_to_input must be true or false, got ${JSON.stringify(rawCfg.apply_b_dec_to_input)}`);
  }
  const cfg = convertLegacyCfg(rawCfg, cfgPath);
  const arch = cfg.architecture as string;
  const n = positiveInt(cfg.d_in, "d_in", cfgPath);
  const d = positiveInt(cfg.d_sae, "d_sae", cfgPath);
  const norm = cfg.normalize_activations ?? "none";
  // SAELens applies no runtime transform for "expected_average_only_in" when loading from disk.
  if (norm !== "none" && norm !== "expected_average_only_in") {
    throw new UserError(`${cfgPath}: normalize_activations "${String(norm)}" changes the encoder formula and is not supported`);
  }
  const file = readSafetensors(wPath);
  const known = new Set(["W_enc", "W_dec", "b_enc", "b_dec", "threshold", "log_threshold", "scaling_factor"]);
  const unknown = [...file.tensors.keys()].filter((k) => !known.has(k));
  if (unknown.length) throw new UserError(`${wPath}: unexpected tensors ${unknown.join(", ")} for a ${arch} SAE`);
  const readers = architectureDefs().filter((def) => def.saelens.load);
  const def = readers.find((r) => r.saelens.architecture === arch);
  if (!def) {
    const names = readers.map((r) => r.saelens.architecture);
    throw new UserError(`${cfgPath}: architecture "${arch}" is not supported (saelab reads ${names.slice(0, -1).join(", ")}${names.length > 1 ? " and " : ""}${names.at(-1)} SAEs)`);
  }
  checkOwnFacts(def.saelens.architecture, readers, file.tensors, cfg, { cfgPath, wPath, named: "architecture" in rawCfg });
  const W_enc = getFloat32(file, "W_enc", [n, d], wPath);
  const W_dec = getFloat32(file, "W_dec", [d, n], wPath);
  const b_enc = getFloat32(file, "b_enc", [d], wPath);
  const b_dec = getFloat32(file, "b_dec", [n], wPath);
  if (file.tensors.has("scaling_factor")) {
    const s = getFloat32(file, "scaling_factor", [d], wPath);
    if (s.some((v) => v !== 1)) throw new UserError(`${wPath}: a finetuning scaling_factor other than 1 is not supported`);
  }
  let threshold: Float32Array | null = null;
  if (arch === "jumprelu") {
    if (file.tensors.has("threshold")) threshold = getFloat32(file, "threshold", [d], wPath);
    else if (file.tensors.has("log_threshold")) threshold = getFloat32(file, "log_threshold", [d], wPath).map((v) => Math.exp(v));
    else throw new UserError(`${wPath}: a jumprelu SAE needs a "threshold" tensor`);
  }
  for (const [name, t] of [["W_enc", W_enc], ["W_dec", W_dec], ["b_enc", b_enc], ["b_dec", b_dec], ["threshold", threshold]] as const) {
    if (t && t.some((v) => !Number.isFinite(v))) throw new UserError(`${wPath}: tensor "${name}" holds NaN or Inf values`);
    const big = t?.find((v) => Math.abs(v) > MAX_SAE_WEIGHT);
    if (big !== undefined) throw new UserError(`${wPath}: tensor "${name}" holds ${big}, beyond ±${MAX_SAE_WEIGHT}: float32 encodings and reconstructions would overflow (is the file corrupt?)`);
  }
  if (arch === "topk" && cfg.rescale_acts_by_decoder_norm === true) foldDecoderNorm(W_enc, b_enc, W_dec, n, d);

  const metaPath = join(dir, SAELAB_META_FILENAME);
  const saelab = existsSync(metaPath) ? (readJson(metaPath) as unknown as SaelabSaeMeta) : null;
  if (saelab) return { sae: restoreSaelab(kernels, dir, saelab, { arch, n, d, W_enc, W_dec, b_enc, b_dec, threshold }), cfg, saelab };

  const base = { dIn: n, dSae: d, tying: "untied", applyBDecToInput: cfg.apply_b_dec_to_input !== false, bDecInit: "zeros" };
  const own = def.saelens.load!(cfg, (field) => positiveInt(cfg[field], field, cfgPath));
  const config = parseConfig(SaeConfigSchema, { architecture: def.id, ...base, ...own }, cfgPath) as ResolvedSaeConfig;
  const sae = new Sae(kernels, config);
  sae.params.W_enc!.set(W_enc);
  sae.params.W_dec.set(W_dec);
  sae.params.b_enc.set(b_enc);
  sae.params.b_dec.set(b_dec);
  if (threshold) sae.params.threshold!.set(threshold);
  return { sae, cfg, saelab: null };
}

/** Throws a UserError when the weights or cfg.json hold what only another SAELens architecture has (a threshold in a standard SAE, k outside topk). */
function checkOwnFacts(
  arch: string,
  readers: readonly { saelens: { architecture: string; own?: { tensors?: readonly string[]; cfgFields?: Readonly<Record<string, unknown>> } } }[],
  tensors: ReadonlyMap<string, unknown>,
  cfg: Readonly<Record<string, unknown>>,
  where: { cfgPath: string; wPath: string; named: boolean },
): void {
  const hint = where.named ? "" : ` (it has no "architecture" field, so it reads as ${arch}: is the key misspelled?)`;
  for (const other of readers) {
    if (other.saelens.architecture === arch) continue;
    for (const t of other.saelens.own?.tensors ?? []) {
      if (tensors.has(t)) throw new UserError(`${where.wPath}: tensor "${t}" belongs to a ${other.saelens.architecture} SAE, but ${where.cfgPath} says architecture "${arch}"${hint}`);
    }
    for (const [f, off] of Object.entries(other.saelens.own?.cfgFields ?? {})) {
      const v = cfg[f];
      if (v !== undefined && v !== null && v !== off) throw new UserError(`${where.cfgPath}: ${f} = ${JSON.stringify(v)} belongs to a ${other.saelens.architecture} SAE, but the file says architecture "${arch}"${hint}`);
    }
  }
}

function restoreSaelab(
  kernels: Kernels,
  dir: string,
  meta: SaelabSaeMeta,
  w: { arch: string; n: number; d: number; W_enc: Float32Array; W_dec: Float32Array; b_enc: Float32Array; b_dec: Float32Array; threshold: Float32Array | null },
): Sae {
  const src = join(dir, SAELAB_META_FILENAME);
  if (meta.format !== "saelab-sae" || meta.version !== 1) throw new UserError(`${src}: unknown format`);
  const config = parseConfig(SaeConfigSchema, meta.config, `${src} config`) as ResolvedSaeConfig;
  if (config.dIn !== w.n || config.dSae !== w.d) throw new UserError(`${src}: sizes ${config.dIn}x${config.dSae} disagree with the weights (${w.n}x${w.d})`);
  const savedAs = architectureOf(config).saelens.architecture;
  if (savedAs !== w.arch) throw new UserError(`${src}: a ${config.architecture} SAE is saved as SAELens architecture "${savedAs}", but ${SAE_CFG_FILENAME} says "${w.arch}"`);
  const sae = new Sae(kernels, config);
  const p = sae.params;
  p.W_dec.set(w.W_dec);
  p.b_enc.set(w.b_enc);
  p.b_dec.set(w.b_dec);
  sae.state.topkThreshold = meta.state?.topkThreshold ?? 0;
  if (p.encoder_gain) {
    const extraPath = join(dir, SAELAB_EXTRA_FILENAME);
    if (!existsSync(extraPath)) throw new UserError(`${dir}: ${SAELAB_EXTRA_FILENAME} (the encoder gain of a tied_gain SAE) is missing`);
    p.encoder_gain.set(getFloat32(readSafetensors(extraPath), "encoder_gain", [w.d], extraPath));
  }
  if (p.W_enc) p.W_enc.set(w.W_enc);
  else {
    // The stored W_enc must still be the tied transpose; otherwise the files were edited apart.
    const enc = sae.encoderWeights();
    for (let i = 0; i < enc.length; i++) {
      if (enc[i] !== w.W_enc[i]) throw new UserError(`${dir}: W_enc is not W_dec^T although ${SAELAB_META_FILENAME} says the SAE is ${config.tying}`);
    }
  }
  if (p.threshold) p.threshold.set(w.threshold!);
  return sae;
}

/** Folds decoder row norms into the encoder (SAELens _fold_norm_topk), turning rescale_acts_by_decoder_norm into plain weights. */
function foldDecoderNorm(W_enc: Float32Array, b_enc: Float32Array, W_dec: Float32Array, n: number, d: number): void {
  for (let j = 0; j < d; j++) {
    let sq = 0;
    for (let i = 0; i < n; i++) sq += W_dec[j * n + i]! * W_dec[j * n + i]!;
    const norm = Math.max(Math.sqrt(sq), 1e-8);
    b_enc[j] = b_enc[j]! * norm;
    for (let i = 0; i < n; i++) {
      W_dec[j * n + i] = W_dec[j * n + i]! / norm;
      W_enc[i * d + j] = W_enc[i * d + j]! * norm;
    }
  }
}

/**
 * Converts pre-6.0 cfg.json fields as SAELens's handle_pre_6_0_config does (activation_fn_str ->
 * activation_fn, hook_point -> hook_name, boolean normalize_activations, topk's k from
 * activation_fn_kwargs), and reads a legacy "standard" SAE with a topk activation as topk.
 */
export function convertLegacyCfg(raw: Record<string, unknown>, source: string): Record<string, unknown> {
  const meta = (raw.metadata ?? {}) as Record<string, unknown>;
  const version = String(raw.sae_lens_version ?? meta.sae_lens_version ?? "");
  const major = Number.parseInt(version, 10);
  if (version && major >= 6) return { ...raw, architecture: raw.architecture ?? "standard" };
  const rename: Record<string, string> = { hook_point: "hook_name", hook_point_head_index: "hook_head_index", activation_fn_str: "activation_fn" };
  const cfg: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) cfg[rename[k] ?? k] = v;
  cfg.architecture ??= "standard";
  cfg.apply_b_dec_to_input ??= true;
  if (typeof cfg.normalize_activations === "boolean") cfg.normalize_activations = cfg.normalize_activations ? "expected_average_only_in" : "none";
  cfg.normalize_activations ??= "none";
  if (cfg.finetuning_scaling_factor === true) throw new UserError(`${source}: finetuning_scaling_factor is not supported`);
  const kwargs = (cfg.activation_fn_kwargs ?? {}) as Record<string, unknown>;
  if (cfg.activation_fn === "topk" || cfg.architecture === "topk") {
    if (cfg.k === undefined && kwargs.k !== undefined) cfg.k = kwargs.k;
    cfg.architecture = "topk";
  } else if (cfg.activation_fn !== undefined && cfg.activation_fn !== "relu") {
    throw new UserError(`${source}: activation function "${String(cfg.activation_fn)}" is not supported`);
  }
  return cfg;
}

function readJson(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new UserError(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

function positiveInt(v: unknown, field: string, source: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new UserError(`${source}: ${field} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}
