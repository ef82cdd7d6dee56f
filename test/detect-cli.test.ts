/**
 * `saelab detect` and `saelab mitigate` on a saved SAE built to absorb child 1 into the parent of a
 * small world (decoder rows f0, f0 + f1, f2..f7; parent encoder f0 - f1): the pair is found from the
 * world's inputs or from activation shards, the ground-truth section agrees, the mitigated SAE is
 * written and measures zero absorption, and bad invocations fail with a clear message.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { createSae } from "../src/sae/model.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { createWorld } from "../src/toy/world.js";
import { ActivationShardWriter, openActivations } from "../src/io/activations.js";
import { loadSaelensSae, saveSaelensSae } from "../src/io/saelens.js";
import { evaluateOnWorld } from "../src/experiments/evaluate.js";
import { kernels } from "./sae-fixtures.js";
import { capture } from "./helpers/cli-io.js";


const worldConfig = {
  nFeatures: 8,
  dModel: 16,
  seed: 0,
  firing: { kind: "list", probabilities: [0.3, 0.06, 0.06, 0.06, 0.1, 0.1, 0.1, 0.1] },
  hierarchy: { nodes: [{ feature: 0, children: [1, 2, 3], mutuallyExclusive: true }] },
  compensateProbabilities: true,
};

describe("saelab detect / mitigate", () => {
  let dir: string;
  const run = async (argv: string[]) => {
    const io = capture(dir);
    const code = await main(argv, io);
    return { code, io };
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "saelab-detect-cli-"));
    writeFileSync(join(dir, "world.json"), JSON.stringify(worldConfig));
    const world = createWorld(worldConfig as never, { kernels });
    const n = world.dModel;
    const f = (i: number) => world.featureVectors.subarray(i * n, (i + 1) * n);
    const build = (architecture: "standard" | "topk", absorb: boolean) => {
      const cfg = SaeConfigSchema.parse(architecture === "topk" ? { architecture, dSae: 8, k: 2, dIn: n } : { architecture, dSae: 8, dIn: n });
      const sae = createSae(kernels, cfg, { seed: 1 });
      const p = sae.params;
      // A small negative bias, as trained SAEs have, so float rounding on orthogonal features does not fire latents.
      p.b_enc.fill(-0.01);
      p.b_dec.fill(0);
      for (let j = 0; j < 8; j++) {
        for (let i = 0; i < n; i++) {
          const enc = absorb && j === 0 ? f(0)[i]! - f(1)[i]! : f(j)[i]!;
          const dec = absorb && j === 1 ? f(0)[i]! + f(1)[i]! : f(j)[i]!;
          p.W_enc![i * 8 + j] = enc;
          p.W_dec[j * n + i] = dec;
        }
      }
      return sae;
    };
    saveSaelensSae(join(dir, "absorbing"), build("standard", true));
    saveSaelensSae(join(dir, "clean"), build("standard", false));
    saveSaelensSae(join(dir, "topk"), build("topk", true));
    const writer = new ActivationShardWriter(join(dir, "acts"), "toy", n, 3000);
    const s = world.sampler(3);
    for (let b = 0; b < 3; b++) {
      const acts = s.next(2000).acts;
      writer.append({ activations: acts, tokens: new Int32Array(2000), positions: new Int32Array(2000), sequences: new Int32Array(2000) });
    }
    writer.finish();
  });

  it("ranks the absorbed pair first from a world's inputs, and the ground-truth section agrees", async () => {
    const { code, io } = await run(["detect", "absorbing", "--world", "world.json", "--n", "6000", "--json"]);
    expect(code, io.errors()).toBe(0);
    const out = JSON.parse(io.text()) as { detection: { pairs: { parent: number; absorber: number; confident: boolean }[] }; groundTruth: { precision: number; recall: number } };
    expect(out.detection.pairs[0]).toMatchObject({ parent: 0, absorber: 1, confident: true });
    expect(out.detection.pairs.filter((p) => p.confident)).toHaveLength(1);
    expect(out.groundTruth).toMatchObject({ precision: 1, recall: 1 });
  });

  it("finds the same pair from activation shards, where no ground truth exists", async () => {
    expect(openActivations(join(dir, "acts")).totalTokens).toBe(6000);
    const { code, io } = await run(["detect", "absorbing", "--activations", "acts", "--json"]);
    expect(code, io.errors()).toBe(0);
    const out = JSON.parse(io.text()) as { data: string; detection: { pairs: { parent: number; absorber: number; confident: boolean }[] }; groundTruth: null };
    expect(out.detection.pairs[0]).toMatchObject({ parent: 0, absorber: 1, confident: true });
    expect(out.groundTruth).toBeNull();
    expect(out.data).toMatch(/^activations acts \(6000 rows, seed 7\)/);
  });

  it("prints the pair table, the recall holes and a labelled ground-truth section", async () => {
    const { code, io } = await run(["detect", "absorbing", "--world", "world.json", "--n", "6000"]);
    expect(code, io.errors()).toBe(0);
    const text = io.text();
    expect(text).toMatch(/\n1 +0 +1 +yes +absorption +1\.000 +0\.71 +-0\.71 +1\.00 /);
    expect(text).toMatch(/Recall holes/);
    expect(text).toMatch(/GROUND TRUTH \(the world's true features/);
    expect(text).toMatch(/Detection: precision 1\.00 \(1\/1 /);
  });

  it("prints the null baseline beside the detection (world and shards), carries it in --json, and --no-baseline skips it", async () => {
    const text = (await run(["detect", "absorbing", "--world", "world.json", "--n", "6000"])).io.text();
    expect(text).toMatch(/Null baseline \(1 Gaussian control with the inputs' mean and covariance, seed 7: no sparse features, so no absorption\): 0\.00 confident pairs expected by chance against 1 found; estimated false-discovery rate 0\.00; 0 of the 1 confident pairs are confident in the control too\./);
    expect(text).toMatch(/\n0\.10 \* +1 +0\.00 +0\.00\n/);
    expect(text).not.toMatch(/caveat/);
    expect(text).toMatch(/\nnote: this control counts the pairs chance and the SAE.s geometry produce, not the detector.s systematic errors in superposition/);
    expect(text).toMatch(/Null baseline against the truth: 0\.00 false discoveries estimated, 0 measured/);
    const { code, io } = await run(["detect", "absorbing", "--activations", "acts", "--json", "--baselineRepeats", "2"]);
    expect(code, io.errors()).toBe(0);
    const out = JSON.parse(io.text()) as { baseline: { control: string; repeats: number; confidentPairs: number; expectedConfident: number; fdr: number; pairs: { parent: number; absorber: number; reproduced: boolean }[] } };
    expect(out.baseline).toMatchObject({ control: "gaussian", repeats: 2, confidentPairs: 1, expectedConfident: 0, fdr: 0 });
    expect(out.baseline.pairs).toEqual([expect.objectContaining({ parent: 0, absorber: 1, reproduced: false })]);
    const off = await run(["detect", "absorbing", "--activations", "acts", "--json", "--no-baseline"]);
    expect((JSON.parse(off.io.text()) as { baseline: unknown }).baseline).toBeNull();
    expect((await run(["detect", "absorbing", "--activations", "acts", "--no-baseline"])).io.text()).not.toMatch(/Null baseline/);
  });

  it("writes the mitigated SAE, whose ground-truth absorption is zero, with mitigation.json beside it", async () => {
    const { code, io } = await run(["mitigate", "absorbing", "--world", "world.json", "--n", "6000", "--out", "fixed", "--json"]);
    expect(code, io.errors()).toBe(0);
    const out = JSON.parse(io.text()) as { groundTruth: { name: string; absorption: { fullAbsorption: number } }[]; fidelity: { mseRefit: number } };
    const byName = new Map(out.groundTruth.map((g) => [g.name, g.absorption.fullAbsorption]));
    expect(byName.get("original")).toBeCloseTo(1 / 3, 2);
    expect(byName.get("exact transform")).toBe(0);
    expect(byName.get("saved (refit)")).toBe(0);
    expect(existsSync(join(dir, "fixed", "cfg.json"))).toBe(true);
    const record = JSON.parse(readFileSync(join(dir, "fixed", "mitigation.json"), "utf8")) as { applied: { absorber: number; parents: number[] }[] };
    expect(record.applied.map((t) => [t.absorber, t.parents])).toEqual([[1, [0]]]);
    // The saved directory is a plain SAE: re-measured from disk, it has no absorption either.
    const saved = loadSaelensSae(join(dir, "fixed"), kernels).sae;
    const [ev] = evaluateOnWorld([saved], createWorld(worldConfig as never, { kernels }), { n: 5000, seed: 1 }, kernels);
    expect(ev!.absorption.summary.fullAbsorption).toBe(0);
  });

  it("fails with a message naming the problem", async () => {
    const cases: [string[], RegExp][] = [
      [["detect", "absorbing"], /no data given/],
      [["detect", "absorbing", "--world", "world.json", "--preset", "absorption-basic"], /exactly one of/],
      [["detect", "nowhere", "--world", "world.json"], /nowhere does not exist/],
      [["detect", "absorbing", "--preset", "absorption-basic"], /reads 16-dimensional inputs but world preset absorption-basic has dModel 50/],
      [["mitigate", "clean", "--world", "world.json", "--n", "3000", "--out", "x"], /no confident absorption pairs/],
      [["mitigate", "topk", "--world", "world.json", "--n", "3000", "--out", "y"], /topk SAE cannot be saved un-absorbed/],
      [["mitigate", "absorbing", "--world", "world.json"], /--out/],
    ];
    for (const [argv, message] of cases) {
      const { code, io } = await run(argv);
      expect(code, argv.join(" ")).toBe(1);
      expect(io.errors()).toMatch(message);
    }
  });
});
