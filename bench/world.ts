/**
 * `npm run bench:world`: samples per second drawing batches of 4096 from the built-in worlds, the
 * way a trainer does (a fresh sampler per step, seeded by the step). Prints the median and the best
 * of several batches, the part spent on activations (features @ directions + bias), and the time
 * to build each world. Set SAELAB_BACKEND=reference to force the TypeScript kernels,
 * SAELAB_BENCH_REPS to change the number of timed batches.
 */
import { configureThreads, loadKernels, parseIsa, resolveBackend } from "../src/tensor/backend.js";
import { getPreset, presetNames } from "../src/toy/presets.js";
import { activations } from "../src/toy/sampler.js";
import { createWorld } from "../src/toy/world.js";

const BATCH = 4096;
const reps = Math.max(1, Number(process.env.SAELAB_BENCH_REPS ?? 7));
configureThreads(process.env.SAELAB_THREADS);
const { kernels, warning } = loadKernels(resolveBackend("auto", process.env.SAELAB_BACKEND), parseIsa(process.env.SAELAB_ISA));
if (warning) console.error(warning);
console.log(`bench:world  batch ${BATCH}, ${reps} timed batches after >= 1 s of warm-up, backend "${kernels.name}" (${kernels.threads} thread${kernels.threads === 1 ? "" : "s"}), node ${process.version}`);
console.log("(the machine may be shared: compare the best figure across runs)");

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

for (const name of presetNames()) {
  let t0 = performance.now();
  const world = createWorld(getPreset(name), { kernels });
  const buildMs = performance.now() - t0;
  // Warm up (JIT tiers) for at least two batches and about a second.
  const warm0 = performance.now();
  let warm = 0;
  while (warm < 2 || performance.now() - warm0 < 1000) world.sampler(warm++).next(BATCH);
  const times: number[] = [];
  const actTimes: number[] = [];
  let nnz = 0;
  for (let step = 0; step < reps; step++) {
    t0 = performance.now();
    const b = world.sampler(1000 + step).next(BATCH);
    const ms = performance.now() - t0;
    let actMs = Infinity;
    for (let r = 0; r < 3; r++) {
      t0 = performance.now();
      activations(world.plan, b.features);
      actMs = Math.min(actMs, performance.now() - t0);
    }
    times.push(ms);
    actTimes.push(actMs);
    nnz += b.features.nnz;
  }
  const best = Math.min(...times);
  const med = median(times);
  console.log(
    `${name.padEnd(18)} ${world.nFeatures} features, dModel ${world.dModel}, L0 ${(nnz / (reps * BATCH)).toFixed(1)}: ` +
      `${med.toFixed(1)} ms/batch median (${Math.round((BATCH * 1000) / med).toLocaleString("en-US")} samples/s), ` +
      `best ${best.toFixed(1)} ms (${Math.round((BATCH * 1000) / best).toLocaleString("en-US")} samples/s); ` +
      `activations ${median(actTimes).toFixed(1)} ms of it; world built in ${(buildMs / 1000).toFixed(2)} s`,
  );
}
