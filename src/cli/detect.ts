/**
 * `saelab detect <sae-dir> --activations DIR | --world <config|dir> | --preset NAME`: finds absorption
 * in a saved SAE without ground truth (src/detect) and prints the ranked (parent, absorber) pairs,
 * each latent's recall holes and the inferred latent hierarchy. Only the inputs are read from the data
 * source; when it is a world, its true features are used afterwards, and only for a separately
 * labelled comparison (precision/recall against the metrics module's absorption).
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import type { Kernels } from "../tensor/kernels.js";
import type { ToyWorld } from "../toy/world.js";
import type { SaeModel } from "../sae/types.js";
import type { Sae } from "../sae/model.js";
import { detectAbsorption } from "../detect/detect.js";
import { baselineCaveat, detectWithBaseline, type NullBaseline } from "../detect/baseline.js";
import type { Detection, DetectOptionsInput } from "../detect/schemas.js";
import { DEFAULT_EVAL_SAMPLES, DEFAULT_EVAL_SEED, evaluateOnWorld } from "../experiments/evaluate.js";
import { validateDetection, type DetectionValidation } from "../experiments/detect-validate.js";
import { sampleBatches } from "../metrics/evaluate.js";
import { openActivations } from "../io/activations.js";
import { renderContext, topTokensLine } from "../lm/latent-tokens.js";
import { dataMetadataOf, loadSaelensSae } from "../io/saelens.js";
import { seed } from "../schema.js";
import { alignTable } from "../report/text.js";
import type { CliIO, Command } from "./args.js";
import { shardLatentTokens, shardsTokenizer, tokenText } from "./latents.js";
import { progressBar } from "./progress.js";
import { resolveSaeDir } from "./sae-source.js";
import { loadBackend } from "./train-run.js";
import { loadWorldSource, worldSourceLabel, WorldSourceSchema } from "./world-source.js";

/** The flags detect and mitigate share: the SAE, where unlabelled inputs come from, and detector settings. */
export const detectDataShape = {
  ...WorldSourceSchema.shape,
  sae: z.string({ error: "missing: give the SAE directory as the first argument" }).min(1).describe("A SAELens SAE directory (cfg.json + sae_weights.safetensors)."),
  activations: z.string().min(1).optional().describe("An activations directory (saelab activations) to read unlabelled inputs from, instead of a world."),
  n: z.number().int().positive().default(20_000).describe("Inputs read for detection."),
  seed: seed().default(7).describe("Seed of the world's detection stream, or of the shuffle of activation shards."),
  presence: z.number().positive().max(1).optional().describe("Detector: share of a latent's usual projection at which its direction counts as present (default 0.7)."),
  minScore: z.number().min(0).max(1).optional().describe("Detector: score at which a pair is confident (default 0.1)."),
  backend: z.enum(["auto", "native", "reference"]).default("auto").describe("Compute backend (auto: native when built)."),
};

type DataFlags = { sae: string; backend: string; activations?: string | undefined; world?: string | undefined; preset?: string | undefined; n: number; seed: number; presence?: number | undefined; minScore?: number | undefined };

/** What a command works on: the SAE, unlabelled input batches and, for a world, the world. */
export interface DetectInputs {
  sae: Sae;
  kernels: Kernels;
  batches: Float32Array[];
  world: ToyWorld | null;
  /** "world X" or "activations DIR". */
  label: string;
  /** The SAE's cfg.json data fields (hook_name, model_name, context_size...), for SAEs derived from it. */
  metadata: Record<string, unknown>;
}

