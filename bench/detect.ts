/**
 * `npm run bench:detect`: the no-ground-truth detector (src/detect) against the truth, over several
 * trained SAEs. For each world and SAE it trains on the world's stream, runs detection on unlabelled
 * samples (seed 7), and prints precision/recall of the confident pairs against the metrics module's
 * full absorption, precision/recall of the inferred hierarchy, and what mitigation does to the
 * ground-truth full absorption (exact transform; SAELens refit). Figures, not assertions: the
 * tests hold the assertions.
 *
 * Flags (or env SAELAB_BENCH_<FLAG>): --worlds basic,forest  --steps 2000  --n 20000
 *   --presence 0.7 (comma list to compare)  --min-score (detector default)  --backend auto|native|reference  --json
 *   --save DIR (write each trained SAE as DIR/<world>/<sae> and the world as DIR/<world>/world)
 *   --baseline-repeats 4 (shuffled controls averaged for the null baseline: expected confident pairs by chance,
 *   the false-discovery estimate beside the measured false positives, and the pairs the control reproduces)
 */
import { configureThreads, loadKernels, parseIsa, resolveBackend, type BackendChoice } from "../src/tensor/backend.js";
import { createWorld, type ToyWorld, type WorldConfigInput } from "../src/toy/world.js";
import { getPreset } from "../src/toy/presets.js";
import { SaeConfigSchema, type SaeConfig } from "../src/sae/registry.js";
import { TrainConfigSchema } from "../src/train/config.js";
import { trainOnWorld } from "../src/experiments/parallel.js";
import { evaluateOnWorld } from "../src/experiments/evaluate.js";
import { sampleBatches } from "../src/metrics/evaluate.js";
import { detectWithBaseline } from "../src/detect/baseline.js";
import { planMitigation, unabsorb } from "../src/detect/mitigate.js";
import { refitSae } from "../src/detect/refit.js";
import { validateDetection } from "../src/experiments/detect-validate.js";
import { saveSaelensSae } from "../src/io/saelens.js";
import { saveWorld } from "../src/io/world.js";

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return process.env[`SAELAB_BENCH_${name.toUpperCase()}`] ?? def;
}

configureThreads(process.env.SAELAB_THREADS);
const { kernels, warning } = loadKernels(resolveBackend(flag("backend", "auto") as BackendChoice, process.env.SAELAB_BACKEND), parseIsa(process.env.SAELAB_ISA));
if (warning) console.error(warning);
const STEPS = Number(flag("steps", "2000"));
const N = Number(flag("n", "20000"));
const PRESENCES = flag("presence", "0.7").split(",").map(Number);
const JSON_OUT = process.argv.includes("--json");
const MIN_SCORE = flag("min-score", "");
const BASELINE_REPEATS = Number(flag("baseline-repeats", "4"));

/**
 * A forest: 6 parents (features 0-5, firing 20%) with 3 mutually exclusive children each (6-23, 4%
 * each, so a parent fires alone 40% of the time) and 16 independent features (5%). Directions are
 * orthogonal in 64 dimensions; "forest-sup" puts the same world in 32 dimensions (superposition).
 */
const forest: WorldConfigInput = {
  nFeatures: 40,
  dModel: 64,
  seed: 3,
  firing: { kind: "list", probabilities: [...new Array<number>(6).fill(0.2), ...new Array<number>(18).fill(0.04), ...new Array<number>(16).fill(0.05)] },
  magnitude: { mean: { kind: "constant", value: 1 }, std: { kind: "constant", value: 0.15 } },
  hierarchy: { nodes: Array.from({ length: 6 }, (_, p) => ({ feature: p, children: [6 + 3 * p, 7 + 3 * p, 8 + 3 * p], mutuallyExclusive: true })) },
  compensateProbabilities: true,
};

const WORLDS: Record<string, { world: () => ToyWorld; dSae: number; k: number }> = {
  basic: { world: () => createWorld(getPreset("absorption-basic"), { kernels }), dSae: 16, k: 2 },
  forest: { world: () => createWorld(forest, { kernels }), dSae: 48, k: 3 },
  "forest-sup": { world: () => createWorld({ ...forest, dModel: 32 }, { kernels }), dSae: 48, k: 3 },
};

function configs(dSae: number, k: number): SaeConfig[] {
  return [
    { architecture: "standard", name: "std-l1-0.3", dSae, l1Coefficient: 0.3 },
    { architecture: "standard", name: "std-l1-0.1", dSae, l1Coefficient: 0.1 },
    { architecture: "standard", name: "std-tied", dSae, tying: "tied", l1Coefficient: 0.3 },
    { architecture: "topk", name: "topk", dSae, k },
    { architecture: "batchtopk", name: "batchtopk", dSae, k },
    { architecture: "jumprelu", name: "jumprelu", dSae, l0Coefficient: 0.05 },
    { architecture: "matryoshka_batchtopk", name: "matryoshka", dSae, k, matryoshkaWidths: [Math.floor(dSae / 4), dSae] },
  ].map((c) => SaeConfigSchema.parse(c));
}

