/** JSON helpers shared by every layer. */

/**
 * Returns `v` as JSON with object keys sorted (members whose value is undefined left out, as
 * JSON.stringify leaves them out), so equal values always serialise to the same string: the one
 * rule that decides whether a resumed run, an evaluated world or a sweep spec is "the same".
 */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : canonicalJson(x))).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}
