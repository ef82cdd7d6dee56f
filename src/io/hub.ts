/**
 * The Hugging Face Hub: repo ids -> snapshot directories in the standard HF cache, downloading what
 * is missing. This is the only module of saelab that talks to the network.
 *
 * The cache is huggingface_hub's layout, shared with Python tools:
 *   <cache>/models--org--name/blobs/<etag>              file contents (sha256 for LFS files, git sha1 else)
 *   <cache>/models--org--name/snapshots/<commit>/<path> relative symlinks to the blobs
 *   <cache>/models--org--name/refs/<revision>           the commit a branch or tag pointed to
 * Metadata (commit, file sizes, LFS sha256) comes from @huggingface/hub (`modelInfo`, `listFiles`);
 * what it lacks is added here: ranged resumable downloads into `<blob>.incomplete` (as
 * huggingface_hub names them), size and hash verification, progress, and atomic renames, so a blob
 * or a snapshot link appears only once its bytes are verified. A download holds `<blob>.lock`
 * (file-lock.ts), so two processes fetching the same file do not write one `.incomplete` at once:
 * the second waits and then finds the blob.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { listFiles, modelInfo, type ListFileEntry } from "@huggingface/hub";
import { UserError } from "../errors.js";
import { writeFileAtomic } from "./atomic.js";
import { withFileLock } from "./file-lock.js";

export const DEFAULT_HUB_ENDPOINT = "https://huggingface.co";

/** How saelab reaches the Hub; built from the environment at the CLI edge (`hubConfigFromEnv`). */
export interface HubConfig {
  /** Hub base URL without a trailing slash (HF_ENDPOINT). */
  endpoint: string;
  /** The hub cache directory (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir: string;
  /** Access token for gated or private repos (HF_TOKEN). */
  token?: string | undefined;
  /** Never touch the network (HF_HUB_OFFLINE=1 or --offline). */
  offline: boolean;
  /** Called as bytes arrive. */
  onProgress?: ((p: DownloadProgress) => void) | undefined;
  /** Attempts per file when a transfer breaks off (each resumes where the last stopped); default 3. */
  attempts?: number;
}

/** Progress of a snapshot download, in bytes over every file still to fetch. */
export interface DownloadProgress {
  file: string;
  bytesDone: number;
  bytesTotal: number;
}

type Env = Readonly<Record<string, string | undefined>>;

const truthy = (v: string | undefined): boolean => v !== undefined && ["1", "true", "yes", "on"].includes(v.trim().toLowerCase());

/** Returns the hub cache directory huggingface_hub would use for `env`. */
export function hubCacheDir(env: Env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  const home = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), ".cache"), "huggingface");
  return join(home, "hub");
}

/** Returns the Hub configuration that `env` (HF_ENDPOINT, HF_HUB_CACHE/HF_HOME, HF_TOKEN, HF_HUB_OFFLINE) and `--offline` give. */
export function hubConfigFromEnv(env: Env, flags: { offline?: boolean | undefined } = {}): HubConfig {
  const endpoint = (env.HF_ENDPOINT || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, "");
  const token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
  return { endpoint, cacheDir: hubCacheDir(env), token, offline: Boolean(flags.offline) || truthy(env.HF_HUB_OFFLINE) };
}

const REPO_ID = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** Whether `s` is spelled like a Hub repo id (`gpt2`, `EleutherAI/pythia-70m-deduped`). */
export function isRepoId(s: string): boolean {
  return REPO_ID.test(s) && !s.includes("..") && !s.endsWith(".git");
}

