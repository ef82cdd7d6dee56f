/**
 * `saelab latents SAE --activations DIR [--ids 219,33] [--top 10]`: what an LM SAE's latents fire on,
 * read from activation shards (src/lm/latent-tokens.ts): firing density, a token histogram and the
 * top-activating contexts with the firing token marked. Token texts come from the tokenizer the
 * shards' manifest names (or --tokenizer, or the shared stories260K tok512.bin).
 */
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { openActivations, type ActivationsDataset } from "../io/activations.js";
import { sharedModelFiles } from "../io/llama2c.js";
import { loadSaelensSae } from "../io/saelens.js";
import { loadTokenizer } from "../io/tokenizer-files.js";
import { latentTokenStats, renderLatentTokens, type LatentTokensResult } from "../lm/latent-tokens.js";
import type { LmTokenizer } from "../lm/tokenizers/types.js";
import type { SaeModel } from "../sae/types.js";
import type { CliIO, Command } from "./args.js";
import { resolveSaeDir } from "./sae-source.js";
import { loadBackend } from "./train-run.js";

/** Returns the tokenizer for an activations directory: --tokenizer, else its manifest's, else the shared tok512.bin. */
export function shardsTokenizer(ds: ActivationsDataset, given: string | undefined, io: CliIO): { tok: LmTokenizer; path: string } {
  const named = given !== undefined ? (isAbsolute(given) ? given : resolve(io.cwd, given)) : ds.manifest.source.tokenizer;
  const path = typeof named === "string" && named.length > 0 ? named : sharedModelFiles()?.tokenizer;
  if (!path) throw new UserError(`${ds.dir}: its manifest names no tokenizer and the shared tok512.bin is absent; give --tokenizer`);
  if (given === undefined && !existsSync(path)) throw new UserError(`${ds.dir}/manifest.json names the tokenizer ${path}, which does not exist; give --tokenizer`);
  return { tok: loadTokenizer(path), path };
}

/** Returns a decoder of single tokens for display (a lone byte of a multi-byte character shows as <id N>). */
export function tokenText(tok: LmTokenizer): (id: number) => string {
  return (id) => {
    const text = tok.decode([id]);
    return text.includes("\uFFFD") ? `<id ${id}>` : text;
  };
}

/** Returns latentTokenStats of `sae` over every shard of `ds`, in file order. */
export function shardLatentTokens(sae: SaeModel, ds: ActivationsDataset, o: { ids?: readonly number[] | undefined; top: number; contexts: number; before?: number; after?: number; pairs?: readonly { parent: number; absorber: number }[] }): LatentTokensResult {
  function* shards() {
    for (let i = 0; i < ds.manifest.shards.length; i++) yield ds.readShard(i);
  }
  return latentTokenStats(sae, shards(), { ids: o.ids, topTokens: o.top, contexts: o.contexts, before: o.before ?? 12, after: o.after ?? 3, pairs: o.pairs });
}

const LatentsSchema = z
  .object({
    sae: z.string({ error: "missing: give the SAE directory as the first argument" }).min(1).describe("A SAELens SAE directory (cfg.json + sae_weights.safetensors)."),
    activations: z.string({ error: "missing: give --activations DIR (from saelab activations)" }).min(1).describe("An activations directory (saelab activations); every shard is read, in order."),
    ids: z.array(z.number().int().nonnegative()).min(1).optional().describe("Latents to show, comma-separated (default: all)."),
    top: z.number().int().positive().default(10).describe("Tokens shown in each latent's histogram."),
    contexts: z.number().int().min(0).default(5).describe("Top-activating contexts shown per latent."),
    tokenizer: z.string().min(1).optional().describe("Tokenizer for the token texts (default: the one the shards' manifest names, else the shared tok512.bin)."),
    json: z.boolean().default(false).describe("Print the result as JSON (token ids and their texts)."),
    backend: z.enum(["auto", "native", "reference"]).default("auto").describe("Compute backend (auto: native when built)."),
  })
  .strict();

export const latentsCommand: Command<typeof LatentsSchema> = {
  path: ["latents"],
  summary: "Show what an LM SAE's latents fire on: density, token histogram and top contexts, from activation shards.",
  details: "Encodes every row of the shards with the SAE. A latent fires where its activation is > 0; contexts stay inside one sequence.",
  schema: LatentsSchema,
  positionals: [{ key: "sae", name: "sae-dir" }],
  async run(opts, io) {
    const dir = await resolveSaeDir(opts.sae, io);
    const saeDir = resolve(io.cwd, dir);
    if (!existsSync(saeDir)) throw new UserError(`SAE directory ${opts.sae} does not exist`);
    const kernels = loadBackend(opts.backend, io);
    const { sae } = loadSaelensSae(saeDir, kernels);
    const ds = openActivations(resolve(io.cwd, opts.activations));
    if (ds.dModel !== sae.dIn) throw new UserError(`the activations in ${opts.activations} are ${ds.dModel}-dimensional but the SAE reads ${sae.dIn}`);
    for (const j of opts.ids ?? []) if (j >= sae.dSae) throw new UserError(`--ids: latent ${j} is out of range (the SAE has ${sae.dSae} latents)`);
    const { tok, path } = shardsTokenizer(ds, opts.tokenizer, io);
    const decode = tokenText(tok);
    const res = shardLatentTokens(sae, ds, opts);
    if (opts.json) {
      io.out(JSON.stringify({ sae: opts.sae, activations: opts.activations, tokenizer: path, rows: res.rows, latents: res.latents.map((l) => ({ ...l, topTokens: l.topTokens.map(([t, n, m]) => ({ token: t, text: decode(t), count: n, meanAct: m })) })) }));
      return 0;
    }
    io.out(`${opts.sae}: ${sae.dSae} latents over ${res.rows} tokens of ${opts.activations} (${ds.manifest.hook}; tokenizer ${path})\n`);
    io.out(renderLatentTokens(res, decode));
    return 0;
  },
};
