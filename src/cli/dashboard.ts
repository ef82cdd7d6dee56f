/**
 * `saelab dashboard PATH... [--port P] [--host H]`: a local, read-only web app over SAE directories
 * (with features.sqlite from `saelab features`), demo output directories and sweep directories.
 * Binds 127.0.0.1 unless --host says otherwise, prints the URL and serves until interrupted.
 */
import { z } from "zod";
import { UserError } from "../errors.js";
import { buildCatalog } from "../dashboard/catalog.js";
import { startDashboard } from "../dashboard/server.js";
import type { Command } from "./args.js";

/** Keys of the further PATH arguments (the argument parser maps each positional to one key). */
const EXTRA = ["path2", "path3", "path4", "path5", "path6", "path7", "path8"] as const;

const DashboardSchema = z
  .object({
    paths: z.string({ error: "missing: give at least one SAE, demo or sweep directory" }).min(1).describe("An SAE, demo output or sweep directory, or one holding such directories (several: comma-separated or as more arguments)."),
    ...Object.fromEntries(EXTRA.map((k) => [k, z.string().min(1).optional().describe("Another directory.")])),
    port: z.number().int().min(0).max(65535).default(8765).describe("Port to listen on (0: any free port)."),
    host: z.string().min(1).default("127.0.0.1").describe("Address to bind; anything but 127.0.0.1/localhost exposes the dashboard to the network."),
  })
  .strict();

export const dashboardCommand: Command<typeof DashboardSchema> = {
  path: ["dashboard"],
  summary: "Serve a local read-only web app over SAE directories, demo outputs and sweeps: latents, contexts, absorption, heatmaps.",
  details: "Run `saelab features SAE_DIR ...` first for the latent browser of an SAE. The page needs no network.",
  schema: DashboardSchema,
  positionals: [{ key: "paths", name: "PATH" }, ...EXTRA.map((key) => ({ key, name: "PATH", optional: true }))],
  async run(opts, io) {
    const given = opts as unknown as Record<string, string | undefined>;
    const paths = [opts.paths, ...EXTRA.map((k) => given[k]).filter((v): v is string => v !== undefined)].flatMap((p) => p.split(",")).map((p) => p.trim()).filter(Boolean);
    const catalog = buildCatalog(paths, io.cwd);
    let dash;
    try {
      dash = await startDashboard(catalog, { host: opts.host, port: opts.port });
    } catch (e) {
      throw new UserError(`cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}`);
    }
    io.err(`saelab dashboard: ${catalog.saes.length} SAE${catalog.saes.length === 1 ? "" : "s"} (${catalog.saes.filter((s) => s.features).length} with features.sqlite), ${catalog.demos.length} demo${catalog.demos.length === 1 ? "" : "s"}, ${catalog.sweeps.length} sweep${catalog.sweeps.length === 1 ? "" : "s"}; Ctrl-C stops it`);
    io.out(dash.url);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        void dash.close().then(done);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    return 0;
  },
};
