/** canonicalJson: the one rule deciding whether two JSON values are "the same" (resume, eval, sweep spec identity). */
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../src/json.js";

describe("canonicalJson", () => {
  it("sorts object keys at every depth, so key order never matters", () => {
    const a = { b: 1, a: { d: [1, { z: 0, y: "s" }], c: null } };
    const b = { a: { c: null, d: [1, { y: "s", z: 0 }] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"c":null,"d":[1,{"y":"s","z":0}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it("leaves out undefined members as JSON.stringify does, and writes undefined elsewhere as null", () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
    expect(canonicalJson([undefined, 1])).toBe("[null,1]");
    expect(canonicalJson(undefined)).toBe("null");
  });

  it("keeps array order and tells different values apart", () => {
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
    expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: "1" }));
  });
});
