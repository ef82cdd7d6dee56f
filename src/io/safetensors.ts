/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON header, then the tensor bytes. Reading validates the header
 * completely (offsets in bounds, contiguous, non-overlapping, sizes matching dtype x shape) and
 * accepts any alignment of the data; writing pads the header to 8 bytes as the reference does.
 */
import { readFileSync } from "node:fs";
import { UserError } from "../errors.js";
import { writeFileAtomic } from "./atomic.js";
import { firstDuplicateKey } from "./json-keys.js";

export type SafetensorsDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** One tensor as stored: its dtype, shape and raw little-endian bytes. */
export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

/** A tensor to write: float32 or int32 data with a shape; float32 data may be stored as F16 or BF16 (rounded to nearest even). */
export interface TensorToWrite {
  data: Float32Array | Int32Array;
  shape: readonly number[];
  /** Storage dtype for float32 data (default F32). */
  dtype?: "F32" | "F16" | "BF16";
}

const MAX_HEADER = 100_000_000;
const NOT_SAFETENSORS = "it does not start with an 8-byte header length and a JSON header";

/** A dimension or offset is a non-negative integer that float64 holds exactly. */
const isCount = (d: unknown): d is number => Number.isSafeInteger(d) && (d as number) >= 0;

/** Parses safetensors bytes, throwing a UserError that names the file and the problem on any inconsistency. */
export function parseSafetensors(buf: Uint8Array, source = "<buffer>"): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: invalid safetensors file: ${msg}`);
  };
  const notSafetensors = (why: string): never => {
    throw new UserError(`${source} is not a safetensors file: ${why}`);
  };
  if (buf.byteLength < 8) fail(`only ${buf.byteLength} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) notSafetensors(`${NOT_SAFETENSORS} (its first 8 bytes read as header length ${n})`);
  const headerLen = Number(n);
  if (8 + headerLen > buf.byteLength) fail(`header length ${headerLen} runs past the end of the file (${buf.byteLength} bytes; truncated?)`);
  // A header always opens with "{": anything else (text, another binary format) is not safetensors.
  if (buf.byteLength > 8 && buf[8] !== 0x7b) notSafetensors(NOT_SAFETENSORS);
  let header: unknown;
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + headerLen));
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("header is not a JSON object");
  const dup = firstDuplicateKey(text);
  if (dup !== undefined) fail(`the header names "${dup}" twice`);
  const dataStart = 8 + headerLen;
  const dataLen = buf.byteLength - dataStart;
  const tensors = new Map<string, RawTensor>();
  let metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) fail("__metadata__ is not an object");
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__.${k} is not a string`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (typeof entry !== "object" || entry === null) fail(`tensor "${name}" has no description`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== "string" || !(e.dtype in DTYPE_BYTES)) fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(e.dtype)}`);
    const dtype = e.dtype as SafetensorsDtype;
    if (!Array.isArray(e.shape) || !e.shape.every(isCount)) fail(`tensor "${name}" has an invalid shape ${JSON.stringify(e.shape)} (dimensions must be integers from 0 to 2^53 - 1)`);
    const shape = e.shape as number[];
    // Checked without the zeros too: [0, 1e15] holds no bytes, but no real tensor has such a dimension.
    const nonZero = shape.reduce((a, b) => a * Math.max(b, 1), 1) * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(nonZero) || nonZero > dataLen + MAX_HEADER) fail(`tensor "${name}" has an implausible shape [${shape.join(", ")}] (far more elements than the file could hold)`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount)) fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`);
    const [begin, end] = off as [number, number];
    if (end < begin) fail(`tensor "${name}" has data_offsets [${begin}, ${end}] ending before they begin`);
    if (end > dataLen) fail(`tensor "${name}" ends at byte ${end} but the data section has ${dataLen} bytes (truncated?)`);
    const want = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (end - begin !== want) fail(`tensor "${name}" has ${end - begin} bytes but dtype ${dtype} x shape [${shape.join(", ")}] needs ${want}`);
    spans.push({ name, begin, end });
    tensors.set(name, { dtype, shape, bytes: buf.subarray(dataStart + begin, dataStart + end) });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const s of spans) {
    if (s.begin < cursor) fail(`tensor "${s.name}" overlaps the previous tensor`);
    if (s.begin > cursor) fail(`there is a gap of ${s.begin - cursor} bytes before tensor "${s.name}"`);
    cursor = s.end;
  }
  if (cursor !== dataLen) fail(`the data section has ${dataLen} bytes but the tensors cover ${cursor}`);
  return { tensors, metadata };
}

/** Reads and validates a safetensors file. */
export function readSafetensors(path: string): SafetensorsFile {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new UserError(`cannot read safetensors file ${path}: ${(e as Error).message}`);
  }
  return parseSafetensors(buf, path);
}

/** Returns a tensor's values as float32 (converting F64/F16/BF16/integers), copying so alignment never matters. */
export function toFloat32(t: RawTensor, name = "tensor"): Float32Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  switch (t.dtype) {
    case "F32":
      // new Uint8Array(view) copies (a Buffer's slice would not), giving an aligned buffer of our own.
      if (LITTLE_ENDIAN) return new Float32Array(new Uint8Array(t.bytes.subarray(0, count * 4)).buffer);
      break;
    case "F16":
    case "BF16":
      if (LITTLE_ENDIAN) return halfBitsToFloat32(new Uint16Array(new Uint8Array(t.bytes.subarray(0, count * 2)).buffer), t.dtype);
      break;
  }
  const out = new Float32Array(count);
  switch (t.dtype) {
    case "F32":
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case "F64":
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case "F16":
      for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case "BF16":
      for (let i = 0; i < count; i++) out[i] = bf16ToFloat(dv.getUint16(i * 2, true));
      break;
    case "I32":
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case "I64":
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      break;
    case "I16":
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(i * 2, true);
      break;
    case "I8":
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(i);
      break;
    case "U8":
    case "BOOL":
      for (let i = 0; i < count; i++) out[i] = dv.getUint8(i);
      break;
    default:
      throw new UserError(`${name}: cannot convert dtype ${String(t.dtype)} to float32`);
  }
  return out;
}

/** Every float16 bit pattern's float32 value (256 KiB, built once; read-only), so F16 converts with one lookup a value. */
const HALF_TABLE: Float32Array = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = halfToFloat(h);
  return t;
})();

/** Returns float32 values of float16 or bfloat16 bit patterns [n] (bfloat16 is the top half of a float32). */
export function halfBitsToFloat32(bits: Uint16Array, dtype: "F16" | "BF16"): Float32Array {
  const out = new Float32Array(bits.length);
  if (dtype === "BF16") {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  } else {
    for (let i = 0; i < bits.length; i++) out[i] = HALF_TABLE[bits[i]!]!;
  }
  return out;
}

/** Returns the float16 or bfloat16 bit patterns [n] nearest to float32 values (round to nearest, ties to even; NaN stays NaN). */
export function float32ToHalfBits(values: Float32Array, dtype: "F16" | "BF16"): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = dtype === "BF16" ? f32BitsToBf16(u[i]!) : f32BitsToHalf(u[i]!);
  return out;
}

function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function f32BitsToHalf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** Returns a tensor's values as int32 (from I32/I64/I16/I8/U8/BOOL), rejecting floats and out-of-range values. */
export function toInt32(t: RawTensor, name = "tensor"): Int32Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let v: number;
    switch (t.dtype) {
      case "I32": v = dv.getInt32(i * 4, true); break;
      case "I64": v = Number(dv.getBigInt64(i * 8, true)); break;
      case "I16": v = dv.getInt16(i * 2, true); break;
      case "I8": v = dv.getInt8(i); break;
      case "U8": case "BOOL": v = dv.getUint8(i); break;
      default: throw new UserError(`${name}: dtype ${t.dtype} is not an integer type`);
    }
    if (v > 2147483647 || v < -2147483648) throw new UserError(`${name}: value ${v} at ${i} does not fit in int32`);
    out[i] = v;
  }
  return out;
}

/** Returns a named tensor as float32 after checking its shape (use -1 for a free dimension). */
export function getFloat32(file: SafetensorsFile, name: string, shape: readonly number[], source = "safetensors file"): Float32Array {
  const t = file.tensors.get(name);
  if (!t) throw new UserError(`${source}: missing tensor "${name}" (has: ${[...file.tensors.keys()].join(", ") || "none"})`);
  const ok = t.shape.length === shape.length && shape.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) throw new UserError(`${source}: tensor "${name}" has shape [${t.shape.join(", ")}], expected [${shape.map((d) => (d === -1 ? "*" : d)).join(", ")}]`);
  return toFloat32(t, name);
}

/** Serialises tensors (and string metadata) to safetensors bytes; tensors are laid out in the given order. */
export function serializeSafetensors(tensors: Readonly<Record<string, TensorToWrite>>, metadata?: Record<string, string>): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) throw new Error(`safetensors: tensor "${name}" has ${t.data.length} values but shape [${t.shape.join(", ")}] needs ${count}`);
    const half = t.data instanceof Float32Array && (t.dtype === "F16" || t.dtype === "BF16") ? t.dtype : null;
    const dtype = half ?? (t.data instanceof Float32Array ? "F32" : "I32");
    const stored = half ? float32ToHalfBits(t.data as Float32Array, half) : t.data;
    const bytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
    parts.push(littleEndianCopy(bytes, half ? 2 : 4));
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += " ".repeat(pad);
  const jsonBytes = Buffer.from(json, "utf8");
  const lenBytes = new Uint8Array(8);
  new DataView(lenBytes.buffer).setBigUint64(0, BigInt(jsonBytes.byteLength), true);
  return [lenBytes, jsonBytes, ...parts];
}

/** Writes tensors to a safetensors file atomically. */
export function writeSafetensors(path: string, tensors: Readonly<Record<string, TensorToWrite>>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function littleEndianCopy(bytes: Uint8Array, width: number): Uint8Array {
  if (LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i += width) out.subarray(i, i + width).reverse();
  return out;
}

/** Converts an IEEE half-precision bit pattern to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Converts a bfloat16 bit pattern to a number. */
export function bf16ToFloat(b: number): number {
  const f = new Float32Array(1);
  new Uint32Array(f.buffer)[0] = (b & 0xffff) << 16;
  return f[0]!;
}
