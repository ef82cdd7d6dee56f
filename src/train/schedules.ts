/**
 * Schedules as pure functions of the (0-based) step (dictionary_learning get_lr_schedule): a linear
 * warm-up, a constant plateau, and an optional linear or cosine decay over the last steps.
 */

/** A value as a function of the 0-based step. */
export type Schedule = (step: number) => number;

/** Returns a schedule rising linearly from value/steps at step 0 to `value` at step steps-1 (constant when steps is 0). */
export function warmUp(value: number, steps: number): Schedule {
  if (steps <= 0) return () => value;
  return (step) => value * Math.min(1, (step + 1) / steps);
}

/** Learning-rate schedule settings. */
export interface LrScheduleSpec {
  lr: number;
  totalSteps: number;
  warmUpSteps: number;
  decay: "constant" | "linear" | "cosine";
  /** Steps of decay at the end (default: all steps after warm-up). */
  decaySteps?: number | undefined;
  /** Final rate as a fraction of lr. */
  endFactor: number;
}

/** Returns the learning-rate schedule: warm-up, plateau, then decay to lr * endFactor. */
export function lrSchedule(spec: LrScheduleSpec): Schedule {
  const warm = warmUp(1, spec.warmUpSteps);
  if (spec.decay === "constant") return (step) => spec.lr * warm(step);
  const decaySteps = spec.decaySteps ?? Math.max(0, spec.totalSteps - spec.warmUpSteps);
  const start = spec.totalSteps - decaySteps;
  const end = spec.endFactor;
  return (step) => {
    let f = 1;
    if (decaySteps > 0 && step >= start) {
      const p = Math.min(1, (step - start) / decaySteps);
      f = spec.decay === "linear" ? 1 - p * (1 - end) : end + ((1 - end) * (1 + Math.cos(Math.PI * p))) / 2;
    }
    return spec.lr * warm(step) * f;
  };
}
