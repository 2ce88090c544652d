/**
 * The benchmark as a module, for the test that runs it in its quick configuration.
 */
export { fullConfig, quickConfig, run } from "./Bench.js"
export type { CachedCounts, CoalescingResult, Config, Results, RunOptions, Section } from "./Bench.js"
export { profile } from "./Profile.js"
export { targets } from "./Targets.js"
