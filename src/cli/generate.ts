/** `saelab generate`: sample text from a model (a Hugging Face snapshot or a llama2.c checkpoint). */
import { z } from "zod";
import { seed } from "../schema.js";
import { generate } from "../lm/generate.js";
import type { Command } from "./args.js";
import { loadLm, modelFlags, promptTokens, stopTokens } from "./lm-common.js";

const GenerateSchema = z
  .object({
    ...modelFlags,
    prompt: z.string().default("").describe("Text to continue (after BOS); empty starts a new story."),
    steps: z.number().int().min(1).default(256).describe("Number of tokens to generate after the prompt (stops early at EOS, or at BOS for llama2.c models: the end of a story)."),
    temperature: z.number().min(0).default(1).describe("Sampling temperature; 0 is greedy."),
    topp: z.number().min(0).max(1).default(0.9).describe("Nucleus sampling threshold (1 samples from the full distribution)."),
    seed: seed().default(42).describe("Seed of the sampler."),
  })
  .strict();

export const generateCommand: Command<typeof GenerateSchema> = {
  path: ["generate"],
  summary: "Generate text with a model (--model: HF snapshot or llama2.c checkpoint; stories260K by default).",
  details: "Prints the prompt and its continuation. Generation uses the KV cache; the output of a given seed is reproducible.",
  schema: GenerateSchema,
  async run(opts, io) {
    const lm = await loadLm(opts, io);
    const { model, tok } = lm;
    const prompt = promptTokens(lm, opts.prompt);
    const stops = stopTokens(lm);
    const t0 = performance.now();
    const [gen] = generate(model, [prompt], { steps: opts.steps, temperature: opts.temperature, topp: opts.topp, seed: opts.seed, stopTokens: stops });
    const secs = (performance.now() - t0) / 1000;
    // A story ends at its stop token, which is not printed.
    const shown = stops.includes(gen!.at(-1)!) ? gen!.subarray(0, -1) : gen!;
    io.out(tok.decode([...prompt, ...shown]));
    if (io.isTTY) io.err(`${gen!.length} tokens in ${secs.toFixed(3)} s (${(gen!.length / secs).toFixed(0)} tokens/s, backend ${model.backendName()})`);
    return 0;
  },
};
