/**
 * The dashboard serves only what it was given: requests for files outside a served root (`..`,
 * percent-encoded dots and slashes, absolute paths, backslashes, symlinks that leave the root) are
 * refused, writes are refused, and `saelab dashboard` binds 127.0.0.1 unless --host says otherwise.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliIO } from "../src/cli/args.js";
import { main } from "../src/cli/main.js";
import { buildCatalog } from "../src/dashboard/catalog.js";
import { startDashboard, type Dashboard } from "../src/dashboard/server.js";
import { saveSaelensSae } from "../src/io/saelens.js";
import { createSae } from "../src/sae/model.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { loadKernels } from "../src/tensor/backend.js";

/** Sends a raw request (the path exactly as given, no normalisation) and returns status and body. */
function raw(host: string, port: number, path: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const SECRET = "TOP-SECRET-OUTSIDE-THE-ROOT";

describe("dashboard: path safety", () => {
  let dir: string;
  let dash: Dashboard;
  let port: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "saelab-dash-sec-"));
    const root = join(dir, "served");
    mkdirSync(root);
    saveSaelensSae(join(root, "sae"), createSae(loadKernels().kernels, SaeConfigSchema.parse({ architecture: "standard", dSae: 4 }), { dIn: 3, seed: 1 }));
    writeFileSync(join(root, "inside.txt"), "hello from inside");
    writeFileSync(join(dir, "secret.txt"), SECRET);
    symlinkSync(join(dir, "secret.txt"), join(root, "link-out.txt"));
    symlinkSync(dir, join(root, "dir-out"));
    symlinkSync(join(root, "inside.txt"), join(root, "link-in.txt"));
    dash = await startDashboard(buildCatalog([root], dir), { host: "127.0.0.1", port: 0 });
    port = Number(new URL(dash.url).port);
  });
  afterAll(async () => {
    await dash.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves files inside the root (and links that stay inside)", async () => {
    expect(await raw("127.0.0.1", port, "/files/0/inside.txt")).toEqual({ status: 200, body: "hello from inside" });
    expect((await raw("127.0.0.1", port, "/files/0/link-in.txt")).body).toBe("hello from inside");
    expect((await raw("127.0.0.1", port, "/files/0/sae/cfg.json")).status).toBe(200);
  });

  it.each([
    "/files/0/../secret.txt",
    "/files/0/sae/../../secret.txt",
    "/files/0/%2e%2e/secret.txt",
    "/files/0/%2E%2E/secret.txt",
    "/files/0/.%2e/secret.txt",
    "/files/0/%2e%2e%2fsecret.txt",
    "/files/0/..%2Fsecret.txt",
    "/files/0/..%5csecret.txt",
    "/files/0/..\\secret.txt",
    `/files/0/${encodeURIComponent(join("/", "etc", "passwd"))}`,
    "/files/0//etc/passwd",
    `/files/0/${encodeURIComponent(tmpdir())}/secret.txt`,
    "/files/0/link-out.txt",
    "/files/0/dir-out/secret.txt",
    "/files/1/secret.txt",
    "/files/0/%ff%fe",
    "/../secret.txt",
    "/%2e%2e/secret.txt",
  ])("refuses %s", async (path) => {
    const r = await raw("127.0.0.1", port, path);
    expect(r.status).toBe(404);
    expect(r.body).not.toContain(SECRET);
  });

  it("refuses writes", async () => {
    for (const m of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await raw("127.0.0.1", port, "/files/0/inside.txt", m);
      expect(r.status).toBe(405);
    }
  });

  it("answers bad API input with 4xx and a message, not a stack", async () => {
    const r = await raw("127.0.0.1", port, "/api/sae/s0/latents?sort=drop%20table");
    expect(r.status).toBe(404); // no features.sqlite for this SAE
    expect(JSON.parse(r.body).error).toMatch(/run saelab features/);
    expect((await raw("127.0.0.1", port, "/api/sae/s9")).status).toBe(404);
    expect((await raw("127.0.0.1", port, "/api/sae/s0/latents?offset=-1")).status).toBe(400);
  });
});

/** Returns a non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return undefined;
}

describe("saelab dashboard: binding", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "saelab-dash-bind-"));
    saveSaelensSae(join(dir, "sae"), createSae(loadKernels().kernels, SaeConfigSchema.parse({ architecture: "standard", dSae: 4 }), { dIn: 3, seed: 1 }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the command until its URL is printed; returns the URL and a stop function. */
  async function start(args: string[]): Promise<{ url: string; stop: () => Promise<number> }> {
    let printed: (u: string) => void = () => undefined;
    const urlP = new Promise<string>((r) => (printed = r));
    const cli: CliIO = { out: (t) => printed(t), err: () => undefined, isTTY: false, cwd: dir };
    const done = main(["dashboard", ...args], cli);
    const url = await Promise.race([urlP, done.then((c) => Promise.reject(new Error(`exited ${c}`)))]);
    return { url, stop: () => (process.emit("SIGINT"), done) };
  }

  it("binds 127.0.0.1 by default and prints the URL", async () => {
    const { url, stop } = await start(["sae", "--port", "0"]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const port = Number(new URL(url).port);
    expect((await raw("127.0.0.1", port, "/api/overview")).status).toBe(200);
    const ext = externalAddress();
    if (ext) await expect(raw(ext, port, "/api/overview")).rejects.toThrow(/ECONNREFUSED/);
    expect(await stop()).toBe(0);
  });

  it.skipIf(!externalAddress())("listens beyond 127.0.0.1 only with --host", async () => {
    const { url, stop } = await start(["sae", "--port", "0", "--host", "0.0.0.0"]);
    const port = Number(new URL(url).port);
    expect((await raw(externalAddress()!, port, "/api/overview")).status).toBe(200);
    expect(await stop()).toBe(0);
  });

  it("refuses a path that holds nothing servable", async () => {
    const errs: string[] = [];
    mkdirSync(join(dir, "empty", "sub"), { recursive: true });
    const code = await main(["dashboard", "empty", "--port", "0"], { out: () => undefined, err: (t) => errs.push(t), isTTY: false, cwd: dir });
    expect(code).toBe(1);
    expect(errs.join("\n")).toMatch(/holds no SAE directory/);
  });
});
