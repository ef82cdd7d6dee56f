/**
 * `saelab mitigate <sae-dir> (--activations DIR | --world <config|dir> | --preset NAME) --out DIR`:
 * detects absorption without ground truth, moves each absorber's parent component back to its parent
 * (the exact transform of src/detect/mitigate.ts) and writes the result as a SAELens directory whose
 * parent encoder columns are refitted (src/detect/refit.ts: SAELens's encoder formula cannot express
 * the exact transform). mitigation.json beside it records the pairs, coefficients and the refit's
 * fidelity. --fineTuneSteps N also writes a tie_loss fine-tune (of the un-absorbed SAE by default). It prints the
 * detector's confident pairs and, with a hook, splice figures before and after (mitigate-compare.ts). With a world, a
 * separately labelled ground-truth table compares absorption before and after.
 */
import { join, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import type { SaeModel } from "../sae/types.js";
import type { Sae } from "../sae/model.js";
import { sequentialStream, worldStream } from "../train/stream.js";
import { fineTuneTied } from "../detect/finetune.js";
import { planMitigation, unabsorb } from "../detect/mitigate.js";
import { refitRefusal, refitSae, type RefitFidelity } from "../detect/refit.js";
import { DEFAULT_EVAL_SAMPLES, DEFAULT_EVAL_SEED, evaluateOnWorld } from "../experiments/evaluate.js";
import { writeFileAtomic } from "../io/atomic.js";
import { openActivations } from "../io/activations.js";
import { saveSaelensSae } from "../io/saelens.js";
import { renderEdgeTable, renderTable } from "../report/text.js";
import type { ReportInput } from "../report/summary.js";
import type { Command } from "./args.js";
import { resolveSaeDir } from "./sae-source.js";
import { detectDataShape, loadDetectInputs, runDetection } from "./detect.js";
import { progressBar } from "./progress.js";
import { compareBeforeAfter, compareFlags, renderBeforeAfter } from "./mitigate-compare.js";

/** The record written beside the mitigated SAE. */
export const MITIGATION_FILE = "mitigation.json";

const MitigateSchema = z
  .object({
    ...detectDataShape,
    out: z.string({ error: "missing: give --out DIR for the mitigated SAE" }).min(1).describe("Directory for the un-absorbed SAE (SAELens format) and mitigation.json."),
    fineTuneSteps: z.number().int().min(0).default(0).describe("Also fine-tune this many steps with a tying loss (tie_loss variant) and save the result (0: skip)."),
    fineTuneFrom: z
      .enum(["unabsorbed", "original"])
      .default("unabsorbed")
      .describe("Start the fine-tune from the saved un-absorbed SAE or from the original one (an absorbed SAE does not leave absorption under a tying loss; see docs/detect.md)."),
    fineTuneOut: z.string().min(1).optional().describe("Directory for the fine-tuned SAE (default: <out>-tie-finetuned)."),
    tieCoefficient: z.number().positive().default(10).describe("Weight of the tying loss in the fine-tune."),
    lr: z.number().positive().default(1e-3).describe("Learning rate of the fine-tune."),
    batchSize: z.number().int().positive().default(1024).describe("Samples per fine-tune step."),
    json: z.boolean().default(false).describe("Print what was done (and, for a world, the ground-truth evaluations) as JSON."),
    ...compareFlags,
  })
  .strict();

export const mitigateCommand: Command<typeof MitigateSchema> = {
  path: ["mitigate"],
  summary: "Un-absorb a saved SAE without retraining: move absorbed parent components back to their parents and save it.",
  details:
    "The exact transform keeps every reconstruction; the saved SAE refits the parents' encoder columns to it (SAELens's encoder\n" +
    "cannot express it exactly; mitigation.json reports how close the refit is). TopK SAEs cannot be saved un-absorbed (fixed k);\n" +
    "use --fineTuneSteps with --fineTuneFrom original for them. Before/after: the detector's confident pairs on the same inputs and,\n" +
    "when the SAE's cfg.json records a hook, splice-in figures (loss recovered, KL, L0, explained variance) on the model. With a\n" +
    "world, ground-truth absorption before/after is printed, labelled as such.",
  schema: MitigateSchema,
  positionals: [{ key: "sae", name: "sae-dir" }],
  async run(opts, io) {
    const saeDir = await resolveSaeDir(opts.sae, io);
    const input = loadDetectInputs({ ...opts, sae: saeDir }, io);
    const { sae, kernels, batches, world } = input;
    const det = runDetection(input, opts, io);
    const plan = planMitigation(det);
    if (plan.transfers.length === 0 && opts.fineTuneSteps === 0) {
      throw new UserError(`no confident absorption pairs in ${opts.sae} (${det.summary.candidatePairs} candidates): nothing to mitigate; see saelab detect for the scores`);
    }
    const out = resolve(io.cwd, opts.out);
    const wrapped = unabsorb(sae, plan, kernels);
    let fidelity: RefitFidelity | null = null;
    let unabsorbed: Sae | null = null;
    const evaluated: { name: string; model: SaeModel }[] = [{ name: "original", model: sae }];
    const refused = refitRefusal(sae);
    if (plan.transfers.length > 0 && !refused) {
      const refit = refitSae(wrapped, batches, kernels);
      fidelity = refit.fidelity;
      unabsorbed = refit.sae;
      saveSaelensSae(out, refit.sae, { mitigation: { source: resolve(io.cwd, opts.sae), transfers: wrapped.transfers, data: input.label } }, input.metadata);
      writeFileAtomic(join(out, MITIGATION_FILE), `${JSON.stringify({ source: resolve(io.cwd, opts.sae), data: input.label, plan, applied: wrapped.transfers, fidelity, detection: det.summary }, null, 2)}\n`);
      evaluated.push({ name: "exact transform", model: wrapped }, { name: "saved (refit)", model: refit.sae });
    } else if (plan.transfers.length > 0) {
      if (opts.fineTuneSteps === 0) throw new UserError(`${refused}; pass --fineTuneSteps N for a tying fine-tune instead`);
      evaluated.push({ name: "exact transform", model: wrapped });
    }
    let fineTuneDir: string | null = null;
    let tuned: Sae | null = null;
    if (opts.fineTuneSteps > 0) {
      // The fine-tune's stream is drawn with --seed at --batchSize (fineTuneTied trains with both).
      let data;
      if (input.world) data = worldStream(input.world);
      else {
        const shards = openActivations(resolve(io.cwd, opts.activations!));
        data = sequentialStream(shards.dModel, (batchSize, seed) => shards.batches({ batchSize, shuffle: true, seed, epochs: Infinity }));
      }
      const start = opts.fineTuneFrom === "unabsorbed" ? unabsorbed : sae;
      if (!start) {
        throw new UserError(`there is no saved un-absorbed SAE to fine-tune from (${refused ?? "no confident pairs"}); pass --fineTuneFrom original`);
      }
      tuned = fineTuneTied(start, data, { steps: opts.fineTuneSteps, batchSize: opts.batchSize, lr: opts.lr, coefficient: opts.tieCoefficient, seed: opts.seed }, kernels);
      fineTuneDir = resolve(io.cwd, opts.fineTuneOut ?? `${opts.out}-tie-finetuned`);
      saveSaelensSae(fineTuneDir, tuned, { mitigation: { source: resolve(io.cwd, opts.sae), fineTune: { from: opts.fineTuneFrom, steps: opts.fineTuneSteps, lr: opts.lr, tieCoefficient: opts.tieCoefficient }, data: input.label } }, input.metadata);
      evaluated.push({ name: `tie fine-tune of ${opts.fineTuneFrom} (${opts.fineTuneSteps} steps)`, model: tuned });
    }
    const saved = [...(unabsorbed ? [{ name: "saved (refit)", model: unabsorbed as SaeModel }] : []), ...(tuned ? [{ name: `tie fine-tune of ${opts.fineTuneFrom}`, model: tuned as SaeModel }] : [])];
    const beforeAfter = await compareBeforeAfter({ dir: resolve(io.cwd, saeDir), confidentPairs: det.summary.confidentPairs }, saved, input, opts, io);
    let report: ReportInput | null = null;
    if (world) {
      const bar = progressBar(io, "ground truth");
      try {
        const evs = evaluateOnWorld(evaluated.map((e) => e.model), world, { n: DEFAULT_EVAL_SAMPLES, seed: DEFAULT_EVAL_SEED, onProgress: (d, t) => bar.update(d, t) }, kernels);
        report = { title: "saelab mitigate", world: { name: input.label, nFeatures: world.nFeatures, dModel: world.dModel }, saes: evaluated.map((e, i) => ({ name: e.name, evaluation: evs[i]! })) };
      } finally {
        bar.finish();
      }
    }
    const wrote = [plan.transfers.length > 0 && fidelity ? out : null, fineTuneDir].filter((d): d is string => d !== null);
    if (opts.json) {
      io.out(JSON.stringify({ sae: opts.sae, data: input.label, plan, applied: wrapped.transfers, fidelity, wrote, beforeAfter, groundTruth: report?.saes.map((s) => ({ name: s.name, absorption: s.evaluation.absorption.summary, reconstruction: s.evaluation.reconstruction, l0: s.evaluation.sparsity.l0 })) ?? null }));
      return 0;
    }
    const lines = [
      `${opts.sae}: ${sae.architecture}${sae.tied ? " (tied)" : ""}, ${sae.dIn} -> ${sae.dSae} latents; data: ${input.label}`,
      `Un-absorbed ${plan.transfers.length} absorber(s) (${det.summary.confidentPairs} confident pairs; ${plan.skipped.length} skipped):`,
      ...wrapped.transfers.map((t) => `  absorber ${t.absorber} -> parent ${t.parents.join("+")}: coefficient ${t.coefficients.map((c) => c.toFixed(3)).join("+")}, absorber scale ${t.scale.toFixed(3)} (score ${t.score.toFixed(3)})`),
    ];
    if (fidelity) {
      lines.push(
        `Saved ${opts.out}: decoder and absorbers exact, parents' encoder columns refitted; reconstruction MSE original ${fidelity.mseBase.toExponential(3)}, exact transform ${fidelity.mseExact.toExponential(3)}, saved ${fidelity.mseRefit.toExponential(3)}; ` +
          `refit R^2 per parent: ${fidelity.parents.map((p) => `${p.latent}:${p.r2 === null ? "n/a" : p.r2.toFixed(3)}`).join(" ")}`,
      );
    }
    if (fineTuneDir) lines.push(`Saved the tying fine-tune to ${fineTuneDir}`);
    lines.push("", renderBeforeAfter(beforeAfter, batches.reduce((s, x) => s + x.length / sae.dIn, 0)));
    if (report) lines.push("", `GROUND TRUTH (the world's true features, ${DEFAULT_EVAL_SAMPLES} samples, seed ${DEFAULT_EVAL_SEED}; not used for the mitigation):`, renderTable(report), "", renderEdgeTable(report));
    io.out(lines.join("\n"));
    return 0;
  },
};