/** Returns the repo's folder in the cache (`models--org--name`). */
export function repoCacheDir(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split("/").join("--")}`);
}

/** Returns the cached snapshot directory for `revision` (a commit, or a ref recorded in refs/), or null. */
export function cachedSnapshotDir(cacheDir: string, repo: string, revision: string): string | null {
  const root = repoCacheDir(cacheDir, repo);
  let commit = revision;
  if (!COMMIT.test(revision)) {
    const ref = join(root, "refs", revision);
    if (!existsSync(ref)) return null;
    commit = readFileSync(ref, "utf8").trim();
  }
  const dir = join(root, "snapshots", commit);
  return existsSync(dir) ? dir : null;
}

/** A model repo in the cache. */
export interface CachedRepo {
  repo: string;
  /** Bytes of its blobs on disk. */
  size: number;
  files: number;
  /** Commits held, each with the refs pointing at it. */
  revisions: { commit: string; refs: string[] }[];
}

/**
 * Returns the model repos in the hub cache (none when it does not exist), sorted by id. Written here
 * rather than with @huggingface/hub's scanCacheDir, which skips files in snapshot subfolders.
 */
export function scanHubCache(cacheDir: string): CachedRepo[] {
  if (!existsSync(cacheDir)) return [];
  const out: CachedRepo[] = [];
  for (const d of readdirSync(cacheDir, { withFileTypes: true })) {
    if (!d.isDirectory() || !d.name.startsWith("models--")) continue;
    const root = join(cacheDir, d.name);
    const blobs = join(root, "blobs");
    const sizes = existsSync(blobs) ? readdirSync(blobs).filter((f) => !f.endsWith(".incomplete") && !f.endsWith(".lock")).map((f) => statSync(join(blobs, f)).size) : [];
    const refs = new Map<string, string[]>();
    const walkRefs = (dir: string, prefix: string): void => {
      for (const r of readdirSync(dir, { withFileTypes: true })) {
        if (r.isDirectory()) walkRefs(join(dir, r.name), `${prefix}${r.name}/`);
        else {
          const commit = readFileSync(join(dir, r.name), "utf8").trim();
          refs.set(commit, [...(refs.get(commit) ?? []), prefix + r.name]);
        }
      }
    };
    if (existsSync(join(root, "refs"))) walkRefs(join(root, "refs"), "");
    const snaps = existsSync(join(root, "snapshots")) ? readdirSync(join(root, "snapshots")) : [];
    out.push({
      repo: d.name.slice("models--".length).split("--").join("/"),
      size: sizes.reduce((a, b) => a + b, 0),
      files: sizes.length,
      revisions: snaps.sort().map((commit) => ({ commit, refs: (refs.get(commit) ?? []).sort() })),
    });
  }
  return out.sort((a, b) => a.repo.localeCompare(b.repo));
}

/** What to fetch from one repo. */
export interface SnapshotRequest {
  repo: string;
  /** Branch, tag or commit; default "main". */
  revision?: string | undefined;
  /** Folder inside the repo to list (default: the root); `recursive` lists below it too. */
  folder?: string;
  recursive?: boolean;
  /** Which listed files to fetch (by repo path). */
  include: (path: string) => boolean;
  /** Whether a cached snapshot already holds everything the caller needs (then no request is made). */
  isComplete: (snapshotDir: string) => boolean;
  /** Names the missing piece when the snapshot is still incomplete after downloading (e.g. "config.json"). */
  describeMissing?: (snapshotDir: string) => string;
}

/** A snapshot on disk. */
export interface Snapshot {
  dir: string;
  commit: string;
  /** Repo paths fetched over the network by this call (empty on a cache hit). */
  downloaded: string[];
}

/** Returns the snapshot directory for the request, downloading the missing files into the cache (none when it is complete). */
export async function snapshotDownload(cfg: HubConfig, req: SnapshotRequest): Promise<Snapshot> {
  const { repo } = req;
  const revision = req.revision ?? "main";
  if (!isRepoId(repo)) throw new UserError(`"${repo}" is not a Hub repo id (expected "name" or "org/name")`);
  const cached = cachedSnapshotDir(cfg.cacheDir, repo, revision);
  if (cached && req.isComplete(cached)) return { dir: cached, commit: cached.split(/[\\/]/).pop()!, downloaded: [] };
  if (cfg.offline) {
    throw new UserError(
      `${repo}@${revision} is not complete in the Hugging Face cache (${cfg.cacheDir}) and the Hub is off limits ` +
        `(HF_HUB_OFFLINE=1 or --offline); run once with network access to download it`,
    );
  }
  const creds = { hubUrl: cfg.endpoint, ...(cfg.token ? { accessToken: cfg.token } : {}) };
  const commit = COMMIT.test(revision)
    ? revision
    : await hubCall(cfg, repo, revision, async () => (await modelInfo({ ...creds, name: repo, revision, additionalFields: ["sha"] })).sha);
  if (typeof commit !== "string" || !COMMIT.test(commit)) throw new UserError(`${cfg.endpoint}: no commit id for ${repo}@${revision} in the Hub's answer`);
  const entries = await hubCall(cfg, repo, revision, async () => {
    const out: ListFileEntry[] = [];
    for await (const e of listFiles({ ...creds, repo: { type: "model", name: repo }, revision: commit, ...(req.folder ? { path: req.folder } : {}), recursive: req.recursive ?? false })) {
      if (e.type === "file" && req.include(e.path)) out.push(e);
    }
    return out;
  });
  const root = repoCacheDir(cfg.cacheDir, repo);
  const snapDir = join(root, "snapshots", commit);
  const todo = entries.filter((e) => !existsSync(join(snapDir, e.path)));
  const bytesTotal = todo.reduce((s, e) => s + (e.lfs?.size ?? e.size), 0);
  let bytesBefore = 0;
  const downloaded: string[] = [];
  for (const e of todo) {
    const { blob, fetched } = await fetchBlob(cfg, repo, commit, e, root, (n) => cfg.onProgress?.({ file: e.path, bytesDone: bytesBefore + n, bytesTotal }));
    bytesBefore += e.lfs?.size ?? e.size;
    if (fetched) downloaded.push(e.path);
    linkAtomic(blob, join(snapDir, e.path));
  }
  if (revision !== commit) writeFileAtomic(join(root, "refs", revision), commit);
  if (!req.isComplete(snapDir)) {
    const what = req.describeMissing?.(snapDir) ?? "the files it needs";
    throw new UserError(`${repo}@${revision} (commit ${commit}) on ${cfg.endpoint} lacks ${what}`);
  }
  return { dir: snapDir, commit, downloaded };
}

