import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NpyStreamWriter, parseNpy, readNpy, writeNpy } from "../src/io/npy.js";
import { getFloat32, parseSafetensors, readSafetensors, serializeSafetensors, toFloat32, writeSafetensors } from "../src/io/safetensors.js";

const FIX = new URL("./fixtures/", import.meta.url);
const fix = (name: string) => new URL(name, FIX).pathname;
const tmp = () => mkdtempSync(join(tmpdir(), "saelab-io-"));

describe(".npy (golden files written by NumPy: test/fixtures/make_npy_fixtures.py)", () => {
  it("reads float32, Fortran-order float64, int64, big-endian and float16", () => {
    const a = readNpy(fix("f4_3x4.npy"));
    expect(a.shape).toEqual([3, 4]);
    expect(Array.from(a.data)).toEqual(Array.from({ length: 12 }, (_, i) => Math.fround((i - 5.5) / 3)));
    const f = readNpy(fix("f8_fortran_2x3.npy"));
    expect(f.shape).toEqual([2, 3]);
    expect(Array.from(f.data)).toEqual([1.5, -2, 3, 4, 5, 6.25]);
    const i = readNpy(fix("i8_5.npy"));
    expect(i.data).toBeInstanceOf(Int32Array);
    expect(Array.from(i.data)).toEqual([1, -2, 3, 2 ** 31 - 1, -(2 ** 31)]);
    expect(Array.from(readNpy(fix("be_f4_2.npy")).data)).toEqual([1.25, -7]);
    expect(Array.from(readNpy(fix("f2_3.npy")).data)).toEqual([0.5, -1, 65504]);
  });

  it("writes files byte-identical to numpy.save", () => {
    const dir = tmp();
    const data = Float32Array.from({ length: 12 }, (_, i) => (i - 5.5) / 3);
    writeNpy(join(dir, "a.npy"), data, [3, 4]);
    expect(readFileSync(join(dir, "a.npy")).equals(readFileSync(fix("f4_3x4.npy")))).toBe(true);
  });

  it("streams rows atomically and refuses an incomplete stream", () => {
    const dir = tmp();
    const w = new NpyStreamWriter(join(dir, "s.npy"), "<f4", [4, 2]);
    w.writeRows(Float32Array.from([1, 2, 3, 4]));
    expect(readdirSync(dir).includes("s.npy")).toBe(false);
    w.writeRows(Float32Array.from([5, 6, 7, 8]));
    w.close();
    const r = readNpy(join(dir, "s.npy"));
    expect(r.shape).toEqual([4, 2]);
    expect(Array.from(r.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const bad = new NpyStreamWriter(join(dir, "t.npy"), "<f4", [3, 2]);
    bad.writeRows(Float32Array.from([1, 2]));
    expect(() => bad.close()).toThrow(/1 rows written, 3 declared/);
    expect(readdirSync(dir).filter((f) => f.startsWith("t.npy") || f.includes("t.npy.tmp"))).toEqual([]);
  });

  it("rejects truncated files, bad magic and unsupported dtypes with clear errors", () => {
    const good = readFileSync(fix("f4_3x4.npy"));
    expect(() => parseNpy(good.subarray(0, good.length - 4), "x.npy")).toThrow(/x.npy: invalid .npy file: data has 44 bytes .* needs 48 \(truncated\?\)/);
    const badMagic = Buffer.from(good);
    badMagic[1] = 0;
    expect(() => parseNpy(badMagic, "y.npy")).toThrow(/magic/);
    const c8 = Buffer.from(good.toString("latin1").replace("<f4", "<c8"), "latin1");
    expect(() => parseNpy(c8, "z.npy")).toThrow(/unsupported .npy dtype <c8/);
  });
});

describe("safetensors", () => {
  it("reads a file whose float tensor is not 4-byte aligned", () => {
    const f = readSafetensors(fix("unaligned.safetensors"));
    expect(f.metadata).toEqual({ format: "pt" });
    expect(Array.from(toFloat32(f.tensors.get("small")!))).toEqual([7, 8, 9]);
    expect(Array.from(getFloat32(f, "W", [2, 3]))).toEqual([1, 2, 3, 4, 5, 6].map((x) => x / 8));
    expect(() => getFloat32(f, "W", [3, 2])).toThrow(/has shape \[2, 3\], expected \[3, 2\]/);
    expect(() => getFloat32(f, "nope", [1])).toThrow(/missing tensor "nope"/);
  });

  it("round-trips tensors and metadata exactly, with an 8-byte aligned header", () => {
    const dir = tmp();
    const w = Float32Array.from([Math.PI, -0, 1e-30, 3.4e38, -1.5]);
    const idx = Int32Array.from([3, -1, 2147483647]);
    writeSafetensors(join(dir, "t.safetensors"), { W_dec: { data: w, shape: [5] }, ids: { data: idx, shape: [1, 3] } }, { tied: "true" });
    const buf = readFileSync(join(dir, "t.safetensors"));
    expect(Number(buf.readBigUInt64LE(0)) % 8).toBe(0);
    const f = parseSafetensors(buf);
    expect(f.metadata).toEqual({ tied: "true" });
    expect(Object.is(toFloat32(f.tensors.get("W_dec")!)[1], -0)).toBe(true);
    expect(Array.from(toFloat32(f.tensors.get("W_dec")!))).toEqual(Array.from(w));
    expect(f.tensors.get("ids")!.dtype).toBe("I32");
    expect(f.tensors.get("ids")!.shape).toEqual([1, 3]);
  });

  it("rejects truncated, overlapping, gapped and inconsistent files naming the problem", () => {
    const bytes = Buffer.concat(serializeSafetensors({ a: { data: new Float32Array(4), shape: [4] }, b: { data: new Float32Array(2), shape: [2] } }));
    expect(() => parseSafetensors(bytes.subarray(0, bytes.length - 1), "t.st")).toThrow(/t.st: invalid safetensors file: tensor "b" ends at byte 24 .*truncated/);
    expect(() => parseSafetensors(bytes.subarray(0, 5))).toThrow(/shorter than the 8-byte header/);
    const mk = (header: object, dataBytes: number) => {
      const h = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      return Buffer.concat([len, h, Buffer.alloc(dataBytes)]);
    };
    expect(() => parseSafetensors(mk({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, 12))).toThrow(/overlaps/);
    expect(() => parseSafetensors(mk({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8))).toThrow(/gap of 4 bytes/);
    expect(() => parseSafetensors(mk({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8))).toThrow(/has 8 bytes but dtype F32 x shape \[3\] needs 12/);
    expect(() => parseSafetensors(mk({ a: { dtype: "Q4", shape: [1], data_offsets: [0, 1] } }, 1))).toThrow(/unsupported dtype "Q4"/);
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(1000n);
    expect(() => parseSafetensors(huge)).toThrow(/runs past the end/);
  });

  it("leaves no partial file behind when a write fails", () => {
    const dir = tmp();
    writeFileSync(join(dir, "keep.safetensors"), "old");
    expect(() => writeSafetensors(join(dir, "keep.safetensors"), { a: { data: new Float32Array(3), shape: [2] } })).toThrow(/needs 2/);
    expect(readFileSync(join(dir, "keep.safetensors"), "utf8")).toBe("old");
    expect(readdirSync(dir)).toEqual(["keep.safetensors"]);
  });
});
