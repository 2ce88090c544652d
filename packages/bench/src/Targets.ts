/**
 * The targets of issue 14, each a ratio between two rows measured in the same rounds: computed from the rows'
 * per-round medians (never typed in), with the spread over the rounds and whether the median meets the target.
 */
import { fixed, formatSpread, ratio, type Spread } from "./Rounds.js"
import type { Section } from "./Section.js"

export interface Target {
  /** the wording of the path */
  readonly path: string
  /** the row measured, and the row it is divided by (same section, same rounds) */
  readonly subject: string
  readonly baseline: string
  /** met when the median ratio is at most this */
  readonly limit: number
}

export interface TargetResult extends Target {
  /** `undefined` when the run did not measure both rows (a profile run of another section) */
  readonly ratio: Spread | undefined
  readonly met: boolean
}

export const targets: ReadonlyArray<Target> = [
  {
    path: "cached `ClientCredentials.acquire({ scope })` (fresh options) vs `Effect.sync(map.get)`",
    subject: "cached.acquire",
    baseline: "cached.floor",
    limit: 3
  },
  { path: "cached `source().get` vs the floor", subject: "cached.source", baseline: "cached.floor", limit: 2.5 },
  {
    path: "cached `TokenCache.getOrAcquire` vs the floor",
    subject: "cached.cache",
    baseline: "cached.floor",
    limit: 2.5
  },
  {
    path: "cold, library vs the same POST through `HttpClient` alone, undici",
    subject: "cold.library-undici",
    baseline: "cold.platform-undici",
    limit: 1.25
  },
  {
    path: "cold, library vs the same POST through `HttpClient` alone, `FetchHttpClient`",
    subject: "cold.library-fetch",
    baseline: "cold.platform-fetch",
    limit: 1.15
  },
  {
    path: "cold, library vs the streamed reference, undici",
    subject: "cold.library-undici",
    baseline: "cold.streamed-undici",
    limit: 1.2
  },
  {
    path: "cold, library vs the streamed reference, `FetchHttpClient`",
    subject: "cold.library-fetch",
    baseline: "cold.streamed-fetch",
    limit: 1.2
  },
  {
    path: "10,000 concurrent cold callers, one key, vs the Effect floor",
    subject: "coalescing.library.1",
    baseline: "coalescing.effect-memo.1",
    limit: 1.1
  },
  {
    path: "cached `TokenExchange.exchange` (same subject) vs the floor",
    subject: "cached.exchange",
    baseline: "cached.floor",
    limit: 10
  },
  {
    path: "`ManagedToken.get` on a fresh session (memory store) vs the floor",
    subject: "cached.managed",
    baseline: "cached.floor",
    limit: 4
  }
]

export const evaluate = (sections: ReadonlyArray<Section>): ReadonlyArray<TargetResult> =>
  targets.map((target) => {
    const section = sections.find((s) => s.measurements?.p50.has(target.subject) === true)
    const spread = section?.measurements === undefined
      ? undefined
      : ratio(section.measurements, target.subject, target.baseline)
    return { ...target, ratio: spread, met: spread !== undefined && spread.median <= target.limit }
  })

export const targetsTable = (results: ReadonlyArray<TargetResult>): string =>
  [
    "| path | ratio (subject / baseline rows) | target | median ratio (min–max over rounds) | met |",
    "| --- | --- | ---: | ---: | :---: |",
    ...results.map((r) =>
      `| ${r.path} | \`${r.subject}\` / \`${r.baseline}\` | ≤ ${fixed(r.limit, 2)}× | ${formatSpread(r.ratio)} | ` +
      `${r.ratio === undefined ? "not measured" : r.met ? "✓" : "✗"} |`
    )
  ].join("\n")
