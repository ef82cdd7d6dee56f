/** A CliIO for tests that keeps what a command prints: stdout and stderr lines, and each joined. */
import type { CliIO } from "../../src/cli/args.js";

export type CapturedIO = CliIO & { stdout: string[]; stderr: string[]; text(): string; errors(): string; errText(): string };

/** Captures a command's output; `cwd` resolves its relative paths, `env` is the environment it sees (where a command reads one). */
export function capture(cwd: string = process.cwd(), env?: Record<string, string>): CapturedIO {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const errors = (): string => stderr.join("\n");
  return {
    stdout,
    stderr,
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    isTTY: false,
    cwd,
    ...(env ? { env } : {}),
    text: () => stdout.join("\n"),
    errors,
    errText: errors,
  };
}
