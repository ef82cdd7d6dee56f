/**
 * The dashboard's store as a fuzz target: `features.sqlite` files written by `saelab features` (a
 * toy-world run and a language-model run), mutated (bytes, and cells, rows and tables edited through
 * SQL), then read the way `saelab dashboard` reads them: the catalogue of the SAE directory and every
 * API query the page makes (overview, SAE info, each sort and a search of the latent list, every
 * latent, the hierarchy, the heatmap), each answer serialized as the server sends it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { Api, ApiError, LATENT_SORTS } from "../../src/dashboard/api.js";
import { buildCatalog } from "../../src/dashboard/catalog.js";
import { saveSaelensSae } from "../../src/io/saelens.js";
import { serializeLlama2cTokenizer } from "../../src/io/llama2c.js";
import { createSae } from "../../src/sae/model.js";
import { getPreset } from "../../src/toy/presets.js";
import { SaeConfigSchema } from "../../src/sae/registry.js";
import { referenceKernels } from "../../src/tensor/reference.js";
import type { FuzzFiles } from "./mutate.js";
import type { FuzzTarget } from "./targets.js";
import { tinyCheckpoint, tinyVocab } from "./seeds.js";

const STORY = "Once upon a time the cat sat on the mat. The end.\n\nOnce there was a tree. It was the one tree on the hill.";

/** Runs `saelab features sae ARGS` in a fresh directory holding an SAE of width `dIn` (plus what `setup` writes); returns the SAE directory's files. */
async function featuresSeed(dIn: number, hook: string | undefined, args: string[], setup: (dir: string) => void = () => {}): Promise<FuzzFiles> {
  const dir = mkdtempSync(join(tmpdir(), "saelab-fuzz-seed-features-"));
  try {
    const sae = createSae(referenceKernels(), SaeConfigSchema.parse({ architecture: "standard", dSae: 8 }), { dIn, seed: 5 });
    saveSaelensSae(join(dir, "sae"), sae, {}, hook ? { hook_name: hook } : {});
    setup(dir);
    const err: string[] = [];
    const code = await main(["features", "sae", "--backend", "reference", ...args], { out: () => {}, err: (t) => err.push(t), isTTY: false, cwd: dir });
    if (code !== 0) throw new Error(`the dashboard fuzz seed: saelab features ${args.join(" ")} failed: ${err.join("\n")}`);
    const files: FuzzFiles = {};
    for (const f of ["cfg.json", "sae_weights.safetensors", "features.sqlite"]) files[f] = readFileSync(join(dir, "sae", f));
    return files;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every answer the dashboard's page asks for, as JSON text. */
async function readAsDashboard(dir: string): Promise<{ answers: string[]; listed: number[]; totals: number[]; features: boolean }> {
  const api = new Api(buildCatalog([dir], dir));
  try {
    const answers: string[] = [];
    const overview = api.overview() as { saes: { id: string; features: boolean }[] };
    answers.push(JSON.stringify(overview));
    const id = overview.saes[0]!.id;
    answers.push(JSON.stringify(api.saeInfo(id)));
    const totals: number[] = [];
    let listed: number[] = [];
    for (const sort of Object.keys(LATENT_SORTS)) {
      const seen: number[] = [];
      let total = 0;
      for (let offset = 0; offset === 0 || offset < total; offset += 200) {
        const page = api.latents(id, { offset, limit: 200, sort, search: "" }) as { total: number; rows: { latent: number }[] };
        answers.push(JSON.stringify(page));
        total = page.total;
        seen.push(...page.rows.map((r) => r.latent));
        if (page.rows.length === 0) break;
      }
      totals.push(total, seen.length);
      if (sort === "latent") listed = seen;
    }
    for (const search of ["the", "3"]) answers.push(JSON.stringify(api.latents(id, { offset: 0, limit: 50, sort: "density", search })));
    for (const j of listed) answers.push(JSON.stringify(api.latent(id, j)));
    answers.push(JSON.stringify(api.hierarchy(id)));
    try {
      answers.push(JSON.stringify(api.heatmap(id)));
    } catch (e) {
      // A language-model store has no toy-world evaluation: the page shows none.
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    return { answers, listed, totals, features: overview.saes[0]!.features };
  } finally {
    api.close();
  }
}

/** The features.sqlite fuzz target (only the database is mutated; the SAE's own files are the saelens target's). */
export const dashboardTarget: FuzzTarget = {
  name: "dashboard-store",
  entry: "",
  mutable: ["features.sqlite"],
  seeds: async () => [
    await featuresSeed(getPreset("absorption-basic").dModel, undefined, ["--preset", "absorption-basic", "--tokens", "600", "--detectRows", "512", "--top", "4", "--samples", "2"]),
    await featuresSeed(8, "blocks.0.hook_resid_post", ["--model", "model.bin", "--tokenizer", "tok.bin", "--corpus", "corpus.txt", "--seqLen", "8", "--top", "4", "--samples", "2", "--logitTokens", "3"], (dir) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "model.bin"), tinyCheckpoint(true, tinyVocab().pieces.length));
      writeFileSync(join(dir, "tok.bin"), serializeLlama2cTokenizer(tinyVocab()));
      writeFileSync(join(dir, "corpus.txt"), STORY);
    }),
  ],
  load: (dir) => readAsDashboard(dir),
  check: (loaded) => {
    const r = loaded as Awaited<ReturnType<typeof readAsDashboard>>;
    if (!r.features) return "the store was accepted but the overview says the SAE has no features";
    for (let i = 0; i < r.totals.length; i += 2) if (r.totals[i] !== r.totals[i + 1]) return `the latent list says ${r.totals[i]} latents but its pages hold ${r.totals[i + 1]}`;
    if (new Set(r.listed).size !== r.listed.length) return "the latent list repeats a latent";
    return undefined;
  },
};
