/**
 * What an LM SAE's latents fire on, read from activation shards: per latent its firing density, the
 * tokens it fires on most often (a token histogram), and its top-activating contexts with the firing
 * token marked. Pure: the caller reads the shards and passes them in file order; a context window
 * never crosses into another sequence.
 */
import type { ActivationShard } from "../io/activations.js";
import type { SaeModel } from "../sae/types.js";

/** Rows encoded at a time (bounds the dense pre-activation buffer). */
const ENCODE_ROWS = 4096;

/** Options of latentTokenStats. */
export interface LatentTokenOptions {
  /** Latents to report (default: all). */
  ids?: readonly number[] | undefined;
  /** Tokens kept in each latent's histogram. */
  topTokens: number;
  /** Top-activating contexts kept per latent. */
  contexts: number;
  /** Tokens of context before the firing token (the window ends at it). */
  before: number;
  /** Tokens of context after the firing token. */
  after: number;
  /** (parent, absorber) pairs whose contexts are collected where the absorber fires and the parent is silent. */
  pairs?: readonly { parent: number; absorber: number }[] | undefined;
}

/** One top-activating context. */
export interface LatentContext {
  activation: number;
  /** Index of the firing row over all shards, in file order. */
  row: number;
  /** Token ids of the window. */
  tokens: number[];
  /** Index of the firing token inside `tokens`. */
  focus: number;
}

/** What one latent fires on. */
export interface LatentTokens {
  latent: number;
  nFires: number;
  /** Share of rows on which it fires (activation > 0). */
  density: number;
  /** Tokens it fires on, by count descending (ties: lower id first): [token id, firings, mean activation]. */
  topTokens: [number, number, number][];
  /** Distinct tokens it fires on. */
  distinctTokens: number;
  contexts: LatentContext[];
}

/** The result of latentTokenStats. */
export interface LatentTokensResult {
  rows: number;
  latents: LatentTokens[];
  /** Per requested pair, the absorber's top-activating contexts among rows where the parent's activation is 0. */
  pairContexts: LatentContext[][];
}

/** Inserts (a, row) into `t` (descending by activation, ties to the earlier row), keeping at most `cap`. */
function pushTop(t: { a: number; row: number }[], a: number, row: number, cap: number): void {
  if (t.length >= cap && !(a > t[t.length - 1]!.a)) return;
  let k = t.length;
  while (k > 0 && t[k - 1]!.a < a) k--;
  t.splice(k, 0, { a, row });
  if (t.length > cap) t.pop();
}

