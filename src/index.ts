/** saelab's public library entry point. */
export { Rng, mixSeed } from "./tensor/rng.js";
export type { Kernels, SparseRows, GemmArgs, AdamArgs } from "./tensor/kernels.js";
export { referenceKernels } from "./tensor/reference.js";
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors } from "./io/safetensors.js";
export { readNpy, writeNpy, NpyStreamWriter } from "./io/npy.js";
export { UserError, ConfigError, parseConfig } from "./errors.js";
export { evaluateSae, evaluateSaes, SaeEvaluator, sampleBatches, evaluationToJson, evaluationFromJson } from "./metrics/evaluate.js";
export { SaeEvaluationSchema, EvalOptionsSchema, type SaeEvaluation, type EvalOptions } from "./metrics/schemas.js";
export { linearSumAssignment } from "./metrics/hungarian.js";
export { saebenchSample, SAEBENCH_DEFAULTS } from "./metrics/saebench.js";
export { renderReportHtml } from "./report/html.js";
export { renderTable, renderEdgeTable } from "./report/text.js";
export { renderReading } from "./report/reading.js";
export { summaryRows, ReportInputSchema, type ReportInput } from "./report/summary.js";
