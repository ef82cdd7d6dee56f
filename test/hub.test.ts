import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scanCacheDir } from "@huggingface/hub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../src/errors.js";
import { hubCacheDir, hubConfigFromEnv, repoCacheDir, snapshotDownload, type HubConfig, type SnapshotRequest } from "../src/io/hub.js";
import { fakeCommit, startFakeHub, type FakeHub } from "./helpers/hub-server.js";

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const enc = (s: string) => new TextEncoder().encode(s);
const CONFIG = enc('{"model_type":"gpt2"}');
const WEIGHTS = randomBytes(200_003, 1);
const TOK = randomBytes(3_000, 2);
const COMMIT = fakeCommit("tiny");
const FILES = ["config.json", "model.safetensors", "tokenizer.json"];

const modelRequest = (repo: string, extra: Partial<SnapshotRequest> = {}): SnapshotRequest => ({
  repo,
  include: (p) => FILES.includes(p),
  isComplete: (dir) => FILES.every((f) => existsSync(join(dir, f))),
  ...extra,
});

describe("Hub downloads into the HF cache (local fake Hub)", () => {
  let hub: FakeHub;
  const root = mkdtempSync(join(tmpdir(), "saelab-hub-"));
  let n = 0;
  const freshCfg = (over: Partial<HubConfig> = {}): HubConfig => ({ endpoint: hub.endpoint, cacheDir: join(root, `cache${n++}`), offline: false, ...over });

  beforeAll(async () => {
    hub = await startFakeHub({
      "org/tiny": { commit: COMMIT, files: { "config.json": CONFIG, "model.safetensors": WEIGHTS, "tokenizer.json": TOK, "README.md": enc("hi"), "sub/extra.bin": randomBytes(100, 3) } },
      gpt2: { commit: fakeCommit("gpt2"), files: { "config.json": CONFIG, "model.safetensors": WEIGHTS, "tokenizer.json": TOK } },
      "corp/gated": { commit: fakeCommit("gated"), gatedToken: "hf_right", files: { "config.json": CONFIG, "model.safetensors": WEIGHTS, "tokenizer.json": TOK } },
    });
  });
  afterAll(async () => hub.close());

  it("first download lays out blobs, snapshot links and refs as huggingface_hub does", async () => {
    const cfg = freshCfg();
    const progress: number[] = [];
    const snap = await snapshotDownload({ ...cfg, onProgress: (p) => progress.push(p.bytesDone) }, modelRequest("org/tiny"));
    const repoDir = repoCacheDir(cfg.cacheDir, "org/tiny");
    expect(repoDir).toBe(join(cfg.cacheDir, "models--org--tiny"));
    expect(snap.dir).toBe(join(repoDir, "snapshots", COMMIT));
    expect(snap.commit).toBe(COMMIT);
    expect(snap.downloaded.sort()).toEqual([...FILES].sort());
    expect(readFileSync(join(repoDir, "refs", "main"), "utf8")).toBe(COMMIT);
    expect(new Uint8Array(readFileSync(join(snap.dir, "model.safetensors")))).toEqual(WEIGHTS);
    expect(new Uint8Array(readFileSync(join(snap.dir, "config.json")))).toEqual(CONFIG);
    // LFS files are stored under their sha256, small files under their git blob sha1; the links are relative.
    const sha = createHash("sha256").update(WEIGHTS).digest("hex");
    expect(lstatSync(join(snap.dir, "model.safetensors")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(snap.dir, "model.safetensors"))).toBe(join("..", "..", "blobs", sha));
    const gitSha = createHash("sha1").update(`blob ${CONFIG.byteLength}\0`).update(CONFIG).digest("hex");
    expect(existsSync(join(repoDir, "blobs", gitSha))).toBe(true);
    expect(readdirSync(join(repoDir, "blobs")).some((f) => f.includes("incomplete"))).toBe(false);
    expect(existsSync(join(snap.dir, "README.md"))).toBe(false);
    expect(progress.at(-1)).toBe(CONFIG.byteLength + WEIGHTS.byteLength + TOK.byteLength);
    // @huggingface/hub's own cache scanner (the huggingface_hub layout) reads what we wrote.
    const scan = await scanCacheDir(cfg.cacheDir);
    expect(scan.warnings).toEqual([]);
    const repo = scan.repos.find((r) => r.id.name === "org/tiny")!;
    expect(repo.revisions[0]!.commitOid).toBe(COMMIT);
    expect(repo.revisions[0]!.refs).toEqual(["main"]);
    expect(repo.filesCount).toBe(3);
  });

  it("a cached snapshot is used without any request; a repo id without an org works", async () => {
    const cfg = freshCfg();
    await snapshotDownload(cfg, modelRequest("gpt2"));
    expect(existsSync(join(cfg.cacheDir, "models--gpt2", "refs", "main"))).toBe(true);
    const before = hub.log.length;
    const again = await snapshotDownload(cfg, modelRequest("gpt2"));
    expect(hub.log.length).toBe(before);
    expect(again.downloaded).toEqual([]);
    // Offline mode reads the same cache without the network.
    const off = await snapshotDownload({ ...cfg, offline: true }, modelRequest("gpt2"));
    expect(off.dir).toBe(again.dir);
    expect(hub.log.length).toBe(before);
  });

  it("a pinned commit needs no revision lookup and writes no ref", async () => {
    const cfg = freshCfg();
    const before = hub.log.length;
    const snap = await snapshotDownload(cfg, modelRequest("org/tiny", { revision: COMMIT }));
    const urls = hub.log.slice(before).map((r) => r.url);
    expect(urls.some((u) => u.includes("/revision/"))).toBe(false);
    expect(urls.every((u) => !u.includes("/resolve/") || u.includes(`/resolve/${COMMIT}/`))).toBe(true);
    expect(snap.commit).toBe(COMMIT);
    expect(existsSync(join(repoCacheDir(cfg.cacheDir, "org/tiny"), "refs"))).toBe(false);
  });

  it("a transfer that breaks off is resumed with a Range request, in the same call or the next", async () => {
    const cfg = freshCfg();
    hub.breakOnce.add("org/tiny:model.safetensors");
    const before = hub.log.length;
    const snap = await snapshotDownload(cfg, modelRequest("org/tiny"));
    expect(new Uint8Array(readFileSync(join(snap.dir, "model.safetensors")))).toEqual(WEIGHTS);
    const ranged = hub.log.slice(before).filter((r) => r.url.endsWith("model.safetensors") && r.range);
    expect(ranged.length).toBe(1);
    const from = Number(/bytes=(\d+)-/.exec(ranged[0]!.range!)![1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThan(WEIGHTS.byteLength);

    // With one attempt the call fails, keeps the partial file, and the next call resumes it.
    const cfg1 = freshCfg({ attempts: 1 });
    hub.breakOnce.add("org/tiny:model.safetensors");
    const err = await snapshotDownload(cfg1, modelRequest("org/tiny")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String((err as Error).message)).toMatch(/model\.safetensors broke off after \d+ of 200003 bytes.*run the command again to resume/);
    const blobs = join(repoCacheDir(cfg1.cacheDir, "org/tiny"), "blobs");
    const partials = readdirSync(blobs).filter((f) => f.endsWith(".incomplete"));
    expect(partials.length).toBe(1);
    const partialSize = readFileSync(join(blobs, partials[0]!)).byteLength;
    expect(partialSize).toBeGreaterThan(0);
    expect(existsSync(join(repoCacheDir(cfg1.cacheDir, "org/tiny"), "snapshots", COMMIT, "model.safetensors"))).toBe(false);
    const mark = hub.log.length;
    const snap1 = await snapshotDownload(cfg1, modelRequest("org/tiny"));
    expect(hub.log.slice(mark).find((r) => r.url.endsWith("model.safetensors"))!.range).toBe(`bytes=${partialSize}-`);
    expect(new Uint8Array(readFileSync(join(snap1.dir, "model.safetensors")))).toEqual(WEIGHTS);
    expect(readdirSync(blobs).some((f) => f.endsWith(".incomplete"))).toBe(false);
  });

  it("a file whose bytes do not match the Hub's sha256 is rejected and nothing of it is left in the cache", async () => {
    const cfg = freshCfg();
    const bad = WEIGHTS.slice();
    bad[12345] = 255 - WEIGHTS[12345]!;
    hub.corrupt.set("org/tiny:model.safetensors", bad);
    try {
      const err = await snapshotDownload(cfg, modelRequest("org/tiny")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect(String((err as Error).message)).toMatch(/model\.safetensors is corrupt: 200003 bytes with sha256 [0-9a-f]{64}, but the Hub's metadata says 200003 bytes with sha256/);
    } finally {
      hub.corrupt.clear();
    }
    const repoDir = repoCacheDir(cfg.cacheDir, "org/tiny");
    const sha = createHash("sha256").update(WEIGHTS).digest("hex");
    expect(readdirSync(join(repoDir, "blobs")).filter((f) => f.startsWith(sha))).toEqual([]);
    expect(existsSync(join(repoDir, "snapshots", COMMIT, "model.safetensors"))).toBe(false);
    expect(existsSync(join(repoDir, "refs", "main"))).toBe(false);
    // A clean retry then succeeds.
    const snap = await snapshotDownload(cfg, modelRequest("org/tiny"));
    expect(new Uint8Array(readFileSync(join(snap.dir, "model.safetensors")))).toEqual(WEIGHTS);
  });

  it("offline mode refuses a missing model without any request", async () => {
    const cfg = freshCfg({ offline: true });
    const before = hub.log.length;
    await expect(snapshotDownload(cfg, modelRequest("org/tiny"))).rejects.toThrow(/org\/tiny@main is not complete in the Hugging Face cache .* \(HF_HUB_OFFLINE=1 or --offline\)/);
    expect(hub.log.length).toBe(before);
    // An incomplete snapshot (a file missing) counts as missing too.
    const full = freshCfg();
    const snap = await snapshotDownload(full, modelRequest("org/tiny"));
    const partial = { ...full, offline: true };
    await expect(snapshotDownload(partial, modelRequest("org/tiny", { isComplete: (d) => existsSync(join(d, "nope.json")) }))).rejects.toThrow(/not complete/);
    expect(snap.dir).toContain(COMMIT);
  });

  it("a gated model: 401 without a token and 403 with a wrong one are explained; the right token downloads", async () => {
    const cfg = freshCfg();
    await expect(snapshotDownload(cfg, modelRequest("corp/gated"))).rejects.toThrow(/corp\/gated\/\S+: the Hub requires authentication \(401 Unauthorized\): the model is gated or private\. Accept its terms on http:\/\/127\.0\.0\.1:\d+\/corp\/gated, .*set HF_TOKEN/);
    await expect(snapshotDownload({ ...cfg, token: "hf_wrong" }, modelRequest("corp/gated"))).rejects.toThrow(/403 Forbidden.*request access on/);
    const before = hub.log.length;
    const snap = await snapshotDownload({ ...cfg, token: "hf_right" }, modelRequest("corp/gated"));
    expect(existsSync(join(snap.dir, "model.safetensors"))).toBe(true);
    expect(hub.log.slice(before).every((r) => r.authorization === "Bearer hf_right")).toBe(true);
    // Nothing half-written was left by the refused attempts.
    const blobs = readdirSync(join(repoCacheDir(cfg.cacheDir, "corp/gated"), "blobs"));
    expect(blobs.every((f) => !f.endsWith(".incomplete"))).toBe(true);
  });

  it("unknown repos, unknown revisions, bad ids and an unreachable Hub are clear errors", async () => {
    const cfg = freshCfg();
    await expect(snapshotDownload(cfg, modelRequest("org/nope"))).rejects.toThrow(/org\/nope@main: not found on .* \(404\): check the repo id and --revision/);
    await expect(snapshotDownload(cfg, modelRequest("org/tiny", { revision: "v9" }))).rejects.toThrow(/org\/tiny@v9: not found/);
    await expect(snapshotDownload(cfg, modelRequest("../etc"))).rejects.toThrow(/is not a Hub repo id/);
    await expect(snapshotDownload({ ...cfg, endpoint: "http://127.0.0.1:9" }, modelRequest("org/tiny"))).rejects.toThrow(/cannot reach the Hub at http:\/\/127\.0\.0\.1:9 .*--offline/);
    await expect(snapshotDownload(cfg, modelRequest("org/tiny", { isComplete: () => false, describeMissing: () => "weights.bin" }))).rejects.toThrow(/org\/tiny@main \(commit [0-9a-f]{40}\) on .* lacks weights\.bin/);
  });

  it("a blob another tool already cached is linked, not downloaded again", async () => {
    const cfg = freshCfg();
    const sha = createHash("sha256").update(WEIGHTS).digest("hex");
    const blobs = join(repoCacheDir(cfg.cacheDir, "org/tiny"), "blobs");
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, sha), WEIGHTS);
    const before = hub.log.length;
    await snapshotDownload(cfg, modelRequest("org/tiny"));
    expect(hub.log.slice(before).some((r) => r.url.endsWith("model.safetensors"))).toBe(false);
  });
});

describe("Hub settings from the environment", () => {
  it("follows huggingface_hub's precedence for the cache and reads HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE", () => {
    expect(hubCacheDir({ HF_HUB_CACHE: "/a", HF_HOME: "/b" })).toBe("/a");
    expect(hubCacheDir({ HF_HOME: "/b", XDG_CACHE_HOME: "/c" })).toBe(join("/b", "hub"));
    expect(hubCacheDir({ XDG_CACHE_HOME: "/c" })).toBe(join("/c", "huggingface", "hub"));
    expect(hubCacheDir({ HOME: "/h" })).toBe(join("/h", ".cache", "huggingface", "hub"));
    const c = hubConfigFromEnv({ HF_ENDPOINT: "http://mirror:8080/", HF_TOKEN: "hf_x", HF_HUB_OFFLINE: "1", HF_HOME: "/b" });
    expect(c).toEqual({ endpoint: "http://mirror:8080", token: "hf_x", offline: true, cacheDir: join("/b", "hub") });
    expect(hubConfigFromEnv({}).endpoint).toBe("https://huggingface.co");
    expect(hubConfigFromEnv({ HF_HUB_OFFLINE: "0" }).offline).toBe(false);
    expect(hubConfigFromEnv({}, { offline: true }).offline).toBe(true);
  });
});
