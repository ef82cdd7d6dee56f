/** Runs the saelab CLI from source (so the trials test this checkout without a build). */
import { main } from "../../src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
