/**
 * Atomic file writes: data goes to a temporary file beside the target, is flushed to disk, then
 * renamed over the target. A killed process leaves either the old file or the new one, never half.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";

/** The most bytes handed to one writeSync (Node refuses lengths of 2^31 and more). */
const MAX_WRITE = 1 << 30;

/** Returns the temporary path used while writing `path` atomically. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}`);
}

/** Writes `chunks` to `path` atomically (temp file, fsync, rename); creates the parent directory. */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | readonly (Uint8Array | string)[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const list = Array.isArray(chunks) ? chunks : [chunks as Uint8Array | string];
  let fd: number | null = openSync(tmp, "w");
  try {
    for (const c of list) {
      const buf = typeof c === "string" ? Buffer.from(c, "utf8") : c;
      let off = 0;
      // One write call takes at most 2 GiB - 1 bytes: larger tensors go in 1 GiB pieces.
      while (off < buf.byteLength) off += writeSync(fd, buf, off, Math.min(buf.byteLength - off, MAX_WRITE));
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** A file being written in pieces; nothing appears at `path` until `commit()`. */
export interface AtomicStream {
  /** Appends bytes. */
  write(chunk: Uint8Array): void;
  /** Writes bytes at an absolute offset (for headers filled in at the end). */
  writeAt(chunk: Uint8Array, position: number): void;
  /** Flushes, closes and renames the file into place. */
  commit(): void;
  /** Closes and deletes the temporary file. */
  abort(): void;
}

/** Opens an atomic stream to `path`. */
export function openAtomicStream(path: string): AtomicStream {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  let fd: number | null = openSync(tmp, "w");
  let pos = 0;
  const need = (): number => {
    if (fd === null) throw new Error(`atomic stream for ${path} is already closed`);
    return fd;
  };
  return {
    write(chunk) {
      const f = need();
      let off = 0;
      while (off < chunk.byteLength) off += writeSync(f, chunk, off, Math.min(chunk.byteLength - off, MAX_WRITE), pos + off);
      pos += chunk.byteLength;
    },
    writeAt(chunk, position) {
      const f = need();
      let off = 0;
      while (off < chunk.byteLength) off += writeSync(f, chunk, off, Math.min(chunk.byteLength - off, MAX_WRITE), position + off);
    },
    commit() {
      const f = need();
      fsyncSync(f);
      closeSync(f);
      fd = null;
      renameSync(tmp, path);
    },
    abort() {
      if (fd !== null) closeSync(fd);
      fd = null;
      rmSync(tmp, { force: true });
    },
  };
}
