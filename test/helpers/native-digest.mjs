// Prints a SHA-256 digest of every native kernel's output on fixed inputs. test/kernels-native.test.ts
// runs it under different SAELAB_THREADS values, and with --workers=N in N worker threads at once
// (they contend for the thread pool): every digest must agree. --isa=NAME digests that ISA's kernel
// library (default: the one the addon picks).
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { Worker, isMainThread, parentPort } from "node:worker_threads";

const M = createRequire(import.meta.url)("../../build/Release/saelab_native.node");
// The edge of this process: the pool's size from SAELAB_THREADS (the addon reads no environment).
if (process.env.SAELAB_THREADS) M.setThreads(Number(process.env.SAELAB_THREADS));
const isa = process.argv.find((a) => a.startsWith("--isa="))?.slice(6) ?? M.isa;
const N = M.isas[isa];
if (!N) throw new Error(`no kernel library for ISA ${isa}`);
const amx = isa === "amx"; // the AVX-512 library asked for its bf16 products on AMX tiles

function digest() {
  let seed = 12345;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const rand = (n) => Float32Array.from({ length: n }, next);
  const hash = createHash("sha256");
  const add = (x) => hash.update(Buffer.from(x.buffer, x.byteOffset, x.byteLength));

  for (const [m, n, k, flags] of [[203, 517, 301, 0], [203, 517, 301, 3], [50, 2100, 40, 2], [3, 4001, 70, 0], [2, 3000, 33, 2], [1, 999, 64, 1]]) {
    const out = rand(m * n);
    N.gemm(rand(m * k), rand(k * n), out, m, n, k, flags, 1.25, 0.5, rand(n), rand(n));
    add(out);
  }
  // The mixed-precision (bf16) product: row chunks over B packed once, and column chunks.
  for (const [m, n, k, flags] of [[203, 517, 301, 4], [203, 517, 301, 7], [50, 2100, 40, 6], [400, 60, 801, 4], [97, 64, 20, 4]]) {
    const out = rand(m * n);
    N.gemm(rand(m * k), rand(k * n), out, m, n, k, flags | (amx ? 8 : 0), 1.25, 0.5, rand(n), rand(n));
    add(out);
  }
  for (const [er, en, ec] of [[501, 64, 512], [37, 130, 4100]]) {
    const xc = new Float32Array(er * en), epre = new Float32Array(er * ec);
    const rp = new Int32Array(er + 1), ci = new Int32Array(er * ec), va = new Float32Array(er * ec);
    const enz = N.encode(rand(er * en), er, en, ec, rand(en), xc, rand(en * ec), 0, null, rand(ec), epre, 1, 2, null, 40, rp, ci, va, 0, 0, null, amx ? 2 : 1);
    add(epre); add(rp); add(ci.subarray(0, enz));
  }
  const rows = 300, cols = 700, n = 96;
  const pre = rand(rows * cols);
  const rowPtr = new Int32Array(rows + 1), colIdx = new Int32Array(rows * cols), values = new Float32Array(rows * cols);
  let nnz = N.topkRows(pre, rows, cols, rowPtr, colIdx, values, 40, null);
  add(rowPtr); add(colIdx.subarray(0, nnz)); add(values.subarray(0, nnz));
  nnz = N.sparsifyAbove(pre, rows, cols, rowPtr, colIdx, values, null, 0);
  add(rowPtr); add(colIdx.subarray(0, nnz));
  nnz = N.window(pre, rows, cols, rowPtr, colIdx, values, rand(cols), 0.3, 0);
  add(rowPtr); add(colIdx.subarray(0, nnz));
  nnz = N.topkBatch(pre, rows, cols, rowPtr, colIdx, values, 12000);
  add(rowPtr); add(colIdx.subarray(0, nnz)); add(values.subarray(0, nnz));
  const w = rand(cols * n), a = rand(rows * n);
  const o1 = rand(rows * n), o2 = rand(cols * n), o3 = rand(n * cols), o4 = new Float32Array(nnz);
  N.spmm(rows, cols, rowPtr, colIdx, values, w, n, o1, true);
  N.spmmT(rows, cols, rowPtr, colIdx, values, a, n, o2);
  N.spmmTCols(rows, cols, rowPtr, colIdx, values, a, n, o3);
  N.sddmm(rows, cols, rowPtr, colIdx, values, a, w, n, o4);
  const o5 = new Float32Array(nnz);
  N.sddmmCols(rows, cols, rowPtr, colIdx, values, a, rand(n * cols), n, o5);
  // sddmmCols with a weight past its small-weight walk (cols x 400 > 256K floats): the latent-block walk.
  const o6 = new Float32Array(nnz);
  N.sddmmCols(rows, cols, rowPtr, colIdx, values, rand(rows * 400), rand(400 * cols), 400, o6);
  [o1, o2, o3, o4, o5, o6].forEach(add);
  // Adam writing the bf16 copy of a weight matrix inside its buffer (both layouts), and the products that read it.
  const copyFloats = N.bf16CopyFloats ? N.bf16CopyFloats(130, 300) : 0;
  if (copyFloats > 0) {
    for (const tb of [0, 1]) {
      const p = rand(100 + 130 * 300 + 50), copy = new Float32Array(copyFloats);
      N.adam(p, rand(p.length), rand(p.length), rand(p.length).map(Math.abs), 1e-3, 0.9, 0.999, 1e-8, 2, 100, 130, 300, tb, copy);
      add(p); add(copy);
      const xc = new Float32Array(97 * 130), epre = new Float32Array(97 * 300);
      N.encode(rand(97 * 130), 97, 130, 300, null, xc, p.subarray(100, 100 + 130 * 300), tb, null, null, epre, 1, 0, null, 0, new Int32Array(98), new Int32Array(1), new Float32Array(1), 0, 0, null, amx ? 2 : 1, copy);
      add(epre);
    }
  }
  // The fused SAE-step kernels (native/src/sae_*.c), both strategies of each: row blocks with pre kept
  // in cache and column panels (op(w) over 2 MiB, rows past one block); row-by-row and latent-major
  // decoding; the blocked latent walk and the latent-major products.
  for (const [er, en, ec] of [[501, 64, 512], [137, 130, 4100]]) {
    const ex = rand(er * en), ew = rand(en * ec), eb = rand(ec), center = rand(en);
    for (const [sel, k, keep, guess] of [[1, 0, 0, 0], [2, 40, 0, 0], [2, 40, 1, 0], [3, 40, 0, 0.5], [3, 40, 1, 0]]) {
      const xc = new Float32Array(er * en), epre = new Float32Array(er * ec);
      const rp = new Int32Array(er + 1), ci = new Int32Array(er * ec), va = new Float32Array(er * ec);
      const enz = N.encode(ex, er, en, ec, center, xc, ew, 0, null, eb, epre, keep, sel, null, k, rp, ci, va, 0, k * er, Float32Array.of(guess));
      add(xc); add(rp); add(ci.subarray(0, enz)); add(va.subarray(0, enz));
      if (keep) add(epre);
      const grad = new Float32Array(er * en), err = new Float32Array(er * en), bg = rand(en), vg = new Float32Array(enz), vcs = rand(ec);
      const wd = rand(ec * en);
      const sq = N.decodeLoss(er, ec, rp, ci, va, wd, en, center, ex, 0.25, grad, err, bg, vg, eb, vcs);
      add(Float64Array.of(sq)); [grad, err, bg, vg, vcs].forEach(add);
      const oA = rand(ec * en), oB = rand(ec * en), cs = rand(ec), fired = new Uint8Array(ec);
      N.spmmTPair(er, ec, rp, ci, en, va, grad, oA, vg, xc, oB, sel === 1 ? 1 : 0, cs, fired);
      [oA, oB, cs, fired].forEach(add);
    }
  }
  // settle on a pattern past its single-thread size (about 100K entries), each rule.
  {
    const spre = rand(300 * 700), sb = rand(700), sg = rand(700);
    for (const [rule, k] of [[0, 0], [1, 0], [2, 60], [3, 30000], [4, 0]]) {
      const rp = new Int32Array(301), ci = new Int32Array(300 * 700), va = new Float32Array(300 * 700);
      N.sparsifyAbove(spre, 300, 700, rp, ci, va, rule === 1 ? null : rand(700).map((x) => x - 1), 0);
      const snz = N.settle(300, 700, rp, ci, va, sb, rule === 2 ? null : sg, rule, k, null, rule === 4 ? sb : null, 0.4);
      add(rp); add(ci.subarray(0, snz)); add(va.subarray(0, snz));
    }
  }
  // proposalNorms past its single-thread size, both weight layouts.
  for (const tw of [0, 1]) {
    const ns = new Float32Array(1000);
    add(Float64Array.of(N.proposalNorms(rand(501 * 96), 501, 96, rand(96), rand(96 * 1000), 1000, tw, ns))); add(ns);
  }
  const p = rand(100_003), g = rand(100_003), mm = rand(100_003), v = rand(100_003).map(Math.abs);
  N.adam(p, g, mm, v, 1e-3, 0.9, 0.999, 1e-8, 3);
  [p, mm, v].forEach(add);
  return hash.digest("hex");
}

const workers = Number(process.argv.find((a) => a.startsWith("--workers="))?.slice(10) ?? 0);
if (!isMainThread) {
  const out = [];
  for (let i = 0; i < 3; i++) out.push(digest());
  parentPort.postMessage(out);
} else if (workers > 0) {
  const runs = await Promise.all(
    Array.from({ length: workers }, () => new Promise((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { argv: [`--isa=${isa}`] });
      w.once("message", resolve);
      w.once("error", reject);
    })),
  );
  console.log(JSON.stringify({ threads: N.threads(), isa: N.isa, digests: runs.flat() }));
} else {
  console.log(JSON.stringify({ threads: N.threads(), isa: N.isa, digest: digest() }));
}
