/**
 * Where the CLI gets SAEs, models and Hub settings: an SAE argument is a SAELens directory or a
 * SAELens release reference `RELEASE/SAE_ID`, a --model argument a path or a Hub repo id (both
 * fetched into the cache), and the Hub configuration comes from the environment (read here, at the
 * edge) and the --offline flag.
 */
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { hubConfigFromEnv, isRepoId, type DownloadProgress, type HubConfig } from "../io/hub.js";
import { fetchModelSnapshot } from "../io/hub-model.js";
import { closestNames, fetchReleaseSae, saeReleases, saelabCacheDir, splitReleaseRef, type FetchedSae } from "../io/sae-releases.js";
import type { CliIO } from "./args.js";
import { createProgressBar, type ProgressBar } from "./progress.js";

/** The flag every command that may reach the Hub takes. */
export const hubFlags = {
  offline: z.boolean().default(false).describe("Use only the Hugging Face cache, never the network (as HF_HUB_OFFLINE=1)."),
};

/** Returns the environment the command runs in. */
export function envOf(io: CliIO): Readonly<Record<string, string | undefined>> {
  return io.env ?? process.env;
}

/** Returns the Hub configuration for a command: env vars, --offline, and a byte progress bar on stderr. */
export function hubConfig(io: CliIO, flags: { offline?: boolean | undefined }): HubConfig {
  let bar: ProgressBar | null = null;
  let file = "";
  const onProgress = (p: DownloadProgress): void => {
    if (!bar || p.file !== file) {
      bar?.finish();
      file = p.file;
      bar = createProgressBar({ total: p.bytesTotal, label: `download ${p.file}`, isTTY: io.isTTY, write: (t) => process.stderr.write(t), columns: process.stderr.columns, unit: "B" });
    }
    bar.update(p.bytesDone);
    if (p.bytesDone === p.bytesTotal) bar.finish();
  };
  return { ...hubConfigFromEnv(envOf(io), flags), onProgress };
}

/** Fetches `RELEASE/SAE_ID` (or finds it in the cache), telling the user on stderr what was downloaded or converted. */
export async function fetchSaeForCli(io: CliIO, flags: { offline?: boolean | undefined }, release: string, saeId: string): Promise<FetchedSae> {
  const got = await fetchReleaseSae(hubConfig(io, flags), saelabCacheDir(envOf(io)), release, saeId);
  if (got.snapshot.downloaded.length) io.err(`saelab: downloaded ${got.snapshot.downloaded.join(", ")} from ${got.sae.release.repo}`);
  if (got.converted) io.err(`saelab: converted ${got.sae.path}/params.npz to a SAELens directory at ${got.dir}`);
  return got;
}

/** Returns the SAELens directory an SAE argument names: an existing path, or `RELEASE/SAE_ID` fetched through the Hub. */
export async function resolveSaeDir(arg: string, io: CliIO, flags: { offline?: boolean | undefined } = {}): Promise<string> {
  const path = isAbsolute(arg) ? arg : resolve(io.cwd, arg);
  if (existsSync(path)) return path;
  const ref = splitReleaseRef(arg);
  if (ref) return (await fetchSaeForCli(io, flags, ref.release, ref.saeId)).dir;
  const first = arg.split("/")[0]!;
  const near = closestNames(first, Object.keys(saeReleases()));
  throw new UserError(`SAE directory ${arg} does not exist, and "${first}" is not a known SAE release for RELEASE/SAE_ID (closest: ${near.join(", ")})`);
}

/** The flags of a command that takes a model by path or Hub id. */
export const modelHubFlags = {
  ...hubFlags,
  revision: z.string().optional().describe("Branch, tag or commit of a --model given as a Hub id (default main)."),
};

/** Returns the local path a --model argument names: an existing file or directory, or a Hub repo id fetched into the HF cache. */
export async function resolveModelPath(arg: string, io: CliIO, flags: { offline?: boolean | undefined; revision?: string | undefined } = {}): Promise<string> {
  const path = isAbsolute(arg) ? arg : resolve(io.cwd, arg);
  if (existsSync(path)) return path;
  if (!isRepoId(arg)) throw new UserError(`model ${arg} does not exist, and it is not spelled like a Hub repo id (org/name)`);
  const snap = await fetchModelSnapshot(hubConfig(io, flags), arg, flags.revision);
  if (snap.downloaded.length) io.err(`saelab: downloaded ${snap.downloaded.join(", ")} from ${arg}@${snap.commit.slice(0, 10)}`);
  return snap.dir;
}
