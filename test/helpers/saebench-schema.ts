/** Validates JSON against SAEBench's published `absorption_first_letter` output schema (test/fixtures/saebench). */
import { readFileSync } from "node:fs";
import { Ajv } from "ajv";

const schema = JSON.parse(readFileSync(new URL("../fixtures/saebench/eval_output_schema_absorption_first_letter.json", import.meta.url), "utf8")) as object;
const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);

/** Returns the schema violations of `value` as text (empty when it validates). */
export function absorptionSchemaErrors(value: unknown): string[] {
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ""}`);
}
