/**
 * Mutations of a fuzz input (file name -> bytes): generic byte edits (bit flips, truncation, byte
 * runs, int32 overwrites) and format-aware edits that get past the first checks (JSON values swapped
 * for huge, negative, wrong-typed or architecture strings; keys deleted, added or duplicated;
 * safetensors and .npy headers edited and re-framed with a consistent length; SQLite databases
 * edited through SQL: a cell set to an odd value or its JSON edited, a row deleted, a table dropped).
 */
import Database from "better-sqlite3";
import { mixSeed, Rng } from "../../src/tensor/rng.js";

/** A fuzz input: relative file path -> contents. */
export type FuzzFiles = Record<string, Uint8Array>;

const INTERESTING_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x7b, 0x7d, 0x22, 0x2c, 0x30, 0x39, 0x0a, 0x20];
const INTERESTING_INTS = [0, -1, 1, 2, 3, 7, 255, 256, 259, 4096, 65535, 65536, 0x7fffffff, -0x80000000, 1 << 30];
const INTERESTING_VALUES: unknown[] = [
  1e308, -1e308, -1, 0, 1, 0.5, 2 ** 62, 9007199254740994, 4294967296, 1.5, -0.0, 1e-320, 65536, 4194304,
  "", "yes", "no", "true", "NaN", "Infinity", "standard", "topk", "jumprelu", "batchtopk", "stnadard", "relu", "F16", "BF16", "I64", "<f4", "<i4", "../x",
  null, true, false, [], {}, [0], [1e308], [-1, 2], [2 ** 62, 0], [0, 9007199254740994],
];

/** Returns mutant i of a target: the seeds themselves first, then mutations of them (of the `mutable` files only, when given) in turn. */
export function mutantOf(seeds: readonly FuzzFiles[], seed: number, i: number, mutable?: readonly string[]): FuzzFiles {
  const base = seeds[i % seeds.length]!;
  return i < seeds.length ? base : mutate(base, new Rng(mixSeed(seed, i)), mutable);
}

/** Returns a mutated copy of `files` (one to three edits of the `mutable` files, default all), deterministic for the given rng. */
export function mutate(files: FuzzFiles, rng: Rng, mutable?: readonly string[]): FuzzFiles {
  const out: FuzzFiles = { ...files };
  const names = mutable ?? Object.keys(out);
  const edits = 1 + rng.int(rng.bernoulli(0.3) ? 3 : 1);
  for (let e = 0; e < edits; e++) {
    const name = names[rng.int(names.length)]!;
    const bytes = out[name]!;
    let next: Uint8Array | undefined;
    const structured = rng.bernoulli(0.6);
    if (structured && name.endsWith(".json")) next = mutateJsonText(bytes, rng);
    else if (structured && (name.endsWith(".safetensors") || name.endsWith(".sft"))) next = mutateSafetensorsHeader(bytes, rng);
    else if (structured && name.endsWith(".npy")) next = mutateNpyHeader(bytes, rng);
    else if (structured && name.endsWith(".sqlite")) next = mutateSqlite(bytes, rng);
    out[name] = next ?? mutateBytes(bytes, rng);
  }
  return out;
}

