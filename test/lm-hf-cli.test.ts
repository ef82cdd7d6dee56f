/**
 * The LM commands on a Hugging Face snapshot: a tiny random GPT-2 with GPT-2's real tokenizer.json,
 * through generate, activations (TransformerLens processing by default, --no-processing, and an SAE's
 * cfg.json choosing processing, prepend_bos and the hook) and splice.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { openActivations } from "../src/io/activations.js";
import { writeSignSplitSaeDir } from "./helpers/sign-split-dir.js";
import { gpt2TokenizerJson } from "./helpers/tiktoken-tokenizer-json.js";
import { tinyGpt2, writeTinyHf } from "./helpers/hf-models.js";
import { maxAbsDiff } from "./lm-fixtures.js";
import { capture } from "./helpers/cli-io.js";


const EOT = 50256;
const D = 32;

describe("LM commands on a GPT-2 snapshot directory", () => {
  const dir = writeTinyHf(tinyGpt2(11, "transformer.", 50257));
  const { tokenizer, tokenizerConfig } = gpt2TokenizerJson();
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
  writeFileSync(join(dir, "stories.txt"), "Hello world, this is a story.\n\nAnother one begins here, with words.");
  const m = ["--model", dir];

  it("generate continues a prompt with the snapshot's tokenizer", async () => {
    const io = capture(dir);
    expect(await main(["generate", ...m, "--prompt", "Hello world", "--steps", "5", "--temperature", "0"], io)).toBe(0);
    expect(io.stdout.join("").startsWith("Hello world")).toBe(true);
  });

  it("steer trains a vector on the snapshot and steers generation", async () => {
    writeFileSync(join(dir, "pairs.json"), JSON.stringify([["I am happy", "I am sad"], ["a good day", "a bad day"]]));
    const io = capture(dir);
    expect(await main(["steer", ...m, "--pairs", "pairs.json", "--layer", "1", "--multiplier", "50", "--prompt", "Hello", "--steps", "4", "--compare"], io)).toBe(0);
    const [unsteered, steered] = io.stdout.slice(-2);
    expect(io.stdout[1]).toMatch(/^layer 1 \(blocks\.1\.hook_resid_post\): vector norm [\d.]+, mean token residual norm [\d.]+ over the prompt's \d+ tokens? after BOS/);
    expect(unsteered).toMatch(/^unsteered: Hello/);
    expect(steered).toMatch(/^steered \(layer 1, x50\): Hello/);
    expect(steered!.replace(/^steered[^:]*: /, "")).not.toBe(unsteered!.replace(/^unsteered: /, ""));
  });

  it("activations are centred by default (TransformerLens processing) and raw with --no-processing", async () => {
    const base = ["activations", ...m, "--hook", "blocks.1.hook_resid_post", "--corpus", "stories.txt", "--seqLen", "8"];
    expect(await main([...base, "--out", "acts-tl"], capture(dir))).toBe(0);
    expect(await main([...base, "--out", "acts-raw", "--no-processing"], capture(dir))).toBe(0);
    const tl = openActivations(join(dir, "acts-tl"));
    const raw = openActivations(join(dir, "acts-raw"));
    expect(tl.manifest.source.processing).toBe(true);
    expect(raw.manifest.source.processing).toBe(false);
    const a = tl.readShard(0);
    const b = raw.readShard(0);
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    const centred = b.activations.map((v, i) => {
      const r = Math.floor(i / D);
      let s = 0;
      for (let j = 0; j < D; j++) s += b.activations[r * D + j]!;
      return v - s / D;
    });
    expect(maxAbsDiff(a.activations, centred)).toBeLessThan(1e-4);
    expect(maxAbsDiff(a.activations, b.activations)).toBeGreaterThan(1e-2);
  });

  it("an SAE's cfg.json chooses the hook, prepend_bos and processing; splice runs it and refuses a hook the model lacks", async () => {
    const sae = join(dir, "sae");
    writeSignSplitSaeDir(sae, D, { model_name: "gpt2", hook_name: "blocks.0.hook_resid_post", prepend_bos: false, model_from_pretrained_kwargs: { center_writing_weights: false } });
    const io = capture(dir);
    expect(await main(["activations", ...m, "--sae", sae, "--corpus", "stories.txt", "--seqLen", "8", "--out", "acts-sae"], io)).toBe(0);
    const ds = openActivations(join(dir, "acts-sae"));
    expect(ds.manifest.hook).toBe("blocks.0.hook_resid_post");
    expect(ds.manifest.source.processing).toBe(false);
    expect(Array.from(ds.readShard(0).tokens)).not.toContain(EOT);
    const io2 = capture(dir);
    expect(await main(["splice", sae, ...m, "--corpus", "stories.txt", "--seqLen", "8", "--json"], io2)).toBe(0);
    const r = JSON.parse(io2.stdout.join("")) as { processing: boolean; lossRecovered: number; hook: string };
    expect(r.processing).toBe(false);
    expect(r.hook).toBe("blocks.0.hook_resid_post");
    expect(r.lossRecovered).toBeCloseTo(1, 4);
    const bad = join(dir, "sae-bad");
    writeSignSplitSaeDir(bad, D, { model_name: "gpt2", hook_name: "blocks.5.hook_resid_post" });
    const io3 = capture(dir);
    expect(await main(["splice", bad, ...m, "--corpus", "stories.txt", "--seqLen", "8"], io3)).toBe(1);
    expect(io3.stderr.join("")).toMatch(/blocks\.5\.hook_resid_post/);
  });
});
