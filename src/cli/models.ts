/** `saelab models`: lists the models and SAEs in the Hugging Face cache and saelab's converted SAEs, with their sizes. */
import { z } from "zod";
import { scanHubCache } from "../io/hub.js";
import { listConvertedSaes, saeReleases, saelabCacheDir } from "../io/sae-releases.js";
import type { Command } from "./args.js";
import { formatCount } from "./progress.js";
import { envOf, hubConfig } from "./sae-source.js";

const ModelsSchema = z.object({ json: z.boolean().default(false).describe("Print the listing as JSON.") }).strict();

/** Returns a byte count as e.g. 1.2 GB. */
export function formatBytes(n: number): string {
  return n < 1000 ? `${n} B` : `${formatCount(n)}B`.replace(/([kMG])B$/, " $1B");
}

export const modelsCommand: Command<typeof ModelsSchema> = {
  path: ["models"],
  summary: "List the models and SAEs in the Hugging Face cache (and saelab's converted SAEs) with their sizes.",
  details: "The cache is HF_HUB_CACHE (or HF_HOME/hub, default ~/.cache/huggingface/hub), shared with Python tools; converted SAEs live under SAELAB_CACHE (default ~/.cache/saelab).",
  schema: ModelsSchema,
  async run(opts, io) {
    const { cacheDir } = hubConfig(io, { offline: true });
    const saeRepos = new Map<string, string[]>();
    for (const [name, r] of Object.entries(saeReleases())) saeRepos.set(r.repo, [...(saeRepos.get(r.repo) ?? []), name]);
    const repos = scanHubCache(cacheDir).map((r) => ({ ...r, kind: saeRepos.has(r.repo) ? "sae" : "model", releases: saeRepos.get(r.repo) ?? [] }));
    const saelabCache = saelabCacheDir(envOf(io));
    const converted = listConvertedSaes(saelabCache);
    if (opts.json) {
      io.out(JSON.stringify({ cacheDir, repos, saelabCache, converted }));
      return 0;
    }
    const lines = [`Hugging Face cache: ${cacheDir}`];
    if (!repos.length) lines.push("  (empty)");
    const w = Math.max(4, ...repos.map((r) => r.repo.length));
    for (const r of repos) {
      const revs = r.revisions.map((v) => `${v.commit.slice(0, 10)}${v.refs.length ? ` (${v.refs.join(", ")})` : ""}`).join("; ");
      lines.push(`  ${r.kind.padEnd(5)} ${r.repo.padEnd(w)} ${formatBytes(r.size).padStart(9)}  ${String(r.files).padStart(4)} files  ${revs}${r.releases.length ? `  releases: ${r.releases.join(", ")}` : ""}`);
    }
    lines.push(`saelab cache (converted SAEs): ${saelabCache}`);
    if (!converted.length) lines.push("  (empty)");
    for (const c of converted) lines.push(`  sae   ${c.name}  ${formatBytes(c.size)}`);
    io.out(lines.join("\n"));
    return 0;
  },
};
