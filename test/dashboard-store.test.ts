/**
 * A corrupt features.sqlite is a UserError naming the file wherever the dashboard reads it (found by
 * the dashboard-store fuzz target): damaged table declarations are refused when the store is opened,
 * SQLite's own corruption errors and JSON columns that are not what `saelab features` writes are
 * refused when a query reaches them. The undamaged store still serves every query.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../src/errors.js";
import { Api, StoreError } from "../src/dashboard/api.js";
import { buildCatalog } from "../src/dashboard/catalog.js";
import { dashboardTarget } from "../scripts/fuzz/dashboard-target.js";
import type { FuzzFiles } from "../scripts/fuzz/mutate.js";

const tmp = mkdtempSync(join(tmpdir(), "saelab-dashboard-store-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("a corrupt features.sqlite", () => {
  let seed: FuzzFiles;
  beforeAll(async () => {
    seed = (await dashboardTarget.seeds())[0]!;
  }, 120_000);

  /** Writes the seed SAE directory with features.sqlite edited by `edit` (SQL on a writable copy, or bytes); returns an API over it and the file's path. */
  const store = (label: string, edit: { sql?: (db: Database.Database) => void; bytes?: (b: Buffer) => Buffer }): { api: Api; path: string } => {
    const dir = join(tmp, label);
    mkdirSync(dir, { recursive: true });
    for (const [n, b] of Object.entries(seed)) writeFileSync(join(dir, n), b);
    const path = join(dir, "features.sqlite");
    if (edit.sql) {
      const db = new Database(path);
      edit.sql(db);
      db.close();
    }
    if (edit.bytes) writeFileSync(path, edit.bytes(Buffer.from(seed["features.sqlite"]!)));
    return { api: new Api(buildCatalog([dir], dir)), path };
  };
  const thrown = (f: () => unknown): Error => {
    try {
      f();
    } catch (e) {
      return e as Error;
    }
    throw new Error("expected an error");
  };

  it("the undamaged store serves the overview, a page of latents and a latent", () => {
    const { api } = store("ok", {});
    expect((api.overview() as { saes: { features: boolean }[] }).saes[0]!.features).toBe(true);
    const page = api.latents("s0", { offset: 0, limit: 50, sort: "latent", search: "" }) as { total: number; rows: { latent: number }[] };
    expect(page.rows.map((r) => r.latent)).toEqual(Array.from({ length: page.total }, (_, j) => j));
    expect(api.latent("s0", 3)).toMatchObject({ sae: "s0" });
    api.close();
  });

  it('a byte flipped in "latent INTEGER PRIMARY KEY" is refused at open (every latent read as NULL before)', () => {
    const { api, path } = store("schema", { bytes: (b) => Buffer.from(b.toString("latin1").replace("latent INTEGER PRIMARY KEY", "latent INTEGER\xffPRIMARY KEY"), "latin1") });
    const e = thrown(() => api.overview());
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toBe(`${path}: table "latents" is declared differently, not as saelab features writes schema version 1 (a corrupt file?); recompute it with saelab features`);
    api.close();
  });

  it("a dropped table is refused at open", () => {
    const { api, path } = store("dropped", { sql: (db) => db.exec("DROP TABLE contexts") });
    expect(thrown(() => api.saeInfo("s0")).message).toBe(`${path}: table "contexts" is missing, not as saelab features writes schema version 1 (a corrupt file?); recompute it with saelab features`);
    api.close();
  });

  it("a histogram that is not JSON, or JSON of another shape, is a StoreError naming the file and the cell (was a SyntaxError / TypeError)", () => {
    for (const [label, hist] of [["text", "{"], ["shape", '{"a": 1}'], ["blob", Buffer.from([1, 2])]] as const) {
      const { api, path } = store(`hist-${label}`, { sql: (db) => db.prepare("UPDATE latents SET hist = ? WHERE latent = 2").run(hist) });
      const e = thrown(() => api.latent("s0", 2));
      expect(e).toBeInstanceOf(StoreError);
      expect(e.message.startsWith(`${path}: latents.hist of latent 2 is not`)).toBe(true);
      expect(() => api.latent("s0", 1)).not.toThrow();
      api.close();
    }
  });

  it("a b-tree with a key out of order (fuzz mutant 27299: latent 4 listed but not found) is refused at open", () => {
    const dir = new URL("./fixtures/features-store-damaged/", import.meta.url).pathname.replace(/\/$/, "");
    const api = new Api(buildCatalog([dir], dir));
    const e = thrown(() => api.overview());
    expect(e).toBeInstanceOf(UserError);
    expect(e.message.startsWith(`${join(dir, "features.sqlite")}: SQLite finds the file damaged (`)).toBe(true);
    expect(e.message.endsWith("); recompute it with saelab features")).toBe(true);
    api.close();
  });

  it("SQLite's corruption errors during a query are StoreErrors naming the file (were SqliteErrors)", () => {
    // Zero the pages past the schema: the store opens, the first query that reads a table fails.
    const { api, path } = store("pages", { bytes: (b) => Buffer.concat([b.subarray(0, 8192), Buffer.alloc(b.length - 8192)]) });
    const e = thrown(() => {
      api.overview();
      for (const sort of ["latent", "density"]) api.latents("s0", { offset: 0, limit: 200, sort, search: "" });
      for (let j = 0; j < 8; j++) api.latent("s0", j);
    });
    expect(e).toBeInstanceOf(UserError);
    expect(e.message.startsWith(`${path}: `)).toBe(true);
    api.close();
  });
});
