import { describe, expect, it } from "vitest";
import { float32ToHalfBits, halfBitsToFloat32, parseSafetensors, serializeSafetensors, toFloat32 } from "../src/io/safetensors.js";

/** IEEE binary16 decoded by plain arithmetic, written here independently of src/. */
function refHalf(h: number): number {
  const s = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * Math.pow(2, -24);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + m / 1024);
}

/** bfloat16 decoded by plain arithmetic: sign, 8-bit exponent, 7-bit mantissa. */
function refBf16(b: number): number {
  const s = b >> 15 ? -1 : 1;
  const e = (b >> 7) & 255;
  const m = b & 127;
  if (e === 0) return s * m * Math.pow(2, -133);
  if (e === 255) return m ? NaN : s * Infinity;
  return s * Math.pow(2, e - 127) * (1 + m / 128);
}

const allBits = Uint16Array.from({ length: 65536 }, (_, i) => i);

describe("F16 and BF16 safetensors", () => {
  it("decodes every F16 and BF16 bit pattern as IEEE arithmetic does", () => {
    for (const [dtype, ref] of [["F16", refHalf], ["BF16", refBf16]] as const) {
      const got = halfBitsToFloat32(allBits, dtype);
      for (let i = 0; i < 65536; i++) {
        const want = ref(i);
        if (Number.isNaN(want)) expect(Number.isNaN(got[i]!), `${dtype} ${i}`).toBe(true);
        else if (got[i] !== want) expect(got[i], `${dtype} 0x${i.toString(16)}`).toBe(want);
      }
    }
    expect(halfBitsToFloat32(Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001), "F16")).toEqual(Float32Array.of(1, -2, 65504, 2 ** -24));
    expect(halfBitsToFloat32(Uint16Array.of(0x3f80, 0x4049), "BF16")).toEqual(Float32Array.of(1, 3.140625));
  });

  it("encodes to the nearest value, ties to even, and every pattern round-trips", () => {
    for (const dtype of ["F16", "BF16"] as const) {
      const vals = halfBitsToFloat32(allBits, dtype);
      const back = float32ToHalfBits(vals, dtype);
      for (let i = 0; i < 65536; i++) {
        if (!Number.isNaN(vals[i]!) && back[i] !== i) expect(back[i], `${dtype} 0x${i.toString(16)}`).toBe(i);
      }
    }
    // 1 + 2^-11 lies halfway between F16 1 and 1 + 2^-10: ties go to the even pattern (1); just above goes up.
    expect(Array.from(float32ToHalfBits(Float32Array.of(1 + 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 1 + 3 * 2 ** -11, 70000, 2 ** -25, 2 ** -25 * 1.01), "F16")))
      .toEqual([0x3c00, 0x3c01, 0x3c02, 0x7c00, 0x0000, 0x0001]);
    expect(Array.from(float32ToHalfBits(Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, Math.fround(1 + 2 ** -8 + 2 ** -20)), "BF16"))).toEqual([0x3f80, 0x3f82, 0x3f81]);
  });

  it("stores F16/BF16 tensors and reads them back as float32 from unaligned offsets", () => {
    const data = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * 100);
    const bytes = Buffer.concat(serializeSafetensors({
      odd: { data: Int32Array.of(1), shape: [1] },
      h: { data, shape: [37], dtype: "F16" },
      b: { data, shape: [37], dtype: "BF16" },
      f: { data, shape: [37] },
    }));
    // Shift the whole file by one byte so no tensor is aligned.
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const f = parseSafetensors(shifted);
    expect(f.tensors.get("h")!.dtype).toBe("F16");
    expect(f.tensors.get("b")!.dtype).toBe("BF16");
    expect(toFloat32(f.tensors.get("f")!)).toEqual(data);
    const h = toFloat32(f.tensors.get("h")!);
    const b = toFloat32(f.tensors.get("b")!);
    for (let i = 0; i < 37; i++) {
      expect(Math.abs(h[i]! - data[i]!)).toBeLessThanOrEqual(Math.abs(data[i]!) * 2 ** -11 + 1e-7);
      expect(Math.abs(b[i]! - data[i]!)).toBeLessThanOrEqual(Math.abs(data[i]!) * 2 ** -8);
    }
  });
});
