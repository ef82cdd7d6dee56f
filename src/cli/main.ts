/**
 * The `saelab` entry point: finds the subcommand, parses its flags through its zod schema and runs it.
 * Errors print as one line (`saelab: ...`) with a non-zero exit; SAELAB_DEBUG=1 adds the stack.
 */
import { nearest, parseArgs, renderHelp, type CliIO, type Command } from "./args.js";
import { COMMANDS } from "./commands.js";
import { configureThreads } from "../tensor/backend.js";
import { SAELAB_VERSION } from "../version.js";

/** Returns the real process's IO. */
export function processIO(): CliIO {
  return {
    out: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
    err: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
    isTTY: Boolean(process.stderr.isTTY),
    cwd: process.cwd(),
    backendEnv: process.env.SAELAB_BACKEND,
    isaEnv: process.env.SAELAB_ISA,
    threadsEnv: process.env.SAELAB_THREADS,
    env: process.env,
  };
}

/** Returns the top-level help listing every command. */
export function topHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.path.join(" ").length)) + 2;
  return [
    "saelab: sparse-autoencoder toolkit for feature-absorption research",
    "",
    "Usage: saelab <command> [flags]     (saelab <command> --help for its flags)",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.path.join(" ").padEnd(width)} ${c.summary}`),
  ].join("\n");
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIO = processIO(), commands: readonly Command[] = COMMANDS): Promise<number> {
  try {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      io.out(topHelp(commands));
      return argv.length === 0 ? 2 : 0;
    }
    if (argv[0] === "--version") {
      io.out(`saelab ${SAELAB_VERSION}`);
      return 0;
    }
    let best: Command | undefined;
    for (const c of commands) {
      if (c.path.every((w, i) => argv[i] === w) && (!best || c.path.length > best.path.length)) best = c;
    }
    if (!best) {
      const group = commands.filter((c) => c.path[0] === argv[0]);
      if (group.length > 0 && (argv.length === 1 || argv[1] === "--help" || argv[1] === "-h")) {
        io.out(topHelp(group));
        return argv.length === 1 ? 2 : 0;
      }
      io.err(unknownCommand(argv, commands));
      return 2;
    }
    const rest = argv.slice(best.path.length);
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(renderHelp(best));
      return 0;
    }
    const opts = parseArgs(best, rest);
    configureThreads(io.threadsEnv);
    return await best.run(opts, io);
  } catch (e) {
    const err = e as Error;
    io.err(`saelab: ${err.message}`);
    if (process.env.SAELAB_DEBUG === "1" && err.stack) io.err(err.stack);
    return 1;
  }
}

/** Returns the message for argv that names no command: the words typed (not the flags) and the nearest command. */
export function unknownCommand(argv: readonly string[], commands: readonly Command[]): string {
  const words = [];
  for (const a of argv.slice(0, 2)) {
    if (a.startsWith("-")) break;
    words.push(a);
  }
  const typed = words.join(" ") || argv[0]!;
  const names = [...new Set(commands.flatMap((c) => [c.path.join(" "), c.path[0]!]))];
  const near = nearest(typed, names) ?? (words.length > 1 ? nearest(words[0]!, names) : undefined);
  return `saelab: unknown command "${typed}"${near ? ` (did you mean "${near}"?)` : ""}; run saelab --help for the list`;
}
