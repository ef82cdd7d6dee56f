/**
 * Regression tests for the defects issue 14's fuzzer and CLI trials found: each input here was
 * accepted, misread, or refused with an unhelpful message before the fix.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UserError } from "../src/errors.js";
import { main } from "../src/cli/main.js";
import type { CliIO } from "../src/cli/args.js";
import { parseNpy } from "../src/io/npy.js";
import { getFloat32, parseSafetensors, readSafetensors, serializeSafetensors, toFloat32, writeSafetensors, type TensorToWrite } from "../src/io/safetensors.js";
import { parseLlama2cCheckpoint, parseLlama2cTokenizer, serializeLlama2cTokenizer } from "../src/io/llama2c.js";
import { loadSaelensSae, saveSaelensSae } from "../src/io/saelens.js";
import { readCheckpoint, writeCheckpoint } from "../src/io/checkpoint.js";
import { createSae } from "../src/sae/model.js";
import { resolveSaeConfig, SaeConfigSchema } from "../src/sae/registry.js";
import { TrainConfigSchema } from "../src/train/config.js";
import { restoreTrainer, snapshotTrainer } from "../src/train/checkpoint.js";
import { createTrainer } from "../src/train/trainer.js";
import { planSweepFile } from "../src/cli/sweep.js";
import { hfTokenizer } from "../src/lm/tokenizers/hf.js";
import { llama2cTokenizerFiles } from "../src/lm/tokenizers/llama2c-json.js";
import { loadWorld, saveWorld, WORLD_TENSORS_FILE } from "../src/io/world.js";
import { createWorld, WorldConfigSchema } from "../src/toy/world.js";
import { parseConfig } from "../src/errors.js";
import { kernels } from "./sae-fixtures.js";
import { tinyVocab } from "./lm-fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "saelab-reliability-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Returns the error `f` throws (failing the test when it throws nothing). */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

