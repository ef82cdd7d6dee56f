/** Append-only JSON Lines files, used as the default event sink of training runs. */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Returns a function appending each value as one JSON line to `path` (created, or truncated unless `append`). */
export function jsonlWriter(path: string, opts: { append?: boolean } = {}): (value: unknown) => void {
  mkdirSync(dirname(path), { recursive: true });
  if (!opts.append) writeFileSync(path, "");
  return (value) => appendFileSync(path, `${JSON.stringify(value)}\n`);
}
