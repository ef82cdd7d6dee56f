/**
 * NumPy .npy reader and writer (format versions 1.0, 2.0 and 3.0). Reading accepts little- and
 * big-endian float16/32/64, int8-64, uint8-32 and bool, C or Fortran order, and returns float32 or
 * int32 in C order; writing produces version 1.0 (2.0 when the header is too long) with a header
 * padded to 64 bytes, as numpy.save does. `NpyStreamWriter` writes row blocks of a large array
 * without holding it in memory, atomically.
 */
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { openAtomicStream, writeFileAtomic, type AtomicStream } from "./atomic.js";
import { UserError } from "../errors.js";
import { parsePyLiteral, PyTuple, type PyValue } from "./py-literal.js";
import { halfToFloat } from "./safetensors.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** A parsed .npy header. */
export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the data. */
  dataOffset: number;
}

/** An array read from .npy. */
export interface NpyArray<T extends Float32Array | Int32Array = Float32Array | Int32Array> {
  data: T;
  shape: number[];
  /** The dtype as stored, e.g. "<f4". */
  descr: string;
}

/** Parses the header of .npy bytes, throwing a UserError naming the source on any problem. */
export function parseNpyHeader(buf: Uint8Array, source = "<buffer>"): NpyHeader {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: invalid .npy file: ${msg}`);
  };
  if (buf.byteLength < 10) fail(`only ${buf.byteLength} bytes`);
  for (let i = 0; i < 6; i++) if (buf[i] !== MAGIC[i]) fail("missing the \\x93NUMPY magic string");
  const major = buf[6]!;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.byteLength < 12) fail("truncated header");
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    return fail(`unsupported format version ${major}.${buf[7]}`);
  }
  if (start + headerLen > buf.byteLength) fail("header runs past the end of the file (truncated?)");
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(buf.subarray(start, start + headerLen));
  let dict: PyValue;
  try {
    dict = parsePyLiteral(text);
  } catch (e) {
    return fail(`header ${JSON.stringify(text.trim().slice(0, 200))} is not a Python literal: ${(e as Error).message}`);
  }
  if (!(dict instanceof Map)) return fail("the header is not a dict");
  const keys = [...dict.keys()].sort();
  if (keys.join() !== "descr,fortran_order,shape") return fail(`the header must have exactly the keys 'descr', 'fortran_order' and 'shape', not ${keys.map((k) => `'${k}'`).join(", ") || "none"}`);
  const descr = dict.get("descr");
  const fortran = dict.get("fortran_order");
  const shapeValue = dict.get("shape");
  if (typeof descr !== "string") return fail("'descr' is not a string (structured dtypes are not supported)");
  if (typeof fortran !== "boolean") return fail("'fortran_order' is not True or False");
  if (!(shapeValue instanceof PyTuple)) return fail("'shape' is not a tuple");
  const shape = shapeValue.items.map((d) => {
    if (typeof d !== "bigint" || d < 0n || d > BigInt(Number.MAX_SAFE_INTEGER)) return fail(`bad dimension ${String(d)} in shape`);
    return Number(d);
  });
  const nonZero = shape.reduce((a, b) => a * Math.max(b, 1), 1);
  if (!Number.isSafeInteger(nonZero)) fail(`shape (${shape.join(", ")}) is implausibly large`);
  return { descr, fortranOrder: fortran, shape, dataOffset: start + headerLen };
}

interface DtypeInfo { kind: "f" | "i" | "u" | "b"; bytes: number; little: boolean }

function dtypeInfo(descr: string, source: string): DtypeInfo {
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr) ?? /^()(\?)()$/.exec(descr);
  if (!m) throw new UserError(`${source}: unsupported .npy dtype ${descr}`);
  if (m[2] === "?") return { kind: "b", bytes: 1, little: true };
  const kind = m[2] as DtypeInfo["kind"];
  const bytes = Number(m[3]);
  const ok = (kind === "f" && [2, 4, 8].includes(bytes)) || ((kind === "i" || kind === "u") && [1, 2, 4, 8].includes(bytes)) || (kind === "b" && bytes === 1);
  if (!ok) throw new UserError(`${source}: unsupported .npy dtype ${descr}`);
  return { kind, bytes, little: m[1] !== ">" };
}

/** Parses .npy bytes into float32 (for float dtypes) or int32 (for integer/bool dtypes), C order. */
export function parseNpy(buf: Uint8Array, source = "<buffer>"): NpyArray {
  const h = parseNpyHeader(buf, source);
  const info = dtypeInfo(h.descr, source);
  const count = h.shape.reduce((a, b) => a * b, 1);
  const need = count * info.bytes;
  const avail = buf.byteLength - h.dataOffset;
  if (avail < need) throw new UserError(`${source}: invalid .npy file: data has ${avail} bytes but shape [${h.shape.join(", ")}] of ${h.descr} needs ${need} (truncated?)`);
  if (avail > need) throw new UserError(`${source}: invalid .npy file: ${avail - need} unexpected bytes after the data`);
  const dv = new DataView(buf.buffer, buf.byteOffset + h.dataOffset, need);
  const isFloat = info.kind === "f";
  const data = isFloat ? new Float32Array(count) : new Int32Array(count);
  const le = info.little;
  for (let i = 0; i < count; i++) {
    const o = i * info.bytes;
    let v: number;
    if (info.kind === "f") {
      v = info.bytes === 4 ? dv.getFloat32(o, le) : info.bytes === 8 ? dv.getFloat64(o, le) : halfToFloat(dv.getUint16(o, le));
    } else if (info.kind === "i") {
      v = info.bytes === 1 ? dv.getInt8(o) : info.bytes === 2 ? dv.getInt16(o, le) : info.bytes === 4 ? dv.getInt32(o, le) : Number(dv.getBigInt64(o, le));
    } else {
      v = info.bytes === 1 ? dv.getUint8(o) : info.bytes === 2 ? dv.getUint16(o, le) : info.bytes === 4 ? dv.getUint32(o, le) : Number(dv.getBigUint64(o, le));
    }
    if (!isFloat && (v > 2147483647 || v < -2147483648)) throw new UserError(`${source}: integer value ${v} does not fit in int32`);
    data[i] = v;
  }
  const out = h.fortranOrder && h.shape.length > 1 ? fortranToC(data, h.shape) : data;
  return { data: out, shape: h.shape, descr: h.descr };
}

function fortranToC<T extends Float32Array | Int32Array>(data: T, shape: number[]): T {
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  for (let c = 0; c < data.length; c++) {
    let f = 0;
    let stride = 1;
    for (let d = 0; d < nd; d++) {
      f += idx[d]! * stride;
      stride *= shape[d]!;
    }
    out[c] = data[f]!;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      if (idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Reads a .npy file. */
export function readNpy(path: string): NpyArray {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new UserError(`cannot read .npy file ${path}: ${(e as Error).message}`);
  }
  return parseNpy(buf, path);
}

/** Reads only the header of a .npy file (cheap for large files). */
export function readNpyHeader(path: string): NpyHeader {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new UserError(`cannot read .npy file ${path}: ${(e as Error).message}`);
  }
  try {
    const head = Buffer.alloc(65536 + 12);
    const n = readSync(fd, head, 0, head.length, 0);
    return parseNpyHeader(head.subarray(0, n), path);
  } finally {
    closeSync(fd);
  }
}

/** Returns the .npy header bytes (magic, version, length, padded dict) for a C-order array. */
export function npyHeaderBytes(descr: "<f4" | "<i4", shape: readonly number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  for (const [version, prefix] of [[1, 10], [2, 12]] as const) {
    const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
    const headerLen = total - prefix;
    if (version === 1 && headerLen > 0xffff) continue;
    const out = new Uint8Array(total);
    out.set(MAGIC, 0);
    out[6] = version;
    out[7] = 0;
    const dv = new DataView(out.buffer);
    if (version === 1) dv.setUint16(8, headerLen, true);
    else dv.setUint32(8, headerLen, true);
    const body = dict + " ".repeat(headerLen - dict.length - 1) + "\n";
    for (let i = 0; i < body.length; i++) out[prefix + i] = body.charCodeAt(i);
    return out;
  }
  throw new Error("npy header too long");
}

/** Writes a float32 or int32 array to a .npy file atomically. */
export function writeNpy(path: string, data: Float32Array | Int32Array, shape: readonly number[]): void {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`writeNpy ${path}: ${data.length} values do not fill shape [${shape.join(", ")}]`);
  const descr = data instanceof Float32Array ? "<f4" : "<i4";
  writeFileAtomic(path, [npyHeaderBytes(descr, shape), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]);
}

/**
 * Streams a 2-D float32 or int32 array of known shape [rows, cols] to a .npy file in row blocks; the
 * file appears at `path` only when `close()` sees exactly `rows` rows written.
 */
export class NpyStreamWriter {
  private readonly stream: AtomicStream;
  private written = 0;
  constructor(
    readonly path: string,
    readonly descr: "<f4" | "<i4",
    readonly shape: readonly [number, number],
  ) {
    this.stream = openAtomicStream(path);
    this.stream.write(npyHeaderBytes(descr, shape));
  }

  /** Appends whole rows (length must be a multiple of cols). */
  writeRows(block: Float32Array | Int32Array): void {
    const cols = this.shape[1];
    if ((this.descr === "<f4") !== block instanceof Float32Array) throw new Error(`${this.path}: block dtype does not match ${this.descr}`);
    if (block.length % cols !== 0) throw new Error(`${this.path}: block of ${block.length} values is not a whole number of ${cols}-wide rows`);
    const rows = block.length / cols;
    if (this.written + rows > this.shape[0]) throw new Error(`${this.path}: writing past the declared ${this.shape[0]} rows`);
    this.stream.write(new Uint8Array(block.buffer, block.byteOffset, block.byteLength));
    this.written += rows;
  }

  /** Commits the file; throws (and discards it) if fewer rows than declared were written. */
  close(): void {
    if (this.written !== this.shape[0]) {
      this.stream.abort();
      throw new Error(`${this.path}: ${this.written} rows written, ${this.shape[0]} declared`);
    }
    this.stream.commit();
  }

  /** Discards the partial file. */
  abort(): void {
    this.stream.abort();
  }
}