/** Builds safetensors bytes from a header given as JSON text and a data section. */
function rawSafetensors(headerJson: string, data = new Uint8Array(0)): Uint8Array {
  const h = Buffer.from(headerJson, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** Builds .npy version 1.0 bytes from header text (padded with spaces and a newline) and data. */
function rawNpy(header: string, data = new Uint8Array(0), pad = " "): Uint8Array {
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  const body = header + pad.repeat(total - 10 - header.length - 1) + "\n";
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(body.length, 8);
  return Buffer.concat([head, Buffer.from(body, "latin1"), data]);
}

describe("safetensors header validation", () => {
  it("refuses a tensor named twice, even when both entries are identical", () => {
    const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
    const e = thrown(() => parseSafetensors(rawSafetensors(`{"a":${entry},"a":${entry}}`, new Uint8Array(4)), "dup.safetensors"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/^dup\.safetensors: invalid safetensors file: the header names "a" twice/);
  });

  it.each(["1e308", "4611686018427387904", "9007199254740994"])("refuses dimension %s even when another dimension is 0", (dim) => {
    const e = thrown(() => parseSafetensors(rawSafetensors(`{"t":{"dtype":"F32","shape":[0,${dim}],"data_offsets":[0,0]}}`), "huge.safetensors"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/huge\.safetensors: invalid safetensors file: tensor "t" has an (invalid|implausible) shape/);
  });

  it("still reads an empty tensor with a plausible shape", () => {
    const f = parseSafetensors(rawSafetensors('{"t":{"dtype":"F32","shape":[0,768],"data_offsets":[0,0]}}'));
    expect(f.tensors.get("t")!.shape).toEqual([0, 768]);
  });

  it("says a CSV named .safetensors is not a safetensors file", () => {
    const path = join(tmp, "data.safetensors");
    writeFileSync(path, "step,loss\n1,0.5\n2,0.25\n");
    const e = thrown(() => readSafetensors(path));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toBe(`${path} is not a safetensors file: it does not start with an 8-byte header length and a JSON header (its first 8 bytes read as header length ${Buffer.from("step,los").readBigUInt64LE()})`);
  });

  it("throws UserError for unreadable files and wrong tensor shapes", () => {
    expect(thrown(() => readSafetensors(tmp))).toBeInstanceOf(UserError);
    const f = parseSafetensors(Buffer.concat(serializeSafetensors({ w: { data: new Float32Array(6), shape: [2, 3] } })));
    const e = thrown(() => getFloat32(f, "w", [3, 2], "w.safetensors"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/w\.safetensors: tensor "w" has shape \[2, 3\], expected \[3, 2\]/);
  });
});

describe(".npy header: a strict Python literal, as NumPy reads it", () => {
  const f4 = new Uint8Array(new Float32Array([1, 2]).buffer);
  it("reads a normal header and NumPy's legal variants", () => {
    expect(Array.from(parseNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4)).data)).toEqual([1, 2]);
    expect(parseNpy(rawNpy('{"shape": (1, 2), "descr": "<f4", "fortran_order": False}', f4)).shape).toEqual([1, 2]);
    expect(parseNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,)}", f4)).shape).toEqual([2]);
  });

  it("refuses a duplicated key instead of reading the first value (NumPy would read int32 here)", () => {
    const e = thrown(() => parseNpy(rawNpy("{'descr': '<f4', 'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", f4), "dup.npy"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/^dup\.npy: invalid \.npy file: header .* is not a Python literal: key 'descr' appears twice/);
  });

  it.each([
    ["no opening brace", "'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", " "],
    ["trailing text", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }junk", " "],
    ["NUL padding", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "\0"],
    ["0xff padding", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "\xff"],
    ["an extra key", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", " "],
    ["a double comma", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,, ), }", " "],
    ["an integer shape", "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", " "],
    ["a float dimension", "{'descr': '<f4', 'fortran_order': False, 'shape': (2e0,), }", " "],
    ["a shape keyword", "{'descr': '<f4', 'fortran_order': False, shape=(2,), }", " "],
    ["a string fortran_order", "{'descr': '<f4', 'fortran_order': 'False', 'shape': (2,), }", " "],
  ])("refuses what NumPy refuses: %s", (_name, header, pad) => {
    const e = thrown(() => parseNpy(rawNpy(header, f4, pad), "bad.npy"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/^bad\.npy: invalid \.npy file: /);
  });
});

describe("llama2.c tokenizer", () => {
  it("refuses a file truncated at a token boundary, naming the file", () => {
    const bytes = serializeLlama2cTokenizer(tinyVocab());
    // Cut after token 100: every token is whole, but the byte tokens 101..258 are gone.
    let off = 4;
    for (let i = 0; i < 101; i++) off += 8 + new DataView(bytes.buffer).getInt32(off + 4, true);
    const e = thrown(() => parseLlama2cTokenizer(bytes.subarray(0, off), "tok.bin"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/^tok\.bin: not a valid llama2\.c tokenizer: it holds 101 tokens; a llama2\.c tokenizer has at least 259 .*\(truncated\?\)/);
    expect(parseLlama2cTokenizer(bytes).pieces.length).toBe(tinyVocab().pieces.length);
  });

  it("a tokenizer given as the model hints that the paths were swapped", () => {
    const e = thrown(() => parseLlama2cCheckpoint(serializeLlama2cTokenizer(tinyVocab()), "tok.bin"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/^tok\.bin: not a valid llama2\.c checkpoint: bad header .*; the file reads as a llama2\.c tokenizer: were the model and tokenizer paths swapped\?$/);
  });
});

describe("worlds", () => {
  it.each([
    ["magnitude.mean", { magnitude: { mean: { kind: "constant", value: 1e308 } } }],
    ["magnitude.std", { magnitude: { std: { kind: "linear", start: 1, end: 1e300 } } }],
    ["biasNorm", { biasNorm: 1e308 }],
  ])("refuses a huge %s instead of sampling Inf", (field, extra) => {
    const e = thrown(() => parseConfig(WorldConfigSchema, { nFeatures: 4, dModel: 3, firing: { kind: "constant", probability: 0.5 }, ...extra }, "w.json"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toContain(field.split(".")[0]!);
    expect(e.message).toMatch(/must be at most 1000000 in absolute value/);
  });

  it("names a broken world.safetensors once", () => {
    const dir = join(tmp, "world");
    saveWorld(dir, createWorld({ nFeatures: 4, dModel: 3, firing: { kind: "constant", probability: 0.5 } }));
    const path = join(dir, WORLD_TENSORS_FILE);
    writeFileSync(path, readFileSync(path).subarray(0, 40));
    const e = thrown(() => loadWorld(dir));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message.split(path).length - 1).toBe(1);
  });
});

describe("SAELens directories", () => {
  it("a tensor of the wrong shape is a UserError naming the file", () => {
    const dir = join(tmp, "sae");
    cpSync(new URL("./fixtures/saelens/standard/", import.meta.url).pathname, dir, { recursive: true });
    const wPath = join(dir, "sae_weights.safetensors");
    const file = readSafetensors(wPath);
    const t: Record<string, TensorToWrite> = {};
    for (const [name, raw] of file.tensors) t[name] = { data: toFloat32(raw), shape: raw.shape };
    t.b_enc = { data: new Float32Array(t.b_enc!.data.length + 1), shape: [t.b_enc!.data.length + 1] };
    writeSafetensors(wPath, t);
    const e = thrown(() => loadSaelensSae(dir, kernels));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/sae_weights\.safetensors: tensor "b_enc" has shape/);
  });
});

describe("SAELens directories that contradict themselves", () => {
  /** Copies fixture `name` to a fresh directory with cfg.json edited by `edit`; returns the directory. */
  const variant = (name: string, label: string, edit: (cfg: Record<string, unknown>) => void): string => {
    const dir = join(tmp, `sae-${label}`);
    cpSync(new URL(`./fixtures/saelens/${name}/`, import.meta.url).pathname, dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8")) as Record<string, unknown>;
    edit(cfg);
    writeFileSync(join(dir, "cfg.json"), JSON.stringify(cfg));
    return dir;
  };

  it("a jumprelu directory whose architecture key is misspelled does not load as standard without its threshold", () => {
    const dir = variant("jumprelu_no_bdec", "misspelled", (c) => {
      c.architectur = c.architecture;
      delete c.architecture;
    });
    const e = thrown(() => loadSaelensSae(dir, kernels));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toBe(`${join(dir, "sae_weights.safetensors")}: tensor "threshold" belongs to a jumprelu SAE, but ${join(dir, "cfg.json")} says architecture "standard" (it has no "architecture" field, so it reads as standard: is the key misspelled?)`);
  });

  it('a jumprelu directory saying "standard" is refused', () => {
    const e = thrown(() => loadSaelensSae(variant("jumprelu_no_bdec", "standard", (c) => (c.architecture = "standard")), kernels));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/tensor "threshold" belongs to a jumprelu SAE, but .*cfg\.json says architecture "standard"$/);
  });

  it("a topk directory saying standard does not drop k", () => {
    const e = thrown(() => loadSaelensSae(variant("topk_rescale", "topk-standard", (c) => (c.architecture = "standard")), kernels));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/cfg\.json: k = 3 belongs to a topk SAE, but the file says architecture "standard"$/);
  });

  it.each([["yes"], [null], [0]])("apply_b_dec_to_input %j is refused, not read as true", (v) => {
    const e = thrown(() => loadSaelensSae(variant("standard", `bdec-${String(v)}`, (c) => (c.apply_b_dec_to_input = v)), kernels));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(new RegExp(`cfg\\.json: apply_b_dec_to_input must be true or false, got ${JSON.stringify(v)}$`));
  });
});

describe("what the fuzzer found", () => {
  it("saelab.json naming another architecture than cfg.json is a UserError (was a TypeError)", () => {
    const dir = join(tmp, "sae-meta-mismatch");
    saveSaelensSae(dir, createSae(kernels, SaeConfigSchema.parse({ architecture: "standard", dIn: 4, dSae: 6 }), { seed: 1 }));
    const meta = JSON.parse(readFileSync(join(dir, "saelab.json"), "utf8")) as { config: Record<string, unknown> };
    meta.config.architecture = "jumprelu";
    delete meta.config.l1Coefficient;
    delete meta.config.l1WarmUpSteps;
    writeFileSync(join(dir, "saelab.json"), JSON.stringify(meta));
    const e = thrown(() => loadSaelensSae(dir, kernels));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/saelab\.json: a jumprelu SAE is saved as SAELens architecture "jumprelu", but cfg\.json says "standard"$/);
  });

  it("a tokenizer.json whose post-processor is malformed is refused when loaded, not on first use (was a TypeError in encode)", () => {
    const files = llama2cTokenizerFiles(tinyVocab());
    (files.tokenizer.post_processor as { single: unknown[] }).single[0] = "topk";
    const e = thrown(() => hfTokenizer({ ...files, source: "tok/tokenizer.json" }));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/^tok\/tokenizer\.json: @huggingface\/tokenizers cannot build this tokenizer/);
  });

  it("a tensor entry with an unknown key is refused", () => {
    const e = thrown(() => parseSafetensors(rawSafetensors('{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"threshold":"yes"}}', new Uint8Array(4)), "k.safetensors"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/tensor "t" has unknown key "threshold"/);
  });

  it("a low_rank correlation with more factors than features is refused (was a RangeError in createWorld)", () => {
    const e = thrown(() => parseConfig(WorldConfigSchema, { nFeatures: 8, dModel: 5, firing: { kind: "constant", probability: 0.1 }, correlation: { kind: "low_rank", rank: 4294967296, scale: 0.3 } }, "w.json"));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/correlation\.rank: is 4294967296 but can be at most nFeatures \(8\)/);
  });

  it("checkpoints: bad configs in the metadata and non-finite tensors are UserErrors naming the file (were ZodErrors / accepted)", () => {
    const train = TrainConfigSchema.parse({ steps: 10, batchSize: 4 });
    const saes = [resolveSaeConfig(SaeConfigSchema.parse({ architecture: "standard", dSae: 6 }), 4)];
    const snap = snapshotTrainer(createTrainer(kernels, saes, train, 4), {});
    const path = join(tmp, "ck.safetensors");
    const meta = snap.meta as { train: Record<string, unknown> };
    writeCheckpoint(path, { tensors: snap.tensors, meta: { ...meta, train: { ...meta.train, lr: "fast" } } });
    const ck = readCheckpoint(path);
    const e = thrown(() => restoreTrainer(kernels, ck.tensors, ck.meta, path, { train, saes }));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toContain(`invalid ${path} (training config):`);
    const bad = Object.fromEntries(Object.entries(snap.tensors).map(([k, t]) => [k, k === "sae0.adam_m" ? { ...t, data: Float32Array.from(t.data, (v, i) => (i === 2 ? NaN : v)) } : t]));
    writeCheckpoint(path, { tensors: bad, meta: snap.meta });
    expect(thrown(() => readCheckpoint(path)).message).toBe(`${path}: tensor "sae0.adam_m" holds NaN at index 2; the checkpoint is damaged`);
  });

  it("a sweep spec whose axes make an invalid cell names the spec file", () => {
    const path = join(tmp, "spec.json");
    writeFileSync(path, JSON.stringify({ name: "x", world: "absorption-basic", axes: { childGivenParent: [0.9] }, saes: [{ architecture: "standard", name: "s", dSae: 8 }], seeds: [1], train: { steps: 10, batchSize: 16 }, eval: { samples: 100 } }));
    const e = thrown(() => planSweepFile(path));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: sweep cell .*childGivenParent = 0\\.9`));
  });
});

describe("what the 100,000-mutant runs found", () => {
  it("an SAE weight of 3e38 (an exponent bit flipped) is refused: float32 reconstructions overflow (was accepted)", () => {
    const dir = join(tmp, "sae-huge-weight");
    cpSync(new URL("./fixtures/saelens/standard/", import.meta.url).pathname, dir, { recursive: true });
    const wPath = join(dir, "sae_weights.safetensors");
    const t: Record<string, TensorToWrite> = {};
    for (const [name, raw] of readSafetensors(wPath).tensors) t[name] = { data: toFloat32(raw), shape: raw.shape };
    t.W_dec!.data[5] = 3.1470154289170566e38;
    writeSafetensors(wPath, t);
    const e = thrown(() => loadSaelensSae(dir, kernels));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/sae_weights\.safetensors: tensor "W_dec" holds 3\.14\d*e\+38, beyond ±10000000000/);
  });

  it.each([["true", true], ["65536", 65536], ["199999992 (was a hang)", 199999992], ["-1", -1], ["1.5", 1.5]])("a tokenizer.json vocab id %s is refused, naming the file and the token", (_label, id) => {
    const files = llama2cTokenizerFiles(tinyVocab());
    (files.tokenizer.model as { vocab: Record<string, unknown> }).vocab["<0x63>"] = id;
    const t0 = performance.now();
    const e = thrown(() => hfTokenizer({ ...files, source: "tok/tokenizer.json" }));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toBe(`tok/tokenizer.json: model.vocab["<0x63>"] has id ${JSON.stringify(id)}; token ids must be integers below the ${Object.keys((files.tokenizer.model as { vocab: object }).vocab).length + (files.tokenizer.added_tokens as unknown[]).length} tokens`);
  });

  it("a tokenizer.json id at or past config.json's vocab_size is refused; one below it is read", () => {
    const files = llama2cTokenizerFiles(tinyVocab());
    const n = Object.keys((files.tokenizer.model as { vocab: object }).vocab).length;
    expect(() => hfTokenizer({ ...files, modelConfig: { vocab_size: n }, source: "t.json" })).not.toThrow();
    const e = thrown(() => hfTokenizer({ ...files, modelConfig: { vocab_size: n - 1 }, source: "t.json" }));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(new RegExp(`has id ${n - 1}; token ids must be integers below config\\.json's vocab_size ${n - 1}$`));
  });

  it("a generated hierarchy with -1 roots and depth 2^32 is a ConfigError at once (was a hang sizing the forest)", () => {
    const t0 = performance.now();
    const e = thrown(() => parseConfig(WorldConfigSchema, { nFeatures: 64, dModel: 8, firing: { kind: "constant", probability: 0.1 }, hierarchy: { generate: { roots: -1, branching: 4, depth: 4294967296 } } }, "w.json"));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/hierarchy\.generate\.roots/);
  });
});

describe("CLI messages", () => {
  const run = async (argv: string[]): Promise<{ code: number; err: string }> => {
    const err: string[] = [];
    const io: CliIO = { out: () => {}, err: (t) => err.push(t), isTTY: false, cwd: tmp };
    const code = await main(argv, io);
    return { code, err: err.join("\n") };
  };
  const saeCfg = join(tmp, "sae.json");
  writeFileSync(saeCfg, JSON.stringify({ architecture: "standard", dSae: 8 }));

  it("train --out on an existing file names the flag", async () => {
    writeFileSync(join(tmp, "afile"), "x");
    const r = await run(["train", "--preset", "absorption-basic", "--sae", saeCfg, "--out", "afile", "--steps", "2"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe("saelab: --out afile is an existing file; it takes a directory (new or from an earlier run)");
  });

  it("train --sae on a directory names the flag", async () => {
    mkdirSync(join(tmp, "somedir"), { recursive: true });
    const r = await run(["train", "--preset", "absorption-basic", "--sae", "somedir", "--out", "o1", "--steps", "2"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe("saelab: --sae somedir is a directory; it takes an SAE config JSON file (see saelab train --help)");
  });

  it("a missing --sae says which flag is missing", async () => {
    const r = await run(["train", "--preset", "absorption-basic", "--out", "o2", "--steps", "2"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^saelab: invalid arguments to .saelab train.:\n {2}- sae: missing: give --sae \(SAE config JSON file: .*\)$/);
  });

  it('"saelab trian --steps 3" suggests train', async () => {
    const r = await run(["trian", "--steps", "3"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('saelab: unknown command "trian" (did you mean "train"?); run saelab --help for the list');
  });
});
