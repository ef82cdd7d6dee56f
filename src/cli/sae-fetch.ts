/** `saelab sae fetch RELEASE [SAE_ID]`: downloads a published SAE by its SAELens release name into the cache and prints its directory. */
import { z } from "zod";
import { lookupReleaseSae, saeReleases } from "../io/sae-releases.js";
import { UserError } from "../errors.js";
import type { Command } from "./args.js";
import { fetchSaeForCli, hubFlags } from "./sae-source.js";

const SaeFetchSchema = z
  .object({
    release: z.string({ error: "missing: give a SAELens release name, e.g. gpt2-small-res-jb" }).min(1).describe("SAELens release name (e.g. gpt2-small-res-jb, pythia-70m-deduped-res-sm, gemma-scope-2b-pt-res-canonical)."),
    saeId: z.string().optional().describe("SAE id within the release (e.g. blocks.8.hook_resid_pre); without it, the release's SAE ids are listed."),
    ...hubFlags,
    json: z.boolean().default(false).describe("Print the result as JSON."),
  })
  .strict();

export const saeFetchCommand: Command<typeof SaeFetchSchema> = {
  path: ["sae", "fetch"],
  summary: "Fetch a published SAE by SAELens release and SAE id into the Hugging Face cache; print its SAELens directory.",
  details:
    "Releases known to saelab (from SAELens's pretrained_saes.yaml):\n" +
    Object.entries(saeReleases()).map(([k, r]) => `  ${k.padEnd(34)} ${r.repo} (${Object.keys(r.saes).length} SAEs, ${r.model})`).join("\n") +
    "\nAny command that takes an SAE directory also takes RELEASE/SAE_ID, e.g. saelab splice gpt2-small-res-jb/blocks.8.hook_resid_pre.\n" +
    "Gemma Scope's params.npz is converted to a SAELens jumprelu directory under SAELAB_CACHE (default ~/.cache/saelab).",
  schema: SaeFetchSchema,
  positionals: [{ key: "release", name: "release" }, { key: "saeId", name: "sae-id", optional: true }],
  async run(opts, io) {
    if (opts.saeId === undefined) {
      const r = saeReleases()[opts.release];
      if (!r) lookupReleaseSae(opts.release, "");
      const ids = Object.keys(r!.saes);
      if (opts.json) io.out(JSON.stringify({ release: opts.release, repo: r!.repo, model: r!.model, saes: ids }));
      else io.out([`${opts.release}: ${r!.repo} (${r!.model}, ${r!.format}); give one of these SAE ids:`, ...ids.map((i) => `  ${i}`)].join("\n"));
      return 0;
    }
    if (opts.saeId === "") throw new UserError("the SAE id is empty");
    const got = await fetchSaeForCli(io, opts, opts.release, opts.saeId);
    if (opts.json) io.out(JSON.stringify({ release: opts.release, saeId: opts.saeId, repo: got.sae.release.repo, path: got.sae.path, commit: got.snapshot.commit, dir: got.dir }));
    else io.out(got.dir);
    return 0;
  },
};
