/// <reference lib="dom" />
/**
 * The dashboard in a real Chromium (Debian's `chromium` through playwright-core): on a demo's output
 * (with `saelab features` run on one of its SAEs), a stories260K SAE and a tiny sweep, it navigates
 * overview -> latent browser -> latent -> absorbing latent -> back, searches a token, opens the
 * hierarchy, cosine heatmaps and sweep heatmaps, and checks the numbers shown against the database
 * and results.json. With SAELAB_SCREENSHOTS=DIR it saves a PNG of each main page there (docs/ uses them).
 * Skipped when no Chromium is installed (.ci/run installs it).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliIO } from "../src/cli/args.js";
import { main } from "../src/cli/main.js";
import { buildCatalog } from "../src/dashboard/catalog.js";
import { startDashboard, type Dashboard } from "../src/dashboard/server.js";
import { sharedModelFiles } from "../src/io/llama2c.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const SHOTS = process.env.SAELAB_SCREENSHOTS;

const quiet = (cwd: string): CliIO => ({ out: () => undefined, err: () => undefined, isTTY: false, cwd });
const f3 = (v: number) => v.toFixed(3);

describe.skipIf(!CHROMIUM || !sharedModelFiles())("dashboard in Chromium", () => {
  let dir: string;
  let dash: Dashboard;
  let browser: Browser;
  let page: Page;
  let ids: Record<string, string>;
  const errors: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "saelab-dash-browser-"));
    const run = async (args: string[]) => expect(await main(args, quiet(dir))).toBe(0);
    await run(["demo", "--out", "demo", "--steps", "1500", "--evalSamples", "10000"]);
    await run(["features", "demo/standard-untied", "--world", "demo/world", "--tokens", "8192", "--detectRows", "8192"]);
    await run(["activations", "--hook", "blocks.2.hook_resid_post", "--sequences", "32", "--seqLen", "128", "--out", "acts"]);
    writeFileSync(join(dir, "sae.json"), JSON.stringify({ architecture: "topk", dSae: 128, k: 8 }));
    await run(["train", "--activations", "acts", "--sae", "sae.json", "--steps", "200", "--batchSize", "256", "--lr", "0.003", "--out", "stories-sae"]);
    await run(["features", "stories-sae", "--activations", "acts"]);
    writeFileSync(join(dir, "spec.json"), JSON.stringify({
      name: "tiny-dashboard", world: "absorption-basic",
      axes: { sparsity: { l1Coefficient: [0.1, 0.5] }, childGivenParent: [0.1, 0.3] },
      saes: [{ architecture: "standard", name: "untied", dSae: 12 }, { architecture: "standard", name: "tied", dSae: 12, tying: "tied" }],
      train: { steps: 40, batchSize: 128, lr: 3e-3 }, eval: { samples: 2000 },
    }));
    await run(["sweep", "spec.json", "--out", "sweep", "--workers", "1"]);
    const catalog = buildCatalog(["demo", "stories-sae", "sweep"], dir);
    ids = Object.fromEntries(catalog.saes.map((s) => [s.name, s.id]));
    dash = await startDashboard(catalog, { host: "127.0.0.1", port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    page.on("pageerror", (e) => errors.push(e.message));
    // Plot reports problems with its plots (and draws a warning sign) through console.warn.
    page.on("console", (m) => void (m.type() === "warning" && errors.push(m.text())));
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await dash?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ready = () => page.waitForFunction(() => document.getElementById("app")?.getAttribute("aria-busy") === "false");
  const goto = async (hash: string) => {
    await page.goto(`${dash.url}${hash}`);
    await ready();
  };
  /** Clicks and waits until the page for the new hash has rendered. */
  const clickTo = async (selector: string) => {
    const before = await page.evaluate(() => location.hash);
    await page.click(selector);
    await page.waitForFunction((h) => location.hash !== h, before);
    await ready();
  };
  const shot = async (name: string) => {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `dashboard-${name}.png`) });
  };
  const text = (sel: string) => page.locator(sel).first().innerText();

  it("overview -> latent browser -> latent -> absorbing latent -> back, with the stored numbers", async () => {
    const results = JSON.parse(readFileSync(join(dir, "demo", "results.json"), "utf8")) as { saes: { name: string; evaluation: { absorption: { summary: { fullAbsorption: number } }; recovery: { mcc: number } } }[] };
    const untied = results.saes.find((s) => s.name === "standard-untied")!.evaluation;
    await goto("#/");
    const row = `tr[data-sae="${ids["standard-untied"]}"]`;
    expect(await text(`${row} td[data-k="fullAbsorption"]`)).toBe(f3(untied.absorption.summary.fullAbsorption));
    expect(await text(`${row} td[data-k="mcc"]`)).toBe(f3(untied.recovery.mcc));
    await shot("overview");

    const db = new Database(join(dir, "demo", "standard-untied", "features.sqlite"), { readonly: true });
    await clickTo(`${row} a.sae-link`);
    const densest = db.prepare("SELECT latent, density FROM latents ORDER BY density DESC, latent LIMIT 1").get() as { latent: number; density: number };
    expect(await text("#latents tbody tr td.density")).toBe(densest.density.toFixed(4));
    expect(await text("#latents tbody tr a.latent-link")).toBe(`#${densest.latent}`);
    await page.selectOption("#sort", "absorption");
    await page.waitForFunction(() => location.hash.includes("sort=absorption"));
    await ready();
    const top = db.prepare("SELECT latent, n_fires, absorption_score FROM latents ORDER BY absorption_score IS NULL, absorption_score DESC, latent LIMIT 1").get() as { latent: number; n_fires: number; absorption_score: number };
    expect(await text("#latents tbody tr a.latent-link")).toBe(`#${top.latent}`);
    expect(await text("#latents tbody tr td.absorption")).toBe(f3(top.absorption_score));

    await clickTo("#latents tbody tr a.latent-link");
    expect(await text("#latent-title")).toContain(`latent ${top.latent}`);
    expect(await text('dd[data-k="n_fires"]')).toBe(top.n_fires.toLocaleString("en-US"));
    const nTop = (db.prepare("SELECT COUNT(*) AS n FROM contexts WHERE latent = ? AND kind = 'top'").get(top.latent) as { n: number }).n;
    expect(await page.locator("#top-contexts .ctx").count()).toBe(nTop);
    const pair = db.prepare("SELECT parent, absorber, score FROM pairs WHERE parent = ? OR absorber = ? ORDER BY score DESC LIMIT 1").get(top.latent, top.latent) as { parent: number; absorber: number; score: number };
    const other = pair.parent === top.latent ? pair.absorber : pair.parent;
    expect(await text("#pairs tbody tr td.score")).toBe(f3(pair.score));
    expect(await page.locator("#hist svg").count()).toBe(1);
    await shot("latent-world");

    await clickTo("#pairs tbody tr a.pair-link");
    expect(await text("#latent-title")).toContain(`latent ${other}`);
    const otherFires = (db.prepare("SELECT n_fires FROM latents WHERE latent = ?").get(other) as { n_fires: number }).n_fires;
    expect(await text('dd[data-k="n_fires"]')).toBe(otherFires.toLocaleString("en-US"));
    await page.goBack();
    await page.waitForFunction((j) => document.getElementById("latent-title")?.textContent?.includes(`latent ${j}`), top.latent);
    expect(await text('dd[data-k="n_fires"]')).toBe(top.n_fires.toLocaleString("en-US"));
    db.close();
    expect(errors).toEqual([]);
  });

  it("searches a token in a stories260K SAE and shows its contexts and logit effects", async () => {
    const db = new Database(join(dir, "stories-sae", "features.sqlite"), { readonly: true });
    // A word that is some latent's top token.
    const word = (db.prepare("SELECT top_tokens FROM latents WHERE top_tokens LIKE '%|the|%' LIMIT 1").get() as { top_tokens: string } | undefined) ? "the" : ((db.prepare("SELECT top_tokens FROM latents WHERE top_tokens != '' LIMIT 1").get() as { top_tokens: string }).top_tokens.split("|")[1]!);
    const count = (db.prepare("SELECT COUNT(*) AS n FROM latents WHERE top_tokens LIKE ?").get(`%${word}%`) as { n: number }).n;
    await goto(`#/sae/${ids["stories-sae"]}`);
    await shot("latents");
    await page.fill("#search", word);
    await page.click("#search-go");
    await page.waitForFunction((w) => location.hash.includes(`q=${w}`), word);
    await ready();
    expect(await text("#total")).toBe(String(count));
    const cells = await page.locator("#latents tbody td.tokens").allInnerTexts();
    expect(cells.length).toBe(Math.min(50, count));
    // Exact top-token matches come first.
    expect(cells[0]!.split(/\s+·\s+/)).toContain(word);

    await clickTo("#latents tbody tr a.latent-link");
    const j = Number((await text("#latent-title")).match(/latent (\d+)/)![1]);
    const row = db.prepare("SELECT logit_top, max_act FROM latents WHERE latent = ?").get(j) as { logit_top: string; max_act: number };
    const [tok, value] = (JSON.parse(row.logit_top) as [number, number][])[0]!;
    const tokText = (db.prepare("SELECT text FROM vocab WHERE token = ?").get(tok) as { text: string }).text;
    expect(await text("#logits .tok-top")).toBe(JSON.stringify(tokText));
    expect(await text("#logits .logit-table td.num")).toBe(f3(value));
    // The highest context's firing token is highlighted at full strength and carries its activation.
    const focus = page.locator("#top-contexts .ctx").first().locator(".tok.focus");
    expect(Number(await focus.getAttribute("data-act"))).toBeCloseTo(row.max_act, 4);
    expect(await focus.evaluate((e) => getComputedStyle(e).backgroundColor)).toBe("rgb(234, 88, 12)");
    await page.locator("#top-contexts").scrollIntoViewIfNeeded();
    await shot("latent");
    db.close();
    expect(errors).toEqual([]);
  });

  it("draws the hierarchy, the cosine heatmaps and the sweep heatmaps with their values", async () => {
    const db = new Database(join(dir, "demo", "standard-untied", "features.sqlite"), { readonly: true });
    const nEdges = (db.prepare("SELECT COUNT(*) AS n FROM hierarchy_edges").get() as { n: number }).n;
    const ev = JSON.parse((db.prepare("SELECT json FROM documents WHERE name = 'evaluation'").get() as { json: string }).json) as { heatmap: { latents: number[]; features: number[]; decoder: number[][] } };
    db.close();
    await goto(`#/sae/${ids["standard-untied"]}/hierarchy`);
    if (nEdges > 0) {
      expect(await page.locator("#edges tbody tr").count()).toBe(nEdges);
      expect(await page.locator("#graph svg").count()).toBe(1);
    }
    await shot("hierarchy");

    await goto(`#/sae/${ids["standard-untied"]}/heatmaps`);
    const h = ev.heatmap;
    const titles = await page.locator(".heatmap.decoder svg title").allTextContents();
    expect(titles).toContain(`latent #${h.latents[0]}, f${h.features[0]}: ${h.decoder[0]![0]!.toFixed(3)}`);
    expect(titles.length).toBe(h.latents.length * h.features.length);
    await shot("heatmaps");

    const api = (await (await fetch(`${dash.url}api/sweep/w0`)).json()) as { cells: { config: string; metric: string; x: string; y: string; value: number | null }[]; xAxis: string; yAxis: string };
    await goto("#/sweep/w0");
    expect(await page.locator(".sweep-heatmap svg").count()).toBeGreaterThanOrEqual(6);
    const cell = api.cells.find((c) => c.metric === "fullAbsorption" && c.value !== null)!;
    const sweepTitles = await page.locator('.sweep-heatmap[data-metric="fullAbsorption"] svg title').allTextContents();
    expect(sweepTitles).toContain(`${cell.config}, ${api.xAxis} ${cell.x}, ${api.yAxis} ${cell.y}: full absorption ${cell.value!.toFixed(3)}`);
    // Hovering a cell shows Plot's tip with the value.
    await page.locator('.sweep-heatmap[data-metric="fullAbsorption"] svg g[aria-label="cell"] rect').first().hover();
    await page.waitForSelector('.sweep-heatmap[data-metric="fullAbsorption"] g[aria-label="tip"] text');
    expect(await page.locator('.sweep-heatmap[data-metric="fullAbsorption"] g[aria-label="tip"]').first().textContent()).toMatch(/full absorption\s*[\d.]+/);
    await shot("sweep");
    expect(errors).toEqual([]);
  });
});
