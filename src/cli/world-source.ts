/**
 * Where a command gets its world: `--world` (a config .json file or a saved world directory) or
 * `--preset NAME`, exactly one of them. Commands merge WorldSourceSchema into their own flag schema
 * (`WorldSourceSchema.extend({...}).strict()`) and call loadWorldSource with the parsed flags.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { parseConfig, UserError } from "../errors.js";
import { loadWorld, readJsonFile, WORLD_CONFIG_FILE } from "../io/world.js";
import { getPreset, presetNames } from "../toy/presets.js";
import { createWorld, WorldConfigSchema, type CreateWorldOptions, type ToyWorld } from "../toy/world.js";

/** The world-source flags (no refinements, so other schemas can extend it). */
export const WorldSourceSchema = z.object({
  world: z.string().min(1).optional().describe("A world config .json file or a saved world directory."),
  preset: z.string().min(1).optional().describe(`A built-in world: ${presetNames().join(" or ")}.`),
});

export type WorldSource = z.infer<typeof WorldSourceSchema>;

/** Throws a UserError unless exactly one of `world` and `preset` is given. */
export function checkWorldSource(opts: { world?: string | undefined; preset?: string | undefined }): void {
  if (opts.world !== undefined && opts.preset !== undefined) {
    throw new UserError(`give either a world (${opts.world}) or --preset ${opts.preset}, not both`);
  }
  if (opts.world === undefined && opts.preset === undefined) {
    throw new UserError(`no world given: pass a config .json file or saved world directory (--world PATH), or --preset NAME (${presetNames().join(", ")})`);
  }
}

/** Returns a short label for the source, e.g. "preset absorption-basic" or the path. */
export function worldSourceLabel(opts: { world?: string | undefined; preset?: string | undefined }): string {
  return opts.preset !== undefined ? `preset ${opts.preset}` : opts.world ?? "?";
}

/** Returns the world named by `opts` (paths relative to `cwd`): a preset, a config file, or a saved world directory. */
export function loadWorldSource(opts: { world?: string | undefined; preset?: string | undefined }, cwd: string, options: Omit<CreateWorldOptions, "saved"> = {}): ToyWorld {
  checkWorldSource(opts);
  if (opts.preset !== undefined) return createWorld(getPreset(opts.preset), options);
  const path = resolve(cwd, opts.world!);
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new UserError(`world ${opts.world} does not exist (expected a config .json file or a saved world directory)`);
  }
  if (isDir) return loadWorld(path, options);
  return createWorld(parseConfig(WorldConfigSchema, readJsonFile(path), path), options);
}

/**
 * Returns a sweep spec (parsed JSON) whose `world` names a world config .json file or a saved world
 * directory (relative to the spec file at `specPath`) with that world's config inlined; a preset name,
 * an inline config or anything else is returned unchanged for the spec schema to judge.
 */
export function inlineSpecWorld(raw: unknown, specPath: string): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  const world = (raw as Record<string, unknown>).world;
  if (typeof world !== "string" || (presetNames() as string[]).includes(world)) return raw;
  const path = resolve(dirname(specPath), world);
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) {
    if (!/[/\\]|\.json$/i.test(world)) return raw;
    throw new UserError(`${specPath}: world "${world}": no such file or directory ${path} (a world config .json or a saved world directory, relative to the spec file)`);
  }
  const configPath = stat.isDirectory() ? join(path, WORLD_CONFIG_FILE) : path;
  if (stat.isDirectory() && !existsSync(configPath)) throw new UserError(`${specPath}: world "${world}": ${path} is not a saved world directory (no ${WORLD_CONFIG_FILE})`);
  return { ...(raw as Record<string, unknown>), world: parseConfig(WorldConfigSchema, readJsonFile(configPath), configPath) };
}
