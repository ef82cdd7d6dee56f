/**
 * A lock file beside a cache entry, so that two processes (or two calls in one process) fetching the
 * same blob do not write one `.incomplete` file at once: the lock is created exclusively (O_EXCL)
 * holding the owner's pid, others wait for it to go, and a lock whose process is gone (killed while
 * downloading) is taken over. huggingface_hub uses `<blob>.lock` the same way (through flock). The
 * pid check only sees processes on this machine: a cache shared over a network file system between
 * machines is not protected against two machines downloading the same file at once, though each
 * download is still verified by its hash before it is renamed into place.
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";

/** How long a lock file may stay without a readable pid (its owner is between create and write) before it counts as abandoned. */
const UNREADABLE_GRACE_MS = 10_000;

/** Whether the lock at `path` belongs to no live process on this machine. */
function isStale(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return false; // gone already: the next exclusive create decides
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) {
    try {
      return Date.now() - statSync(path).mtimeMs > UNREADABLE_GRACE_MS;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Runs `f` while holding the lock file `path` (waiting, polling every `pollMs`, while another holder has it), and returns its result. */
export async function withFileLock<T>(path: string, f: () => Promise<T>, pollMs = 50): Promise<T> {
  for (;;) {
    try {
      const fh = await open(path, "wx");
      try {
        await fh.writeFile(String(process.pid));
      } finally {
        await fh.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (isStale(path)) rmSync(path, { force: true });
    else await new Promise((r) => setTimeout(r, pollMs));
  }
  try {
    return await f();
  } finally {
    rmSync(path, { force: true });
  }
}
