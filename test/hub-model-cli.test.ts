/**
 * `--model <Hub id>` through the CLI: a tiny GPT-2 snapshot with GPT-2's tokenizer, served by a local
 * fake Hub (HF_ENDPOINT), is fetched into the standard HF cache (HF_HUB_CACHE) by `generate`, then
 * read from the cache with no request by `activations --offline` and under HF_HUB_OFFLINE=1; bad ids
 * and offline misses exit 1 with a message. Concurrent fetches of one file write it once: the blob's
 * lock file makes the second wait, and a lock left by a dead process is taken over.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliIO } from "../src/cli/args.js";
import { main } from "../src/cli/main.js";
import { resolveModelPath } from "../src/cli/sae-source.js";
import { openActivations } from "../src/io/activations.js";
import { gpt2TokenizerJson } from "./helpers/tiktoken-tokenizer-json.js";
import { tinyGpt2, writeTinyHf } from "./helpers/hf-models.js";
import { fakeCommit, startFakeHub, type FakeHub } from "./helpers/hub-server.js";

const REPO = "acme/tiny-gpt2";
const COMMIT = fakeCommit("tiny-gpt2");

describe("--model by Hub id on the command line (local fake Hub)", () => {
  let hub: FakeHub;
  const src = writeTinyHf(tinyGpt2(31, "transformer.", 50257));
  const { tokenizer, tokenizerConfig } = gpt2TokenizerJson();
  writeFileSync(join(src, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileSync(join(src, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
  const work = mkdtempSync(join(tmpdir(), "saelab-hubcli-"));
  writeFileSync(join(work, "stories.txt"), "Once upon a time a small fox met a bird.\n\nThe bird sang and the fox listened.");
  let cacheN = 0;
  let cache = join(work, "hf-0");
  const capture = (env: Record<string, string> = {}): CliIO & { stdout: string[]; stderr: string[] } => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTTY: false, cwd: work, env: { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, ...env } };
  };
  const blobsDir = () => join(cache, "models--acme--tiny-gpt2", "blobs");
  const gen = ["generate", "--prompt", "Once upon a time", "--steps", "6", "--temperature", "0"];

  beforeAll(async () => {
    const files: Record<string, Uint8Array> = {};
    for (const f of readdirSync(src)) files[f] = new Uint8Array(readFileSync(join(src, f)));
    hub = await startFakeHub({ [REPO]: { commit: COMMIT, files } });
  });
  afterAll(async () => hub.close());

  it("generate --model org/name downloads into the HF cache and generates what the local snapshot does", async () => {
    const io = capture();
    expect(await main([...gen, "--model", REPO], io), io.stderr.join("\n")).toBe(0);
    expect(io.stderr.join("\n")).toMatch(new RegExp(`downloaded .*model\\.safetensors.* from ${REPO}@${COMMIT.slice(0, 10)}`));
    const snap = join(cache, "models--acme--tiny-gpt2", "snapshots", COMMIT);
    expect(readdirSync(snap).sort()).toEqual(["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    expect(readFileSync(join(cache, "models--acme--tiny-gpt2", "refs", "main"), "utf8")).toBe(COMMIT);
    const local = capture();
    expect(await main([...gen, "--model", src], local)).toBe(0);
    expect(io.stdout.join("")).toBe(local.stdout.join(""));
    expect(io.stdout.join("").length).toBeGreaterThan("Once upon a time".length);
  });

  it("a cached model is read with no request, with --offline or HF_HUB_OFFLINE=1; activations record the Hub id as the model's name", async () => {
    const before = hub.log.length;
    const io = capture();
    expect(await main(["activations", "--model", REPO, "--offline", "--hook", "blocks.0.hook_resid_post", "--corpus", "stories.txt", "--seqLen", "8", "--out", "acts"], io), io.stderr.join("\n")).toBe(0);
    const ds = openActivations(join(work, "acts"));
    expect(ds.manifest.source).toMatchObject({ modelName: REPO, model: join(cache, "models--acme--tiny-gpt2", "snapshots", COMMIT) });
    const env = capture({ HF_HUB_OFFLINE: "1" });
    expect(await main([...gen, "--model", REPO], env)).toBe(0);
    expect(hub.log.length).toBe(before);
  });

  it("an id missing from the cache offline, an unknown revision and a file-like name that does not exist exit 1 with a message", async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["--model", "acme/other", "--offline"], {}, /acme\/other@main is not complete in the Hugging Face cache .*--offline/],
      [["--model", "acme/other"], { HF_HUB_OFFLINE: "1" }, /HF_HUB_OFFLINE=1/],
      [["--model", REPO, "--revision", "v9"], {}, /acme\/tiny-gpt2@v9: not found/],
      [["--model", "./no-such-model"], {}, /no-such-model/],
      [["--model", "missing.bin"], {}, /missing\.bin/],
    ];
    for (const [flags, env, msg] of cases) {
      const io = capture(env);
      expect(await main([...gen, ...flags], io), flags.join(" ")).toBe(1);
      const err = io.stderr.join("\n");
      expect(err).toMatch(msg);
      expect(err).not.toMatch(/\n\s+at /);
    }
  });

  it("two fetches of the same files at once download each file once; a lock left by a dead process is taken over", async () => {
    cache = join(work, `hf-${++cacheN}`);
    hub.delayMs = 300;
    try {
      const n0 = hub.log.filter((r) => r.url.includes("/resolve/")).length;
      const [a, b] = await Promise.all([resolveModelPath(REPO, capture()), resolveModelPath(REPO, capture())]);
      expect(a).toBe(b);
      const gets = hub.log.filter((r) => r.url.includes("/resolve/")).slice(n0).map((r) => r.url);
      expect(gets.sort()).toEqual([...new Set(gets)].sort());
      expect(gets).toHaveLength(4);
      expect(readdirSync(blobsDir()).filter((f) => /\.(lock|incomplete)$/.test(f))).toEqual([]);

      // A lock held by a live process makes the download wait until that process is gone.
      cache = join(work, `hf-${++cacheN}`);
      const first = await resolveModelPath(REPO, capture());
      const cfgBlob = readdirSync(blobsDir()).find((f) => readFileSync(join(blobsDir(), f), "utf8").includes("n_embd"))!;
      cache = join(work, `hf-${++cacheN}`);
      mkdirSync(blobsDir(), { recursive: true });
      const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 1500)"]);
      writeFileSync(join(blobsDir(), `${cfgBlob}.lock`), String(holder.pid));
      const exited = new Promise<number>((r) => holder.on("exit", () => r(Date.now())));
      const t0 = Date.now();
      const second = await resolveModelPath(REPO, capture());
      const done = Date.now();
      expect(done - t0).toBeGreaterThan(1000);
      expect(done).toBeGreaterThanOrEqual(await exited);
      expect(readFileSync(join(second, "config.json"), "utf8")).toBe(readFileSync(join(first, "config.json"), "utf8"));

      // A lock whose process already died is taken over at once.
      cache = join(work, `hf-${++cacheN}`);
      const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
      mkdirSync(blobsDir(), { recursive: true });
      writeFileSync(join(blobsDir(), `${cfgBlob}.lock`), String(dead));
      const third = await resolveModelPath(REPO, capture());
      expect(existsSync(join(third, "config.json"))).toBe(true);
      expect(readdirSync(blobsDir()).filter((f) => f.endsWith(".lock"))).toEqual([]);
    } finally {
      hub.delayMs = 0;
    }
  }, 30_000);
});