/** Returns the SAE and the unlabelled inputs named by the flags (exactly one of --activations, --world, --preset). */
export function loadDetectInputs(opts: DataFlags, io: CliIO): DetectInputs {
  const given = [opts.activations, opts.world, opts.preset].filter((v) => v !== undefined).length;
  if (given !== 1) throw new UserError(given === 0 ? "no data given: pass --activations DIR, --world <config|dir> or --preset NAME" : "give exactly one of --activations, --world and --preset");
  const dir = resolve(io.cwd, opts.sae);
  if (!existsSync(dir)) throw new UserError(`SAE directory ${opts.sae} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UserError(`${opts.sae} is a file, not a SAELens SAE directory (cfg.json + sae_weights.safetensors)`);
  const kernels = loadBackend(opts.backend, io);
  const { sae, cfg } = loadSaelensSae(dir, kernels);
  const metadata = dataMetadataOf(cfg);
  const batches: Float32Array[] = [];
  if (opts.activations !== undefined) {
    const ds = openActivations(resolve(io.cwd, opts.activations));
    if (ds.dModel !== sae.dIn) throw new UserError(`the activations in ${opts.activations} are ${ds.dModel}-dimensional but the SAE reads ${sae.dIn}`);
    let rows = 0;
    for (const b of ds.batches({ batchSize: 4096, shuffle: true, seed: opts.seed })) {
      const take = Math.min(b.length / ds.dModel, opts.n - rows);
      batches.push(take * ds.dModel === b.length ? b : b.slice(0, take * ds.dModel));
      rows += take;
      if (rows >= opts.n) break;
    }
    if (rows === 0) throw new UserError(`${opts.activations}: the activation shards hold no rows`);
    return { sae, kernels, batches, world: null, metadata, label: `activations ${opts.activations} (${rows} rows, seed ${opts.seed})` };
  }
  const world = loadWorldSource(opts, io.cwd, { kernels });
  if (world.dModel !== sae.dIn) throw new UserError(`the SAE reads ${sae.dIn}-dimensional inputs but world ${worldSourceLabel(opts)} has dModel ${world.dModel}`);
  const sampler = world.sampler(opts.seed);
  for (let done = 0; done < opts.n; done += 4096) batches.push(sampler.next(Math.min(4096, opts.n - done)).acts);
  return { sae, kernels, batches, world, metadata, label: `${worldSourceLabel(opts)} (${opts.n} inputs, seed ${opts.seed}; only the inputs are read)` };
}

/** Returns the detection of the loaded SAE on its inputs, with a progress bar (stderr, TTY only). */
export function runDetection(input: DetectInputs, opts: DataFlags, io: CliIO): Detection {
  const bar = progressBar(io, "detect");
  try {
    return detectAbsorption(input.sae, input.batches, detectOptionsOf(opts), input.kernels, (d, t) => bar.update(d, t));
  } finally {
    bar.finish();
  }
}

/** Returns the detection and its null baseline (src/detect/baseline.ts), with progress bars (stderr, TTY only). */
export function runDetectionWithBaseline(input: DetectInputs, opts: DataFlags & { baselineRepeats: number }, io: CliIO): { detection: Detection; baseline: NullBaseline } {
  const bars = { detect: progressBar(io, "detect"), baseline: progressBar(io, "null baseline") };
  try {
    return detectWithBaseline(input.sae, input.batches, detectOptionsOf(opts), { seed: opts.seed, repeats: opts.baselineRepeats }, input.kernels, (phase, d, t) => bars[phase].update(d, t));
  } finally {
    bars.detect.finish();
    bars.baseline.finish();
  }
}

/** Returns the null baseline as text: the expected confident pairs by chance, the false-discovery estimate per cutoff, and a caveat when it is not small. */
export function renderBaseline(b: NullBaseline, listed = b.confidentPairs): string {
  const rows = b.cutoffs.map((c) => [c.minScore.toFixed(2) + (c.minScore === b.minScore ? " *" : ""), String(c.confident), c.expectedNull.toFixed(2), c.fdr === null ? "n/a" : c.fdr.toFixed(2)]);
  const lines = [
    `Null baseline (${b.repeats} Gaussian control${b.repeats > 1 ? "s" : ""} with the inputs' mean and covariance, seed ${b.seed}: no sparse features, so no absorption): ` +
      `${b.expectedConfident.toFixed(2)} confident pairs expected by chance against ${b.confidentPairs} found${listed !== b.confidentPairs ? ` (${listed} of them within the detector's maxPairs list)` : ""}; ` +
      `estimated false-discovery rate ${b.fdr === null ? "n/a" : b.fdr.toFixed(2)}` +
      (b.pairs.length ? `; ${b.reproducedPairs} of the ${b.pairs.length} confident pairs are confident in the control too.` : "."),
    alignTable(["min score", "confident", "expected by chance", "FDR estimate"], rows),
  ];
  const caveat = baselineCaveat(b);
  if (caveat) lines.push(caveat);
  else if (b.confidentPairs > 0) {
    lines.push(
      "note: this control counts the pairs chance and the SAE's geometry produce, not the detector's systematic errors in superposition (mixture latents " +
        "read as parents): on the toy world forest-sup, where the truth is known, it estimated about a fifth of the measured false discoveries (docs/detect.md). " +
        "A small baseline does not make these pairs findings.",
    );
  }
  return lines.join("\n");
}

/** Returns the detector options set by the flags. */
export function detectOptionsOf(opts: { presence?: number | undefined; minScore?: number | undefined }): DetectOptionsInput {
  return { ...(opts.presence !== undefined ? { presence: opts.presence } : {}), ...(opts.minScore !== undefined ? { minScore: opts.minScore } : {}) };
}

const f2 = (v: number | null | undefined) => (v === null || v === undefined ? "n/a" : v.toFixed(2));

/** Returns the ranked pairs, recall holes and hierarchy as text. */
export function renderDetection(det: Detection, top: number, baseline: NullBaseline | null = null): string {
  // Pairs whose parent's direction never showed up on the absorber's inputs carry no evidence either way.
  const pairs = det.pairs.filter((p) => p.parentSilent !== null).slice(0, top);
  const control = new Map(baseline?.pairs.map((p) => [`${p.parent}:${p.absorber}`, p.nullScore]) ?? []);
  const pairRows = pairs.map((p, i) => [
    String(i + 1),
    String(p.parent),
    String(p.absorber),
    p.confident ? "yes" : "no",
    p.kind,
    p.score.toFixed(3),
    f2(p.decoderCos),
    f2(p.encoderCarve),
    f2(p.parentSilent),
    f2(p.parentSilentBaseline),
    f2(p.carriedShare),
    f2(p.coFiring),
    f2(p.partialRatio),
    String(p.nAbsorberFires),
    ...(baseline ? [p.confident ? f2(control.get(`${p.parent}:${p.absorber}`) ?? null) : "-"] : []),
  ]);
  const holes = det.latents.filter((l) => (l.absorbedHoleRate ?? 0) > 0).slice(0, top);
  const holeRows = holes.map((l) => [String(l.latent), l.firingRate.toFixed(3), String(l.nPresent), f2(l.holeRate), f2(l.absorbedHoleRate), l.topCarriers.map((c) => `${c.latent}:${c.share.toFixed(2)}`).join(" ") || "-"]);
  const h = det.hierarchy;
  const lines = [
    `Absorption pairs (parent <- absorber; no ground truth used), ${det.summary.confidentPairs} confident of ${det.summary.candidatePairs} candidates:`,
    pairRows.length
      ? alignTable(["#", "parent", "absorber", "confident", "kind", "score", "dec cos", "carve", "silent", "baseline", "carried", "co-fire", "partial", "n", ...(baseline ? ["control"] : [])], pairRows)
      : "(no candidate pairs: no two decoder rows overlap)",
    "",
    "Recall holes (direction present, latent silent, other latents carry it):",
    holeRows.length ? alignTable(["latent", "rate", "present", "holes", "absorbed", "carriers (latent:share)"], holeRows) : "(none)",
    "",
    `Inferred hierarchy: ${h.edges.length ? h.edges.map((e) => `${e.parent} -> ${e.child} [${e.evidence.join("+")}]`).join(", ") : "no edges"}` +
      (h.duplicates.length ? `; near-duplicate groups: ${h.duplicates.map((g) => `{${g.join(",")}}`).join(" ")}` : ""),
  ];
  if (det.notes.length) lines.push("", "Notes:", ...det.notes.slice(0, 12).map((n) => `- ${n}`), ...(det.notes.length > 12 ? [`- ... ${det.notes.length - 12} more in --json`] : []));
  return lines.join("\n");
}

/** Returns the ground-truth comparison of a detection on a world (labelled as such). */
export function groundTruthCheck(det: Detection, sae: SaeModel, world: ToyWorld, kernels: Kernels, io: CliIO): DetectionValidation {
  const bar = progressBar(io, "ground truth");
  try {
    const [evaluation] = evaluateOnWorld([sae], world, { n: DEFAULT_EVAL_SAMPLES, seed: DEFAULT_EVAL_SEED, onProgress: (d, t) => bar.update(d, t) }, kernels);
    return validateDetection(det, sae, world, evaluation!, sampleBatches(world.sampler(DEFAULT_EVAL_SEED), DEFAULT_EVAL_SAMPLES, 4096));
  } finally {
    bar.finish();
  }
}

/** Returns the comparison as text. */
export function renderValidation(v: DetectionValidation): string {
  const rows = v.pairs
    .filter((p) => p.confident)
    .map((p) => [String(p.parent), String(p.absorber), p.score.toFixed(3), p.edge ? `${p.edge.parent} -> ${p.edge.child}` : "none", f2(p.edgeFullAbsorption), f2(p.latentFullAbsorption), p.truePositive ? "TP" : "FP"]);
  const h = v.hierarchy;
  return [
    `GROUND TRUTH (the world's true features, ${DEFAULT_EVAL_SAMPLES} samples, seed ${DEFAULT_EVAL_SEED}; not used by the detector):`,
    rows.length ? alignTable(["parent", "absorber", "score", "true edge", "edge full abs", "latent full abs", "verdict"], rows) : "(no confident pairs)",
    `Detection: precision ${f2(v.precision)} (${v.truePositives}/${v.nConfident} confident pairs on an edge where the parent latent's full absorption >= ${v.threshold}), ` +
      `recall ${f2(v.recall)} (${v.absorbedEdges.filter((e) => e.found).length}/${v.absorbedEdges.length} edges with full absorption >= ${v.threshold}).`,
    `Hierarchy: precision ${f2(h.precision)} (${h.edges.filter((e) => e.correct).length}/${h.edges.length} latent edges map to a true ancestor -> descendant pair), recall ${f2(h.recall)} (${h.found}/${h.trueEdges} true edges).`,
  ].join("\n");
}

/** Pairs shown with their tokens and contexts (the first confident ones of the printed table). */
const TOKEN_PAIRS = 10;

/** Returns, for the first confident pairs, each latent by its top tokens and contexts where the absorber fires with the parent silent. */
function pairTokensSection(det: Detection, sae: Sae, activations: string, top: number, io: CliIO): string {
  const pairs = det.pairs.filter((p) => p.parentSilent !== null).slice(0, top).filter((p) => p.confident).slice(0, TOKEN_PAIRS);
  if (pairs.length === 0) return "Pair latents by their tokens: (no confident pairs)";
  const ds = openActivations(resolve(io.cwd, activations));
  const { tok } = shardsTokenizer(ds, undefined, io);
  const decode = tokenText(tok);
  const ids = [...new Set(pairs.flatMap((p) => [p.parent, p.absorber]))];
  const res = shardLatentTokens(sae, ds, { ids, top: 3, contexts: 2, pairs });
  const byId = new Map(res.latents.map((l) => [l.latent, l]));
  const lines = [`Pair latents by their tokens (all ${res.rows} rows of ${activations}; share of each latent's firings), with the absorber's top contexts where the parent is silent ([[firing token]]):`];
  pairs.forEach((p, k) => {
    lines.push(`  ${p.parent} [${topTokensLine(byId.get(p.parent)!, decode)}] <- ${p.absorber} [${topTokensLine(byId.get(p.absorber)!, decode)}]  score ${p.score.toFixed(3)}`);
    const ctx = res.pairContexts[k]!;
    if (ctx.length === 0) lines.push("      (the absorber never fires with the parent silent on these rows)");
    for (const c of ctx) lines.push(`      ${c.activation.toFixed(3).padStart(8)}  ${renderContext(c, decode)}`);
  });
  return lines.join("\n");
}

const DetectSchema = z
  .object({
    ...detectDataShape,
    top: z.number().int().positive().default(20).describe("Rows printed per table."),
    json: z.boolean().default(false).describe("Print the detection (and, for a world, the ground-truth comparison) as JSON."),
    baseline: z.boolean().default(true).describe("Also run the detector on a Gaussian control with the inputs' mean and covariance (seeded by --seed): the confident pairs expected by chance and a false-discovery estimate per score cutoff (about doubles the cost; --no-baseline skips it)."),
    baselineRepeats: z.number().int().min(1).max(32).default(1).describe("Gaussian controls averaged for the null baseline."),
  })
  .strict();

export const detectCommand: Command<typeof DetectSchema> = {
  path: ["detect"],
  summary: "Detect feature absorption in a saved SAE without ground truth: ranked (parent, absorber) pairs, recall holes, latent hierarchy.",
  details:
    "Reads only unlabelled inputs (activation shards, or a world's samples). With a world, a separately labelled section then\n" +
    "compares the detections with the world's true absorption (precision/recall). A null baseline (the detector on Gaussian inputs with\n" +
    "the data's mean and covariance) gives the confident pairs expected by chance and a false-discovery estimate per cutoff: a lower\n" +
    "bound, blind to the systematic errors in superposition (--no-baseline skips it). See docs/detect.md for the signals and figures.",
  schema: DetectSchema,
  positionals: [{ key: "sae", name: "sae-dir" }],
  async run(opts, io) {
    const input = loadDetectInputs({ ...opts, sae: await resolveSaeDir(opts.sae, io) }, io);
    const { detection: det, baseline } = opts.baseline ? runDetectionWithBaseline(input, opts, io) : { detection: runDetection(input, opts, io), baseline: null };
    const validation = input.world ? groundTruthCheck(det, input.sae, input.world, input.kernels, io) : null;
    if (opts.json) {
      io.out(JSON.stringify({ sae: opts.sae, data: input.label, detection: det, baseline, groundTruth: validation }));
      return 0;
    }
    const s = input.sae;
    const parts = [`${opts.sae}: ${s.architecture}${s.tied ? " (tied)" : ""}, ${s.dIn} -> ${s.dSae} latents; data: ${input.label}`, "", renderDetection(det, opts.top, baseline)];
    if (baseline) parts.push("", renderBaseline(baseline, det.summary.confidentPairs));
    if (validation) parts.push("", renderValidation(validation));
    if (validation && baseline) {
      const fp = validation.nConfident - validation.truePositives;
      parts.push(`Null baseline against the truth: ${baseline.expectedConfident.toFixed(2)} false discoveries estimated, ${fp} measured (false-discovery rate estimated ${f2(baseline.fdr)}, measured ${f2(validation.nConfident ? fp / validation.nConfident : null)}).`);
    }
    if (opts.activations !== undefined) parts.push("", pairTokensSection(det, input.sae, opts.activations, opts.top, io));
    io.out(parts.join("\n"));
    return 0;
  },
};
