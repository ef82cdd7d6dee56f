/** Helpers for building fuzz seeds: files written by saelab's own writers, read back as bytes. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import type { FuzzFiles } from "./mutate.js";

/** Returns the named files of `dir` (all regular files when `names` is omitted) as a fuzz input. */
export function filesOf(dir: string, names?: readonly string[]): FuzzFiles {
  const out: FuzzFiles = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p);
    }
  };
  if (names) for (const n of names) out[n] = readFileSync(join(dir, n));
  else walk(dir);
  return out;
}

/** Runs `write(dir)` in a fresh temporary directory and returns what it wrote. */
export function tempFiles(label: string, write: (dir: string) => void): FuzzFiles {
  const dir = mkdtempSync(join(tmpdir(), `saelab-fuzz-seed-${label}-`));
  try {
    write(dir);
    return filesOf(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Returns true when every value is finite. */
export function sampleFinite(x: ArrayLike<number>): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return false;
  return true;
}
