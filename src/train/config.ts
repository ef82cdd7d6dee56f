/** The training run's settings (shared by every SAE trained on the same data stream). */
import { z } from "zod";
import { seed } from "../schema.js";

/** Arithmetic of the training step: fp32 throughout, or the mixed-precision encoder product. */
export const PrecisionSchema = z
  .enum(["fp32", "bf16"])
  .default("fp32")
  .describe(
    "Arithmetic of the training step. bf16: the dense encoder product takes bfloat16 inputs (weights rounded once per step, inputs per batch) with fp32 sums and only chooses the latents, whose values are recomputed in fp32; weights, Adam state and the sparse parts stay fp32.",
  );

export const TrainConfigSchema = z
  .object({
    steps: z.number().int().positive().describe("Number of optimizer steps."),
    batchSize: z.number().int().positive().default(4096).describe("Samples per step."),
    lr: z.number().positive().default(3e-4).describe("Peak learning rate (an SAE's own `lr` overrides it)."),
    adamBeta1: z.number().min(0).lt(1).default(0.9).describe("Adam beta1."),
    adamBeta2: z.number().min(0).lt(1).default(0.999).describe("Adam beta2."),
    adamEps: z.number().positive().default(1e-8).describe("Adam epsilon."),
    lrWarmUpSteps: z.number().int().min(0).default(0).describe("Steps over which the learning rate rises linearly to its peak."),
    lrDecay: z.enum(["constant", "linear", "cosine"]).default("constant").describe("Learning-rate decay after warm-up."),
    lrDecaySteps: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("Length of the decay at the end of training (default: every step after warm-up). Ignored for constant."),
    lrEndFactor: z.number().min(0).max(1).default(0.1).describe("Final learning rate as a fraction of the peak, for linear and cosine decay."),
    seed: seed().default(42).describe("Seed for initialisation and (in the CLI) the data stream."),
    deadLatentWindow: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe("A latent is dead when it has not fired for more than this many steps (SAELens dead_feature_window)."),
    logEvery: z.number().int().positive().default(10).describe("Emit a step event every this many steps."),
    checkpointEvery: z.number().int().min(0).default(500).describe("Write a checkpoint every this many steps (0: only at the end)."),
    precision: PrecisionSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.lrWarmUpSteps > c.steps) ctx.addIssue({ code: "custom", path: ["lrWarmUpSteps"], message: `must be at most steps (${c.steps})` });
    if (c.lrDecaySteps !== undefined && c.lrWarmUpSteps + c.lrDecaySteps > c.steps) {
      ctx.addIssue({ code: "custom", path: ["lrDecaySteps"], message: `lrWarmUpSteps + lrDecaySteps must be at most steps (${c.steps})` });
    }
  });
export type TrainConfig = z.infer<typeof TrainConfigSchema>;
