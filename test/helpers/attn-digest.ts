// Prints a SHA-256 digest of native attention on test/helpers/attn-cases.ts's variants for each SIMD
// library (AVX-512, AVX2) this CPU runs: {"digests": {"avx512": ..., "avx2": ...}}.
// test/lm-attn-variants.test.ts runs it under different SAELAB_THREADS values: every digest must agree.
import { createHash } from "node:crypto";
import { referenceLmKernels } from "../../src/lm/kernels.js";
import { loadLmKernels } from "../../src/lm/native.js";
import { configureThreads } from "../../src/tensor/backend.js";
import { nativeIsas } from "../../src/tensor/native.js";
import { ISA_VARIANTS, attentionPasses, runPasses } from "./attn-cases.js";

// The edge of this process: the pool's size from SAELAB_THREADS, as the CLI and the benches set it.
configureThreads(process.env.SAELAB_THREADS);
const ref = referenceLmKernels();
const cases = ISA_VARIANTS.map((v) => ({ v, ...attentionPasses(v, ref) }));
const digests: Record<string, string> = {};
for (const isa of nativeIsas().filter((i) => i === "avx512" || i === "avx2")) {
  const lm = loadLmKernels("native", isa);
  const hash = createHash("sha256");
  for (const c of cases) for (const o of runPasses(lm, c.m, c.passes, c.v.dim)) hash.update(Buffer.from(o.buffer, o.byteOffset, o.byteLength));
  digests[isa] = hash.digest("hex");
}
console.log(JSON.stringify({ digests }));
