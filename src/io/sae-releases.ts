/**
 * SAEs by SAELens release name: `gpt2-small-res-jb` + `blocks.8.hook_resid_pre` -> a local SAELens
 * directory. The release -> repo, path and model entries live in ./sae-releases.json (taken from
 * SAELens's pretrained_saes.yaml by scripts/sae-releases-from-saelens.py). SAELens-format releases are
 * used straight from the Hugging Face cache; Gemma Scope's params.npz is converted once into a
 * SAELens directory under saelab's own cache (`<saelabCache>/saes/<repo folder>/<commit>/<path>`).
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { distance } from "fastest-levenshtein";
import { z } from "zod";
import { parseConfig, UserError } from "../errors.js";
import { writeFileAtomic } from "./atomic.js";
import { snapshotDownload, type HubConfig, type Snapshot } from "./hub.js";
import { readNpz } from "./npz.js";
import { SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME } from "./saelens.js";
import { writeSafetensors } from "./safetensors.js";
import releasesJson from "./sae-releases.json" with { type: "json" };

const ReleaseSchema = z
  .object({
    repo: z.string().describe("Hub repo holding the release's SAEs."),
    model: z.string().describe("TransformerLens name of the model the SAEs read."),
    format: z.enum(["saelens", "gemma_scope"]).describe("saelens: cfg.json + sae_weights.safetensors per folder; gemma_scope: params.npz per folder."),
    saes: z.record(z.string(), z.string()).describe("SAE id -> folder in the repo."),
  })
  .strict();
const RegistrySchema = z.object({ source: z.string(), releases: z.record(z.string(), ReleaseSchema) }).strict();

/** One SAELens release. */
export type SaeRelease = z.infer<typeof ReleaseSchema>;

/** The built-in release registry (validated once per call; it is small). */
export function saeReleases(): Readonly<Record<string, SaeRelease>> {
  return parseConfig(RegistrySchema, releasesJson, "src/io/sae-releases.json").releases;
}

/** Returns up to `n` of `options` closest to `word` by edit distance. */
export function closestNames(word: string, options: readonly string[], n = 3): string[] {
  const w = word.toLowerCase();
  return [...options]
    .map((o) => ({ o, d: distance(w, o.toLowerCase()) - (o.toLowerCase().includes(w) ? w.length / 2 : 0) }))
    .sort((a, b) => a.d - b.d || a.o.localeCompare(b.o))
    .slice(0, n)
    .map((x) => x.o);
}

/** A resolved SAE of a release. */
export interface ReleaseSae {
  releaseName: string;
  release: SaeRelease;
  saeId: string;
  /** Folder in the repo. */
  path: string;
}

/** Returns the release entry for `release`/`saeId`, or a UserError naming the closest releases or SAE ids. */
export function lookupReleaseSae(releaseName: string, saeId: string): ReleaseSae {
  const all = saeReleases();
  const release = all[releaseName];
  if (!release) {
    throw new UserError(`unknown SAE release "${releaseName}"; closest: ${closestNames(releaseName, Object.keys(all)).join(", ")} (saelab sae fetch --help lists them all)`);
  }
  const path = release.saes[saeId];
  if (path === undefined) {
    throw new UserError(`release ${releaseName} has no SAE "${saeId}"; closest: ${closestNames(saeId, Object.keys(release.saes)).join(", ")} (saelab sae fetch ${releaseName} lists all ${Object.keys(release.saes).length})`);
  }
  return { releaseName, release, saeId, path };
}

/** Splits `RELEASE/SAE_ID` when RELEASE is a known release name; null otherwise. */
export function splitReleaseRef(ref: string): { release: string; saeId: string } | null {
  const slash = ref.indexOf("/");
  if (slash <= 0) return null;
  const release = ref.slice(0, slash);
  return saeReleases()[release] ? { release, saeId: ref.slice(slash + 1) } : null;
}

