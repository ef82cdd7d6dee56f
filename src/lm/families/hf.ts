/**
 * What every family file shares: the Family interface the registry lists, and reading an HF
 * snapshot's tensors under either key layout (with or without the LM-head model's prefix), with
 * shapes checked against config.json.
 */
import { UserError } from "../../errors.js";
import type { CanonicalWeights, ModelSpec } from "../spec.js";

/** Tensors by their stored names (as src/io/hf-snapshot.ts returns them). */
export type TensorMap = ReadonlyMap<string, { shape: number[]; data: Float32Array }>;

/** One model family: config.json to a ModelSpec, and its weights to the canonical layout. */
export interface Family {
  /** Returns the spec of a config.json (source names the file in errors). */
  spec(config: Record<string, unknown>, source: string): ModelSpec;
  /** Returns the canonical weights from the snapshot's tensors (names as stored). */
  weights(spec: ModelSpec, tensors: TensorMap, source: string): CanonicalWeights;
}

/** Reads config.json fields with errors naming the file and the field. */
export class ConfigReader {
  constructor(
    private readonly c: Record<string, unknown>,
    readonly source: string,
  ) {}

  /** Returns whether the field is present and not null. */
  has(key: string): boolean {
    return this.c[key] !== undefined && this.c[key] !== null;
  }

  /** Returns a positive integer field (or the default when absent). */
  int(key: string, dflt?: number): number {
    const v = this.c[key] ?? dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new UserError(`${this.source}: field "${key}" must be a positive integer, got ${JSON.stringify(this.c[key])}`);
    return v;
  }

  /** Returns a positive finite number field (or the default when absent). */
  num(key: string, dflt?: number): number {
    const v = this.c[key] ?? dflt;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new UserError(`${this.source}: field "${key}" must be a positive number, got ${JSON.stringify(this.c[key])}`);
    return v;
  }

  /** Returns a boolean field (or the default when absent). */
  bool(key: string, dflt: boolean): boolean {
    const v = this.c[key] ?? dflt;
    if (typeof v !== "boolean") throw new UserError(`${this.source}: field "${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  /** Returns a string field (or the default when absent). */
  str(key: string, dflt?: string): string {
    const v = this.c[key] ?? dflt;
    if (typeof v !== "string") throw new UserError(`${this.source}: field "${key}" must be a string, got ${JSON.stringify(this.c[key])}`);
    return v;
  }

  /** Returns an object field, or undefined when absent or null. */
  obj(key: string): ConfigReader | undefined {
    const v = this.c[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) throw new UserError(`${this.source}: field "${key}" must be an object`);
    return new ConfigReader(v as Record<string, unknown>, `${this.source} (${key})`);
  }
}

/**
 * Tensor lookup under one of several name prefixes (the first prefix under which `probe` exists is
 * used for every name), with shape checks.
 */
export class TensorReader {
  private readonly prefix: string;

  constructor(
    private readonly tensors: TensorMap,
    prefixes: readonly string[],
    probe: string,
    readonly source: string,
  ) {
    const p = prefixes.find((pre) => tensors.has(pre + probe));
    if (p === undefined) throw new UserError(`${source}: no tensor "${probe}" under any of the prefixes ${prefixes.map((x) => JSON.stringify(x)).join(", ")} (is this the right model_type?)`);
    this.prefix = p;
  }

  /** Returns whether `name` (after the prefix) is stored. */
  has(name: string): boolean {
    return this.tensors.has(this.prefix + name);
  }

  /** Returns the values of `name` after checking its shape. */
  get(name: string, shape: readonly number[], fullName = false): Float32Array {
    const key = fullName ? name : this.prefix + name;
    const t = this.tensors.get(key);
    if (!t) throw new UserError(`${this.source}: tensor "${key}" is missing`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${this.source}: tensor "${key}" has shape [${t.shape.join(", ")}] but config.json implies [${shape.join(", ")}]`);
    }
    return t.data;
  }
}

/** Returns w [rows, cols] transposed to [cols, rows] (Conv1D [in, out] to [out, in]). */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

/** Returns the arrays concatenated. */
export function concat(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
