/**
 * SAEs by SAELens release through a local fake Hub: `saelab sae fetch`, RELEASE/SAE_ID wherever an SAE
 * directory is taken, Gemma Scope's params.npz converted to a SAELens directory (checked against
 * NumPy's JumpReLU), `saelab models`, and the bad inputs (unknown names with suggestions, missing
 * arrays) leaving nothing half-written.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { readNpy } from "../src/io/npy.js";
import { readNpz } from "../src/io/npz.js";
import { closestNames, lookupReleaseSae, saeReleases } from "../src/io/sae-releases.js";
import { loadSaelensSae } from "../src/io/saelens.js";
import { fakeCommit, startFakeHub, type FakeHub } from "./helpers/hub-server.js";
import { kernels } from "./sae-fixtures.js";
import { capture } from "./helpers/cli-io.js";

const FIX = new URL("./fixtures/", import.meta.url).pathname;
const file = (p: string) => new Uint8Array(readFileSync(join(FIX, p)));
const GS_REPO = "google/gemma-scope-2b-pt-res";
const GS_PATH = "layer_3/width_16k/average_l0_59";


describe("SAEs by SAELens release (local fake Hub)", () => {
  let hub: FakeHub;
  const root = mkdtempSync(join(tmpdir(), "saelab-hub-sae-"));
  let env: Record<string, string>;
  const run = async (args: string[], e: Record<string, string> = env) => {
    const io = capture(root, e);
    const code = await main(args, io);
    return { code, out: io.text(), err: io.errors() };
  };

  beforeAll(async () => {
    hub = await startFakeHub({
      [GS_REPO]: {
        commit: fakeCommit("gs"),
        files: {
          [`${GS_PATH}/params.npz`]: file("gemma_scope/params.npz"),
          "layer_4/width_16k/average_l0_124/params.npz": file("gemma_scope/params_no_threshold.npz"),
          "layer_5/width_16k/average_l0_68/params.npz": file("gemma_scope/params.npz"),
        },
      },
      "jbloom/GPT2-Small-SAEs-Reformatted": {
        commit: fakeCommit("jb"),
        files: {
          "blocks.8.hook_resid_pre/cfg.json": file("saelens/standard/cfg.json"),
          "blocks.8.hook_resid_pre/sae_weights.safetensors": file("saelens/standard/sae_weights.safetensors"),
          "blocks.9.hook_resid_pre/cfg.json": file("saelens/standard/cfg.json"),
        },
      },
    });
    env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: join(root, "hf"), SAELAB_CACHE: join(root, "saelab") };
  });
  afterAll(async () => hub.close());

  it("the registry holds SAELens's facts for the most-used releases", () => {
    const r = saeReleases();
    expect(r["gpt2-small-res-jb"]).toMatchObject({ repo: "jbloom/GPT2-Small-SAEs-Reformatted", model: "gpt2-small", format: "saelens" });
    expect(r["pythia-70m-deduped-res-sm"]!.saes["blocks.3.hook_resid_post"]).toBe("3-res-sm");
    expect(lookupReleaseSae("gemma-scope-2b-pt-res-canonical", "layer_3/width_16k/canonical")).toMatchObject({ path: GS_PATH, release: { repo: GS_REPO, format: "gemma_scope", model: "gemma-2-2b" } });
    expect(closestNames("gpt2-small-res-jbb", Object.keys(r))[0]).toBe("gpt2-small-res-jb");
  });

  it("reads NumPy's .npz (zip64 entries from np.savez, deflate from np.savez_compressed)", () => {
    const a = readNpz(join(FIX, "gemma_scope/params.npz"));
    expect(a.names).toEqual(["W_enc", "W_dec", "b_enc", "b_dec", "threshold"]);
    expect(a.arrays.get("W_enc")!.shape).toEqual([6, 10]);
    const b = readNpz(join(FIX, "gemma_scope/params_no_threshold.npz"), (n) => n === "b_dec");
    expect(b.names).toEqual(["W_enc", "W_dec", "b_enc", "b_dec"]);
    expect([...b.arrays.keys()]).toEqual(["b_dec"]);
    expect(b.arrays.get("b_dec")!.data).toEqual(a.arrays.get("b_dec")!.data);
    expect(() => readNpz(join(FIX, "gemma_scope/x.npy"))).toThrow(/x\.npy is not a readable \.npz archive/);
  });

  it("sae fetch converts Gemma Scope's params.npz to a SAELens jumprelu directory that encodes as NumPy does", async () => {
    const r = await run(["sae", "fetch", "gemma-scope-2b-pt-res-canonical", "layer_3/width_16k/canonical", "--json"]);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as { dir: string; commit: string; repo: string; path: string };
    expect(got).toMatchObject({ repo: GS_REPO, path: GS_PATH, commit: fakeCommit("gs") });
    expect(got.dir).toBe(join(root, "saelab", "saes", "models--google--gemma-scope-2b-pt-res", fakeCommit("gs"), GS_PATH));
    expect(r.err).toMatch(/downloaded layer_3\/width_16k\/average_l0_59\/params\.npz from google\/gemma-scope-2b-pt-res/);
    expect(r.err).toMatch(/converted .* to a SAELens directory/);
    // Only the one SAE's file came down, into the shared HF cache layout.
    expect(existsSync(join(env.HF_HUB_CACHE!, "models--google--gemma-scope-2b-pt-res", "snapshots", fakeCommit("gs"), GS_PATH, "params.npz"))).toBe(true);
    expect(existsSync(join(env.HF_HUB_CACHE!, "models--google--gemma-scope-2b-pt-res", "snapshots", fakeCommit("gs"), "layer_5"))).toBe(false);

    const { sae, cfg } = loadSaelensSae(got.dir, kernels);
    expect(sae.architecture).toBe("jumprelu");
    expect(sae.applyBDecToInput).toBe(false);
    expect(cfg.metadata).toMatchObject({ model_name: "gemma-2-2b", hook_name: "blocks.3.hook_resid_post", prepend_bos: true });
    const x = readNpy(join(FIX, "gemma_scope/x.npy"));
    const want = readNpy(join(FIX, "gemma_scope/expected_acts.npy")).data;
    const B = x.shape[0]!;
    const acts = sae.encode(Float32Array.from(x.data), B);
    const dense = new Float64Array(B * sae.dSae);
    for (let r0 = 0; r0 < B; r0++) for (let e = acts.rowPtr[r0]!; e < acts.rowPtr[r0 + 1]!; e++) dense[r0 * sae.dSae + acts.colIdx[e]!] = acts.values[e]!;
    let fired = 0;
    for (let i = 0; i < want.length; i++) {
      expect(dense[i] === 0).toBe(want[i] === 0);
      expect(Math.abs(dense[i]! - want[i]!)).toBeLessThan(2e-5 * (1 + Math.abs(want[i]!)));
      if (want[i] !== 0) fired++;
    }
    expect(fired).toBeGreaterThan(0);
    const wantRecon = readNpy(join(FIX, "gemma_scope/expected_recon.npy")).data;
    const recon = sae.decode(acts);
    for (let i = 0; i < recon.length; i++) expect(Math.abs(recon[i]! - wantRecon[i]!)).toBeLessThan(2e-5 * (1 + Math.abs(wantRecon[i]!)));

    // Again: from the cache, with no request, also offline.
    const before = hub.log.length;
    const again = await run(["sae", "fetch", "gemma-scope-2b-pt-res-canonical", "layer_3/width_16k/canonical", "--offline"]);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toBe(got.dir);
    expect(again.err).toBe("");
    expect(hub.log.length).toBe(before);
  });

  it("RELEASE/SAE_ID works where an SAE directory is taken, and gives the same numbers as the directory", async () => {
    const world = join(root, "world8.json");
    writeFileSync(world, JSON.stringify({ nFeatures: 4, dModel: 8, firing: { kind: "constant", probability: 0.3 } }));
    const byRef = await run(["eval", "gpt2-small-res-jb/blocks.8.hook_resid_pre", "--world", world, "--n", "2000", "--json"]);
    expect(byRef.code, byRef.err).toBe(0);
    const byDir = await run(["eval", join(FIX, "saelens/standard"), "--world", world, "--n", "2000", "--json"]);
    expect(byDir.code, byDir.err).toBe(0);
    const evalOf = (s: string) => (JSON.parse(s) as { evaluation: { reconstruction: unknown } }).evaluation.reconstruction;
    expect(evalOf(byRef.out)).toEqual(evalOf(byDir.out));
    const dir = join(env.HF_HUB_CACHE!, "models--jbloom--GPT2-Small-SAEs-Reformatted", "snapshots", fakeCommit("jb"), "blocks.8.hook_resid_pre");
    expect(readFileSync(join(dir, "sae_weights.safetensors"))).toEqual(readFileSync(join(FIX, "saelens/standard/sae_weights.safetensors")));
    // detect takes it too (the data check comes after the SAE is resolved).
    const det = await run(["detect", "gpt2-small-res-jb/blocks.8.hook_resid_pre", "--world", world, "--n", "2000", "--json"]);
    expect(det.code, det.err).toBe(0);
  });

  it("unknown releases and SAE ids are refused with the closest names; missing files and arrays are named", async () => {
    const bad = await run(["sae", "fetch", "gpt2-small-res-jbb", "blocks.8.hook_resid_pre"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/unknown SAE release "gpt2-small-res-jbb"; closest: gpt2-small-res-jb,/);
    const badId = await run(["sae", "fetch", "gpt2-small-res-jb", "blocks.8.hook_resid_prx"]);
    expect(badId.err).toMatch(/release gpt2-small-res-jb has no SAE "blocks\.8\.hook_resid_prx"; closest: blocks\.8\.hook_resid_pre/);
    const badRef = await run(["eval", "gpt2-smal-res-jb/blocks.8.hook_resid_pre", "--preset", "absorption-basic"]);
    expect(badRef.err).toMatch(/SAE directory gpt2-smal-res-jb\/blocks\.8\.hook_resid_pre does not exist, and "gpt2-smal-res-jb" is not a known SAE release .*closest: gpt2-small-res-jb/);
    expect(badRef.err).not.toMatch(/\n\s+at /);
    const list = await run(["sae", "fetch", "pythia-70m-deduped-res-sm"]);
    expect(list.out).toMatch(/ctigges\/pythia-70m-deduped__res-sm_processed[\s\S]*blocks\.5\.hook_resid_post/);

    const noWeights = await run(["sae", "fetch", "gpt2-small-res-jb", "blocks.9.hook_resid_pre"]);
    expect(noWeights.code).toBe(1);
    expect(noWeights.err).toMatch(/lacks blocks\.9\.hook_resid_pre\/sae_weights\.safetensors/);

    const noThreshold = await run(["sae", "fetch", "gemma-scope-2b-pt-res-canonical", "layer_4/width_16k/canonical"]);
    expect(noThreshold.code).toBe(1);
    expect(noThreshold.err).toMatch(/params\.npz: a Gemma Scope params\.npz needs arrays W_enc, W_dec, b_enc, b_dec, threshold; missing threshold \(it holds W_enc, W_dec, b_enc, b_dec\)/);
    const converted = join(root, "saelab", "saes", "models--google--gemma-scope-2b-pt-res", fakeCommit("gs"));
    expect(readdirSync(converted).sort()).toEqual(["layer_3"]);
    expect(readdirSync(join(converted, "layer_3", "width_16k"))).toEqual(["average_l0_59"]);
  });

  it("models lists the cached repos and converted SAEs with their sizes", async () => {
    const r = await run(["models", "--json"]);
    expect(r.code, r.err).toBe(0);
    const m = JSON.parse(r.out) as { repos: { repo: string; kind: string; size: number; releases: string[] }[]; converted: { name: string; size: number }[] };
    const gs = m.repos.find((x) => x.repo === GS_REPO)!;
    expect(gs.kind).toBe("sae");
    expect(gs.releases).toContain("gemma-scope-2b-pt-res-canonical");
    expect(gs.size).toBe(file("gemma_scope/params.npz").byteLength + file("gemma_scope/params_no_threshold.npz").byteLength);
    expect(m.converted.map((c) => c.name)).toEqual([join("models--google--gemma-scope-2b-pt-res", fakeCommit("gs"), GS_PATH)]);
    expect(m.converted[0]!.size).toBeGreaterThan(0);
    const text = await run(["models"]);
    expect(text.out).toMatch(/sae\s+google\/gemma-scope-2b-pt-res\s+\d[\d.]* kB\s+2 files\s+[0-9a-f]{10} \(main\)/);
    const empty = await run(["models"], { HF_HUB_CACHE: join(root, "none"), SAELAB_CACHE: join(root, "none2") });
    expect(empty.out).toMatch(/Hugging Face cache: .*none\n {2}\(empty\)/);
  });
});