/** Returns saelab's own cache directory (SAELAB_CACHE, else XDG_CACHE_HOME/saelab, else ~/.cache/saelab). */
export function saelabCacheDir(env: Readonly<Record<string, string | undefined>>): string {
  return env.SAELAB_CACHE ?? join(env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), ".cache"), "saelab");
}

/** Where a fetched release SAE ended up. */
export interface FetchedSae {
  /** A SAELens SAE directory. */
  dir: string;
  sae: ReleaseSae;
  snapshot: Snapshot;
  /** Whether params.npz was converted by this call. */
  converted: boolean;
}

const GEMMA_SCOPE_ARRAYS = ["W_enc", "W_dec", "b_enc", "b_dec", "threshold"] as const;

/** Downloads (or finds in the cache) one SAE of a release and returns its SAELens directory. */
export async function fetchReleaseSae(cfg: HubConfig, saelabCache: string, releaseName: string, saeId: string): Promise<FetchedSae> {
  const sae = lookupReleaseSae(releaseName, saeId);
  const { release, path } = sae;
  const inFolder = (f: string) => (dir: string) => existsSync(join(dir, path, f));
  if (release.format === "saelens") {
    const snapshot = await snapshotDownload(cfg, {
      repo: release.repo,
      folder: path,
      include: (p) => [SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME, "sparsity.safetensors"].some((f) => p === `${path}/${f}`),
      isComplete: (d) => inFolder(SAE_CFG_FILENAME)(d) && inFolder(SAE_WEIGHTS_FILENAME)(d),
      describeMissing: (d) => `${path}/${inFolder(SAE_CFG_FILENAME)(d) ? SAE_WEIGHTS_FILENAME : SAE_CFG_FILENAME}`,
    });
    return { dir: join(snapshot.dir, path), sae, snapshot, converted: false };
  }
  const snapshot = await snapshotDownload(cfg, {
    repo: release.repo,
    folder: path,
    include: (p) => p === `${path}/params.npz`,
    isComplete: inFolder("params.npz"),
    describeMissing: () => `${path}/params.npz`,
  });
  const dir = join(saelabCache, "saes", `models--${release.repo.split("/").join("--")}`, snapshot.commit, path);
  if (existsSync(join(dir, SAE_CFG_FILENAME))) return { dir, sae, snapshot, converted: false };
  convertGemmaScope(join(snapshot.dir, path, "params.npz"), dir, sae);
  return { dir, sae, snapshot, converted: true };
}

/** The hook a Gemma Scope SAE reads, as SAELens's gemma_2 loader derives it from the repo and folder. */
export function gemmaScopeHook(repo: string, path: string): string {
  const layer = /layer_(\d+)/.exec(path)?.[1];
  if (/embedding/.test(path)) return "hook_embed";
  if (layer === undefined) throw new UserError(`Gemma Scope folder "${path}" names no layer`);
  if (/-res\b/.test(repo)) return `blocks.${layer}.hook_resid_post`;
  if (/-mlp\b/.test(repo)) return `blocks.${layer}.hook_mlp_out`;
  if (/-att\b/.test(repo)) return `blocks.${layer}.attn.hook_z`;
  throw new UserError(`cannot tell the hook of Gemma Scope repo ${repo}`);
}