/** Generic byte-level edits. */
export function mutateBytes(src: Uint8Array, rng: Rng): Uint8Array {
  const b = Uint8Array.from(src);
  const pos = () => rng.int(Math.max(1, b.length));
  switch (rng.int(8)) {
    case 0: {
      const n = 1 + rng.int(8);
      for (let k = 0; k < n && b.length; k++) {
        const p = pos();
        b[p] = b[p]! ^ (1 << rng.int(8));
      }
      return b;
    }
    case 1:
      if (b.length) b[pos()] = INTERESTING_BYTES[rng.int(INTERESTING_BYTES.length)]!;
      return b;
    case 2:
      return b.slice(0, pos());
    case 3:
      return b.slice(0, Math.floor(pos() / 4) * 4);
    case 4: {
      const p = pos();
      const run = new Uint8Array(1 + rng.int(64)).fill(rng.bernoulli(0.5) ? INTERESTING_BYTES[rng.int(INTERESTING_BYTES.length)]! : rng.int(256));
      return concat(b.subarray(0, p), run, b.subarray(p));
    }
    case 5: {
      const p = pos();
      return concat(b.subarray(0, p), b.subarray(Math.min(b.length, p + 1 + rng.int(64))));
    }
    case 6: {
      const p = pos();
      const q = Math.min(b.length, p + 1 + rng.int(256));
      return concat(b.subarray(0, q), b.subarray(p, q), b.subarray(q));
    }
    default: {
      if (b.length >= 4) {
        const p = Math.floor(rng.int(Math.floor(b.length / 4)) * 4);
        new DataView(b.buffer).setInt32(p, INTERESTING_INTS[rng.int(INTERESTING_INTS.length)]!, true);
      }
      return b;
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Structural JSON edits (falls back to undefined when the text does not parse). */
function mutateJsonText(bytes: Uint8Array, rng: Rng): Uint8Array | undefined {
  const text = Buffer.from(bytes).toString("utf8");
  const edited = editJson(text, rng);
  return edited === undefined ? undefined : Buffer.from(edited, "utf8");
}

/** Returns JSON text with one structural edit: a value replaced, a key deleted, added or duplicated. */
export function editJson(text: string, rng: Rng): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const containers: (Record<string, unknown> | unknown[])[] = [];
  const walk = (x: unknown): void => {
    if (x && typeof x === "object") {
      containers.push(x as Record<string, unknown>);
      for (const c of Object.values(x)) walk(c);
    }
  };
  walk(v);
  if (containers.length === 0) return JSON.stringify(INTERESTING_VALUES[rng.int(INTERESTING_VALUES.length)]);
  const c = containers[rng.int(containers.length)]!;
  const keys = Object.keys(c);
  const kind = rng.int(10);
  const value = structuredClone(INTERESTING_VALUES[rng.int(INTERESTING_VALUES.length)]);
  if (kind <= 5 && keys.length) {
    (c as Record<string, unknown>)[keys[rng.int(keys.length)]!] = value;
  } else if (kind === 6 && keys.length && !Array.isArray(c)) {
    delete c[keys[rng.int(keys.length)]!];
  } else if (kind === 7 && !Array.isArray(c)) {
    c[["extra", "k", "threshold", "architecture", "apply_b_dec_to_input", "__proto__x"][rng.int(6)]!] = value;
  } else if (kind === 8 && Array.isArray(c)) {
    if (c.length) c.push(structuredClone(c[rng.int(c.length)]));
  } else {
    // A duplicated key: the same object written with one key repeated (JSON.stringify cannot).
    const s = JSON.stringify(v);
    const m = [...s.matchAll(/"((?:[^"\\]|\\.)*)":/g)];
    if (!m.length) return s;
    const pick = m[rng.int(m.length)]!;
    const dup = `"${pick[1]}":${JSON.stringify(value)},`;
    return s.slice(0, pick.index) + dup + s.slice(pick.index);
  }
  return JSON.stringify(v, null, rng.bernoulli(0.5) ? 2 : undefined);
}

/** Edits a safetensors header as JSON and re-frames it with its new length. */
function mutateSafetensorsHeader(bytes: Uint8Array, rng: Rng): Uint8Array | undefined {
  if (bytes.length < 8) return undefined;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + n > bytes.length) return undefined;
  const text = Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8");
  const edited = rng.bernoulli(0.5) ? editNestedMetadata(text, rng) ?? editJson(text, rng) : editJson(text, rng);
  if (edited === undefined) return undefined;
  const h = Buffer.from(edited, "utf8");
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
  return concat(len, h, bytes.subarray(8 + n));
}

