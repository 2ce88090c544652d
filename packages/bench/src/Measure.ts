/**
 * Timing through mitata's `measure`: warm-up, adaptive sample count, sorted samples with outliers trimmed; this module
 * only picks the budget and reads the median. A `plain` budget is for samples that take hundreds of milliseconds (the
 * coalescing runs): exactly `minSamples` calls, a full GC before each, no warm-up call (the section warms its subjects
 * once, before its rounds).
 */
import { measure } from "mitata"
import { gc } from "./Gc.js"

export interface Budget {
  /** the least samples taken (with `plain`: exactly this many) */
  readonly minSamples: number
  /** keep sampling until this much time was measured (ms); ignored with `plain` */
  readonly minTimeMs: number
  /** `minSamples` timed calls, a GC before each, without mitata's warm-up call */
  readonly plain?: boolean | undefined
}

export interface Timing {
  /** median sample, ns */
  readonly p50: number
  readonly p25: number
  readonly p75: number
  readonly samples: number
}

const at = (sorted: ReadonlyArray<number>, q: number): number => sorted[Math.floor(q * (sorted.length - 1))] ?? Number.NaN

const plainTime = async (f: () => unknown, samples: number): Promise<Timing> => {
  const times: Array<number> = []
  for (let i = 0; i < samples; i++) {
    gc()
    const t0 = performance.now()
    await f()
    times.push((performance.now() - t0) * 1e6)
  }
  times.sort((a, b) => a - b)
  // the median of an even count: the mean of the middle two
  const mid = times.length >> 1
  const p50 = times.length % 2 === 1 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2
  return { p50, p25: at(times, 0.25), p75: at(times, 0.75), samples: times.length }
}

/**
 * Times `f` (sync or async), one call per sample (mitata's own batching is switched off, so that a sample is exactly
 * one call of `f`, and `f` decides what a batch is).
 */
export const time = async (f: () => unknown, budget: Budget): Promise<Timing> => {
  if (budget.plain === true) return plainTime(f, budget.minSamples)
  const stats = await measure(f, {
    gc,
    batch_threshold: 0,
    min_samples: budget.minSamples,
    min_cpu_time: budget.minTimeMs * 1e6
  })
  return { p50: stats.p50, p25: stats.p25, p75: stats.p75, samples: stats.samples.length }
}
