/**
 * Steering scale: the vector's norm against the activation norm at its layer, the log-probability of
 * target continuations per multiplier (checked against llama2.c's run.c transcribed, and against
 * one-prefix-at-a-time passes), and `saelab steer --multipliers/--targets/--sae --latent`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { saveSaelensSae } from "../src/io/saelens.js";
import { loadSteeringVector } from "../src/io/steering.js";
import { LlamaModel } from "../src/lm/model.js";
import { Tokenizer } from "../src/lm/tokenizer.js";
import { createSae } from "../src/sae/model.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { continuationLogProbs, meanActivationNorms } from "../src/steering/scale.js";
import { SteeringVector, steeringSiteOfHook } from "../src/steering/vector.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { backendsUnderTest, runCForward, tinyCheckpoint, tinyVocab, writeTinyModel } from "./lm-fixtures.js";
import { capture } from "./helpers/cli-io.js";


/** log softmax(logits)[i] in float64, written out here. */
function logProb(logits: ArrayLike<number>, i: number): number {
  let max = -Infinity;
  for (let j = 0; j < logits.length; j++) max = Math.max(max, logits[j]!);
  let s = 0;
  for (let j = 0; j < logits.length; j++) s += Math.exp(logits[j]! - max);
  return logits[i]! - max - Math.log(s);
}

const ckpt = tinyCheckpoint(2);
const tok = new Tokenizer(tinyVocab());
const D = ckpt.config.dim;
const V = ckpt.config.vocabSize;
const prompt = Array.from(tok.encode("the happy cab"));
// The targets " sad" and " a happy dad" as tokenized after the prompt's text (the CLI's --targets " sad, a happy dad").
const targets = [" sad", " a happy dad"].map((t) => {
  const full = Array.from(tok.encode(`the happy cab${t}`));
  if (!prompt.every((id, i) => full[i] === id)) throw new Error("the prompt's tokens are not a prefix");
  return full.slice(prompt.length);
});

describe.each(backendsUnderTest())("steering scale (%s)", (_n, backends) => {
  const model = new LlamaModel(ckpt, backends);
  const vec = new SteeringVector(new Map([[0, new Rng(5).fillNormal(new Float32Array(D), 0, 2)]]));

  it("mean activation norm per token equals the residual after the block, BOS left out", () => {
    for (const layer of [0, 1]) {
      const resid = model.forward([prompt], { stopAtLayer: layer + 1, logits: "none" }).residual;
      let sum = 0;
      for (let r = 1; r < prompt.length; r++) sum += Math.hypot(...resid.subarray(r * D, (r + 1) * D));
      const [got] = meanActivationNorms(model, [prompt], [layer], "decoder_block");
      expect(got!.tokens).toBe(prompt.length - 1);
      expect(got!.hook).toBe(`blocks.${layer}.hook_resid_post`);
      expect(got!.meanNorm).toBeCloseTo(sum / (prompt.length - 1), 4);
    }
    // Only BOS: it counts, rather than no token at all.
    expect(meanActivationNorms(model, [[1]], [0], "decoder_block")[0]!.tokens).toBe(1);
  });

  it("unsteered log-probabilities of multi-token targets equal run.c's logits, teacher-forced", () => {
    const got = continuationLogProbs(model, prompt, targets);
    targets.forEach((t, i) => {
      const logits = runCForward(ckpt, [...prompt, ...t]);
      let expected = 0;
      t.forEach((id, j) => (expected += logProb(logits[prompt.length - 1 + j]!, id)));
      expect(got[i]).toBeCloseTo(expected, 3);
    });
  });

  it("steered log-probabilities equal one steered pass per prefix, and change with the multiplier", () => {
    for (const multiplier of [-1.5, 2]) {
      const hooks = vec.hooks({ multiplier });
      const got = continuationLogProbs(model, prompt, targets, hooks);
      targets.forEach((t, i) => {
        let expected = 0;
        t.forEach((id, j) => {
          const last = model.forward([[...prompt, ...t.slice(0, j)]], { hooks, logits: "last" }).logits!;
          expected += logProb(last.subarray(0, V), id);
        });
        expect(got[i]).toBeCloseTo(expected, 4);
      });
    }
    const a = continuationLogProbs(model, prompt, targets, vec.hooks({ multiplier: -1.5 }));
    const b = continuationLogProbs(model, prompt, targets, vec.hooks({ multiplier: 2 }));
    expect(Math.abs(a[0]! - b[0]!)).toBeGreaterThan(1e-3);
  });
});

describe("steering sites of SAE hooks", () => {
  it("maps a block's output, attention and MLP outputs, and resid_pre to the block before", () => {
    expect(steeringSiteOfHook("blocks.3.hook_resid_post")).toEqual({ layer: 3, layerType: "decoder_block" });
    expect(steeringSiteOfHook("blocks.3.hook_resid_pre")).toEqual({ layer: 2, layerType: "decoder_block" });
    expect(steeringSiteOfHook("blocks.2.hook_attn_out")).toEqual({ layer: 2, layerType: "self_attn" });
    expect(steeringSiteOfHook("blocks.2.hook_mlp_out")).toEqual({ layer: 2, layerType: "mlp" });
    expect(steeringSiteOfHook("blocks.0.hook_resid_pre")).toBeUndefined();
    expect(steeringSiteOfHook("blocks.1.hook_resid_mid")).toBeUndefined();
    expect(steeringSiteOfHook("ln_final.hook_normalized")).toBeUndefined();
  });
});

