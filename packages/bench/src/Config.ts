/**
 * How much each section measures. The full configuration is chosen so that two full runs agree within 10 % on every
 * targeted ratio on a shared 2-core machine while the run stays within about four minutes (see the README, "Rounds
 * and spreads"); the quick one only proves that the bench runs end to end (seconds, numbers meaningless).
 */
import type { Plan } from "./Rounds.js"

export interface Config {
  readonly cached: Plan & {
    /** calls per sample (one `runPromise` looping over them) */
    readonly batch: number
    /** unmeasured samples per subject before the rounds (JIT) */
    readonly warmup: number
  }
  readonly cold: Plan & {
    /** unmeasured requests per subject before the rounds (JIT, connection pools) */
    readonly warmup: number
  }
  readonly coalescing: Plan & {
    /** concurrent acquisitions per run */
    readonly concurrent: number
    /** the same for openid-client, which sends one request per acquisition */
    readonly concurrentUncoalesced: number
    /** openid-client's requests in flight at once (10,000 sockets at once run out of file descriptors) */
    readonly maxInFlight: number
    /** the rounds the 100-key scenario takes part in (spread evenly; not a target) */
    readonly spreadRounds: number
    /** the rounds openid-client takes part in (spread evenly; its seconds-long runs are not a target) */
    readonly uncoalescedRounds: number
  }
  readonly dpop: Plan & {
    /** proofs per sample (one loop) */
    readonly batch: number
    /** unmeasured samples per subject before the rounds (JIT) */
    readonly warmup: number
  }
  readonly web: Plan & {
    /** requests per sample, one after the other */
    readonly batch: number
    /** unmeasured samples per subject before the rounds (JIT) */
    readonly warmup: number
  }
  readonly api: Plan & {
    /** validations per sample */
    readonly batch: number
    /** unmeasured samples per subject before the rounds (JIT) */
    readonly warmup: number
  }
  /** a full GC before each round (off in profile mode: forced collections would fill the profile) */
  readonly gc: boolean
  readonly memory: { readonly tokens: number; readonly capacity: number; readonly inserted: number }
}

export const fullConfig: Config = {
  cached: { rounds: 30, passes: 100, batch: 1_000, warmup: 100 },
  cold: { rounds: 30, passes: 60, warmup: 300 },
  coalescing: {
    rounds: 30,
    passes: 1,
    cpu: true,
    gcEachSample: true,
    concurrent: 10_000,
    concurrentUncoalesced: 10_000,
    maxInFlight: 1_000,
    spreadRounds: 10,
    uncoalescedRounds: 1
  },
  dpop: { rounds: 20, passes: 20, batch: 100, warmup: 10 },
  web: { rounds: 30, passes: 5, batch: 50, warmup: 20 },
  api: { rounds: 20, passes: 30, batch: 100, warmup: 20 },
  gc: true,
  memory: { tokens: 100_000, capacity: 10_000, inserted: 100_000 }
}

export const quickConfig: Config = {
  cached: { rounds: 2, passes: 5, batch: 100, warmup: 2 },
  cold: { rounds: 2, passes: 5, warmup: 5 },
  coalescing: {
    rounds: 2,
    passes: 1,
    cpu: true,
    gcEachSample: true,
    concurrent: 10_000,
    concurrentUncoalesced: 500,
    maxInFlight: 100,
    spreadRounds: 2,
    uncoalescedRounds: 1
  },
  dpop: { rounds: 2, passes: 3, batch: 10, warmup: 1 },
  web: { rounds: 2, passes: 3, batch: 10, warmup: 2 },
  api: { rounds: 2, passes: 3, batch: 10, warmup: 1 },
  gc: true,
  memory: { tokens: 5_000, capacity: 1_000, inserted: 5_000 }
}

/** The same configuration for profile mode: no forced full collections (they would fill the profile). */
export const forProfiling = (config: Config): Config => ({ ...config, gc: false })
