/** The list of `saelab` subcommands; each lives in its own module and stays thin. */
import type { Command } from "./args.js";
import { demoCommand } from "./demo.js";
import { worldDescribeCommand, worldSampleCommand } from "./world.js";
import { generateCommand } from "./generate.js";
import { activationsCommand } from "./activations.js";
import { steerCommand } from "./steer.js";
import { trainCommand } from "./train.js";
import { evalCommand } from "./eval.js";
import { spliceCommand } from "./splice.js";
import { sweepCommand, sweepReportCommand } from "./sweep.js";
import { sweepStatusCommand } from "./sweep-queue.js";
import { workerCommand } from "./worker.js";
import { detectCommand } from "./detect.js";
import { latentsCommand } from "./latents.js";
import { mitigateCommand } from "./mitigate.js";
import { convertLlama2cCommand } from "./convert.js";
import { saeFetchCommand } from "./sae-fetch.js";
import { modelsCommand } from "./models.js";
import { absorptionCommand } from "./absorption.js";
import { featuresCommand } from "./features.js";
import { dashboardCommand } from "./dashboard.js";

/** Every subcommand, in the order `saelab --help` lists them. */
export const COMMANDS: readonly Command[] = [
  demoCommand as unknown as Command,
  worldDescribeCommand as unknown as Command,
  worldSampleCommand as unknown as Command,
  trainCommand as unknown as Command,
  evalCommand as unknown as Command,
  sweepCommand as unknown as Command,
  sweepReportCommand as unknown as Command,
  sweepStatusCommand as unknown as Command,
  workerCommand as unknown as Command,
  detectCommand as unknown as Command,
  mitigateCommand as unknown as Command,
  latentsCommand as unknown as Command,
  absorptionCommand as unknown as Command,
  featuresCommand as unknown as Command,
  dashboardCommand as unknown as Command,
  generateCommand as unknown as Command,
  activationsCommand as unknown as Command,
  spliceCommand as unknown as Command,
  steerCommand as unknown as Command,
  convertLlama2cCommand as unknown as Command,
  saeFetchCommand as unknown as Command,
  modelsCommand as unknown as Command,
];
