/**
 * Timing through mitata's `measure`: warm-up, adaptive sample count, sorted samples with outliers trimmed; this module
 * only picks the budget and reads the median.
 */
import { measure } from "mitata"
import { gc } from "./Gc.js"

export interface Budget {
  /** the least samples taken */
  readonly minSamples: number
  /** keep sampling until this much time was measured (ms) */
  readonly minTimeMs: number
}

export interface Timing {
  /** median sample, ns */
  readonly p50: number
  readonly p25: number
  readonly p75: number
  readonly samples: number
}

/**
 * Times `f` (sync or async), one call per sample (mitata's own batching is switched off, so that a sample is exactly
 * one call of `f`, and `f` decides what a batch is).
 */
export const time = async (f: () => unknown, budget: Budget): Promise<Timing> => {
  const stats = await measure(f, {
    gc,
    batch_threshold: 0,
    min_samples: budget.minSamples,
    min_cpu_time: budget.minTimeMs * 1e6
  })
  return { p50: stats.p50, p25: stats.p25, p75: stats.p75, samples: stats.samples.length }
}
