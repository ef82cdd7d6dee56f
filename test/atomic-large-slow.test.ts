/**
 * writeFileAtomic and openAtomicStream with one buffer over 2 GiB (slow, behind SAELAB_SLOW): Node's
 * writeSync refuses a length of 2^31 or more, so a Gemma 2 snapshot's 2.4 GB embedding once failed
 * with ERR_OUT_OF_RANGE. Needs about 2.2 GB of memory and of disk.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openAtomicStream, writeFileAtomic } from "../src/io/atomic.js";

const SIZE = 2 ** 31 + 12_345; // past the largest single write Node takes
const dir = mkdtempSync(join(tmpdir(), "saelab-atomic-large-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A buffer whose every 4 KiB page starts with its page number, and whose last bytes are marked. */
function pattern(): Uint8Array {
  const buf = new Uint8Array(SIZE);
  const view = new DataView(buf.buffer);
  for (let off = 0; off + 4 <= SIZE; off += 4096) view.setUint32(off, off / 4096, true);
  buf[SIZE - 1] = 0xab;
  return buf;
}

/** Reads `len` bytes at `pos` of `path`. */
function readAt(path: string, pos: number, len: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const out = new Uint8Array(len);
    expect(readSync(fd, out, 0, len, pos)).toBe(len);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Checks the file's size and the page numbers on both sides of the 1 GiB and 2 GiB boundaries. */
function checkFile(path: string): void {
  expect(statSync(path).size).toBe(SIZE);
  for (const page of [0, 1, 2 ** 18 - 1, 2 ** 18, 2 ** 19 - 1, 2 ** 19]) {
    const b = readAt(path, page * 4096, 4);
    expect(new DataView(b.buffer).getUint32(0, true)).toBe(page);
  }
  expect(readAt(path, SIZE - 1, 1)[0]).toBe(0xab);
}

describe.skipIf(!process.env.SAELAB_SLOW)("atomic writes over 2 GiB", () => {
  const data = process.env.SAELAB_SLOW ? pattern() : new Uint8Array(0);

  it("writeFileAtomic writes a 2 GiB + 12,345 byte buffer whole", () => {
    const path = join(dir, "big.bin");
    writeFileAtomic(path, data);
    checkFile(path);
    rmSync(path);
  }, 300_000);

  it("openAtomicStream writes it whole, and writeAt patches past 2 GiB", () => {
    const path = join(dir, "stream.bin");
    const s = openAtomicStream(path);
    s.write(data);
    s.writeAt(new Uint8Array([0xab]), SIZE - 1);
    s.commit();
    checkFile(path);
    rmSync(path);
  }, 300_000);
});
