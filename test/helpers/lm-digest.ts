// Prints a SHA-256 digest of the native LM kernels' outputs for prefill, hooked and KV-cached passes
// on two fixed random models: a Llama (head size 8, two query heads per key/value head, so the vector
// attention paths run) and a GPT-NeoX (parallel residual, LayerNorm, biases, erf GELU, partial
// rotary; wide enough that decoding splits its products between threads). test/lm-kernels.test.ts runs it under
// different SAELAB_THREADS values (and SAELAB_ISA libraries), and with --workers=N in N worker threads
// at once (contending for the pool): every digest of one library must agree.
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { Worker, isMainThread, parentPort } from "node:worker_threads";
import { loadModel } from "../../src/lm/load.js";
import { LlamaModel, type HookedModel } from "../../src/lm/model.js";
import { loadLmKernels } from "../../src/lm/native.js";
import { configureThreads, loadKernels, parseIsa } from "../../src/tensor/backend.js";
import { Rng } from "../../src/tensor/rng.js";
import { tinyCheckpoint } from "../lm-fixtures.js";
import { tinyNeox, writeTinyHf } from "./hf-models.js";

// The edge of this process: the pool's size from SAELAB_THREADS and the library from SAELAB_ISA, as the CLI and the benches set them.
configureThreads(process.env.SAELAB_THREADS);
const isa = parseIsa(process.env.SAELAB_ISA);
const backends = { kernels: loadKernels("native", isa).kernels, lm: loadLmKernels("native", isa) };
const neoxDir = writeTinyHf(tinyNeox(21, "digest", { max_position_embeddings: 64 }, { D: 256, NH: 4, FF: 1024, V: 1000 }));
const neox = await loadModel(neoxDir, { backends, processing: false });
rmSync(neoxDir, { recursive: true, force: true });

/** Hashes one model's logits for a batch prefill of sequences of the given lengths, a hooked pass, and a KV-cached prefill with 20 decoding steps of 3 sequences. */
function hashModel(hash: ReturnType<typeof createHash>, model: HookedModel, hook: string, lengths: readonly number[]): void {
  const rng = new Rng(3);
  const V = model.spec.vocabSize;
  const seqs = lengths.map((n) => Int32Array.from({ length: n }, () => rng.int(V)));
  const add = (x: Float32Array | Int32Array) => hash.update(Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  add(model.forward(seqs).logits!);
  add(model.forward(seqs, { hooks: [[hook, (a) => a.map((v) => v * 0.5)]] }).logits!);
  const cache = model.newCache(3, 64);
  add(model.forward([seqs[2]!, seqs[5]!, seqs[3]!], { cache, logits: "last" }).logits!);
  for (let s = 0; s < 20; s++) add(model.forward([[s + 5], [s + 6], [s + 7]], { cache, logits: "last" }).logits!);
}

function digest(): string {
  const ckpt = tinyCheckpoint(17, { dim: 64, nHeads: 8, nKvHeads: 4, hiddenDim: 172, nLayers: 2, seqLen: 300 });
  const hash = createHash("sha256");
  hashModel(hash, new LlamaModel(ckpt, backends), "blocks.1.hook_attn_out", [300, 77, 5, 1, 160, 13]);
  hashModel(hash, neox, "blocks.1.hook_mlp_out", [60, 17, 5, 1, 30, 13]);
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
