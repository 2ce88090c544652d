/**
 * `pnpm bench` still runs end to end: the quick configuration, every section and row, the targets computed from the
 * rows, every ratio with its spread, and the request counts that do not depend on timing. No time is asserted
 * (performance belongs to the bench itself). Profile mode writes a readable `.cpuprofile`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { run } from "../src/Bench.js"
import { profile } from "../src/Profile.js"

/** `2.41× (2.30–2.55)`: a median ratio with its min–max over the rounds */
const withSpread = /^\d[\d,]*\.\d\d× \(\d[\d,]*\.\d\d–\d[\d,]*\.\d\d\)$/

describe("bench (quick configuration)", () => {
  it.live("runs every section, prints every row, and counts what reached the token endpoint", () =>
    Effect.gen(function*() {
      const results = yield* Effect.promise(() => run({ quick: true }))

      expect(results.mode).toBe("quick")
      expect(results.sections.map((section) => section.title)).toEqual([
        "1. Cached acquire",
        "2. Cold acquire",
        "3. Coalescing",
        "4. Memory",
        "5. DPoP proofs",
        "6. Web sessions",
        "7. API: validating a JWT access token"
      ])
      expect(results.sections.flatMap((section) => section.rows.map((row) => row.id))).toEqual([
        "cached.floor",
        "cached.cache",
        "cached.acquire",
        "cached.source",
        "cached.exchange",
        "cached.managed",
        "cold.fetch",
        "cold.platform-fetch",
        "cold.streamed-fetch",
        "cold.library-fetch",
        "cold.platform-undici",
        "cold.streamed-undici",
        "cold.library-undici",
        "cold.openid-client",
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
        "memory.bounded",
        "dpop.signjwt",
        "dpop.proof",
        "web.bare",
        "web.server",
        "web.cookie",
        "api.jose",
        "api.verify",
        "api.authenticate"
      ])

      // the printed tables: the targets first, a header per section and a line per row
      const md = results.markdown
      expect(md.indexOf("## Targets (issue 14)")).toBeGreaterThan(0)
      expect(md.indexOf("## Targets (issue 14)")).toBeLessThan(md.indexOf("### 1. Cached acquire"))
      for (
        const heading of [
          "### 1. Cached acquire",
          "### 2. Cold acquire",
          "### 3. Coalescing",
          "### 4. Memory",
          "### 5. DPoP proofs",
          "### 6. Web sessions",
          "### 7. API: validating a JWT access token"
        ]
      ) expect(md).toContain(heading)
      for (
        const row of [
          "| floor: `Effect.sync(() => map.get(key))` | ",
          "| `TokenCache.getOrAcquire(key)`, key computed once | ",
          "| `ClientCredentials.acquire({ scope })`, fresh options and scope array per call | ",
          "| `ClientCredentials.source({ scope }).get`, source built once | ",
          "| `TokenExchange.exchange({ subjectToken, audience })`, same 1 KB JWT, fresh `Redacted.make` per call | ",
          "| `ManagedToken.get(sessionId)`, fresh session, `TokenStore.layerMemory()` | ",
          "| hand-written `fetch` POST (baseline) | ",
          "| `HttpClient` alone, `FetchHttpClient.layer`, `response.json` | ",
          "| streamed reference: `HttpClient` alone, `FetchHttpClient.layer`, capped streamed read | ",
          "| library, `FetchHttpClient.layer` | ",
          "| `HttpClient` alone, `NodeHttpClient.layerUndici`, `response.json` | ",
          "| streamed reference: `HttpClient` alone, `NodeHttpClient.layerUndici`, capped streamed read | ",
          "| library, `NodeHttpClient.layerUndici` | ",
          "| openid-client `clientCredentialsGrant` | ",
          "| library (`TokenCache.layerMemory`, fresh per run) | 1 | 10,000 | 1 |",
          "| library (`TokenCache.layerMemory`, fresh per run) | 100 | 10,000 | 100 |",
          "| promise-memo `Map<key, Promise>` over `fetch` (fresh per run) | 1 | 10,000 | 1 |",
          "| promise-memo `Map<key, Promise>` over `fetch` (fresh per run) | 100 | 10,000 | 100 |",
          "| Effect floor: `Map<key, Effect.cached(fetch)>`, one fiber per acquire (fresh per run) | 1 | 10,000 | 1 |",
          "| Effect floor: `Map<key, Effect.cached(fetch)>`, one fiber per acquire (fresh per run) | 100 | 10,000 | 100 |",
          "| openid-client `clientCredentialsGrant`, `Promise.all`, ≤ 100 in flight | 1 | 500 | 500 |",
          "| openid-client `clientCredentialsGrant`, `Promise.all`, ≤ 100 in flight | 100 | 500 | 500 |",
          "| `Map<string, TokenSet>` (baseline) | ",
          "| `TokenCache.layerMemory` | ",
          "| capacity 1,000, 5,000 inserted: ",
          "| jose `SignJWT` alone (the same claims, `ath` computed once; baseline) | ",
          "| `DPoP.proof({ method, url, accessToken })`: `htu`, `ath`, the origin's nonce, `iat` from the `Clock` | ",
          "| the handler alone (no middleware, no cookie) | ",
          "| `WebAuth.middleware`, sessions on the server (`TokenStore.layerMemory()`), live session | ",
          "| `WebAuth.middleware`, cookie-only (`RotationStore.layerMemory()`), live session | ",
          "| `jose` `jwtVerify` alone, local key set (baseline) | ",
          "| `Jwks.verify`, cached key set | ",
          "| `ApiAuth.authenticate(request)`: the middleware's whole check | "
        ]
      ) expect(md).toContain(row)
      expect(md).toContain(`Node ${process.version}`)
      expect(md).toMatch(/- machine: .+, \d+ cores, /)
      expect(md).toMatch(/- date: \d{4}-\d\d-\d\dT/)
      expect(md).toMatch(/- load average \(1\/5\/15 min\) at start [\d.]+ \/ [\d.]+ \/ [\d.]+, at end /)
      expect(md).toMatch(/commit (\w+|unknown)/)

      // every ratio of a timed section against another row carries its spread; a baseline reads 1.00×
      const cell = (id: string, column: number) =>
        results.sections.flatMap((s) => s.rows).find((row) => row.id === id)?.cells[column]
      expect(cell("cached.floor", 2)).toBe("1.00×")
      for (const id of ["cached.cache", "cached.acquire", "cached.source", "cached.exchange", "cached.managed"]) {
        expect(cell(id, 2)).toMatch(withSpread)
      }
      expect(cell("cold.fetch", 2)).toBe("1.00×")
      for (const client of ["fetch", "undici"]) {
        // vs raw fetch, vs HttpClient alone, vs the streamed reference: each against a row of the same client
        expect(cell(`cold.library-${client}`, 2)).toMatch(withSpread)
        expect(cell(`cold.library-${client}`, 3)).toMatch(withSpread)
        expect(cell(`cold.library-${client}`, 4)).toMatch(withSpread)
        expect(cell(`cold.streamed-${client}`, 3)).toMatch(withSpread)
        expect(cell(`cold.streamed-${client}`, 4)).toBe("–")
        expect(cell(`cold.platform-${client}`, 3)).toBe("–")
      }
      // coalescing: vs promise-memo (column 6) and vs the Effect floor (column 7), the library's baseline
      expect(cell("coalescing.library.1", 6)).toMatch(withSpread)
      expect(cell("coalescing.library.1", 7)).toMatch(withSpread)
      expect(cell("coalescing.library.100", 7)).toMatch(withSpread)
      expect(cell("coalescing.effect-memo.1", 7)).toBe("1.00×")
      // DPoP: the library's proof against jose's SignJWT alone, same rounds
      expect(cell("dpop.signjwt", 2)).toBe("1.00×")
      expect(cell("dpop.proof", 2)).toMatch(withSpread)
      // web: each session row against the bare handler of the same rounds
      expect(cell("web.bare", 2)).toBe("1.00×")
      expect(cell("web.server", 2)).toMatch(withSpread)
      expect(cell("web.cookie", 2)).toMatch(withSpread)
      // API: a JWT access token validated per request against jose's jwtVerify alone, same rounds
      expect(cell("api.jose", 2)).toBe("1.00×")
      expect(cell("api.verify", 2)).toMatch(withSpread)
      expect(cell("api.authenticate", 2)).toMatch(withSpread)

      // the targets: every one of the issue's, computed from the rows (never typed), each with its spread
      const expected: ReadonlyArray<readonly [string, string, number, number]> = [
        ["cached.acquire", "cached.floor", 3, 2],
        ["cached.source", "cached.floor", 2.5, 2],
        ["cached.cache", "cached.floor", 2.5, 2],
        ["cold.library-undici", "cold.platform-undici", 1.25, 3],
        ["cold.library-fetch", "cold.platform-fetch", 1.15, 3],
        ["cold.library-undici", "cold.streamed-undici", 1.2, 4],
        ["cold.library-fetch", "cold.streamed-fetch", 1.2, 4],
        ["coalescing.library.1", "coalescing.effect-memo.1", 1.1, 7],
        ["cached.exchange", "cached.floor", 10, 2],
        ["cached.managed", "cached.floor", 4, 2]
      ]
      expect(results.targets.map((t) => [t.subject, t.baseline, t.limit])).toEqual(expected.map(([s, b, l]) => [s, b, l]))
      for (const [subject, baseline, , column] of expected) {
        const line = md.split("\n").find((l) => l.includes(`\`${subject}\` / \`${baseline}\``))
        expect(line).toMatch(/\| \d[\d,]*\.\d\d× \(\d[\d,]*\.\d\d–\d[\d,]*\.\d\d\) \| [✓✗] \|$/)
        // the target reads the same ratio as the section's table: computed from those rows of the same rounds
        const shown = cell(subject, column)
        expect(shown).toMatch(withSpread)
        expect(line).toContain(`| ${shown} |`)
      }

      // the cached rows' endpoint traffic: one exchange (the warm-up: every timed exchange was a cache hit), no
      // refresh of the fresh session, one client-credentials request (the warm-up)
      expect(results.cachedCounts).toEqual({ clientCredentialsRequests: 1, exchangeRequests: 1, refreshRequests: 0 })

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

      // web: every access token stayed fresh – no request reached the endpoint in the section
      expect(results.webCounts).toEqual({ refreshRequests: 0, requests: 0 })

      // memory: the bound holds
      const memory = results.memory
      expect(memory).toMatchObject({ tokens: 5_000, capacity: 1_000, inserted: 5_000 })
      expect(memory?.liveAfterInserts).toBeGreaterThan(0)
      expect(memory?.liveAfterInserts).toBeLessThanOrEqual(1_000)
      expect(memory?.mapBytes).toBeGreaterThan(5_000 * 800)
      expect(memory?.cacheBytes).toBeGreaterThan(5_000 * 800)
    }), { timeout: 180_000 })

  it.live("profile mode: one row of a section under the CPU profiler, a .cpuprofile and its top functions", () =>
    Effect.gen(function*() {
      const directory = mkdtempSync(path.join(tmpdir(), "bench-profile-"))
      try {
        const result = yield* Effect.promise(() => profile({ target: "cached.exchange", quick: true, directory }))
        expect(path.dirname(result.path)).toBe(directory)
        expect(path.basename(result.path)).toMatch(/^cached\.exchange-\d{8}-\d{6}\.cpuprofile$/)
        const written: unknown = JSON.parse(readFileSync(result.path, "utf8"))
        expect(written).toMatchObject({ nodes: expect.any(Array), samples: expect.any(Array) })
        expect(result.top.length).toBeGreaterThan(0)
        expect(result.markdown).toContain("| self ms | self % | function | where |")
        // only the row asked for, with its section's baseline
        expect(result.markdown).toContain("| `TokenExchange.exchange({ subjectToken, audience })`")
        expect(result.markdown).toContain("| floor: `Effect.sync(() => map.get(key))` |")
        expect(result.markdown).not.toContain("| `ManagedToken.get(sessionId)`")
        expect(result.markdown).not.toContain("### 2. Cold acquire")
      } finally {
        rmSync(directory, { recursive: true, force: true })
      }
    }), { timeout: 60_000 })

  it.live("profile mode refuses an unknown section", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.tryPromise(() => profile({ target: "warm", quick: true })))
      expect(String(error.cause)).toContain('unknown section "warm"; one of cached, cold, coalescing, memory, dpop, web, api')
    }))
})