/** Edits JSON held as a string inside a safetensors header's __metadata__ (a checkpoint's "saelab" entry). */
function editNestedMetadata(text: string, rng: Rng): string | undefined {
  let h: { __metadata__?: Record<string, unknown> };
  try {
    h = JSON.parse(text) as typeof h;
  } catch {
    return undefined;
  }
  const meta = h.__metadata__;
  const keys = Object.keys(meta ?? {}).filter((k) => typeof meta![k] === "string" && /^[[{]/.test(meta![k] as string));
  if (!meta || keys.length === 0) return undefined;
  const k = keys[rng.int(keys.length)]!;
  const edited = editJson(meta[k] as string, rng);
  if (edited === undefined) return undefined;
  meta[k] = edited;
  return JSON.stringify(h);
}

const NPY_EDITS: ((h: string, rng: Rng) => string)[] = [
  (h) => h.replace("{", "{'descr': '<i4', "),
  (h) => h.replace("{", "{'fortran_order': True, "),
  (h, rng) => h.replace(/'shape': \([^)]*\)/, `'shape': ${["(100)", "(1e2, 1)", "(20, 5,, )", "(-1,)", "(9007199254740993,)", "(2**62,)", "()", "[3, 4]", "(3, 4, 0, 99999999999)", "('3',)", "(True,)"][rng.int(11)]!}`),
  (h) => h.replace("}", "}junk"),
  (h) => h.replace("{", ""),
  (h) => h.replace(/ +\n$/, (m) => "\0".repeat(m.length - 1) + "\n"),
  (h) => h.replace("}", ", 'extra': 1}"),
  (h) => h.replace("'descr'", "'descr' "),
  (h, rng) => h.replace(/'descr': '[^']*'/, `'descr': ${["'<f8'", "'>f4'", "'|b1'", "'<c8'", "'<U3'", "'O'", "[('a', '<f4')]", "'<f4"][rng.int(8)]!}`),
  (h) => h.replace("False", "0"),
  (h) => h.replace("'shape'", "shape="),
];

/** Edits a .npy header dict text and re-frames it (version 1.0 length field, space padding to 64). */
function mutateNpyHeader(bytes: Uint8Array, rng: Rng): Uint8Array | undefined {
  if (bytes.length < 10 || bytes[6] !== 1) return undefined;
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  if (10 + n > bytes.length) return undefined;
  const header = Buffer.from(bytes.subarray(10, 10 + n)).toString("latin1");
  const edited = NPY_EDITS[rng.int(NPY_EDITS.length)]!(header, rng).trimEnd();
  const total = Math.ceil((10 + edited.length + 1) / 64) * 64;
  const body = Buffer.from(edited + " ".repeat(total - 10 - edited.length - 1) + "\n", "latin1");
  const head = Uint8Array.from(bytes.subarray(0, 10));
  new DataView(head.buffer).setUint16(8, body.length, true);
  return concat(head, body, bytes.subarray(10 + n));
}

const SQL_VALUES: unknown[] = [
  null, "", "x", "{", "[", "null", "[]", "{}", "[[1]]", "[[1, 2, 3]]", "[-1]", "[1.5]", '["a"]', "[1e999]", "[0, null]", '{"a": 1}',
  1e308, -1e308, -1, 0, 1, 0.5, 2 ** 62, 9007199254740994, -0.0, "NaN", "lm", "toy", "1", "2", "999999999999", Buffer.from([0xff, 0x00, 0x7b]),
];

/** Edits an SQLite database through SQL (opened in memory from its bytes): a cell set to an odd value or its JSON text edited, a row deleted, a table dropped. */
function mutateSqlite(bytes: Uint8Array, rng: Rng): Uint8Array | undefined {
  let db: Database.Database;
  try {
    db = new Database(Buffer.from(bytes));
  } catch {
    return undefined;
  }
  const q = (n: string) => `"${n.replace(/"/g, '""')}"`;
  try {
    db.pragma("ignore_check_constraints = ON");
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    const table = q(tables[rng.int(tables.length)]!);
    const kind = rng.int(12);
    if (kind === 11) {
      db.exec(`DROP TABLE ${table}`);
      return new Uint8Array(db.serialize());
    }
    const cols = db.pragma(`table_info(${table})`) as { name: string; pk: number }[];
    const n = (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    if (n === 0) return undefined;
    const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => q(c.name));
    const key = pk.length ? pk : ["rowid"];
    const row = db.prepare(`SELECT ${key.map((k, i) => `${k} AS k${i}`).join(", ")} FROM ${table} LIMIT 1 OFFSET ?`).get(rng.int(n)) as Record<string, unknown>;
    const where = key.map((k) => `${k} = ?`).join(" AND ");
    const at = key.map((_, i) => row[`k${i}`]);
    if (kind === 10) {
      db.prepare(`DELETE FROM ${table} WHERE ${where}`).run(...at);
    } else {
      const col = q(cols[rng.int(cols.length)]!.name);
      const cur = (db.prepare(`SELECT ${col} AS v FROM ${table} WHERE ${where}`).get(...at) as { v: unknown }).v;
      let v = SQL_VALUES[rng.int(SQL_VALUES.length)];
      if (kind < 5 && typeof cur === "string") v = editJson(cur, rng) ?? v;
      db.prepare(`UPDATE ${table} SET ${col} = ? WHERE ${where}`).run(v, ...at);
    }
    return new Uint8Array(db.serialize());
  } catch {
    // A constraint the edit broke (NOT NULL, a duplicate key): fall back to a byte edit.
    return undefined;
  } finally {
    db.close();
  }
}
