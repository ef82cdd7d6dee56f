/** Where `saelab steer` gets its vector: trained from a pairs file, loaded from a saved vector, or an SAE latent's decoder row. */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { parseConfig, UserError } from "../errors.js";
import { loadSaelensSae } from "../io/saelens.js";
import { loadSteeringVector } from "../io/steering.js";
import { AGGREGATORS, type AggregatorName } from "../steering/aggregators.js";
import { steeringVectorFromSae } from "../steering/sae.js";
import { trainSteeringVector } from "../steering/train.js";
import { resolveLayer, SteeringVector, steeringSiteOfHook, type LayerType } from "../steering/vector.js";
import type { CliIO } from "./args.js";
import { checkSaeFits, readSaeCfg, type LoadedLm } from "./lm-common.js";
import { savedHookName } from "./splice.js";

/** A pairs file: a list of [positive, negative] or {positive, negative} entries. */
const PairsSchema = z.array(
  z.union([
    z.tuple([z.string(), z.string()]),
    z.object({
      positive: z.string(),
      negative: z.string(),
      readPositiveTokenIndex: z.number().int().optional(),
      readNegativeTokenIndex: z.number().int().optional(),
    }).strict(),
  ]),
).min(1, "needs at least one pair");

/** The flags that choose the vector. */
export interface VectorSourceFlags {
  pairs?: string | undefined;
  vector?: string | undefined;
  sae?: string | undefined;
  latent?: number | undefined;
  layer?: number | undefined;
  layerType: LayerType;
  aggregator: AggregatorName;
  readTokenIndex: number;
}

/** A steering vector and a line saying where it came from. */
export interface SteerSource {
  vec: SteeringVector;
  /** e.g. "latent 12 of sae/ (decoder row)" */
  label: string;
}

/** Returns the SAE directory's cfg.json when --sae is given (so the model loads with the processing it asks for). */
export function saeCfgForSteer(saeDir: string | undefined): Record<string, unknown> | undefined {
  return saeDir === undefined ? undefined : readSaeCfg(saeDir);
}

/** Returns the vector the flags ask for, checked against the model (`saeDir`: the resolved --sae directory). */
export function steeringVectorFor(opts: VectorSourceFlags, lm: LoadedLm, io: CliIO, saeDir?: string): SteerSource {
  const { model, tok } = lm;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(io.cwd, p));
  const nLayers = model.spec.nLayers;
  if (opts.vector) {
    const stored = loadSteeringVector(abs(opts.vector));
    const vec = new SteeringVector(stored.layerActivations, stored.layerType);
    for (const l of vec.layerActivations.keys()) resolveLayer(l, nLayers);
    return { vec, label: `vector ${abs(opts.vector)}` };
  }
  if (saeDir !== undefined) return saeLatentVector(opts, lm, io, saeDir);
  const path = abs(opts.pairs!);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`cannot read --pairs ${path}: ${(e as Error).message}`);
  }
  const pairs = parseConfig(PairsSchema, raw, path);
  const layer = resolveLayer(opts.layer ?? Math.floor(nLayers / 2), nLayers);
  const vec = trainSteeringVector(model, tok, pairs, { layers: [layer], layerType: opts.layerType, readTokenIndex: opts.readTokenIndex, aggregator: AGGREGATORS[opts.aggregator]() });
  return { vec, label: `${opts.aggregator} of ${pairs.length} pair${pairs.length === 1 ? "" : "s"} in ${path}` };
}

/** The decoder row of --latent, at the hook the SAE reads (or --layer/--layerType when its cfg.json names none). */
function saeLatentVector(opts: VectorSourceFlags, lm: LoadedLm, io: CliIO, dir: string): SteerSource {
  const { sae, cfg, saelab } = loadSaelensSae(dir, lm.kernels);
  const latent = opts.latent!;
  if (latent < 0 || latent >= sae.dSae) throw new UserError(`--latent ${latent} is outside the SAE's latents 0..${sae.dSae - 1} (${dir})`);
  if (sae.dIn !== lm.model.spec.dModel) throw new UserError(`the SAE in ${dir} reads ${sae.dIn}-dimensional activations but the model's dModel is ${lm.model.spec.dModel}`);
  const hook = savedHookName(cfg, saelab);
  let site: { layer: number; layerType: LayerType };
  if (hook) {
    const s = steeringSiteOfHook(hook);
    if (!s) throw new UserError(`the SAE in ${dir} reads ${hook}, where saelab steer cannot add a vector (it steers a block's output, attention output or MLP output)`);
    if (opts.layer !== undefined && resolveLayer(opts.layer, lm.model.spec.nLayers) !== s.layer) {
      throw new UserError(`--layer ${opts.layer}: the SAE in ${dir} reads ${hook}, so its latents steer block ${s.layer}'s ${s.layerType} output`);
    }
    checkSaeFits(lm, cfg, dir, io, hook);
    site = s;
  } else {
    if (opts.layer === undefined) throw new UserError(`${dir} records no hook_name, so give --layer (and --layerType) for where its latent steers`);
    site = { layer: resolveLayer(opts.layer, lm.model.spec.nLayers), layerType: opts.layerType };
  }
  const vec = steeringVectorFromSae(sae, latent, site.layer, { layerType: site.layerType });
  return { vec, label: `latent ${latent} of ${dir} (its decoder row${hook ? `; the SAE reads ${hook}` : ""})` };
}
