/**
 * `pnpm bench` still runs end to end: the quick configuration, every section and row, and the request counts that do
 * not depend on timing. No time is asserted (performance belongs to the bench itself).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { run } from "../src/Bench.js"

describe("bench (quick configuration)", () => {
  it.live("runs every section, prints every row, and counts what reached the token endpoint", () =>
    Effect.gen(function*() {
      const results = yield* Effect.promise(() => run({ quick: true }))

      expect(results.mode).toBe("quick")
      expect(results.sections.map((section) => section.title)).toEqual([
        "1. Cached acquire",
        "2. Cold acquire",
        "3. Coalescing",
        "4. Memory"
      ])
      expect(results.sections.flatMap((section) => section.rows.map((row) => row.id))).toEqual([
        "cached.floor",
        "cached.cache",
        "cached.acquire",
        "cached.source",
        "cold.fetch",
        "cold.library-fetch",
        "cold.library-undici",
        "cold.openid-client",
        "cold.platform-fetch",
        "cold.platform-undici",
        "coalescing.library.1",
        "coalescing.promise-memo.1",
        "coalescing.effect-memo.1",
        "coalescing.openid-client.1",
        "coalescing.library.100",
        "coalescing.promise-memo.100",
        "coalescing.effect-memo.100",
        "coalescing.openid-client.100",
        "memory.map",
        "memory.cache",
        "memory.bounded"
      ])

      // the printed table: a header per section and a line per row
      const md = results.markdown
      for (
        const heading of ["### 1. Cached acquire", "### 2. Cold acquire", "### 3. Coalescing", "### 4. Memory"]
      ) expect(md).toContain(heading)
      for (
        const row of [
          "| floor: `Effect.sync(() => map.get(key))` |",
          "| `TokenCache.getOrAcquire(key)`, key computed once |",
          "| `ClientCredentials.acquire({ scope })` |",
          "| `ClientCredentials.source({ scope }).get` |",
          "| hand-written `fetch` POST (baseline) |",
          "| library, `FetchHttpClient.layer` |",
          "| library, `NodeHttpClient.layerUndici` |",
          "| openid-client `clientCredentialsGrant` |",
          "| for reference: the same POST through `HttpClient` alone, `FetchHttpClient.layer` |",
          "| for reference: the same POST through `HttpClient` alone, `NodeHttpClient.layerUndici` |",
          "| library (`TokenCache.layerMemory`, fresh per run) | 1 | 10,000 | 1 |",
          "| library (`TokenCache.layerMemory`, fresh per run) | 100 | 10,000 | 100 |",
          "| promise-memo `Map<key, Promise>` over `fetch` (fresh per run) | 1 | 10,000 | 1 |",
          "| promise-memo `Map<key, Promise>` over `fetch` (fresh per run) | 100 | 10,000 | 100 |",
          "| Effect floor: `Map<key, Effect.cached(fetch)>`, one fiber per acquire (fresh per run) | 1 | 10,000 | 1 |",
          "| Effect floor: `Map<key, Effect.cached(fetch)>`, one fiber per acquire (fresh per run) | 100 | 10,000 | 100 |",
          "| openid-client `clientCredentialsGrant`, `Promise.all`, ≤ 100 in flight | 1 | 500 | 500 |",
          "| openid-client `clientCredentialsGrant`, `Promise.all`, ≤ 100 in flight | 100 | 500 | 500 |",
          "| `Map<string, TokenSet>` (baseline) |",
          "| `TokenCache.layerMemory` |",
          "| capacity 1,000, 5,000 inserted: "
        ]
      ) expect(md).toContain(row)
      expect(md).toContain(`Node ${process.version}`)
      expect(md).toMatch(/- machine: .+, \d+ cores, /)
      expect(md).toMatch(/- date: \d{4}-\d\d-\d\dT/)

      // coalescing: one request per key however many callers; none without a cache
      const coalesced = (subject: string, keys: number) =>
        results.coalescing.find((r) => r.subject === subject && r.keys === keys)
      expect(coalesced("library", 1)).toMatchObject({ acquires: 10_000, requests: 1, distinctKeys: 1 })
      expect(coalesced("library", 100)).toMatchObject({ acquires: 10_000, requests: 100, distinctKeys: 100 })
      expect(coalesced("promise-memo", 1)).toMatchObject({ acquires: 10_000, requests: 1, distinctKeys: 1 })
      expect(coalesced("promise-memo", 100)).toMatchObject({ acquires: 10_000, requests: 100, distinctKeys: 100 })
      expect(coalesced("effect-memo", 1)).toMatchObject({ acquires: 10_000, requests: 1, distinctKeys: 1 })
      expect(coalesced("effect-memo", 100)).toMatchObject({ acquires: 10_000, requests: 100, distinctKeys: 100 })
      expect(coalesced("openid-client", 1)).toMatchObject({ acquires: 500, requests: 500, distinctKeys: 1 })
      expect(coalesced("openid-client", 100)).toMatchObject({ acquires: 500, requests: 500, distinctKeys: 100 })

      // memory: the bound holds
      expect(results.memory).toMatchObject({ tokens: 5_000, capacity: 1_000, inserted: 5_000 })
      expect(results.memory.liveAfterInserts).toBeGreaterThan(0)
      expect(results.memory.liveAfterInserts).toBeLessThanOrEqual(1_000)
      expect(results.memory.mapBytes).toBeGreaterThan(5_000 * 800)
      expect(results.memory.cacheBytes).toBeGreaterThan(5_000 * 800)
    }), { timeout: 180_000 })
})
