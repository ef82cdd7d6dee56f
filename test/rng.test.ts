import { describe, expect, it } from "vitest";
import { Rng, mixSeed } from "../src/tensor/rng.js";

describe("Rng (xoshiro128**)", () => {
  it("matches the C reference implementation (test/fixtures/xoshiro128ss.c)", () => {
    const a = Rng.fromState([1, 2, 3, 4]);
    expect(Array.from({ length: 8 }, () => a.nextU32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849]);
    const b = Rng.fromState([0xdeadbeef, 0x12345678, 0x9abcdef0, 0x0badf00d]);
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual([2576977301, 1162350735, 2932269098, 1922732073, 1941404828, 824293559, 1143964036, 208983317]);
  });

  it("gives the same stream for the same seed and a different one for another seed", () => {
    const draw = (seed: number) => {
      const r = new Rng(seed);
      return [r.nextU32(), r.uniform(), r.normal(), r.normal(), r.int(1000), r.categorical([1, 2, 3])];
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it("forks independent streams without advancing the parent", () => {
    const r = new Rng(7);
    const f1 = r.fork("toy");
    const next = r.nextU32();
    const r2 = new Rng(7);
    r2.fork("something-else");
    expect(r2.nextU32()).toBe(next);
    expect(f1.nextU32()).toBe(new Rng(7).fork("toy").nextU32());
    expect(mixSeed(7, "a")).not.toBe(mixSeed(7, "b"));
    expect(mixSeed(7, 1)).not.toBe(mixSeed(8, 1));
  });

  it("draws uniform, normal, Bernoulli and categorical values with the right moments", () => {
    const r = new Rng(123);
    const n = 200_000;
    let su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0, sb = 0;
    const counts = [0, 0, 0];
    let outOfRange = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      if (!(u >= 0 && u < 1)) outOfRange++;
      su += u; su2 += u * u;
      const z = r.normal();
      sn += z; sn2 += z * z; sn4 += z ** 4;
      if (r.bernoulli(0.3)) sb++;
      counts[r.categorical([1, 2, 7])]!++;
    }
    expect(outOfRange).toBe(0);
    // Tolerances are ~5 standard errors of each estimate.
    expect(Math.abs(su / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(su2 / n - 1 / 3)).toBeLessThan(0.003);
    expect(Math.abs(sn / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(sn2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(sn4 / n - 3)).toBeLessThan(0.1);
    expect(Math.abs(sb / n - 0.3)).toBeLessThan(5 * Math.sqrt(0.21 / n));
    [0.1, 0.2, 0.7].forEach((p, i) => expect(Math.abs(counts[i]! / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n)));
  });

  it("draws integers in range without bias and rejects bad arguments", () => {
    const r = new Rng(5);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => r.int(0)).toThrow(/n must be/);
    expect(() => r.categorical([0, 0])).toThrow(/sum to zero/);
    expect(() => r.categorical([1, -1])).toThrow(/weight 1/);
    expect(() => new Rng(1.5)).toThrow(/integer/);
  });
});