/** The hash a file's blob name is checked against: LFS files by sha256, the others by their git blob sha1. */
function expectedHash(e: ListFileEntry): { algo: "sha256" | "sha1"; hex: string; size: number; gitHeader: boolean } {
  if (e.lfs) return { algo: "sha256", hex: e.lfs.oid, size: e.lfs.size, gitHeader: false };
  if (!e.oid) throw new UserError(`the Hub listed ${e.path} without a hash to check it against`);
  return { algo: "sha1", hex: e.oid, size: e.size, gitHeader: true };
}

/** Returns the blob of one file in blobs/, downloading it (under its lock) when missing, and whether this call fetched it. */
async function fetchBlob(cfg: HubConfig, repo: string, commit: string, e: ListFileEntry, root: string, onBytes: (n: number) => void): Promise<{ blob: string; fetched: boolean }> {
  const want = expectedHash(e);
  if (!/^[0-9a-f]{40,64}$/.test(want.hex)) throw new UserError(`the Hub gave ${e.path} the malformed hash "${want.hex}"`);
  const blob = join(root, "blobs", want.hex);
  if (existsSync(blob) && statSync(blob).size === want.size) return { blob, fetched: false };
  await mkdir(dirname(blob), { recursive: true });
  // One writer per blob: a second process (or call) fetching the same file waits, then finds the blob.
  return withFileLock(`${blob}.lock`, async () => {
    if (existsSync(blob) && statSync(blob).size === want.size) return { blob, fetched: false };
    await downloadBlob(cfg, repo, commit, e, blob, want, onBytes);
    return { blob, fetched: true };
  });
}

/** Downloads `e` into `<blob>.incomplete` (resuming it), checks its size and hash, and renames it to `blob`; the caller holds the blob's lock. */
async function downloadBlob(cfg: HubConfig, repo: string, commit: string, e: ListFileEntry, blob: string, want: ReturnType<typeof expectedHash>, onBytes: (n: number) => void): Promise<void> {
  const partial = `${blob}.incomplete`;
  const url = `${cfg.endpoint}/${repo}/resolve/${commit}/${e.path.split("/").map(encodeURIComponent).join("/")}`;
  const attempts = cfg.attempts ?? 3;
  let lastError: unknown = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    let have = existsSync(partial) ? statSync(partial).size : 0;
    if (have > want.size) {
      rmSync(partial);
      have = 0;
    }
    try {
      if (have < want.size) await transfer(cfg, repo, url, e.path, partial, have, want.size, onBytes);
      lastError = null;
      break;
    } catch (err) {
      if (err instanceof UserError) throw err;
      lastError = err;
    }
  }
  if (lastError) {
    const have = existsSync(partial) ? statSync(partial).size : 0;
    throw new UserError(
      `download of ${repo}/${e.path} broke off after ${have} of ${want.size} bytes (${describeNetworkError(lastError)}); ` +
        `run the command again to resume from ${partial}`,
    );
  }
  const size = statSync(partial).size;
  const got = await hashFile(partial, want.algo, want.gitHeader ? size : null);
  if (size !== want.size || got !== want.hex) {
    rmSync(partial, { force: true });
    throw new UserError(
      `downloaded ${repo}/${e.path} is corrupt: ${size} bytes with ${want.algo} ${got}, but the Hub's metadata says ` +
        `${want.size} bytes with ${want.algo} ${want.hex}; the bad file was removed, run the command again`,
    );
  }
  renameSync(partial, blob);
}