/** Returns, for each chosen latent, its density, token histogram and top contexts over the shards (in order). */
export function latentTokenStats(sae: SaeModel, shards: Iterable<ActivationShard>, o: LatentTokenOptions): LatentTokensResult {
  const ids = o.ids ?? Array.from({ length: sae.dSae }, (_, j) => j);
  for (const j of ids) if (!Number.isInteger(j) || j < 0 || j >= sae.dSae) throw new RangeError(`latent ${j} is out of range (the SAE has ${sae.dSae} latents)`);
  const slot = new Map<number, number>(ids.map((j, i) => [j, i]));
  const counts = ids.map(() => new Map<number, { n: number; sum: number }>());
  const nFires = new Float64Array(ids.length);
  // Top firings per chosen latent: sorted descending by activation, ties to the earlier row.
  const tops: { a: number; row: number }[][] = ids.map(() => []);
  const pairs = o.pairs ?? [];
  for (const q of pairs) for (const j of [q.parent, q.absorber]) if (!Number.isInteger(j) || j < 0 || j >= sae.dSae) throw new RangeError(`latent ${j} is out of range (the SAE has ${sae.dSae} latents)`);
  const pairTops: { a: number; row: number }[][] = pairs.map(() => []);
  const allTokens: number[] = [];
  const allSeqs: number[] = [];
  let rows = 0;
  for (const s of shards) {
    const n = s.tokens.length;
    const dIn = sae.dIn;
    for (let r0 = 0; r0 < n; r0 += ENCODE_ROWS) {
      const m = Math.min(ENCODE_ROWS, n - r0);
      const lat = sae.encode(s.activations.subarray(r0 * dIn, (r0 + m) * dIn), m);
      for (let rr = 0; rr < m; rr++) {
        const r = r0 + rr;
        const tok = s.tokens[r]!;
        allTokens.push(tok);
        allSeqs.push(s.sequences[r]!);
        for (let p = lat.rowPtr[rr]!; p < lat.rowPtr[rr + 1]!; p++) {
          const v = lat.values[p]!;
          if (!(v > 0)) continue;
          const i = slot.get(lat.colIdx[p]!);
          if (i === undefined) continue;
          nFires[i]!++;
          const c = counts[i]!.get(tok);
          if (c) {
            c.n++;
            c.sum += v;
          } else counts[i]!.set(tok, { n: 1, sum: v });
          pushTop(tops[i]!, v, rows + r, o.contexts);
        }
        if (pairs.length > 0) {
          const here = new Map<number, number>();
          for (let p = lat.rowPtr[rr]!; p < lat.rowPtr[rr + 1]!; p++) if (lat.values[p]! > 0) here.set(lat.colIdx[p]!, lat.values[p]!);
          pairs.forEach((q, k) => {
            const a = here.get(q.absorber);
            if (a !== undefined && !here.has(q.parent)) pushTop(pairTops[k]!, a, rows + r, o.contexts);
          });
        }
      }
    }
    rows += n;
  }
  const window = (row: number): LatentContext => {
    const seq = allSeqs[row]!;
    let lo = row;
    while (lo > row - o.before && lo > 0 && allSeqs[lo - 1] === seq) lo--;
    let hi = row;
    while (hi < row + o.after && hi + 1 < rows && allSeqs[hi + 1] === seq) hi++;
    return { activation: 0, row, tokens: allTokens.slice(lo, hi + 1), focus: row - lo };
  };
  const latents = ids.map((latent, i): LatentTokens => {
    const hist = [...counts[i]!.entries()].sort((a, b) => b[1].n - a[1].n || a[0] - b[0]);
    return {
      latent,
      nFires: nFires[i]!,
      density: rows ? nFires[i]! / rows : 0,
      topTokens: hist.slice(0, o.topTokens).map(([t, c]) => [t, c.n, c.sum / c.n]),
      distinctTokens: hist.length,
      contexts: tops[i]!.map((t) => ({ ...window(t.row), activation: t.a })),
    };
  });
  return { rows, latents, pairContexts: pairTops.map((t) => t.map((x) => ({ ...window(x.row), activation: x.a }))) };
}

/** Returns a token's text for display: JSON-quoted so spaces and newlines show. */
export function showToken(text: string): string {
  return JSON.stringify(text);
}

/** Returns a context as one line, the firing token in [[ ]] and newlines shown as \n. */
export function renderContext(c: LatentContext, decode: (id: number) => string): string {
  return c.tokens.map((t, i) => (i === c.focus ? `[[${decode(t)}]]` : decode(t))).join("").replace(/\n/g, "\\n");
}

/** Returns the report of `latentTokenStats` as text: per latent density, token histogram bars and contexts. */
export function renderLatentTokens(res: LatentTokensResult, decode: (id: number) => string): string {
  const out: string[] = [];
  for (const L of res.latents) {
    out.push(`latent ${L.latent}: fires on ${L.nFires} of ${res.rows} tokens (density ${L.density.toFixed(4)}), ${L.distinctTokens} distinct tokens`);
    if (L.nFires === 0) {
      out.push("  (dead on these activations)", "");
      continue;
    }
    const w = Math.max(...L.topTokens.map(([t]) => showToken(decode(t)).length));
    for (const [t, n, mean] of L.topTokens) {
      const share = n / L.nFires;
      out.push(`  ${showToken(decode(t)).padEnd(w)} ${String(n).padStart(6)} ${(100 * share).toFixed(1).padStart(5)}% ${"#".repeat(Math.max(1, Math.round(share * 30)))}  mean act ${mean.toFixed(3)}`);
    }
    out.push("  top contexts (firing token in [[ ]]):");
    for (const c of L.contexts) out.push(`    ${c.activation.toFixed(3).padStart(8)}  ${renderContext(c, decode)}`);
    out.push("");
  }
  return out.join("\n").trimEnd();
}

/** Returns a latent's top tokens as one short string: `"The" 41%, " the" 20%`. */
export function topTokensLine(L: LatentTokens, decode: (id: number) => string, n = 3): string {
  if (L.nFires === 0) return "(silent)";
  return L.topTokens.slice(0, n).map(([t, c]) => `${showToken(decode(t))} ${Math.round((100 * c) / L.nFires)}%`).join(", ");
}
