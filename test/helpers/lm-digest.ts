// Prints a SHA-256 digest of the native LM kernels' outputs on a fixed random model (head size 8, two
// query heads per key/value head, so the vector attention paths run) for prefill, hooked and
// KV-cached passes. test/lm-threads.test.ts runs it under different SAELAB_THREADS values, and with
// --workers=N in N worker threads at once (contending for the pool): every digest must agree.
import { createHash } from "node:crypto";
import { Worker, isMainThread, parentPort } from "node:worker_threads";
import { LlamaModel } from "../../src/lm/model.js";
import { loadLmKernels } from "../../src/lm/native.js";
import { configureThreads, loadKernels } from "../../src/tensor/backend.js";
import { Rng } from "../../src/tensor/rng.js";
import { tinyCheckpoint } from "../lm-fixtures.js";

// The edge of this process: the pool's size from SAELAB_THREADS, as the CLI and the benches set it.
configureThreads(process.env.SAELAB_THREADS);

function digest(): string {
  const ckpt = tinyCheckpoint(17, { dim: 64, nHeads: 8, nKvHeads: 4, hiddenDim: 172, nLayers: 2, seqLen: 300 });
  const lm = loadLmKernels("native");
  const model = new LlamaModel(ckpt, { kernels: loadKernels("native").kernels, lm });
  const rng = new Rng(3);
  const V = ckpt.config.vocabSize;
  const seqs = [300, 77, 5, 1, 160, 13].map((n) => Int32Array.from({ length: n }, () => rng.int(V)));
  const hash = createHash("sha256");
  const add = (x: Float32Array | Int32Array) => hash.update(Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  add(model.forward(seqs).logits!);
  add(model.forward(seqs, { hooks: [["blocks.1.hook_attn_out", (a) => a.map((v) => v * 0.5)]] }).logits!);
  const cache = model.newCache(3, 64);
  add(model.forward([seqs[2]!, seqs[5]!, seqs[3]!], { cache, logits: "last" }).logits!);
  for (let s = 0; s < 20; s++) add(model.forward([[s + 5], [s + 6], [s + 7]], { cache, logits: "last" }).logits!);
  return hash.digest("hex");
}

const workers = Number(process.argv.find((a) => a.startsWith("--workers="))?.slice(10) ?? 0);
if (!isMainThread) {
  parentPort!.postMessage([digest(), digest()]);
} else if (workers > 0) {
  const runs = await Promise.all(
    Array.from({ length: workers }, () => new Promise<string[]>((resolve, reject) => {
      // A worker cannot start from a .ts file; this one loads it through tsx's API.
      const src = `import("tsx/esm/api").then((t) => t.tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}));`;
      const w = new Worker(src, { eval: true });
      w.once("message", resolve);
      w.once("error", reject);
    })),
  );
  console.log(JSON.stringify({ digests: runs.flat() }));
} else {
  console.log(JSON.stringify({ digest: digest() }));
}
