/** Terminal table cells read plainly: no "-0.000", and the main-latent cell says what its second number is. */
import { describe, expect, it } from "vitest";
import { fmt } from "../src/report/summary.js";
import { mainCell } from "../src/report/text.js";

describe("report cells", () => {
  it("prints a negative value that rounds to zero as zero", () => {
    expect(fmt(-0.0001)).toBe("0.000");
    expect(fmt(-0)).toBe("0.000");
    expect(fmt(-0.4, 0)).toBe("0");
    expect(fmt(-0.0006)).toBe("-0.001");
    expect(fmt(0.1234)).toBe("0.123");
    expect(fmt(null)).toBe("n/a");
  });

  it("names the F1-best latent when it differs from the main latent", () => {
    expect(mainCell({ mainLatents: [{ latent: 14 }], mainAgree: true, mainByF1: { latent: 14 } })).toBe("14");
    expect(mainCell({ mainLatents: [{ latent: 14 }], mainAgree: false, mainByF1: { latent: 8 } })).toBe("14 (best F1: 8)");
    expect(mainCell({ mainLatents: [{ latent: 3 }, { latent: 5 }], mainAgree: false, mainByF1: null })).toBe("3+5 (best F1: none)");
  });
});
