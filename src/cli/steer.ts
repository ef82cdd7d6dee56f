/** `saelab steer`: train (or load) a steering vector and generate with it. */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { finite, seed } from "../schema.js";
import { saveSteeringVector } from "../io/steering.js";
import { generate } from "../lm/generate.js";
import { AGGREGATORS, type AggregatorName } from "../steering/aggregators.js";
import { OPERATORS, type OperatorName } from "../steering/operators.js";
import { LAYER_TYPES, type LayerType, type SteeringVector } from "../steering/vector.js";
import type { Command } from "./args.js";
import { loadLm, modelFlags, promptTokens, stopTokens } from "./lm-common.js";
import { resolveSaeDir } from "./sae-source.js";
import { renderTargetTable, scaleLines, targetRows, targetTokens } from "./steer-report.js";
import { saeCfgForSteer, steeringVectorFor } from "./steer-source.js";

const SteerSchema = z
  .object({
    ...modelFlags,
    pairs: z.string().optional().describe("JSON file of contrastive pairs: [[positive, negative], ...] or [{positive, negative}, ...]."),
    vector: z.string().optional().describe("Load a saved steering vector (.safetensors with its .json) instead of training one."),
    sae: z.string().optional().describe("Steer with a latent of this SAE (a SAELens directory or RELEASE/SAE_ID): its decoder row, added at the hook the SAE reads (cfg.json hook_name)."),
    latent: z.number().int().min(0).optional().describe("The --sae latent whose decoder row is the vector."),
    layer: z.number().int().optional().describe("Block whose output is read and steered (negative counts from the end); default the middle block."),
    layerType: z.enum(Object.keys(LAYER_TYPES) as [LayerType, ...LayerType[]]).default("decoder_block").describe("Which activation of the layer: the block's output, or its attention or MLP output."),
    aggregator: z.enum(Object.keys(AGGREGATORS) as [AggregatorName, ...AggregatorName[]]).default("mean").describe("How pairs become a direction."),
    readTokenIndex: z.number().int().default(-1).describe("Token of each text to read (index into its tokens with BOS; negative from the end)."),
    multiplier: finite().optional().describe("Scale of the vector when applied (default 1)."),
    multipliers: z.array(finite()).min(1).optional().describe("Several scales to sweep, e.g. -2,-1,0,1,2: one continuation (and one row of --targets figures) each."),
    targets: z.string().optional().describe("Comma-separated continuations whose log-probability right after the prompt is reported per multiplier, spaces kept: \" happy, sad\" is \" happy\" and \" sad\"."),
    operator: z.enum(Object.keys(OPERATORS) as [OperatorName, ...OperatorName[]]).default("addition").describe("How the vector changes an activation."),
    minTokenIndex: z.number().int().min(0).optional().describe("Steer only tokens at this absolute position or later (default: all)."),
    prompt: z.string().default("").describe("Text to continue."),
    steps: z.number().int().min(0).default(64).describe("Tokens to generate after the prompt (0: no text, only the figures)."),
    temperature: z.number().min(0).default(0).describe("Sampling temperature; 0 is greedy."),
    topp: z.number().min(0).max(1).default(0.9).describe("Nucleus sampling threshold."),
    seed: seed().default(42).describe("Seed of the sampler."),
    compare: z.boolean().default(false).describe("Also print the unsteered continuation."),
    save: z.string().optional().describe("Save the vector to this .safetensors path (and its .json beside it)."),
  })
  .strict()
  .superRefine((o, ctx) => {
    const sources = [o.pairs, o.vector, o.sae].filter((x) => x !== undefined).length;
    if (sources !== 1) ctx.addIssue({ code: "custom", path: ["pairs"], message: "give exactly one of --pairs (train a vector), --vector (load one) and --sae with --latent (an SAE latent's decoder row)" });
    if (o.vector && o.layer !== undefined) ctx.addIssue({ code: "custom", path: ["layer"], message: "--layer chooses where to train; a loaded --vector keeps the layers it was saved with" });
    if ((o.sae === undefined) !== (o.latent === undefined)) ctx.addIssue({ code: "custom", path: ["latent"], message: "--sae and --latent go together" });
    if (o.multiplier !== undefined && o.multipliers !== undefined) ctx.addIssue({ code: "custom", path: ["multipliers"], message: "give --multiplier or --multipliers, not both" });
  });

