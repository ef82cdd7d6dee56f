/**
 * A local stand-in for the Hugging Face Hub (node:http), serving repos held in memory in the Hub's
 * URL layout with the headers huggingface_hub and @huggingface/hub read:
 *   GET /api/models/{id}/revision/{rev}          {_id, id, sha, gated, ...}
 *   GET /api/models/{id}/tree/{rev}[/{folder}]   [{type, oid, size, path, lfs?: {oid, size, pointerSize}}]
 *   GET /{id}/resolve/{rev}/{file}               bytes; ETag, X-Repo-Commit, X-Linked-Etag and
 *                                                X-Linked-Size (LFS files), Accept-Ranges, Range -> 206
 * Files of 64 bytes or more are served as LFS files (sha256 etag), smaller ones as git blobs (sha1).
 * Every request is logged; a file can be set to break off halfway once, or to serve other bytes than
 * its metadata says, and a repo can be gated behind a token.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One repo of the fake Hub. */
export interface FakeRepo {
  /** File contents by repo path. */
  files: Record<string, Uint8Array>;
  /** The commit id "main" resolves to (40 hex). */
  commit: string;
  /** When set, resolve requests need `Authorization: Bearer <token>` (401 without a token, 403 with another). */
  gatedToken?: string;
}

/** A logged request. */
export interface LoggedRequest {
  method: string;
  url: string;
  range: string | undefined;
  authorization: string | undefined;
}

/** A running fake Hub. */
export interface FakeHub {
  endpoint: string;
  repos: Map<string, FakeRepo>;
  log: LoggedRequest[];
  /** Repo paths ("org/name:file") whose next download sends half the bytes and then drops the connection. */
  breakOnce: Set<string>;
  /** Repo paths whose downloads serve these bytes instead of the listed ones. */
  corrupt: Map<string, Uint8Array>;
  /** Milliseconds every file download pauses halfway (0: none), so that concurrent downloads overlap. */
  delayMs: number;
  close(): Promise<void>;
}

export const LFS_MIN = 64;

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const gitSha1 = (b: Uint8Array): string => createHash("sha1").update(`blob ${b.byteLength}\0`).update(b).digest("hex");

/** Returns a 40-hex commit id derived from `seed`. */
export function fakeCommit(seed: string): string {
  return createHash("sha1").update(seed).digest("hex");
}

/** Starts a fake Hub on a free local port. */
export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const hub: Omit<FakeHub, "endpoint" | "close"> = { repos: new Map(Object.entries(repos)), log: [], breakOnce: new Set(), corrupt: new Map(), delayMs: 0 };
  const server = createServer((req, res) => {
    hub.log.push({ method: req.method ?? "", url: req.url ?? "", range: req.headers.range, authorization: req.headers.authorization });
    try {
      route(hub, req, res);
    } catch (err) {
      json(res, 500, { error: String(err) });
    }
  });
  // Idle keep-alive sockets stay open for the whole test, so a slow machine sees no reset between requests.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  // The same object the server reads, so a test's changes (delayMs, breakOnce, ...) take effect.
  return Object.assign(hub, {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  });
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function findRepo(hub: Omit<FakeHub, "endpoint" | "close">, parts: string[]): { id: string; repo: FakeRepo; rest: string[] } | null {
  for (const n of [2, 1]) {
    const id = parts.slice(0, n).join("/");
    const repo = hub.repos.get(id);
    if (repo) return { id, repo, rest: parts.slice(n) };
  }
  return null;
}

function resolveRev(repo: FakeRepo, rev: string): string | null {
  return rev === "main" || rev === "HEAD" || rev === repo.commit ? repo.commit : null;
}

