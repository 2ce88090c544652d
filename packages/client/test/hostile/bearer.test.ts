/**
 * Issue 11, item 7 – `BearerClient` reads at most 64 KiB of a 401 body before it replays: the rest is never read and
 * the 401's connection is let go. A real resource server answers the first token with `401 invalid_token` and an
 * endless body (or one declaring 200 MiB), and the renewed token with 200: the replay happens, the process's memory
 * grows by less than 16 MiB, and the 401's socket is closed at the server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Layer } from "effect"
import * as BearerClient from "../../src/BearerClient.js"
import type { TokenSource } from "../../src/TokenSource.js"
import { clients, httpServer, mib, peakGrowth, writeBody } from "../support/hostile.js"
import { accessTokenOf, makeTokenSet } from "../support/tokens.js"

const MiB = 1024 * 1024

/** no replay within 10 s: the 401's body is being read */
class StillReading extends Data.TaggedError("StillReading") {}

/** a source whose first token is renewed once it is invalidated */
const renewingSource = (): TokenSource<never> => {
  let current = "first-access-token"
  return {
    get: Effect.sync(() => makeTokenSet({ access: current, grant: "client_credentials" })),
    invalidate: (token) =>
      Effect.sync(() => {
        if (accessTokenOf(token) === "first-access-token") current = "second-access-token"
      })
  }
}

const bodies = [
  ["an endless chunked body", undefined],
  ["a body declaring 200 MiB", 200 * MiB]
] as const

describe.each(clients)("$name: a 401 with a huge body before the replay", (client) => {
  for (const [title, declared] of bodies) {
    it.scopedLive(`${title}: replayed, memory bounded, the 401's socket closed`, () =>
      Effect.gen(function*() {
        const server = yield* httpServer((request, response) => {
          if (request.headers.authorization === "Bearer second-access-token") {
            return response.writeHead(200, { "content-type": "text/plain", "content-length": 6 }).end("orders")
          }
          response.writeHead(401, {
            "www-authenticate": "Bearer error=\"invalid_token\"",
            "content-type": "text/plain",
            ...(declared !== undefined ? { "content-length": declared } : {})
          })
          writeBody(response, declared ?? Number.POSITIVE_INFINITY)
        })
        // the platform client lives as long as the test (undici's dispatcher is closed with its layer's scope)
        const platform = yield* Layer.build(client.layer)
        const api = yield* BearerClient.make(renewingSource(), { origins: [server.url] }).pipe(Effect.provide(platform))
        const { growthBytes, value: text } = yield* peakGrowth(
          api.get(`${server.url}/orders`).pipe(
            Effect.flatMap((response) =>
              response.status === 200 ? response.text : Effect.succeed(`HTTP ${response.status}`)
            ),
            // reading the whole 401 body would never end
            Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new StillReading() })
          )
        )
        yield* Effect.sleep("500 millis")
        const rejected = server.received[0]
        console.log(
          `bearer ${client.name} 401 with ${title}: replay answered "${text}", peak growth ${mib(growthBytes)}, ` +
            `401 socket ${rejected?.socket.destroyed === true ? "closed" : "open"}, ${server.openSockets()} open`
        )
        assert.strictEqual(text, "orders")
        assert.deepStrictEqual(server.received.map((r) => r.headers.authorization), [
          "Bearer first-access-token",
          "Bearer second-access-token"
        ])
        assert.isBelow(growthBytes, 16 * MiB)
        assert.isTrue(rejected?.socket.destroyed)
        assert.isAtMost(server.openSockets(), 1)
      }))
  }
})
