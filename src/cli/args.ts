/**
 * Command-line parsing driven by zod schemas: each command declares a strict object schema for its
 * flags, and this module turns argv into that object (coercing numbers and booleans by the field's
 * type) and renders `--help` from the fields' `.describe()` texts.
 */
import type { z } from "zod";
import { ConfigError, parseConfig, UserError } from "../errors.js";

/** How a command's output reaches the user; injected so tests can capture it. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal (progress bars draw only then). */
  isTTY: boolean;
  /** Working directory for relative paths. */
  cwd: string;
  /** The environment's SAELAB_BACKEND (read once, by processIO): what --backend auto means. */
  backendEnv?: string | undefined;
  /** The environment's SAELAB_ISA (read once, by processIO): the native kernel library to run on (unset: the best the CPU runs). */
  isaEnv?: string | undefined;
  /** The environment's SAELAB_THREADS (read once, by processIO): the native thread pool's size (unset: the CPUs available). */
  threadsEnv?: string | undefined;
  /** Environment variables (HF_HOME, HF_TOKEN, ...); the process's when absent. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** A positional argument, mapped onto one field of the flag schema. */
export interface Positional {
  /** The schema key it fills. */
  key: string;
  /** Shown in the usage line. */
  name: string;
  optional?: boolean;
  /** The last positional only: takes every remaining argument, as a list (its field is an array of strings). */
  variadic?: boolean;
}

/** One `saelab` subcommand. */
export interface Command<S extends z.ZodObject = z.ZodObject> {
  /** Words after `saelab`, e.g. ["world", "describe"]. */
  path: readonly string[];
  summary: string;
  /** Longer help text shown below the usage line. */
  details?: string;
  schema: S;
  positionals?: readonly Positional[];
  /** Runs the command and returns the exit code. */
  run(opts: z.infer<S>, io: CliIO): Promise<number>;
}

interface FieldInfo {
  key: string;
  kind: "number" | "boolean" | "string" | "enum" | "array" | "other";
  description: string;
  optional: boolean;
  defaultValue: unknown;
  options?: readonly unknown[];
}

interface ZodInternals {
  _zod: { def: { type: string; innerType?: unknown; defaultValue?: unknown; entries?: Record<string, unknown>; element?: unknown } };
  description?: string;
}

function fieldInfo(key: string, schema: unknown): FieldInfo {
  let t = schema as ZodInternals;
  const description = t.description ?? "";
  let optional = false;
  let defaultValue: unknown = undefined;
  for (;;) {
    const def = t._zod.def;
    if (def.type === "optional") optional = true;
    if (def.type === "default") {
      optional = true;
      defaultValue = typeof def.defaultValue === "function" ? (def.defaultValue as () => unknown)() : def.defaultValue;
    }
    if (!def.innerType) break;
    t = def.innerType as ZodInternals;
  }
  const type = t._zod.def.type;
  const kind: FieldInfo["kind"] =
    type === "number" || type === "int" ? "number" :
    type === "boolean" ? "boolean" :
    type === "string" ? "string" :
    type === "enum" ? "enum" :
    type === "array" ? "array" : "other";
  const options = kind === "enum" ? Object.values(t._zod.def.entries ?? {}) : undefined;
  return { key, kind, description: description || (t.description ?? ""), optional, defaultValue, ...(options ? { options } : {}) };
}

/** Returns the fields of a command's schema with their kinds, descriptions and defaults. */
export function describeFields(schema: z.ZodObject): FieldInfo[] {
  return Object.entries(schema.shape).map(([k, v]) => fieldInfo(k, v));
}

/** Flags are spelled exactly as the schema keys, so the config schema and the command line share one vocabulary. */
function flagName(key: string): string {
  return `--${key}`;
}