function route(hub: Omit<FakeHub, "endpoint" | "close">, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const notFound = (code: string) => json(res, 404, { error: `${code}` }, { "x-error-code": code });
  if (parts[0] === "api" && parts[1] === "models") {
    const found = findRepo(hub, parts.slice(2));
    if (!found) return notFound("RepoNotFound");
    const [kind, rev, ...folder] = found.rest;
    const commit = resolveRev(found.repo, rev ?? "");
    if (!commit) return notFound("RevisionNotFound");
    if (kind === "revision") {
      return json(res, 200, { _id: `id-${found.id}`, id: found.id, sha: commit, private: false, gated: found.repo.gatedToken ? "manual" : false, downloads: 0, likes: 0, lastModified: "2024-01-01T00:00:00.000Z" });
    }
    if (kind === "tree") {
      const prefix = folder.length ? `${folder.join("/")}/` : "";
      const recursive = url.searchParams.get("recursive") === "true";
      const items: unknown[] = [];
      const dirs = new Set<string>();
      for (const [path, bytes] of Object.entries(found.repo.files)) {
        if (!path.startsWith(prefix)) continue;
        const sub = path.slice(prefix.length);
        if (!recursive && sub.includes("/")) {
          dirs.add(prefix + sub.split("/")[0]!);
          continue;
        }
        const lfs = bytes.byteLength >= LFS_MIN ? { oid: sha256(bytes), size: bytes.byteLength, pointerSize: 134 } : undefined;
        items.push({ type: "file", oid: gitSha1(lfs ? new TextEncoder().encode(`pointer ${path}`) : bytes), size: bytes.byteLength, path, ...(lfs ? { lfs } : {}) });
      }
      for (const d of dirs) items.push({ type: "directory", oid: fakeCommit(d), size: 0, path: d });
      return json(res, 200, items);
    }
    return notFound("EntryNotFound");
  }
  const found = findRepo(hub, parts);
  if (!found || found.rest[0] !== "resolve") return notFound("RepoNotFound");
  const commit = resolveRev(found.repo, found.rest[1] ?? "");
  if (!commit) return notFound("RevisionNotFound");
  const path = found.rest.slice(2).join("/");
  const listed = found.repo.files[path];
  if (!listed) return notFound("EntryNotFound");
  if (found.repo.gatedToken) {
    const auth = req.headers.authorization;
    if (!auth) return json(res, 401, { error: `Access to model ${found.id} is restricted. You must be authenticated to access it.` }, { "x-error-code": "GatedRepo" });
    if (auth !== `Bearer ${found.repo.gatedToken}`) return json(res, 403, { error: `Access to model ${found.id} is restricted and you are not in the authorized list.` }, { "x-error-code": "GatedRepo" });
  }
  const key = `${found.id}:${path}`;
  const bytes = hub.corrupt.get(key) ?? listed;
  const isLfs = listed.byteLength >= LFS_MIN;
  const etag = isLfs ? sha256(listed) : gitSha1(listed);
  const headers: Record<string, string> = {
    etag: `"${etag}"`,
    "x-repo-commit": commit,
    "accept-ranges": "bytes",
    "content-type": "application/octet-stream",
    ...(isLfs ? { "x-linked-etag": `"${etag}"`, "x-linked-size": String(listed.byteLength) } : {}),
  };
  let start = 0;
  let end = bytes.byteLength;
  let status = 200;
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
  if (m) {
    start = Number(m[1]);
    end = m[2] ? Number(m[2]) + 1 : bytes.byteLength;
    if (start >= bytes.byteLength) {
      res.writeHead(416, { "content-range": `bytes */${bytes.byteLength}` });
      return void res.end();
    }
    status = 206;
    headers["content-range"] = `bytes ${start}-${end - 1}/${bytes.byteLength}`;
  }
  const body = bytes.subarray(start, end);
  headers["content-length"] = String(body.byteLength);
  res.writeHead(status, headers);
  if (req.method === "HEAD") return void res.end();
  if (hub.breakOnce.delete(key)) {
    const half = Math.floor(body.byteLength / 2);
    res.write(body.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  if (hub.delayMs > 0) {
    const half = Math.floor(body.byteLength / 2);
    res.write(body.subarray(0, half), () => setTimeout(() => res.end(body.subarray(half)), hub.delayMs));
    return;
  }
  res.end(body);
}
