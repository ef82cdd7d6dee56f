/** A progress bar on stderr, drawn only when stderr is a terminal, at most ten times a second. */
import type { CliIO } from "./args.js";

/** A running progress display. */
export interface Progress {
  /** Shows `done` of `total`. */
  update(done: number, total: number): void;
  /** Clears the bar. */
  finish(): void;
}

/** Returns a progress bar labelled `label` (a no-op when stderr is not a TTY). */
export function progressBar(io: CliIO, label: string): Progress {
  if (!io.isTTY) return { update: () => undefined, finish: () => undefined };
  let last = 0;
  const start = Date.now();
  let drawn = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const width = 30;
      const fill = Math.round(frac * width);
      const secs = (now - start) / 1000;
      const eta = frac > 0 ? (secs / frac) * (1 - frac) : 0;
      process.stderr.write(`\r${label} [${"#".repeat(fill)}${"-".repeat(width - fill)}] ${done}/${total} ${secs.toFixed(1)}s eta ${eta.toFixed(1)}s `);
      drawn = true;
    },
    finish() {
      if (drawn) process.stderr.write("\r\x1b[K");
    },
  };
}
