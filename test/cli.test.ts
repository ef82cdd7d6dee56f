import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseArgs, renderHelp, type Command } from "../src/cli/args.js";
import { main } from "../src/cli/main.js";
import { COMMANDS } from "../src/cli/commands.js";
import { capture } from "./helpers/cli-io.js";


const Schema = z
  .object({
    config: z.string().optional().describe("A config file."),
    n: z.number().int().positive().default(10).describe("How many."),
    json: z.boolean().default(false).describe("JSON output."),
    kind: z.enum(["a", "b"]).default("a").describe("Which kind."),
  })
  .strict();
const cmd: Command<typeof Schema> = {
  path: ["thing", "do"],
  summary: "Does a thing.",
  schema: Schema,
  positionals: [{ key: "config", name: "config.json", optional: true }],
  run: async (o, io) => {
    io.out(JSON.stringify(o));
    return 0;
  },
};

describe("schema-driven CLI", () => {
  it("parses flags, positionals and defaults through the schema", () => {
    expect(parseArgs(cmd, ["c.json", "--n", "3", "--json", "--kind=b"])).toEqual({ config: "c.json", n: 3, json: true, kind: "b" });
    expect(parseArgs(cmd, [])).toEqual({ n: 10, json: false, kind: "a" });
  });

  it("boolean flags accept --no-flag, --flag=false and --flag false", () => {
    expect(parseArgs(cmd, ["--json", "false", "c.json"])).toEqual({ config: "c.json", n: 10, json: false, kind: "a" });
    expect(parseArgs(cmd, ["--json", "true"])).toMatchObject({ json: true });
    expect(parseArgs(cmd, ["--json=false"])).toMatchObject({ json: false });
    expect(parseArgs(cmd, ["--json", "--no-json"])).toMatchObject({ json: false });
    // Any other word after a boolean flag is a positional, not its value.
    expect(parseArgs(cmd, ["--json", "c.json"])).toMatchObject({ config: "c.json", json: true });
  });

  it("names unknown flags with a suggestion, and rejects bad values", () => {
    expect(() => parseArgs(cmd, ["--jsno"])).toThrow(/unknown flag --jsno \(did you mean --json\?\)/);
    expect(() => parseArgs(cmd, ["--n", "x"])).toThrow(/--n expects a number, got "x"/);
    expect(() => parseArgs(cmd, ["--n", "-2"])).toThrow(/n: Too small/);
    expect(() => parseArgs(cmd, ["--kind", "c"])).toThrow(/kind/);
    expect(() => parseArgs(cmd, ["a", "b"])).toThrow(/unexpected argument "b"/);
  });

  it("a variadic last positional takes every remaining argument as a list, commas and all", () => {
    const Many = z.object({ dirs: z.array(z.string()).min(1), n: z.number().default(1) }).strict();
    const many: Command<typeof Many> = { path: ["many"], summary: "", schema: Many, positionals: [{ key: "dirs", name: "dir", variadic: true }], run: async () => 0 };
    expect(parseArgs(many, ["a", "--n", "2", "b,c", "d"])).toEqual({ dirs: ["a", "b,c", "d"], n: 2 });
    expect(parseArgs(many, ["--dirs", "a,b"])).toEqual({ dirs: ["a", "b"], n: 1 });
    expect(() => parseArgs(many, ["a", "--dirs", "b"])).toThrow(/dir given both as arguments and as --dirs/);
    expect(renderHelp(many as unknown as Command)).toContain("Usage: saelab many <dir>... [flags]");
  });

  it("renders help from the schema descriptions", () => {
    const h = renderHelp(cmd as unknown as Command);
    expect(h).toContain("Usage: saelab thing do [config.json] [flags]");
    expect(h).toMatch(/--n <n>\s+How many. \[default: 10\]/);
    expect(h).toMatch(/--kind <a\|b>\s+Which kind./);
  });

  it("main exits non-zero with a one-line message and no stack trace on bad input", async () => {
    const io = capture();
    const code = await main(["thing", "do", "--n", "0"], io, [cmd as unknown as Command]);
    expect(code).toBe(1);
    expect(io.stderr.join("\n")).toMatch(/^saelab: invalid arguments to 'saelab thing do':\n {2}- n: Too small/);
    expect(io.stderr.join("\n")).not.toMatch(/at .*\.ts:\d+/);
    const io2 = capture();
    expect(await main(["nope"], io2, [cmd as unknown as Command])).toBe(2);
    expect(io2.stderr[0]).toMatch(/unknown command/);
  });

  it("every registered command has help built from its schema", async () => {
    for (const c of COMMANDS) {
      const io = capture();
      expect(await main([...c.path, "--help"], io)).toBe(0);
      expect(io.stdout.join("\n")).toContain(`Usage: saelab ${c.path.join(" ")}`);
      for (const key of Object.keys(c.schema.shape)) expect(io.stdout.join("\n")).toContain(`--${key}`);
    }
  });
});
