/** `saelab steer`: train (or load) a steering vector and generate with it. */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { parseConfig, UserError } from "../errors.js";
import { finite, seed } from "../schema.js";
import { loadSteeringVector, saveSteeringVector } from "../io/steering.js";
import { generate } from "../lm/generate.js";
import { AGGREGATORS, type AggregatorName } from "../steering/aggregators.js";
import { OPERATORS, type OperatorName } from "../steering/operators.js";
import { trainSteeringVector } from "../steering/train.js";
import { LAYER_TYPES, resolveLayer, SteeringVector, type LayerType } from "../steering/vector.js";
import type { Command } from "./args.js";
import { loadLm, modelFlags, promptTokens, stopTokens } from "./lm-common.js";

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

const SteerSchema = z
  .object({
    ...modelFlags,
    pairs: z.string().optional().describe("JSON file of contrastive pairs: [[positive, negative], ...] or [{positive, negative}, ...]."),
    vector: z.string().optional().describe("Load a saved steering vector (.safetensors with its .json) instead of training one."),
    layer: z.number().int().optional().describe("Block whose output is read and steered (negative counts from the end); default the middle block."),
    layerType: z.enum(Object.keys(LAYER_TYPES) as [LayerType, ...LayerType[]]).default("decoder_block").describe("Which activation of the layer: the block's output, or its attention or MLP output."),
    aggregator: z.enum(Object.keys(AGGREGATORS) as [AggregatorName, ...AggregatorName[]]).default("mean").describe("How pairs become a direction."),
    readTokenIndex: z.number().int().default(-1).describe("Token of each text to read (index into its tokens with BOS; negative from the end)."),
    multiplier: finite().default(1).describe("Scale of the vector when applied."),
    operator: z.enum(Object.keys(OPERATORS) as [OperatorName, ...OperatorName[]]).default("addition").describe("How the vector changes an activation."),
    minTokenIndex: z.number().int().min(0).optional().describe("Steer only tokens at this absolute position or later (default: all)."),
    prompt: z.string().default("").describe("Text to continue."),
    steps: z.number().int().min(1).default(64).describe("Tokens to generate after the prompt."),
    temperature: z.number().min(0).default(0).describe("Sampling temperature; 0 is greedy."),
    topp: z.number().min(0).max(1).default(0.9).describe("Nucleus sampling threshold."),
    seed: seed().default(42).describe("Seed of the sampler."),
    compare: z.boolean().default(false).describe("Also print the unsteered continuation."),
    save: z.string().optional().describe("Save the vector to this .safetensors path (and its .json beside it)."),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (!o.pairs === !o.vector) ctx.addIssue({ code: "custom", path: ["pairs"], message: "give exactly one of --pairs (train a vector) and --vector (load one)" });
    if (o.vector && o.layer !== undefined) ctx.addIssue({ code: "custom", path: ["layer"], message: "--layer chooses where to train; a loaded --vector keeps the layers it was saved with" });
  });

export const steerCommand: Command<typeof SteerSchema> = {
  path: ["steer"],
  summary: "Train a steering vector from contrastive pairs (or load one) and generate with it.",
  details: "Steering applies to the prompt and to every generated token (positions are absolute, so KV-cached tokens are steered too).",
  schema: SteerSchema,
  async run(opts, io) {
    const lm = await loadLm(opts, io);
    const { model, tok } = lm;
    const abs = (p: string) => (isAbsolute(p) ? p : resolve(io.cwd, p));
    const nLayers = model.spec.nLayers;
    let vec: SteeringVector;
    if (opts.vector) {
      const stored = loadSteeringVector(abs(opts.vector));
      vec = new SteeringVector(stored.layerActivations, stored.layerType);
      for (const l of vec.layerActivations.keys()) resolveLayer(l, nLayers);
    } else {
      const path = abs(opts.pairs!);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(path, "utf8"));
      } catch (e) {
        throw new UserError(`cannot read --pairs ${path}: ${(e as Error).message}`);
      }
      const pairs = parseConfig(PairsSchema, raw, path);
      const layer = resolveLayer(opts.layer ?? Math.floor(nLayers / 2), nLayers);
      vec = trainSteeringVector(model, tok, pairs, { layers: [layer], layerType: opts.layerType, readTokenIndex: opts.readTokenIndex, aggregator: AGGREGATORS[opts.aggregator]() });
    }
    if (vec.dModel !== model.spec.dModel) throw new UserError(`the steering vector has width ${vec.dModel} but the model's is ${model.spec.dModel}`);
    if (opts.save) {
      saveSteeringVector(abs(opts.save), {
        layerActivations: new Map(vec.layerActivations),
        layerType: vec.layerType,
        settings: { aggregator: opts.aggregator, readTokenIndex: opts.readTokenIndex, multiplier: opts.multiplier, operator: opts.operator, pairs: opts.pairs ?? null },
      });
    }
    const prompt = promptTokens(lm, opts.prompt);
    const stops = stopTokens(lm);
    const run = (hooks: ReturnType<SteeringVector["hooks"]>) => {
      const [gen] = generate(model, [prompt], { steps: opts.steps, temperature: opts.temperature, topp: opts.topp, seed: opts.seed, hooks, stopTokens: stops });
      const shown = stops.includes(gen!.at(-1)!) ? gen!.subarray(0, -1) : gen!;
      return tok.decode([...prompt, ...shown]);
    };
    const hooks = vec.hooks({ multiplier: opts.multiplier, operator: OPERATORS[opts.operator](), ...(opts.minTokenIndex !== undefined ? { minTokenIndex: opts.minTokenIndex } : {}) });
    const layers = [...vec.layerActivations.keys()].join(",");
    if (opts.compare) io.out(`unsteered: ${run([])}`);
    io.out(`${opts.compare ? `steered (layer ${layers}, x${opts.multiplier}): ` : ""}${run(hooks)}`);
    return 0;
  },
};