export const steerCommand: Command<typeof SteerSchema> = {
  path: ["steer"],
  summary: "Steer generation with a vector: trained from contrastive pairs, loaded, or an SAE latent's decoder row.",
  details:
    "Steering applies to the prompt and to every generated token (positions are absolute, so KV-cached tokens are steered too).\n" +
    "First line per layer: the vector's L2 norm against the mean L2 norm of the activation it is added to, over the\n" +
    "prompt's tokens after BOS (unsteered), so a multiplier reads as a fraction of the residual. --multipliers sweeps\n" +
    "several scales; --targets prints the log-probability of each target right after the prompt (its tokens\n" +
    "teacher-forced, summed), unsteered and per multiplier, with the change and the first two targets' difference.",
  schema: SteerSchema,
  async run(opts, io) {
    const saeDir = opts.sae !== undefined ? await resolveSaeDir(opts.sae, io, opts) : undefined;
    const lm = await loadLm(opts, io, saeCfgForSteer(saeDir));
    const { model, tok } = lm;
    const abs = (p: string) => (isAbsolute(p) ? p : resolve(io.cwd, p));
    const { vec, label } = steeringVectorFor(opts, lm, io, saeDir);
    if (vec.dModel !== model.spec.dModel) throw new UserError(`the steering vector has width ${vec.dModel} but the model's is ${model.spec.dModel}`);
    const multipliers = opts.multipliers ?? [opts.multiplier ?? 1];
    if (opts.save) {
      saveSteeringVector(abs(opts.save), {
        layerActivations: new Map(vec.layerActivations),
        layerType: vec.layerType,
        settings: {
          aggregator: opts.aggregator, readTokenIndex: opts.readTokenIndex, multiplier: multipliers[0]!, operator: opts.operator, pairs: opts.pairs ?? null,
          ...(saeDir !== undefined ? { sae: saeDir, latent: opts.latent! } : {}),
        },
      });
    }
    const prompt = promptTokens(lm, opts.prompt);
    const targets = opts.targets !== undefined ? targetTokens(lm, opts.prompt, opts.targets) : [];
    const hooksFor = (multiplier: number) => vec.hooks({ multiplier, operator: OPERATORS[opts.operator](), ...(opts.minTokenIndex !== undefined ? { minTokenIndex: opts.minTokenIndex } : {}) });
    io.out(`steering vector: ${label}`);
    for (const line of scaleLines(lm, vec, prompt)) io.out(line);
    const stops = stopTokens(lm);
    const run = (hooks: SteeringHooks) => {
      const [gen] = generate(model, [prompt], { steps: opts.steps, temperature: opts.temperature, topp: opts.topp, seed: opts.seed, hooks, stopTokens: stops });
      const shown = stops.includes(gen!.at(-1)!) ? gen!.subarray(0, -1) : gen!;
      return tok.decode([...prompt, ...shown]);
    };
    const layers = [...vec.layerActivations.keys()].join(",");
    if (opts.steps > 0) {
      if (opts.compare) io.out(`unsteered: ${run([])}`);
      for (const m of multipliers) io.out(`steered (layer ${layers}, x${m}): ${run(hooksFor(m))}`);
    }
    if (targets.length) io.out(renderTargetTable(lm, targets, targetRows(lm, prompt, targets, multipliers, hooksFor)));
    return 0;
  },
};

type SteeringHooks = ReturnType<SteeringVector["hooks"]>;
