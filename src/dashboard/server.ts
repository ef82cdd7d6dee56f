/**
 * The dashboard's HTTP server (node:http): the page and its bundled assets (Observable Plot and d3
 * as their prebuilt UMD files from node_modules, so the page needs no network), the JSON API, and
 * files under the served roots. GET and HEAD only; nothing is ever written. A file request must stay
 * inside its root after decoding and after resolving symlinks: `..`, encoded dots, absolute paths,
 * backslashes and links out of the root are refused.
 */
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Api, ApiError } from "./api.js";
import type { Catalog } from "./catalog.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".jsonl": "text/plain; charset=utf-8",
};

/** Returns the directory of an installed package (found from its main entry). */
function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  let d = dirname(require.resolve(name));
  while (!existsSync(join(d, "package.json")) || !d.endsWith(join("node_modules", name))) {
    const up = dirname(d);
    if (up === d) throw new Error(`cannot locate the ${name} package`);
    d = up;
  }
  return d;
}

/** Returns the directory of the page's own files (src/dashboard/public, also from dist/). */
function publicDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const c of [join(here, "public"), join(here, "..", "..", "src", "dashboard", "public")]) if (existsSync(join(c, "index.html"))) return c;
  throw new Error("the dashboard's page files (src/dashboard/public) are missing");
}

/** Returns the fixed asset table: URL path -> file. */
function assets(): Map<string, string> {
  const pub = publicDir();
  return new Map([
    ["/", join(pub, "index.html")],
    ["/assets/app.js", join(pub, "app.js")],
    ["/assets/style.css", join(pub, "style.css")],
    ["/assets/d3.js", join(packageDir("d3"), "dist", "d3.min.js")],
    ["/assets/plot.js", join(packageDir("@observablehq/plot"), "dist", "plot.umd.min.js")],
  ]);
}

/**
 * Returns the real path of `rel` (URL path segments, still percent-encoded) inside `root`, or null
 * when it would leave the root or names no regular file.
 */
export function safeFilePath(root: string, rel: string): string | null {
  const segs = rel.split("/");
  const clean: string[] = [];
  for (const raw of segs) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (s === "" || s === "." || s === ".." || s.includes("/") || s.includes("\\") || s.includes("\0") || s.includes(":")) return null;
    clean.push(s);
  }
  if (clean.length === 0) return null;
  let real: string;
  try {
    real = realpathSync(join(root, ...clean));
  } catch {
    return null;
  }
  const rootReal = realpathSync(root);
  if (!real.startsWith(rootReal + sep)) return null;
  return statSync(real).isFile() ? real : null;
}

/** Options of startDashboard. */
export interface DashboardOptions {
  host: string;
  port: number;
}

/** A running dashboard. */
export interface Dashboard {
  server: Server;
  url: string;
  close(): Promise<void>;
}

const int = (v: string | null, d: number): number => {
  if (v === null || v === "") return d;
  if (!/^\d{1,9}$/.test(v)) throw new ApiError(400, `expected a non-negative integer, got "${v}"`);
  return Number(v);
};

/** Starts the dashboard over `catalog`; resolves once it listens. */
export function startDashboard(catalog: Catalog, o: DashboardOptions): Promise<Dashboard> {
  const api = new Api(catalog);
  const files = assets();
  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, head: boolean) => {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), "x-content-type-options": "nosniff", "cache-control": "no-store" });
    res.end(head ? undefined : body);
  };
  const json = (res: ServerResponse, status: number, v: unknown, head: boolean) => send(res, status, TYPES[".json"]!, JSON.stringify(v), head);
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) {
      res.setHeader("allow", "GET, HEAD");
      return json(res, 405, { error: "the dashboard is read-only" }, false);
    }
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const path = q >= 0 ? raw.slice(0, q) : raw;
    const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : "");
    try {
      const asset = files.get(path);
      if (asset) return send(res, 200, TYPES[extname(asset)] ?? "application/octet-stream", readFileSync(asset), head);
      let m: RegExpExecArray | null;
      if (path === "/api/overview") return json(res, 200, api.overview(), head);
      if ((m = /^\/api\/sae\/(s\d+)$/.exec(path))) return json(res, 200, api.saeInfo(m[1]!), head);
      if ((m = /^\/api\/sae\/(s\d+)\/latents$/.exec(path))) {
        return json(res, 200, api.latents(m[1]!, { offset: int(params.get("offset"), 0), limit: int(params.get("limit"), 50), sort: params.get("sort") ?? "density", search: params.get("q") ?? "" }), head);
      }
      if ((m = /^\/api\/sae\/(s\d+)\/latent\/(\d{1,9})$/.exec(path))) return json(res, 200, api.latent(m[1]!, Number(m[2])), head);
      if ((m = /^\/api\/sae\/(s\d+)\/hierarchy$/.exec(path))) return json(res, 200, api.hierarchy(m[1]!), head);
      if ((m = /^\/api\/sae\/(s\d+)\/heatmap$/.exec(path))) return json(res, 200, api.heatmap(m[1]!), head);
      if ((m = /^\/api\/sweep\/(w\d+)$/.exec(path))) return json(res, 200, api.sweep(m[1]!), head);
      if ((m = /^\/files\/(\d{1,4})\/(.+)$/.exec(path))) {
        const root = catalog.roots[Number(m[1])];
        const file = root ? safeFilePath(root.dir, m[2]!) : null;
        if (!file) return send(res, 404, TYPES[".txt"]!, "not found", head);
        return send(res, 200, TYPES[extname(file)] ?? "application/octet-stream", readFileSync(file), head);
      }
      return send(res, 404, TYPES[".txt"]!, "not found", head);
    } catch (e) {
      if (e instanceof ApiError) return json(res, e.status, { error: e.message }, head);
      return json(res, 500, { error: (e as Error).message }, head);
    }
  };
  const server = createServer(handle);
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : o.port;
      const host = o.host.includes(":") ? `[${o.host}]` : o.host;
      resolvePromise({
        server,
        url: `http://${host}:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => {
              api.close();
              done();
            });
          }),
      });
    });
  });
}
