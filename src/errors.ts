/**
 * Errors that carry a message meant for the user. The CLI prints `saelab: <message>` for these (and
 * for any other error) and exits non-zero without a stack trace unless SAELAB_DEBUG=1.
 */
import type { z } from "zod";

/** An error caused by the user's input (config, flags, files), not by a bug. */
export class UserError extends Error {
  override readonly name = "UserError";
}

/** A config that failed validation; the message names every offending field. */
export class ConfigError extends UserError {
  constructor(
    readonly source: string,
    readonly issues: readonly { path: string; message: string }[],
  ) {
    super(`invalid ${source}:\n${issues.map((i) => `  - ${i.path || "(top level)"}: ${i.message}`).join("\n")}`);
  }
}

/** Formats a zod issue path as `a.b[2].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** Validates `value` against `schema`, returning the parsed value or throwing a ConfigError that names each bad field. */
export function parseConfig<S extends z.ZodType>(schema: S, value: unknown, source: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data as z.infer<S>;
  const issues = r.error.issues.map((i) => {
    const base = formatPath(i.path);
    if (i.code === "unrecognized_keys") {
      const keys = (i as { keys: string[] }).keys;
      return { path: base, message: `unknown key${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${k}"`).join(", ")}` };
    }
    return { path: base, message: i.message };
  });
  throw new ConfigError(source, issues);
}
