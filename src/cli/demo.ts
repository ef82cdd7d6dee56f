/** `saelab demo`: placeholder until the absorption demo lands. */
import { z } from "zod";
import type { Command } from "./args.js";

const DemoSchema = z
  .object({
    out: z.string().default("saelab-demo").describe("Directory for report.html, the trained SAEs and the world."),
    json: z.boolean().default(false).describe("Print the results table as JSON."),
  })
  .strict();

export const demoCommand: Command<typeof DemoSchema> = {
  path: ["demo"],
  summary: "Train tied and untied SAEs on the absorption-basic world and report absorption.",
  schema: DemoSchema,
  async run(_opts, io) {
    io.err("saelab demo is not implemented yet (see issue 4).");
    return 1;
  },
};
