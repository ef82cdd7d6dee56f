/* global document, window, fetch, location, Plot, URLSearchParams */
// The saelab dashboard page: a hash-routed single page over the read-only JSON API. Plots are drawn
// with Observable Plot (served from the package, no network). Data is inserted as text, never as HTML.

const app = document.getElementById("app");
const crumbs = document.getElementById("crumbs");
const Node = window.Node;

/** Returns an element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** Returns a number with `d` decimals, or an em dash for null. */
function fmt(v, d = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  if (Math.abs(v) > 0 && Math.abs(v) < 10 ** -d) return v.toExponential(1);
  return v.toFixed(d);
}

async function api(path) {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

function setCrumbs(...parts) {
  crumbs.replaceChildren(...parts.flatMap((p) => [" / ", p]));
}

function tabs(id, on, info) {
  const t = [["browser", `#/sae/${id}`, "Latents"], ["hierarchy", `#/sae/${id}/hierarchy`, "Hierarchy"]];
  if (info.heatmap) t.push(["heatmaps", `#/sae/${id}/heatmaps`, "Cosine heatmaps"]);
  return el("nav", { class: "tabs" }, t.map(([k, href, label]) => el("a", { href, class: k === on ? "on" : "" }, label)));
}

// ---------- overview ----------
async function overview() {
  setCrumbs();
  const o = await api("/api/overview");
  const parts = [el("h1", {}, "Overview")];
  const metricCols = [["l0", "L0", 2], ["explainedVariance", "expl. var", 3], ["mcc", "MCC", 3], ["fullAbsorption", "full abs", 3], ["saebenchAbsorptionFraction", "SB frac", 3], ["maxParentLikeFullAbsorption", "2nd parent", 3]];
  const saeTable = (saes) =>
    el("table", { class: "saes" },
      el("thead", {}, el("tr", {}, ["SAE", "arch", "tied", "width", "features", "rows", "dead", "confident pairs", ...metricCols.map((m) => m[1])].map((h, i) => el("th", { class: i >= 3 ? "num" : "" }, h)))),
      el("tbody", {}, saes.map((s) =>
        el("tr", { "data-sae": s.id },
          el("td", {}, el("a", { class: "sae-link", href: `#/sae/${s.id}` }, s.name)),
          el("td", {}, s.architecture ?? "—"),
          el("td", {}, s.tied === null ? "—" : s.tied ? "yes" : "no"),
          el("td", { class: "num" }, s.dSae ?? "—"),
          el("td", { class: "num" }, s.features ? s.kind : "not computed"),
          el("td", { class: "num" }, fmt(s.rows)),
          el("td", { class: "num" }, fmt(s.dead)),
          el("td", { class: "num" }, fmt(s.confidentPairs)),
          ...metricCols.map(([k, , d]) => el("td", { class: "num", "data-k": k }, s.metrics ? fmt(s.metrics[k], d) : "—")),
        ))));
  for (const d of o.demos) {
    const saes = o.saes.filter((s) => s.demo === d.id);
    parts.push(el("div", { class: "card demo", "data-demo": d.id },
      el("h2", {}, d.title),
      d.world ? el("p", { class: "muted" }, `world ${d.world.name}: ${d.world.nFeatures} true features in ${d.world.dModel} dimensions`) : null,
      d.command ? el("p", { class: "muted" }, el("code", {}, d.command)) : null,
      saeTable(saes),
      d.report ? el("p", {}, el("a", { href: d.report, target: "_blank" }, "report.html")) : null));
  }
  const loose = o.saes.filter((s) => !s.demo);
  if (loose.length) parts.push(el("div", { class: "card" }, el("h2", {}, "SAEs"), saeTable(loose)));
  if (o.sweeps.length) {
    parts.push(el("div", { class: "card" }, el("h2", {}, "Sweeps"),
      el("ul", {}, o.sweeps.map((w) => el("li", {}, el("a", { class: "sweep-link", href: `#/sweep/${w.id}` }, w.name), ` — ${w.cells} cells; SAE configs ${w.configs.join(", ")}`)))));
  }
  app.replaceChildren(...parts);
}

// ---------- latent browser ----------
async function browser(id, params) {
  const info = await api(`/api/sae/${id}`);
  setCrumbs(el("a", { href: `#/sae/${id}` }, info.name));
  const head = [el("h1", {}, `${info.name} `, el("span", { class: "muted" }, `${info.architecture ?? ""}${info.tied ? " (tied)" : ""}, ${info.dIn} → ${info.dSae} latents`)), tabs(id, "browser", info)];
  if (!info.features) {
    app.replaceChildren(...head, el("p", { class: "error" }, `No features.sqlite for this SAE: run saelab features on it first.`));
    return;
  }
  const q = params.get("q") ?? "";
  const sort = params.get("sort") ?? "density";
  const offset = Number(params.get("offset") ?? 0);
  const limit = 50;
  const page = await api(`/api/sae/${id}/latents?${new URLSearchParams({ q, sort, offset, limit })}`);
  const go = (p) => { location.hash = `#/sae/${id}?${new URLSearchParams({ q, sort, offset, ...p })}`; };
  const search = el("input", { id: "search", type: "search", placeholder: "token, text or latent number", value: q, size: 30 });
  const sortSel = el("select", { id: "sort", onchange: () => go({ sort: sortSel.value, offset: 0 }) },
    [["density", "density (high first)"], ["density-asc", "density (low first)"], ["absorption", "absorption score"], ["holes", "absorbed-hole rate"], ["max", "max activation"], ["latent", "latent index"]].map(([v, l]) => el("option", { value: v, selected: v === sort }, l)));
  const form = el("form", { class: "controls", onsubmit: (e) => { e.preventDefault(); go({ q: search.value, offset: 0 }); } }, search, el("button", { type: "submit", id: "search-go" }, "Search"), el("label", {}, "sort ", sortSel));
  const world = info.kind === "world";
  const table = el("table", { id: "latents" },
    el("thead", {}, el("tr", {}, ["latent", "density", "mean act", "max act", "absorption score", "absorbed holes", world ? "best feature (cos)" : "top tokens"].map((h, i) => el("th", { class: i > 0 && i < 6 ? "num" : "" }, h)))),
    el("tbody", {}, page.rows.map((r) => el("tr", { "data-latent": r.latent },
      el("td", {}, el("a", { class: "latent-link", href: `#/sae/${id}/latent/${r.latent}` }, `#${r.latent}`)),
      el("td", { class: "num density" }, fmt(r.density, 4)),
      el("td", { class: "num" }, fmt(r.mean_act)),
      el("td", { class: "num" }, fmt(r.max_act)),
      el("td", { class: "num absorption" }, fmt(r.absorption_score)),
      el("td", { class: "num holes" }, fmt(r.absorbed_hole_rate)),
      el("td", { class: "tokens" }, world ? (r.best_feature === null ? "—" : `f${r.best_feature} (${fmt(r.best_feature_cos, 2)})`) : (r.top_tokens || "").split("|").filter(Boolean).slice(0, 8).join("  ·  "))))));
  const pager = el("div", { class: "pager" },
    el("button", { id: "prev", disabled: offset === 0, onclick: () => go({ offset: Math.max(0, offset - limit) }) }, "‹ prev"),
    el("span", { id: "range" }, page.total === 0 ? "no latents match" : `${offset + 1}–${Math.min(offset + limit, page.total)} of `), el("span", { id: "total" }, String(page.total)),
    el("button", { id: "next", disabled: offset + limit >= page.total, onclick: () => go({ offset: offset + limit }) }, "next ›"));
  const det = info.detection ? el("p", { class: "muted" }, `Detector: ${info.detection.summary.confidentPairs} confident absorption pairs of ${info.detection.summary.candidatePairs} candidates on ${fmt(info.detection.nSamples)} inputs; ${info.detection.summary.deadLatents} dead latents.`) : null;
  app.replaceChildren(...head, det, form, table, pager);
}

// ---------- latent page ----------
function tokenSpans(c, maxAct) {
  return c.text.map((t, i) => {
    const a = c.acts[i];
    const alpha = maxAct > 0 ? Math.max(0, Math.min(1, a / maxAct)) : 0;
    return el("span", { class: `tok${i === c.focus ? " focus" : ""}`, title: `${JSON.stringify(t)}: ${fmt(a)}`, style: `background: rgba(234, 88, 12, ${alpha.toFixed(3)})`, "data-act": a }, t.replace(/\n/g, "↵"));
  });
}

function contextRow(c, maxAct, world) {
  if (world) {
    return el("div", { class: "ctx" }, el("span", { class: "act" }, fmt(c.activation)), `sample #${c.row}  `, c.tokens.length ? c.tokens.map((f, i) => el("span", { class: "chip" }, `f${f} ${fmt(c.acts[i], 2)}`)) : el("span", { class: "muted" }, "no true feature fired"));
  }
  return el("div", { class: "ctx", "data-row": c.row }, el("span", { class: "act" }, fmt(c.activation)), ...tokenSpans(c, maxAct));
}

function plotInto(node, make) {
  try {
    node.replaceChildren(make());
  } catch (e) {
    node.replaceChildren(el("p", { class: "error" }, `plot failed: ${e.message}`));
  }
  return node;
}

async function latentPage(id, j) {
  const [info, d] = await Promise.all([api(`/api/sae/${id}`), api(`/api/sae/${id}/latent/${j}`)]);
  setCrumbs(el("a", { href: `#/sae/${id}` }, info.name), el("span", {}, `latent ${j}`));
  const s = d.stats;
  const world = info.kind === "world";
  const stat = (k, label, v) => [el("dt", {}, label), el("dd", { "data-k": k }, v)];
  const statsList = el("dl", { class: "stats", id: "stats" },
    stat("n_fires", "firings", fmt(s.n_fires)), stat("density", "density", fmt(s.density, 4)), stat("mean_act", "mean act", fmt(s.mean_act)),
    stat("max_act", "max act", fmt(s.max_act)), stat("absorption_score", "absorption score", fmt(s.absorption_score)), stat("absorbed_hole_rate", "absorbed holes", fmt(s.absorbed_hole_rate)),
    ...(world ? [...stat("best_feature", "best feature", s.best_feature === null ? "—" : `f${s.best_feature} (cos ${fmt(s.best_feature_cos, 2)})`), ...stat("matched_feature", "matched feature", s.matched_feature === null ? "none" : `f${s.matched_feature}`), ...stat("f1", "F1", fmt(s.f1))] : []));
  const nav = el("p", {}, j > 0 ? el("a", { id: "prev-latent", href: `#/sae/${id}/latent/${j - 1}` }, `‹ #${j - 1}`) : null, "  ", j + 1 < d.dSae ? el("a", { id: "next-latent", href: `#/sae/${id}/latent/${j + 1}` }, `#${j + 1} ›`) : null);
  const maxAct = s.max_act ?? 0;
  const top = d.contexts.filter((c) => c.kind === "top");
  const samples = d.contexts.filter((c) => c.kind === "sample").sort((a, b) => b.activation - a.activation);
  const groups = [];
  if (samples.length) {
    const nq = Math.min(4, samples.length);
    for (let g = 0; g < nq; g++) groups.push(samples.slice(Math.floor((g * samples.length) / nq), Math.floor(((g + 1) * samples.length) / nq)));
  }
  const histData = d.hist.filter((h) => h.lo > 0).map((h) => ({ ...h, hi: Number.isFinite(h.hi) ? h.hi : h.lo * 1.26 }));
  const under = d.hist.find((h) => h.lo === 0);
  const hist = plotInto(el("div", { id: "hist" }), () =>
    Plot.plot({ width: 560, height: 200, x: { type: "log", label: "activation" }, y: { label: "firings", grid: true }, marks: [Plot.rectY(histData, { x1: "lo", x2: "hi", y: "count", fill: "#ea580c", title: (h) => `${fmt(h.lo)}–${fmt(h.hi)}: ${h.count}` }), Plot.ruleY([0])] }));
  const left = el("div", {},
    el("h2", {}, `Top activations (${top.length})`), el("div", { id: "top-contexts" }, top.map((c) => contextRow(c, maxAct, world))),
    groups.length ? el("h2", {}, "Samples by activation quantile") : null,
    el("div", { id: "samples" }, groups.map((g, i) => [el("div", { class: "muted" }, `quantile group ${i + 1} of ${groups.length} (${fmt(g[0].activation)} … ${fmt(g[g.length - 1].activation)})`), g.slice(0, 4).map((c) => contextRow(c, maxAct, world))])));
  const logits = d.logitTop ? el("div", { id: "logits" }, el("h2", {}, "Logit effects (W_dec · W_U)"),
    plotInto(el("div"), () => {
      const rows = [...d.logitTop.map((r) => ({ ...r, sign: "promotes" })), ...d.logitBottom.map((r) => ({ ...r, sign: "suppresses" }))];
      return Plot.plot({ width: 520, height: 22 * rows.length + 40, marginLeft: 90, x: { label: "logit change per unit activation", grid: true }, y: { label: null, domain: rows.map((r) => JSON.stringify(r.text)) },
        color: { domain: ["promotes", "suppresses"], range: ["#2563eb", "#dc2626"] },
        marks: [Plot.barX(rows, { y: (r) => JSON.stringify(r.text), x: "value", fill: "sign", title: (r) => `${JSON.stringify(r.text)}: ${fmt(r.value)}` }), Plot.ruleX([0])] });
    }),
    el("table", { class: "logit-table" }, el("tbody", {}, d.logitTop.map((r, i) => el("tr", {}, el("td", { class: "tok-top" }, JSON.stringify(r.text)), el("td", { class: "num" }, fmt(r.value)), el("td", { class: "tok-bottom" }, JSON.stringify(d.logitBottom[i]?.text ?? "")), el("td", { class: "num" }, fmt(d.logitBottom[i]?.value))))))) : null;
  const link = (l) => el("a", { class: "latent-link", href: `#/sae/${id}/latent/${l}`, "data-latent": l }, `#${l}`);
  const neighbours = el("div", {}, el("h2", {}, "Decoder neighbours"), el("table", { id: "neighbours" }, el("thead", {}, el("tr", {}, el("th", {}, "latent"), el("th", { class: "num" }, "cos"), el("th", { class: "num" }, "density"))),
    el("tbody", {}, d.neighbours.map((n) => el("tr", {}, el("td", {}, link(n.latent)), el("td", { class: "num" }, fmt(n.cos)), el("td", { class: "num" }, fmt(n.density, 4)))))));
  const pairs = el("div", {}, el("h2", {}, "Absorption pairs (detector, no ground truth)"),
    d.pairs.length === 0 ? el("p", { class: "muted" }, "none") :
      el("table", { id: "pairs" }, el("thead", {}, el("tr", {}, ["role", "other latent", "kind", "score", "confident", "dec cos", "parent silent", "co-firing"].map((h) => el("th", {}, h)))),
        el("tbody", {}, d.pairs.map((p) => {
          const parent = p.parent === j;
          const other = parent ? p.absorber : p.parent;
          return el("tr", { "data-other": other },
            el("td", {}, parent ? "absorbed by" : "absorbs"), el("td", {}, el("a", { class: "pair-link", href: `#/sae/${id}/latent/${other}`, "data-latent": other }, `#${other}`)),
            el("td", {}, p.kind), el("td", { class: "num score" }, fmt(p.score)), el("td", {}, p.confident ? "yes" : "no"), el("td", { class: "num" }, fmt(p.decoder_cos)), el("td", { class: "num" }, fmt(p.parent_silent)), el("td", { class: "num" }, fmt(p.co_firing)));
        }))));
  const worldAbs = world && d.world.length ? el("div", {}, el("h2", {}, "Absorption against the true features (evaluation)"),
    el("table", { id: "world-absorption" }, el("thead", {}, el("tr", {}, ["role", "edge", "full absorption", "detail"].map((h) => el("th", {}, h)))),
      el("tbody", {}, d.world.map((w) => el("tr", {}, el("td", {}, w.role), el("td", {}, `f${w.parent_feature} → f${w.child_feature}`), el("td", { class: "num" }, fmt(w.full_absorption)),
        el("td", { class: "muted" }, w.role === "absorber" ? `dec cos parent ${fmt(w.detail.decoderCosParent, 2)}, child ${fmt(w.detail.decoderCosChild, 2)}, projection share ${fmt(w.detail.projectionShare, 2)}` : w.role === "main" ? `partial ratio ${fmt(w.detail.partialRatio, 2)}, gap ${fmt(w.detail.absorptionGap, 2)}` : `dec cos ${fmt(w.detail.decoderCos, 2)}`)))))) : null;
  const edges = d.edges.length ? el("p", {}, "Hierarchy: ", d.edges.map((e) => el("span", {}, link(e.parent), " → ", link(e.child), ` (${e.evidence})  `))) : null;
  app.replaceChildren(el("h1", { id: "latent-title" }, `${info.name} · latent ${j}`), nav, statsList,
    el("div", { class: "grid2" }, el("div", {}, el("h2", {}, "Activation histogram"), hist, under ? el("p", { class: "muted" }, `${under.count} firings below 1e-4 not drawn`) : null, left),
      el("div", {}, logits, pairs, worldAbs, edges, neighbours)));
}

// ---------- hierarchy ----------
async function hierarchyPage(id) {
  const [info, h] = await Promise.all([api(`/api/sae/${id}`), api(`/api/sae/${id}/hierarchy`)]);
  setCrumbs(el("a", { href: `#/sae/${id}` }, info.name), el("span", {}, "hierarchy"));
  const head = [el("h1", {}, `${info.name}: inferred latent hierarchy`), tabs(id, "hierarchy", info)];
  if (!h.edges.length) {
    app.replaceChildren(...head, el("p", { class: "muted" }, "The detector inferred no parent → child edges."));
    return;
  }
  const children = new Map();
  const isChild = new Set();
  for (const e of h.edges) {
    if (!children.has(e.parent)) children.set(e.parent, []);
    children.get(e.parent).push(e.child);
    isChild.add(e.child);
  }
  const roots = [...children.keys()].filter((p) => !isChild.has(p));
  const paths = [];
  const walk = (node, path, seen) => {
    paths.push(path);
    for (const c of children.get(node) ?? []) if (!seen.has(c)) walk(c, `${path}/#${c}`, new Set([...seen, c]));
  };
  for (const r of roots.length ? roots : [h.edges[0].parent]) walk(r, `SAE/#${r}`, new Set([r]));
  const graph = plotInto(el("div", { id: "graph" }), () => Plot.plot({ axis: null, width: 900, height: Math.max(200, 22 * paths.length), margin: 20, marginLeft: 60, marginRight: 120,
    marks: [Plot.tree(paths, { path: (d) => d, delimiter: "/", textStroke: "white", fill: "#c2410c" })] }));
  for (const t of graph.querySelectorAll("text")) {
    const m = /^#(\d+)$/.exec(t.textContent.trim());
    if (m) {
      t.style.cursor = "pointer";
      t.style.fill = "#1d4ed8";
      t.addEventListener("click", () => { location.hash = `#/sae/${id}/latent/${m[1]}`; });
    }
  }
  const link = (l) => el("a", { class: "latent-link", href: `#/sae/${id}/latent/${l}` }, `#${l}`);
  app.replaceChildren(...head, el("p", { class: "muted" }, "Parent → child edges from confident absorption pairs and from co-firing (the child fires almost only with the parent). Click a latent."), graph,
    el("h2", {}, "Edges"), el("table", { id: "edges" }, el("thead", {}, el("tr", {}, ["parent", "child", "evidence", "score", "P(parent | child)"].map((x) => el("th", {}, x)))),
      el("tbody", {}, h.edges.map((e) => el("tr", {}, el("td", {}, link(e.parent)), el("td", {}, link(e.child)), el("td", {}, e.evidence.join(" + ")), el("td", { class: "num" }, fmt(e.score)), el("td", { class: "num" }, fmt(e.coFiring)))))),
    h.duplicates.length ? el("p", {}, `Near-duplicate groups: ${h.duplicates.map((g) => `{${g.join(", ")}}`).join(" ")}`) : null);
}

// ---------- toy-world heatmaps ----------
async function heatmapsPage(id) {
  const [info, hm] = await Promise.all([api(`/api/sae/${id}`), api(`/api/sae/${id}/heatmap`)]);
  setCrumbs(el("a", { href: `#/sae/${id}` }, info.name), el("span", {}, "heatmaps"));
  const cells = (which) => hm.latents.flatMap((l, r) => hm.features.map((f, c) => ({ latent: `#${l}`, feature: `f${f}`, value: hm[which][r][c] })));
  const draw = (which, title) => el("div", { class: "card" }, el("h2", {}, title), plotInto(el("div", { class: `heatmap ${which}` }), () => Plot.plot({
    width: Math.max(320, 40 * hm.features.length + 80), height: Math.max(200, 18 * hm.latents.length + 50), marginLeft: 50, padding: 0.03,
    x: { label: "true feature", domain: hm.features.map((f) => `f${f}`) }, y: { label: "latent", domain: hm.latents.map((l) => `#${l}`) },
    color: { type: "linear", scheme: "rdbu", domain: [-1, 1], legend: true, label: "cosine" },
    marks: [Plot.cell(cells(which), { x: "feature", y: "latent", fill: "value", title: (d) => `latent ${d.latent}, ${d.feature}: ${d.value.toFixed(3)}` }),
      Plot.text(cells(which), { x: "feature", y: "latent", text: (d) => (Math.abs(d.value) >= 0.3 ? d.value.toFixed(2) : ""), fill: (d) => (Math.abs(d.value) > 0.6 ? "white" : "black") })],
  })));
  app.replaceChildren(el("h1", {}, `${info.name}: cosines with the true features`), tabs(id, "heatmaps", info),
    el("p", { class: "muted" }, `Rows: latents ordered by matched feature${hm.truncated ? " (truncated)" : ""}. Hover a cell for its value.`),
    el("div", { class: "grid2" }, draw("decoder", "Decoder rows"), draw("encoder", "Encoder columns")));
}

// ---------- sweeps ----------
async function sweepPage(id) {
  const w = await api(`/api/sweep/${id}`);
  setCrumbs(el("span", {}, `sweep ${w.name}`));
  const parts = [el("h1", {}, `Sweep ${w.name}`), el("p", { class: "muted" }, `${w.cellsDone} of ${w.cellsTotal} cells. Columns: ${w.xAxis}${w.yAxis ? `; rows: ${w.yAxis}` : ""}; seeds and other axes averaged. Hover a cell for its value.`)];
  for (const m of w.metrics) {
    const data = w.cells.filter((c) => c.metric === m.key && c.value !== null);
    parts.push(el("div", { class: "card" }, el("h2", {}, m.label), plotInto(el("div", { class: "sweep-heatmap", "data-metric": m.key }), () => Plot.plot({
      width: Math.min(1200, 260 * w.configs.length + 60), height: 90 + 26 * new Set(data.map((d) => d.y)).size, marginLeft: 60, padding: 0.04,
      fx: { label: null }, x: { type: "band", label: w.xAxis }, y: { type: "band", label: w.yAxis },
      color: { scheme: "oranges", legend: true, label: m.label, ...(m.domain ? { domain: m.domain } : {}) },
      marks: [
        Plot.cell(data, { fx: "config", x: "x", y: "y", fill: "value", title: (d) => `${d.config}, ${w.xAxis} ${d.x}${w.yAxis ? `, ${w.yAxis} ${d.y}` : ""}: ${m.label} ${d.value.toFixed(3)}` }),
        Plot.tip(data, Plot.pointer({ fx: "config", x: "x", y: "y", channels: { SAE: "config", [m.label]: (d) => d.value.toFixed(3) }, format: { fx: false, SAE: true, x: true, y: true } })),
      ],
    }))));
  }
  app.replaceChildren(...parts);
}

// ---------- router ----------
async function route() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query ?? "");
  const parts = (path || "/").split("/").filter(Boolean);
  app.setAttribute("aria-busy", "true");
  try {
    if (parts.length === 0) await overview();
    else if (parts[0] === "sae" && parts.length === 2) await browser(parts[1], params);
    else if (parts[0] === "sae" && parts[2] === "latent") await latentPage(parts[1], Number(parts[3]));
    else if (parts[0] === "sae" && parts[2] === "hierarchy") await hierarchyPage(parts[1]);
    else if (parts[0] === "sae" && parts[2] === "heatmaps") await heatmapsPage(parts[1]);
    else if (parts[0] === "sweep") await sweepPage(parts[1]);
    else app.replaceChildren(el("p", { class: "error" }, "Unknown page."), el("a", { href: "#/" }, "Overview"));
  } catch (e) {
    app.replaceChildren(el("p", { class: "error" }, e.message));
  }
  app.setAttribute("aria-busy", "false");
  window.scrollTo(0, 0);
}
window.addEventListener("hashchange", route);
void route();