const f = (v: number | null | undefined) => (v === null || v === undefined ? "  n/a" : v.toFixed(2).padStart(5));
const rows: Record<string, unknown>[] = [];
for (const name of flag("worlds", "basic,forest").split(",")) {
  const spec = WORLDS[name];
  if (!spec) throw new Error(`unknown world ${name}; known: ${Object.keys(WORLDS).join(", ")}`);
  const world = spec.world();
  const t0 = performance.now();
  const trainer = trainOnWorld(kernels, world, configs(spec.dSae, spec.k), TrainConfigSchema.parse({ steps: STEPS, batchSize: 1024, lr: 3e-3, seed: 1, checkpointEvery: 0 }));
  console.error(`bench:detect: world ${name}: trained ${trainer.runs.length} SAEs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const saes = trainer.runs.map((r) => r.sae);
  const save = flag("save", "");
  if (save) {
    saveWorld(`${save}/${name}/world`, world);
    for (const sae of saes) saveSaelensSae(`${save}/${name}/${sae.name}`, sae, { data: { world: world.config } });
  }
  const evals = evaluateOnWorld(saes, world, { n: N, seed: 12345 }, kernels);
  const sampler = world.sampler(7);
  const batches = Array.from({ length: Math.ceil(N / 4096) }, (_, i) => sampler.next(Math.min(4096, N - i * 4096)).acts);
  saes.forEach((sae, i) => {
    for (const presence of PRESENCES) {
      const { detection: det, baseline } = detectWithBaseline(sae, batches, { presence, ...(MIN_SCORE ? { minScore: Number(MIN_SCORE) } : {}) }, { seed: 0, repeats: BASELINE_REPEATS }, kernels);
      const v = validateDetection(det, sae, world, evals[i]!, sampleBatches(world.sampler(99), N, 4096));
      const reproduced = new Set(baseline.pairs.filter((p) => p.reproduced).map((p) => `${p.parent}:${p.absorber}`));
      const kept = v.pairs.filter((p) => p.confident && !reproduced.has(`${p.parent}:${p.absorber}`));
      const plan = planMitigation(det);
      let after: number | null = null;
      let afterRefit: number | null = null;
      if (plan.transfers.length > 0) {
        const wrapped = unabsorb(sae, plan);
        const [ew] = evaluateOnWorld([wrapped], world, { n: N, seed: 12345 }, kernels);
        after = ew!.absorption.summary.fullAbsorption;
        if (sae.architecture !== "topk") {
          const { sae: refit } = refitSae(wrapped, batches, kernels);
          const [er] = evaluateOnWorld([refit], world, { n: N, seed: 12345 }, kernels);
          afterRefit = er!.absorption.summary.fullAbsorption;
        }
      }
      const row = {
        world: name,
        sae: sae.name,
        presence,
        fullAbsorption: evals[i]!.absorption.summary.fullAbsorption,
        absorbedEdges: v.absorbedEdges.length,
        confident: v.nConfident,
        truePositives: v.truePositives,
        falsePositives: v.nConfident - v.truePositives,
        expectedNull: baseline.expectedConfident,
        fdrEstimate: baseline.fdr,
        fdrMeasured: v.nConfident > 0 ? (v.nConfident - v.truePositives) / v.nConfident : null,
        reproduced: reproduced.size,
        keptConfident: kept.length,
        keptTruePositives: kept.filter((p) => p.truePositive).length,
        precision: v.precision,
        recall: v.recall,
        hierarchyEdges: v.hierarchy.edges.length,
        hierarchyPrecision: v.hierarchy.precision,
        hierarchyRecall: v.hierarchy.recall,
        transfers: plan.transfers.length,
        fullAbsorptionAfter: after,
        fullAbsorptionAfterRefit: afterRefit,
      };
      rows.push(row);
      if (!JSON_OUT) {
        console.log(
          `${name.padEnd(7)} ${sae.name.padEnd(12)} pres ${presence}  full ${f(row.fullAbsorption)}  edges>=0.1 ${String(row.absorbedEdges).padStart(2)}  conf ${String(row.confident).padStart(3)}  TP ${String(row.truePositives).padStart(3)}  P ${f(row.precision)}  R ${f(row.recall)}  | hier n ${String(row.hierarchyEdges).padStart(3)} P ${f(row.hierarchyPrecision)} R ${f(row.hierarchyRecall)}  | null ${row.expectedNull.toFixed(2).padStart(6)} FP ${String(row.falsePositives).padStart(3)} FDR est ${f(row.fdrEstimate)} meas ${f(row.fdrMeasured)} | reproduced ${row.reproduced} kept ${row.keptTruePositives}/${row.keptConfident} | mitigate ${row.transfers} -> full ${f(after)} refit ${f(afterRefit)}`,
        );
      }
    }
  });
}
if (JSON_OUT) console.log(JSON.stringify(rows));
