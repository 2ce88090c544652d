/**
 * Timing through mitata's `measure`: warm-up, adaptive sample count, sorted samples with outliers trimmed; this module
 * only picks the budget and reads the median. A `plain` budget is for samples that take hundreds of milliseconds (the
 * coalescing runs) and for profile mode: timed calls one after the other (a full GC before each unless turned off), no
 * warm-up call (the section warms its subjects once, before its rounds), no per-measurement set-up of mitata's own.
 */
import { measure } from "mitata"
import { gc } from "./Gc.js"

export interface Budget {
  /** the least samples taken */
  readonly minSamples: number
  /** keep sampling until this much time was measured (ms) */
  readonly minTimeMs: number
  /** timed calls in a plain loop (a GC before each unless `gc` is `false`), without mitata */
  readonly plain?: boolean | undefined
  /**
   * a full GC before each measurement (plain: before each call) so that one subject's garbage is not collected in
   * another's time (default `true`; profile mode turns it off: forced collections would fill the profile)
   */
  readonly gc?: boolean | undefined
}

export interface Timing {
  /** median sample, ns */
  readonly p50: number
  readonly p25: number
  readonly p75: number
  readonly samples: number
}

const at = (sorted: ReadonlyArray<number>, q: number): number => sorted[Math.floor(q * (sorted.length - 1))] ?? Number.NaN

const plainTime = async (f: () => unknown, budget: Budget, collect: boolean): Promise<Timing> => {
  const times: Array<number> = []
  let totalMs = 0
  while (times.length < budget.minSamples || totalMs < budget.minTimeMs) {
    if (collect) gc()
    const t0 = performance.now()
    await f()
    const ms = performance.now() - t0
    totalMs += ms
    times.push(ms * 1e6)
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
  const collect = budget.gc !== false
  if (budget.plain === true) return plainTime(f, budget, collect)
  const stats = await measure(f, {
    gc: collect ? gc : false,
    batch_threshold: 0,
    min_samples: budget.minSamples,
    min_cpu_time: budget.minTimeMs * 1e6
  })
  return { p50: stats.p50, p25: stats.p25, p75: stats.p75, samples: stats.samples.length }
}
