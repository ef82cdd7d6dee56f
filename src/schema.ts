/** Shared zod building blocks for configs. */
import { z } from "zod";

/** A finite number (rejects NaN and +-Infinity, which JSON cannot hold but code can). */
export const finite = () => z.number().refine(Number.isFinite, { message: "must be a finite number" });

/** A probability in [0, 1]. */
export const probability = () => z.number().min(0, "must be >= 0 (a probability)").max(1, "must be <= 1 (a probability)");

/** A 32-bit unsigned integer seed. */
export const seed = () => z.number().int().min(0).max(0xffffffff);
