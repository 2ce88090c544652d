/**
 * How much each section measures. The full configuration is chosen so that two full runs agree within 10 % on every
 * targeted ratio on a shared 2-core machine while the run stays within about four minutes (see the README, "Rounds
 * and spreads"); the quick one only proves that the bench runs end to end (seconds, numbers meaningless).
 */
import type { Budget } from "./Measure.js"

export interface Config {
  /** interleaved rounds per timed section */
  readonly rounds: { readonly cached: number; readonly cold: number; readonly coalescing: number }
  /** acquisitions per sample in the cached section */
  readonly batch: number
  /** per subject and round */
  readonly cachedBudget: Budget
  /** per subject and round */
  readonly coldBudget: Budget
  /** unmeasured requests per subject before the cold section (JIT, connection pools) */
  readonly coldWarmup: number
  /** concurrent acquisitions per run in the coalescing section */
  readonly concurrent: number
  /** the same for openid-client, which sends one request per acquisition */
  readonly concurrentUncoalesced: number
  /** openid-client's requests in flight at once (10,000 sockets at once run out of file descriptors) */
  readonly maxInFlight: number
  /** runs per coalescing subject and round */
  readonly coalescingBudget: Budget
  /** runs of openid-client per round it takes part in */
  readonly uncoalescedBudget: Budget
  /** the rounds openid-client takes part in (spread evenly; its seconds-long runs are not a target) */
  readonly uncoalescedRounds: number
  readonly memory: { readonly tokens: number; readonly capacity: number; readonly inserted: number }
}

export const fullConfig: Config = {
  rounds: { cached: 12, cold: 10, coalescing: 12 },
  batch: 1_000,
  cachedBudget: { minSamples: 20, minTimeMs: 150 },
  coldBudget: { minSamples: 50, minTimeMs: 250 },
  coldWarmup: 300,
  concurrent: 10_000,
  concurrentUncoalesced: 10_000,
  maxInFlight: 1_000,
  coalescingBudget: { minSamples: 2, minTimeMs: 0, plain: true },
  uncoalescedBudget: { minSamples: 1, minTimeMs: 0, plain: true },
  uncoalescedRounds: 3,
  memory: { tokens: 100_000, capacity: 10_000, inserted: 100_000 }
}

/**
 * The same configuration for profile mode: plain loops without mitata (whose per-measurement set-up would show in the
 * profile) and without forced full collections (they would fill it).
 */
export const forProfiling = (config: Config): Config => {
  const plain = (budget: Budget): Budget => ({ ...budget, plain: true, gc: false })
  return {
    ...config,
    cachedBudget: plain(config.cachedBudget),
    coldBudget: plain(config.coldBudget),
    coalescingBudget: plain(config.coalescingBudget),
    uncoalescedBudget: plain(config.uncoalescedBudget)
  }
}

export const quickConfig: Config = {
  rounds: { cached: 2, cold: 2, coalescing: 2 },
  batch: 100,
  cachedBudget: { minSamples: 3, minTimeMs: 10 },
  coldBudget: { minSamples: 5, minTimeMs: 10 },
  coldWarmup: 5,
  concurrent: 10_000,
  concurrentUncoalesced: 500,
  maxInFlight: 100,
  coalescingBudget: { minSamples: 1, minTimeMs: 0, plain: true },
  uncoalescedBudget: { minSamples: 1, minTimeMs: 0, plain: true },
  uncoalescedRounds: 1,
  memory: { tokens: 5_000, capacity: 1_000, inserted: 5_000 }
}