/** Writes Gemma Scope's params.npz as a SAELens jumprelu directory at `outDir` (built beside it, then renamed into place). */
export function convertGemmaScope(npzPath: string, outDir: string, sae: ReleaseSae): void {
  // Gemma Scope names the encoder "W_enc"; SAELens also accepts a lower-case "w_" prefix.
  const canonical = (n: string) => (n.startsWith("w_") ? `W_${n.slice(2)}` : n);
  const npz = readNpz(npzPath, (n) => (GEMMA_SCOPE_ARRAYS as readonly string[]).includes(canonical(n)));
  const get = (name: string) => [...npz.arrays].find(([k]) => canonical(k) === name)?.[1];
  const missing = GEMMA_SCOPE_ARRAYS.filter((n) => !get(n));
  if (missing.length) {
    throw new UserError(`${npzPath}: a Gemma Scope params.npz needs arrays ${GEMMA_SCOPE_ARRAYS.join(", ")}; missing ${missing.join(", ")} (it holds ${npz.names.join(", ") || "nothing"})`);
  }
  const W_enc = get("W_enc")!;
  if (W_enc.shape.length !== 2) throw new UserError(`${npzPath}: W_enc has shape [${W_enc.shape.join(", ")}], expected [d_in, d_sae]`);
  const [dIn, dSae] = W_enc.shape as [number, number];
  const want: Record<string, number[]> = { W_enc: [dIn, dSae], W_dec: [dSae, dIn], b_enc: [dSae], b_dec: [dIn], threshold: [dSae] };
  const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const name of GEMMA_SCOPE_ARRAYS) {
    const a = get(name)!;
    if (a.shape.join(",") !== want[name]!.join(",")) throw new UserError(`${npzPath}: ${name} has shape [${a.shape.join(", ")}], expected [${want[name]!.join(", ")}] (from W_enc [${dIn}, ${dSae}])`);
    if (!(a.data instanceof Float32Array)) throw new UserError(`${npzPath}: ${name} is ${a.descr}, expected floats`);
    if (a.data.some((v) => !Number.isFinite(v))) throw new UserError(`${npzPath}: ${name} holds NaN or Inf values`);
    tensors[name] = { data: a.data, shape: a.shape };
  }
  if (/embedding/.test(sae.path)) {
    // As SAELens does: the embedding SAEs were trained on embeddings before Gemma's sqrt(d_model) scale.
    const s = Math.sqrt(dIn);
    tensors.W_enc!.data = tensors.W_enc!.data.map((v) => v / s);
    tensors.W_dec!.data = tensors.W_dec!.data.map((v) => v * s);
  }
  const cfg = {
    d_in: dIn,
    d_sae: dSae,
    dtype: "float32",
    device: "cpu",
    apply_b_dec_to_input: false,
    normalize_activations: "none",
    reshape_activations: "none",
    architecture: "jumprelu",
    metadata: {
      model_name: sae.release.model,
      hook_name: gemmaScopeHook(sae.release.repo, sae.path),
      hook_head_index: null,
      prepend_bos: true,
      context_size: 1024,
      dataset_path: "monology/pile-uncopyrighted",
      sae_lens_version: "6.0.0",
      saelab_source: { release: sae.releaseName, sae_id: sae.saeId, repo: sae.release.repo, path: `${sae.path}/params.npz` },
    },
  };
  const tmp = `${outDir}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    writeSafetensors(join(tmp, SAE_WEIGHTS_FILENAME), tensors);
    writeFileAtomic(join(tmp, SAE_CFG_FILENAME), `${JSON.stringify(cfg, null, 2)}\n`);
    mkdirSync(dirname(outDir), { recursive: true });
    renameSync(tmp, outDir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** A converted SAE in saelab's cache. */
export interface ConvertedSae {
  /** `<repo>@<commit>/<path>` as a relative directory under `<saelabCache>/saes`. */
  name: string;
  dir: string;
  size: number;
}

/** Returns the SAELens directories converted into saelab's cache (those holding cfg.json). */
export function listConvertedSaes(saelabCache: string): ConvertedSae[] {
  const root = join(saelabCache, "saes");
  const out: ConvertedSae[] = [];
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name === SAE_CFG_FILENAME)) {
      const size = entries.filter((e) => e.isFile()).reduce((s, e) => s + statSync(join(dir, e.name)).size, 0);
      out.push({ name: relative(root, dir), dir, size });
      return;
    }
    for (const e of entries) if (e.isDirectory() && !e.name.includes(".tmp-")) walk(join(dir, e.name));
  };
  if (existsSync(root)) walk(root);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
