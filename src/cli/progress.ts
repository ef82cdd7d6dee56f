/**
 * A one-line terminal progress bar for long work (training, sampling, evaluation). It draws only on a
 * TTY (callers pass `isTTY`), redraws at most every `minIntervalMs`, and shows done/total, a rate,
 * the time left, and caller-supplied fields:
 *   train [########------------] 40% 400/1000 | 52.1k tok/s | eta 0:12 | mse 0.031  L0 12.0
 * `progressBar(io, label)` is the short form for commands that only count done/total.
 */
import type { CliIO } from "./args.js";

/** A progress bar handle. */
export interface ProgressBar {
  /** Sets the amount done (and optional extra fields) and redraws if enough time has passed. */
  update(done: number, fields?: Readonly<Record<string, string | number>>): void;
  /** Draws the final state and ends the line. */
  finish(): void;
}

/** Options of `createProgressBar`. */
export interface ProgressOptions {
  total: number;
  label?: string;
  /** Raw writer (no newline added), e.g. process.stderr.write. */
  write: (text: string) => void;
  /** Draw only when true (stderr is a terminal). */
  isTTY: boolean;
  /** Terminal width; the line is cut to fit. */
  columns?: number;
  /** Name of the counted unit for the rate (e.g. "tok"); the rate counts `rateOf(done)` per second. */
  unit?: string;
  /** Maps `done` to the quantity whose rate is shown (e.g. steps -> tokens). */
  rateOf?: (done: number) => number;
  /** Clock in milliseconds. */
  now?: () => number;
  minIntervalMs?: number;
  barWidth?: number;
}

/** Returns a progress bar writing to `opts.write` (a no-op when not a TTY). */
export function createProgressBar(opts: ProgressOptions): ProgressBar {
  if (!opts.isTTY) return { update() {}, finish() {} };
  const now = opts.now ?? (() => performance.now());
  const start = now();
  let last = -Infinity;
  let done = 0;
  let fields: Readonly<Record<string, string | number>> = {};
  const draw = (): void => {
    const elapsed = (now() - start) / 1000;
    opts.write(`\r${renderProgressLine({ ...opts, done, elapsed, fields })}\x1b[K`);
  };
  return {
    update(d, f) {
      done = d;
      if (f) fields = f;
      const t = now();
      if (t - last < (opts.minIntervalMs ?? 100) && d < opts.total) return;
      last = t;
      draw();
    },
    finish() {
      draw();
      opts.write("\n");
    },
  };
}

/**
 * Returns progress reporting for a log rather than a terminal (stderr not a TTY): one plain line, no
 * bar and no control characters, each time `done` reaches a multiple of `every`, and the final state
 * at finish unless that was just written.
 */
export function createProgressLines(opts: Omit<ProgressOptions, "isTTY" | "write" | "minIntervalMs"> & { every: number; writeLine: (text: string) => void }): ProgressBar {
  const now = opts.now ?? (() => performance.now());
  const start = now();
  let done = 0;
  let fields: Readonly<Record<string, string | number>> = {};
  let lastWritten = -1;
  let nextAt = -1;
  const write = (): void => {
    lastWritten = done;
    opts.writeLine(renderProgressLine({ ...opts, done, elapsed: (now() - start) / 1000, fields, plain: true }));
  };
  return {
    update(d, f) {
      if (nextAt < 0) nextAt = (Math.floor(d / opts.every) + 1) * opts.every;
      done = d;
      if (f) fields = f;
      if (d >= nextAt) {
        nextAt = (Math.floor(d / opts.every) + 1) * opts.every;
        write();
      }
    },
    finish() {
      if (lastWritten !== done) write();
    },
  };
}

/** Returns the text of one progress line (without control characters); `plain` leaves out the bar: "train 40/100 (40%) | ...". */
export function renderProgressLine(o: {
  total: number;
  done: number;
  elapsed: number;
  label?: string;
  unit?: string;
  rateOf?: (done: number) => number;
  fields?: Readonly<Record<string, string | number>>;
  columns?: number;
  barWidth?: number;
  plain?: boolean;
}): string {
  const frac = o.total > 0 ? Math.min(1, Math.max(0, o.done / o.total)) : 0;
  const w = o.barWidth ?? 20;
  const filled = Math.round(frac * w);
  const pct = Math.floor(frac * 100);
  const parts = [
    o.plain
      ? `${o.label ? `${o.label} ` : ""}${o.done}/${o.total} (${pct}%)`
      : `${o.label ? `${o.label} ` : ""}[${"#".repeat(filled)}${"-".repeat(w - filled)}] ${pct}% ${o.done}/${o.total}`,
  ];
  if (o.elapsed > 0 && o.done > 0) {
    const qty = o.rateOf ? o.rateOf(o.done) : o.done;
    parts.push(`${formatCount(qty / o.elapsed)} ${o.unit ?? "it"}/s`);
    if (o.done < o.total) parts.push(`eta ${formatDuration((o.elapsed / o.done) * (o.total - o.done))}`);
    else parts.push(`took ${formatDuration(o.elapsed)}`);
  }
  const extra = Object.entries(o.fields ?? {}).map(([k, v]) => `${k} ${typeof v === "number" ? formatNumber(v) : v}`);
  if (extra.length) parts.push(extra.join("  "));
  const line = parts.join(" | ");
  const cols = o.columns ?? 0;
  return cols > 1 && line.length > cols - 1 ? line.slice(0, cols - 1) : line;
}

/** Returns a count with a k/M/G suffix (e.g. 52.1k). */
export function formatCount(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(a >= 100 ? 0 : 1);
}

/** Returns seconds as m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Returns a number with about 3 significant digits. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  if (a >= 1000 || a < 1e-3) return v.toExponential(2);
  return v.toPrecision(3);
}

/** A running progress display whose total may be given with each update. */
export interface Progress {
  /** Shows `done` of `total`. */
  update(done: number, total: number): void;
  /** Clears the bar. */
  finish(): void;
}

/** Returns a progress bar labelled `label` on stderr that clears itself when finished (a no-op when stderr is not a TTY). */
export function progressBar(io: CliIO, label: string): Progress {
  if (!io.isTTY) return { update: () => undefined, finish: () => undefined };
  let bar: ProgressBar | null = null;
  let total = -1;
  return {
    update(done, t) {
      if (!bar || t !== total) {
        total = t;
        bar = createProgressBar({ total: t, label, isTTY: true, write: (s) => process.stderr.write(s), columns: process.stderr.columns });
      }
      bar.update(done);
    },
    finish() {
      if (bar) process.stderr.write("\r\x1b[K");
    },
  };
}
