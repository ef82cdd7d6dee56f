/** Checks of path flags before a command reads or writes them, so the user sees the flag, not EISDIR/EEXIST. */
import { existsSync, statSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { UserError } from "../errors.js";

/** Throws a UserError unless `path` (relative to cwd) is an existing regular file; `what` says what the flag takes. */
export function checkInputFile(cwd: string, path: string, flag: string, what: string): void {
  const p = resolve(cwd, path);
  if (!existsSync(p)) throw new UserError(`--${flag} ${path}: no such file; it takes ${what}`);
  if (statSync(p).isDirectory()) throw new UserError(`--${flag} ${path} is a directory; it takes ${what}`);
}

/** Throws a UserError when `path` (relative to cwd) exists and is not a directory. */
export function checkOutputDir(cwd: string, path: string, flag: string): void {
  const p = resolve(cwd, path);
  if (existsSync(p) && !statSync(p).isDirectory()) throw new UserError(`--${flag} ${path} is an existing file; it takes a directory (new or from an earlier run)`);
}

/** Returns how to print `resolved` (the path the user gave as `given`): absolute when given absolute, else relative to cwd ("." for cwd itself). */
export function shownPath(cwd: string, given: string, resolved: string): string {
  return isAbsolute(given) ? resolved : relative(cwd, resolved) || ".";
}