/** Parses argv (after the command words) into the command's options, throwing UserError on any problem. */
export function parseArgs<S extends z.ZodObject>(cmd: Command<S>, argv: readonly string[]): z.infer<S> {
  const fields = new Map(describeFields(cmd.schema).map((f) => [f.key, f]));
  const raw: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!tok.startsWith("--") || tok === "--") {
      positionals.push(tok);
      continue;
    }
    const eq = tok.indexOf("=");
    const key = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
    // --no-X turns a boolean flag X off.
    const negated = key.startsWith("no-") && eq < 0 && !fields.has(key) ? fields.get(key.slice(3)) : undefined;
    if (negated?.kind === "boolean") {
      raw[key.slice(3)] = false;
      continue;
    }
    const f = fields.get(key);
    if (!f) {
      const near = nearest(key, [...fields.keys()]);
      throw new UserError(`${cmd.path.join(" ")}: unknown flag --${key}${near ? ` (did you mean --${near}?)` : ""}; see --help`);
    }
    let value: string | undefined = eq >= 0 ? tok.slice(eq + 1) : undefined;
    if (f.kind === "boolean") {
      // --flag true / --flag false read the next word as the value; any other word is not consumed.
      if (value === undefined && (argv[i + 1] === "true" || argv[i + 1] === "false")) value = argv[++i];
      if (value === undefined) {
        raw[key] = true;
        continue;
      }
    } else if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined) throw new UserError(`${cmd.path.join(" ")}: flag --${key} needs a value`);
      i++;
    }
    raw[key] = coerce(f, value, cmd);
  }
  const pos = cmd.positionals ?? [];
  const rest = pos.at(-1)?.variadic ? pos.at(-1)! : undefined;
  if (rest && positionals.length >= pos.length) {
    const extra = positionals.splice(pos.length - 1);
    if (raw[rest.key] !== undefined) throw new UserError(`${cmd.path.join(" ")}: ${rest.name} given both as arguments and as --${rest.key}`);
    raw[rest.key] = extra;
  }
  if (positionals.length > pos.length) {
    throw new UserError(`${cmd.path.join(" ")}: unexpected argument "${positionals[pos.length]}"; see --help`);
  }
  positionals.forEach((p, idx) => {
    const spec = pos[idx]!;
    const f = fields.get(spec.key);
    if (raw[spec.key] !== undefined) throw new UserError(`${cmd.path.join(" ")}: ${spec.name} given both as an argument and as --${spec.key}`);
    raw[spec.key] = f ? coerce(f, p, cmd) : p;
  });
  try {
    return parseConfig(cmd.schema, raw, `arguments to 'saelab ${cmd.path.join(" ")}'`) as z.infer<S>;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // zod says "Invalid input: expected string, received undefined" for a flag not given at all.
    throw new ConfigError(e.source, e.issues.map((i) => {
      const f = fields.get(i.path);
      if (!f || raw[i.path] !== undefined || !i.message.startsWith("Invalid input")) return i;
      const p = pos.find((x) => x.key === f.key);
      const flag = p ? `<${p.name}> (or --${f.key})` : `--${f.key}`;
      return { path: i.path, message: `missing: give ${flag}${f.description ? ` (${f.description.replace(/\.$/, "")})` : ""}` };
    }));
  }
}

function coerce(f: FieldInfo, value: string, cmd: Command): unknown {
  switch (f.kind) {
    case "number": {
      const v = Number(value);
      if (value.trim() === "" || Number.isNaN(v)) throw new UserError(`${cmd.path.join(" ")}: --${f.key} expects a number, got "${value}"`);
      return v;
    }
    case "boolean":
      if (value === "true" || value === "1") return true;
      if (value === "false" || value === "0") return false;
      throw new UserError(`${cmd.path.join(" ")}: --${f.key} expects true or false, got "${value}"`);
    case "array":
      return value.split(",").map((s) => s.trim()).filter((s) => s.length > 0).map((s) => (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(s) ? Number(s) : s));
    default:
      return value;
  }
}

/** Returns the option closest to `word` by edit distance, when it is close enough to be a likely typo. */
export function nearest(word: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const d = editDistance(word.toLowerCase(), o.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return dp[a.length]![b.length]!;
}

/** Renders a command's --help text from its schema. */
export function renderHelp(cmd: Command): string {
  const fields = describeFields(cmd.schema);
  const posKeys = new Set((cmd.positionals ?? []).map((p) => p.key));
  const usagePos = (cmd.positionals ?? []).map((p) => `${p.optional ? `[${p.name}]` : `<${p.name}>`}${p.variadic ? "..." : ""}`).join(" ");
  const lines = [`Usage: saelab ${cmd.path.join(" ")}${usagePos ? ` ${usagePos}` : ""} [flags]`, "", cmd.summary];
  if (cmd.details) lines.push("", cmd.details);
  if (cmd.positionals?.length) {
    lines.push("", "Arguments:");
    for (const p of cmd.positionals) {
      const f = fields.find((x) => x.key === p.key);
      lines.push(`  ${p.name.padEnd(22)} ${f?.description ?? ""} (or --${p.key})`);
    }
  }
  lines.push("", "Flags:");
  for (const f of fields) {
    const value = f.kind === "boolean" ? "" : f.kind === "enum" ? ` <${(f.options ?? []).join("|")}>` : f.kind === "number" ? " <n>" : f.kind === "array" ? " <a,b,...>" : " <value>";
    const left = `  ${flagName(f.key)}${value}`;
    const def = f.defaultValue !== undefined ? ` [default: ${JSON.stringify(f.defaultValue)}]` : !f.optional && !posKeys.has(f.key) ? " (required)" : "";
    lines.push(`${left.padEnd(34)} ${f.description}${def}`);
  }
  lines.push(`  ${"--help".padEnd(32)} Show this help.`);
  return lines.join("\n");
}