/** Appends bytes [have, size) of `url` to `partial` with a Range request (from scratch when the server ignores it). */
async function transfer(cfg: HubConfig, repo: string, url: string, path: string, partial: string, have: number, size: number, onBytes: (n: number) => void): Promise<void> {
  const headers: Record<string, string> = { "user-agent": "saelab" };
  if (cfg.token) headers.authorization = `Bearer ${cfg.token}`;
  if (have > 0) headers.range = `bytes=${have}-`;
  const resp = await fetch(url, { headers, redirect: "follow" });
  if (resp.status === 401 || resp.status === 403 || resp.status === 404) {
    await resp.body?.cancel();
    throw accessError(cfg, repo, resp.status, path);
  }
  if (resp.status !== 200 && resp.status !== 206) {
    await resp.body?.cancel();
    throw new Error(`HTTP ${resp.status} from ${url}`);
  }
  let offset = have;
  if (resp.status === 200 || !(resp.headers.get("content-range") ?? "").startsWith(`bytes ${have}-`)) offset = 0;
  const fh = await open(partial, offset === 0 ? "w" : "r+");
  try {
    let pos = offset;
    onBytes(pos);
    if (!resp.body) throw new Error(`empty body from ${url}`);
    for await (const chunk of resp.body as unknown as AsyncIterable<Uint8Array>) {
      if (pos + chunk.byteLength > size) throw new UserError(`${repo}/${path}: the server sent more than the ${size} bytes the Hub's metadata gives`);
      await fh.write(chunk, 0, chunk.byteLength, pos);
      pos += chunk.byteLength;
      onBytes(pos);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Returns the hex digest of a file (as a git blob object when `gitSize` is given). */
async function hashFile(path: string, algo: "sha256" | "sha1", gitSize: number | null): Promise<string> {
  const h: Hash = createHash(algo);
  if (gitSize !== null) h.update(`blob ${gitSize}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Points `link` at `target` with a relative symlink, swapped in by rename so no reader sees a half-made link. */
function linkAtomic(target: string, link: string): void {
  const dir = dirname(link);
  mkdirSync(dir, { recursive: true });
  const rel = relative(dir, target);
  if (existsSync(link) && readlinkSafe(link) === rel) return;
  const tmp = `${link}.tmp-${process.pid}-${Date.now().toString(36)}`;
  symlinkSync(rel, tmp);
  renameSync(tmp, link);
}

function readlinkSafe(p: string): string | null {
  try {
    return readlinkSync(p);
  } catch {
    return null;
  }
}


/** Runs a metadata call, turning the Hub's HTTP and network errors into messages that say what to do. */
async function hubCall<T>(cfg: HubConfig, repo: string, revision: string, f: () => Promise<T>): Promise<T> {
  // A connection reset (a pooled keep-alive socket the server just closed) is tried again, as huggingface_hub does.
  let err: unknown = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await f();
    } catch (e) {
      err = e;
      if (e instanceof UserError || typeof (e as { statusCode?: unknown }).statusCode === "number") break;
    }
  }
  if (err instanceof UserError) throw err;
  const status = (err as { statusCode?: unknown }).statusCode;
  if (typeof status === "number") {
    if (status === 404) throw new UserError(`${repo}@${revision}: not found on ${cfg.endpoint} (404): check the repo id and --revision`);
    if (status === 401 || status === 403) throw accessError(cfg, repo, status);
    throw new UserError(`${cfg.endpoint} answered ${status} for ${repo}@${revision}: ${(err as Error).message}`);
  }
  throw new UserError(`cannot reach the Hub at ${cfg.endpoint} for ${repo} (${describeNetworkError(err)}); use --offline (or HF_HUB_OFFLINE=1) to work from the cache`);
}

/** The explanation of a 401/403/404 on a repo or file. */
function accessError(cfg: HubConfig, repo: string, status: number, path?: string): UserError {
  const what = path ? `${repo}/${path}` : repo;
  if (status === 404) return new UserError(`${what}: not found on ${cfg.endpoint} (404)`);
  const page = `${cfg.endpoint}/${repo}`;
  if (status === 403) {
    return new UserError(
      `${what}: the Hub refused the token in HF_TOKEN (403 Forbidden): the model is gated and this account has no access yet; ` +
        `request access on ${page} (logged in as the token's owner) and try again`,
    );
  }
  return new UserError(
    `${what}: the Hub requires authentication (401 Unauthorized)${cfg.token ? " and rejected the token in HF_TOKEN" : ""}: the model is gated or private. ` +
      `Accept its terms on ${page}, create an access token at ${cfg.endpoint}/settings/tokens and set HF_TOKEN to it`,
  );
}

function describeNetworkError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return [e.message, e.cause?.code ?? e.cause?.message].filter(Boolean).join(": ") || String(err);
}
