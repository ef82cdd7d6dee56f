import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../src/errors.js";
import { readHfSnapshot, requireTokenizerJson, writeHfSnapshot, type HfSnapshotToWrite } from "../src/io/hf-snapshot.js";

const tmp = () => mkdtempSync(join(tmpdir(), "saelab-hf-"));

/** A tiny GPT-2-like state dict: values k/8 are exact in F16 and BF16. */
function tinySnapshot(): HfSnapshotToWrite {
  const t = (shape: number[], seed: number) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (((i * 7 + seed) % 17) - 8) / 8) });
  return {
    config: { model_type: "gpt2", n_embd: 4, n_layer: 1, n_head: 2, vocab_size: 6, n_positions: 8 },
    tensors: {
      "wte.weight": t([6, 4], 1),
      "wpe.weight": t([8, 4], 2),
      "h.0.attn.c_attn.weight": t([4, 12], 3),
      "h.0.attn.c_attn.bias": t([12], 4),
      "ln_f.weight": t([4], 5),
    },
    tokenizer: { version: "1.0", model: { type: "BPE", vocab: {}, merges: [] } },
    tokenizerConfig: { bos_token: "<|endoftext|>" },
    specialTokensMap: { eos_token: "<|endoftext|>" },
    generationConfig: { bos_token_id: 5 },
  };
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(UserError);
  expect((e as Error).message).toMatch(re);
}

describe("readHfSnapshot", () => {
  it.each([
    ["F32", 1],
    ["F16", 1],
    ["BF16", 3],
  ] as const)("reads %s weights in %i file(s), with stored names, shapes and tokenizer files", async (dtype, shards) => {
    const dir = tmp();
    const want = tinySnapshot();
    writeHfSnapshot(dir, { ...want, dtype, shards });
    const snap = await readHfSnapshot(dir);
    expect(snap.config).toEqual(want.config);
    expect([...snap.tensors.keys()].sort()).toEqual(Object.keys(want.tensors).sort());
    for (const [name, t] of Object.entries(want.tensors)) {
      expect(snap.tensors.get(name)!.shape).toEqual(t.shape);
      expect(snap.tensors.get(name)!.data).toEqual(t.data);
      expect(snap.storedDtypes.get(name)).toBe(dtype);
    }
    expect(snap.weightFiles).toHaveLength(shards);
    expect(snap.tokenizerJson).toBe(join(dir, "tokenizer.json"));
    expect(requireTokenizerJson(snap)).toBe(join(dir, "tokenizer.json"));
    expect(snap.tokenizerConfig).toEqual(want.tokenizerConfig);
    expect(snap.specialTokensMap).toEqual(want.specialTokensMap);
    expect(snap.generationConfig).toEqual(want.generationConfig);
  });

  it("stores a value F16 cannot hold as the nearest F16 value", async () => {
    const dir = tmp();
    const s = tinySnapshot();
    s.tensors["wte.weight"]!.data[0] = 1 + 2 ** -12; // not representable in F16: rounds to 1
    writeHfSnapshot(dir, { ...s, dtype: "F16" });
    expect((await readHfSnapshot(dir)).tensors.get("wte.weight")!.data[0]).toBe(1);
  });

  it("gives a UserError naming the file and field for each kind of bad snapshot", async () => {
    const mk = (opts: Partial<HfSnapshotToWrite> = {}) => {
      const dir = tmp();
      writeHfSnapshot(dir, { ...tinySnapshot(), ...opts });
      return dir;
    };
    await rejects(readHfSnapshot(join(tmp(), "nope")), /nope: not a directory/);
    let dir = mk();
    rmSync(join(dir, "config.json"));
    await rejects(readHfSnapshot(dir), /config\.json is missing/);
    dir = mk();
    writeFileSync(join(dir, "config.json"), "{ model_type: ");
    await rejects(readHfSnapshot(dir), /config\.json: not valid JSON/);
    dir = mk();
    rmSync(join(dir, "model.safetensors"));
    writeFileSync(join(dir, "pytorch_model.bin"), "x");
    await rejects(readHfSnapshot(dir), /neither model\.safetensors nor model\.safetensors\.index\.json is present \(it has pytorch_model\.bin/);
    // A missing shard.
    dir = mk({ shards: 2 });
    rmSync(join(dir, "model-00002-of-00002.safetensors"));
    await rejects(readHfSnapshot(dir), /model\.safetensors\.index\.json: weight_map\["[^"]+"\] names shard model-00002-of-00002\.safetensors, which is missing/);
    // An index naming a shard that lacks the tensor.
    dir = mk({ shards: 2 });
    const idxPath = join(dir, "model.safetensors.index.json");
    const idx = JSON.parse(readFileSync(idxPath, "utf8")) as { weight_map: Record<string, string> };
    idx.weight_map["lm_head.weight"] = "model-00001-of-00002.safetensors";
    writeFileSync(idxPath, JSON.stringify(idx));
    await rejects(readHfSnapshot(dir), /weight_map\["lm_head\.weight"\] names shard model-00001-of-00002\.safetensors, which has no tensor "lm_head\.weight"/);
    idx.weight_map["lm_head.weight"] = "../elsewhere.safetensors";
    writeFileSync(idxPath, JSON.stringify(idx));
    await rejects(readHfSnapshot(dir), /weight_map\["lm_head\.weight"\] must be a shard file name in the same directory/);
    // A truncated safetensors file.
    dir = mk();
    const w = join(dir, "model.safetensors");
    truncateSync(w, readFileSync(w).length - 3);
    await rejects(readHfSnapshot(dir), /model\.safetensors: invalid safetensors file: tensor "ln_f\.weight" ends at byte \d+ .*truncated/);
    // Non-finite weights.
    const s = tinySnapshot();
    s.tensors["ln_f.weight"]!.data[2] = NaN;
    dir = mk({ tensors: s.tensors, dtype: "BF16" });
    await rejects(readHfSnapshot(dir), /model\.safetensors: tensor "ln_f\.weight" holds NaN at index 2/);
    // No tokenizer.json: reading works, asking for the tokenizer does not.
    dir = mk();
    rmSync(join(dir, "tokenizer.json"));
    const snap = await readHfSnapshot(dir);
    expect(snap.tokenizerJson).toBeUndefined();
    expect(() => requireTokenizerJson(snap)).toThrow(/tokenizer\.json is missing, and this command needs the model's tokenizer/);
  });
});
