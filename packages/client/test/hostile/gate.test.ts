/**
 * Issue 11, item 8 – a backoff gate per token endpoint (and client). A `Retry-After` beyond what one request waits
 * (10 s) ends that request at once, and the gate remembers it: 20 callers of `ClientCredentials.acquire` hammering a
 * real server for 5 s send it at most 2 requests (retries included) against `429 Retry-After: 60`, and at most 4
 * against a bare 503 (no `Retry-After`: 1 s doubling, jittered). Callers without a token fail at once with
 * `TransportError` `RateLimited`, whose `retryAfterMillis` says when to try again; callers with a usable token keep
 * getting it while its background refresh is refused by the gate. Both clients' cases run concurrently (each against
 * its own server: the counts are per server).
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Redacted } from "effect"
import * as ClientAuth from "../../src/ClientAuth.js"
import * as ClientCredentials from "../../src/ClientCredentials.js"
import type { TokenRequestError } from "../../src/OAuthError.js"
import * as TokenCache from "../../src/TokenCache.js"
import type { ClientCase, HostileServer } from "../support/hostile.js"
import { clients, endpointLayer, httpServer, sendJson, tokenResponse } from "../support/hostile.js"
import { accessTokenOf } from "../support/tokens.js"

const callers = 20
const auth = ClientAuth.clientSecretBasic("gate-client", Redacted.make("gate-client-secret"))

const getService = (client: ClientCase, server: HostileServer, cache: Layer.Layer<TokenCache.TokenCache>) =>
  Effect.flatMap(
    Layer.build(
      ClientCredentials.layer({ auth, scope: ["api:read"] }).pipe(
        Layer.provide(cache),
        Layer.provide(endpointLayer(client, server))
      )
    ),
    (context) => Effect.provide(ClientCredentials.ClientCredentials, context)
  )

interface Tally {
  calls: number
  tokens: Array<string>
  errors: Array<TokenRequestError>
  /** the longest a call that ended in RateLimited took, ms */
  slowestRateLimited: number
}

/**
 * `callers` fibers calling `acquire` for `millis`, 10 ms apart each; with `untilRefused`, a caller whose calls all
 * waited past the end (in a request's retries, on a loaded machine) calls once more, to meet the gate.
 */
const hammer = (cc: ClientCredentials.ClientCredentials.Service, millis: number, untilRefused: boolean) =>
  Effect.gen(function*() {
    const tally: Tally = { calls: 0, tokens: [], errors: [], slowestRateLimited: 0 }
    const until = Date.now() + millis
    const caller = Effect.gen(function*() {
      let refused = false
      while (Date.now() < until || (untilRefused && !refused)) {
        tally.calls++
        const started = Date.now()
        const exit = yield* Effect.exit(cc.acquire())
        if (Exit.isSuccess(exit)) tally.tokens.push(accessTokenOf(exit.value))
        else {
          Option.map(Cause.failureOption(exit.cause), (error) => {
            tally.errors.push(error)
            if (error._tag === "TransportError" && error.reason === "RateLimited") {
              refused = true
              tally.slowestRateLimited = Math.max(tally.slowestRateLimited, Date.now() - started)
            }
          })
        }
        yield* Effect.sleep("10 millis")
      }
    })
    yield* Effect.all(Array.from({ length: callers }, () => caller), { concurrency: "unbounded", discard: true })
    return tally
  })

const reasons = (errors: ReadonlyArray<TokenRequestError>): string => {
  const counts = new Map<string, number>()
  for (const error of errors) {
    const key = error._tag === "TransportError" ? `${error.reason}${error.status !== undefined ? ` ${error.status}` : ""}` : error._tag
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].map(([key, n]) => `${key} ×${n}`).join(", ")
}

const rateLimited = (errors: ReadonlyArray<TokenRequestError>) =>
  errors.flatMap((error) => error._tag === "TransportError" && error.reason === "RateLimited" ? [error] : [])

describe.concurrent.each(clients)("$name: 20 callers against a rate-limiting token endpoint", (client) => {
  it.scopedLive("429 Retry-After: 60 for 5 s: at most 2 requests; the others fail at once as RateLimited", () =>
    Effect.gen(function*() {
      const server = yield* httpServer((_request, response) =>
        sendJson(response, 429, { error: "slow_down" }, { "retry-after": "60" })
      )
      const cc = yield* getService(client, server, TokenCache.layerMemory())
      const tally = yield* hammer(cc, 5_000, true)
      console.log(
        `gate ${client.name} 429 Retry-After 60, foreground: ${server.requests()} requests for ${tally.calls} calls (${reasons(tally.errors)}; RateLimited within ${tally.slowestRateLimited} ms)`
      )
      assert.isAtMost(server.requests(), 2)
      assert.strictEqual(tally.tokens.length, 0)
      assert.strictEqual(tally.errors.length, tally.calls)
      const limited = rateLimited(tally.errors)
      assert.isAtLeast(limited.length, callers)
      // at once: no waiting for the gate, which stays closed for 60 s (margin for a loaded machine)
      assert.isBelow(tally.slowestRateLimited, 2_500)
      for (const error of limited) {
        assert.isFalse(error.maybeSent)
        assert.isDefined(error.retryAfterMillis)
        assert.isAbove(error.retryAfterMillis ?? 0, 50_000)
        assert.isAtMost(error.retryAfterMillis ?? 0, 60_000)
      }
    }), 30_000)

  it.scopedLive("a bare 503 for 5 s: at most 4 requests", () =>
    Effect.gen(function*() {
      const server = yield* httpServer((_request, response) =>
        response.writeHead(503, { "content-type": "text/html" }).end("<html>down for maintenance</html>")
      )
      const cc = yield* getService(client, server, TokenCache.layerMemory())
      const tally = yield* hammer(cc, 5_000, true)
      console.log(
        `gate ${client.name} bare 503, foreground: ${server.requests()} requests for ${tally.calls} calls (${reasons(tally.errors)}; RateLimited within ${tally.slowestRateLimited} ms)`
      )
      assert.isAtMost(server.requests(), 4)
      assert.strictEqual(tally.tokens.length, 0)
      const limited = rateLimited(tally.errors)
      assert.isAbove(limited.length, 0)
      assert.isBelow(tally.slowestRateLimited, 2_500)
      for (const error of limited) assert.isAbove(error.retryAfterMillis ?? 0, 0)
    }), 30_000)

  it.scopedLive("a usable cached token keeps being served while its background refresh meets 429 Retry-After: 60", () =>
    Effect.gen(function*() {
      const server = yield* httpServer((_request, response) =>
        server.requests() === 1
          ? sendJson(response, 200, tokenResponse("the-usable-token", 3600))
          : sendJson(response, 429, { error: "slow_down" }, { "retry-after": "60" })
      )
      // refresh point at issue: the token is usable but never fresh, every call starts a background refresh
      const cc = yield* getService(
        client,
        server,
        TokenCache.layerMemory({ freshness: { refreshRatio: 0, jitter: 0 } })
      )
      assert.strictEqual(accessTokenOf(yield* cc.acquire()), "the-usable-token")
      const tally = yield* hammer(cc, 3_000, false)
      console.log(
        `gate ${client.name} 429 Retry-After 60, background: ${server.requests() - 1} requests beyond the first ` +
          `for ${tally.calls} calls, ${tally.tokens.length} served`
      )
      assert.isAtMost(server.requests() - 1, 2)
      assert.strictEqual(tally.errors.length, 0)
      assert.strictEqual(tally.tokens.length, tally.calls)
      assert.isTrue(tally.tokens.every((token) => token === "the-usable-token"))
    }), 30_000)
})
