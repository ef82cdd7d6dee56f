/**
 * NumPy .npz archives (numpy.savez / savez_compressed: a zip of .npy files, zip64 when large), read
 * with fflate and the .npy parser in ./npy.ts.
 */
import { readFileSync } from "node:fs";
import { unzipSync } from "fflate";
import { UserError } from "../errors.js";
import { parseNpy, type NpyArray } from "./npy.js";

/** An opened .npz archive: the names of all its arrays and the decoded ones that were asked for. */
export interface NpzContents {
  /** Every array name in the archive (without the .npy suffix), in archive order. */
  names: string[];
  arrays: Map<string, NpyArray>;
}

/** Reads the .npz file at `path`, decoding only the arrays `keep` accepts (all by default). */
export function readNpz(path: string, keep: (name: string) => boolean = () => true): NpzContents {
  const names: string[] = [];
  let entries: Record<string, Uint8Array>;
  try {
    const buf = readFileSync(path);
    entries = unzipSync(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), {
      filter: (f) => {
        if (!f.name.endsWith(".npy")) return false;
        names.push(f.name.slice(0, -4));
        return keep(f.name.slice(0, -4));
      },
    });
  } catch (e) {
    throw new UserError(`${path} is not a readable .npz archive (${(e as Error).message})`);
  }
  const arrays = new Map<string, NpyArray>();
  for (const [name, bytes] of Object.entries(entries)) {
    try {
      arrays.set(name.slice(0, -4), parseNpy(bytes, `${path}:${name}`));
    } catch (e) {
      throw new UserError((e as Error).message);
    }
  }
  return { names, arrays };
}
