/**
 * `saelab train --activations DIR`: activation shards (written by `saelab activations`) as the
 * trainer's data stream. Batches are drawn shuffled with the training seed and the stream cycles
 * through the shards as often as the run needs (each pass reshuffled), so the number of steps, not
 * the shard count, sets the training length. The stream cannot seek: a resumed run reads and skips
 * the batches it already trained on, and so sees exactly what an uninterrupted run would.
 */
import { basename, extname, resolve } from "node:path";
import { UserError } from "../errors.js";
import { openActivations, type ActivationsDataset } from "../io/activations.js";
import { sequentialStream } from "../train/stream.js";
import type { TrainInput } from "./train-run.js";

/** What saelab.json records as the data of an SAE trained on activation shards. */
export interface ActivationsDescription {
  activations: {
    /** Absolute path of the shard directory. */
    dir: string;
    hook: string;
    dModel: number;
    totalTokens: number;
    /** The manifest's provenance: model, tokenizer, corpus, settings. */
    source: Record<string, string | number | boolean>;
  };
}

/** Returns SAELens's cfg.json metadata fields (model_name, hook_name, ...) for SAEs trained on `ds`. */
export function saelensMetadataOf(ds: ActivationsDataset): Record<string, unknown> {
  const src = ds.manifest.source;
  // The name the extraction recorded (the SAE's model_name, a Hub id, config.json's _name_or_path),
  // else the model file's or directory's name.
  const model = typeof src.modelName === "string" ? src.modelName : typeof src.model === "string" ? basename(src.model, extname(src.model)) : "unknown";
  return {
    model_name: model,
    hook_name: ds.manifest.hook,
    hook_head_index: null,
    // Splice and extraction for the trained SAE then read the model as these activations were read.
    prepend_bos: src.prependBos !== false,
    ...(typeof src.processing === "boolean" ? { model_from_pretrained_kwargs: { center_writing_weights: src.processing } } : {}),
    ...(typeof src.seqLen === "number" ? { context_size: src.seqLen } : {}),
    dataset_path: typeof src.corpus === "string" ? src.corpus : "unknown",
    exclude_special_tokens: src.includeBos === false,
  };
}

/** Returns the training data source over the activation shards in `dir` (relative to `cwd`), and the opened dataset. */
export function activationsDataSource(dir: string, cwd: string): { source: TrainInput; dataset: ActivationsDataset } {
  const abs = resolve(cwd, dir);
  const dataset = openActivations(abs);
  if (dataset.totalTokens === 0) throw new UserError(`${abs}: the activation shards hold no rows`);
  const description: ActivationsDescription = {
    activations: { dir: abs, hook: dataset.manifest.hook, dModel: dataset.dModel, totalTokens: dataset.totalTokens, source: dataset.manifest.source },
  };
  const stream = sequentialStream(dataset.dModel, (batchSize, seed) => dataset.batches({ batchSize, seed, shuffle: true, epochs: Infinity }));
  return { source: { stream, description, saelensMetadata: saelensMetadataOf(dataset) }, dataset };
}