describe("saelab steer: scale, multipliers, targets, SAE latents", () => {
  const f = writeTinyModel(2);
  const m = ["--model", f.model, "--tokenizer", f.tokenizer];
  const model = new LlamaModel(ckpt, backendsUnderTest()[0]![1]);
  writeFileSync(join(f.dir, "pairs.json"), JSON.stringify([["the happy cab", "the sad cab"], ["happy", "sad"]]));

  it("prints the vector's norm against the residual's, one continuation per multiplier and the targets table", async () => {
    const io = capture(f.dir);
    const argv = ["steer", ...m, "--pairs", "pairs.json", "--layer", "1", "--multipliers", "-2,0,3", "--prompt", "the happy cab", "--targets", " sad, a happy dad", "--steps", "4", "--save", "v.safetensors"];
    expect(await main(argv, io)).toBe(0);
    const out = io.stdout.join("\n").split("\n");
    const v = loadSteeringVector(join(f.dir, "v.safetensors")).layerActivations.get(1)!;
    const vNorm = Math.hypot(...v);
    const resid = model.forward([prompt], { stopAtLayer: 2, logits: "none" }).residual;
    let sum = 0;
    for (let r = 1; r < prompt.length; r++) sum += Math.hypot(...resid.subarray(r * D, (r + 1) * D));
    const scale = out.find((l) => l.startsWith("layer 1 "))!;
    const [, vn, rn, n, ratio] = /vector norm ([\d.]+), mean token residual norm ([\d.]+) over the prompt's (\d+) tokens after BOS; ratio ([\d.]+)/.exec(scale)!;
    expect(Number(vn)).toBeCloseTo(vNorm, 2);
    expect(Number(rn)).toBeCloseTo(sum / (prompt.length - 1), 2);
    expect(Number(n)).toBe(prompt.length - 1);
    expect(Number(ratio)).toBeCloseTo(vNorm / (sum / (prompt.length - 1)), 2);
    expect(out.filter((l) => /^steered \(layer 1, x(-2|0|3)\): the happy cab/.test(l))).toHaveLength(3);
    // Table rows: unsteered, then each multiplier; x0 of an addition is unsteered.
    const rows = new Map(out.filter((l) => /^(unsteered|x-?\d) /.test(l)).map((l) => [l.split(/\s+/)[0]!, l]));
    expect([...rows.keys()]).toEqual(["unsteered", "x-2", "x0", "x3"]);
    const num = (l: string) => [...l.matchAll(/-?\d+\.\d+/g)].map((x) => Number(x[0]));
    const base = num(rows.get("unsteered")!);
    const expected = continuationLogProbs(model, prompt, targets);
    expect(base[0]).toBeCloseTo(expected[0]!, 2);
    expect(base[1]).toBeCloseTo(expected[1]!, 2);
    expect(base[2]).toBeCloseTo(expected[0]! - expected[1]!, 2);
    expect(num(rows.get("x0")!)).toEqual([base[0], 0, base[1], 0, base[2]]);
    const steered = continuationLogProbs(model, prompt, targets, new SteeringVector(new Map([[1, v]])).hooks({ multiplier: 3 }));
    const x3 = num(rows.get("x3")!);
    expect(x3[0]).toBeCloseTo(steered[0]!, 2);
    expect(x3[1]).toBeCloseTo(steered[0]! - expected[0]!, 2);
    expect(out.join("\n")).toMatch(/tokens: " sad" = \[" sad"\]; " a happy dad" = \[" a", " happy", /);
  });

  it("--sae --latent steers with the latent's decoder row at the hook the SAE reads", async () => {
    const sae = createSae(referenceKernels(), SaeConfigSchema.parse({ architecture: "standard", dSae: 8 }), { dIn: D, seed: 3 });
    saveSaelensSae(join(f.dir, "sae"), sae, {}, { hook_name: "blocks.1.hook_resid_pre", model_name: "tiny" });
    const io = capture(f.dir);
    expect(await main(["steer", ...m, "--sae", "sae", "--latent", "5", "--multiplier", "4", "--prompt", "the", "--steps", "3", "--save", "lat.safetensors"], io)).toBe(0);
    const saved = loadSteeringVector(join(f.dir, "lat.safetensors"));
    expect([...saved.layerActivations.keys()]).toEqual([0]);
    expect(Array.from(saved.layerActivations.get(0)!)).toEqual(Array.from(sae.params.W_dec.subarray(5 * D, 6 * D)));
    expect(saved.settings.latent).toBe(5);
    expect(io.stdout[0]).toMatch(/^steering vector: latent 5 of .*sae \(its decoder row; the SAE reads blocks\.1\.hook_resid_pre\)/);
    const norm = /layer 0 \(blocks\.0\.hook_resid_post\): vector norm ([\d.]+)/.exec(io.stdout.join("\n"))![1];
    expect(Number(norm)).toBeCloseTo(Math.hypot(...sae.params.W_dec.subarray(5 * D, 6 * D)), 3);
    expect(io.stdout.join("\n")).toMatch(/steered \(layer 0, x4\): the/);
  });

  it.each([
    [["--sae", "sae"], /--sae and --latent go together/],
    [["--sae", "sae", "--latent", "8"], /--latent 8 is outside the SAE's latents 0\.\.7/],
    [["--sae", "sae", "--latent", "1", "--layer", "1"], /the SAE in .* reads blocks\.1\.hook_resid_pre, so its latents steer block 0/],
    [["--pairs", "pairs.json", "--multiplier", "1", "--multipliers", "1,2"], /give --multiplier or --multipliers, not both/],
    [["--pairs", "pairs.json", "--sae", "sae", "--latent", "1"], /give exactly one of --pairs/],
    [["--pairs", "pairs.json", "--targets", " sad,,x"], /an empty target/],
  ])("refuses %j", async (extra, message) => {
    const io = capture(f.dir);
    expect(await main(["steer", ...m, ...extra, "--steps", "1"], io)).toBe(1);
    expect(io.stderr.join("\n")).toMatch(message);
  });
});
