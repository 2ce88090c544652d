/**
 * Issue 11, item 4 – an overall deadline. Without one, a `client_credentials` request (three attempts) against a server
 * that never answers takes 3 × 30 s of attempt timeouts, plus up to 2 × 10 s of `Retry-After`: 90–110 s. The
 * `deadline` (default 60 s) bounds the whole request, retries and waits included, and ends it as `TransportError`
 * `Timeout`. On the `TestClock` with a scripted client that never answers, and once against a real server that
 * accepts the request and never answers, under both clients: the request ends at its deadline and its socket is let go.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import * as AuthorizationServer from "../../src/AuthorizationServer.js"
import * as ClientAuth from "../../src/ClientAuth.js"
import * as TokenEndpoint from "../../src/TokenEndpoint.js"
import { expectFailure } from "../support/assertions.js"
import { json, mockHttp } from "../support/http.js"
import { clients, endpointLayer, httpServer, requestToken } from "../support/hostile.js"
import { awaitSleep } from "../support/waiting.js"

const auth = ClientAuth.clientSecretBasic("deadline-client", Redacted.make("deadline-client-secret"))
const clientCredentials = requestToken({ grantType: "client_credentials", auth })

const scripted = (mock: ReturnType<typeof mockHttp>, options?: TokenEndpoint.Options) =>
  TokenEndpoint.layer(options).pipe(
    Layer.provide(AuthorizationServer.layerStatic({ tokenEndpoint: "https://as.example/token" })),
    Layer.provide(mock.layer)
  )

/** no deadline: the request was still waiting after 5 s */
class StillWaiting extends Data.TaggedError("StillWaiting") {}

const isDone = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(Fiber.poll(fiber), Option.isSome)

/** the fiber's outcome, which must come within 2 s of real time (the TestClock is at the deadline) */
const joinAtDeadline = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.raceFirst(
    Fiber.join(fiber),
    Effect.flatMap(
      Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2_000))),
      () => Effect.die(new Error("the request is still running at its deadline"))
    )
  )

describe("the deadline, on the TestClock", () => {
  it.effect("a server that never answers: three 30 s attempts would take 90 s; the 60 s default deadline ends it", () => {
    const mock = mockHttp(["hang"])
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(clientCredentials)
      yield* awaitSleep()
      yield* TestClock.adjust("59 seconds")
      // past the first attempt's timeout, into the second attempt
      assert.strictEqual(mock.requests.length, 2)
      assert.isFalse(yield* isDone(fiber))
      yield* TestClock.adjust("1 second")
      const error = yield* expectFailure(joinAtDeadline(fiber), "TransportError")
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.maybeSent, true)
      assert.include(error.description, "deadline of 1m")
      assert.strictEqual(mock.requests.length, 2)
    }).pipe(Effect.provide(scripted(mock)))
  })

  it.effect("429 Retry-After: 10, then no answer: 10 s + 30 s + 30 s would be 70 s; the deadline ends it at 60 s", () => {
    const mock = mockHttp([json(429, { error: "slow_down" }, { "retry-after": "10" }), "hang"])
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(clientCredentials)
      yield* awaitSleep(20_000)
      assert.strictEqual(mock.requests.length, 1)
      yield* TestClock.adjust("59900 millis")
      assert.strictEqual(mock.requests.length, 3)
      assert.isFalse(yield* isDone(fiber))
      yield* TestClock.adjust("100 millis")
      const error = yield* expectFailure(joinAtDeadline(fiber), "TransportError")
      assert.strictEqual(error.reason, "Timeout")
      assert.include(error.description, "deadline")
    }).pipe(Effect.provide(scripted(mock)))
  })

  it.effect("a deadline shorter than one attempt's timeout wins over it", () => {
    const mock = mockHttp(["hang"])
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(clientCredentials)
      yield* awaitSleep()
      yield* TestClock.adjust("4999 millis")
      assert.isFalse(yield* isDone(fiber))
      yield* TestClock.adjust("1 milli")
      const error = yield* expectFailure(joinAtDeadline(fiber), "TransportError")
      assert.strictEqual(error.reason, "Timeout")
      assert.include(error.description, "deadline of 5s")
      assert.strictEqual(mock.requests.length, 1)
    }).pipe(Effect.provide(scripted(mock, { deadline: "5 seconds" })))
  })
})

describe.each(clients)("$name: the deadline against a server that never answers", (client) => {
  it.scopedLive("a 300 ms deadline (10 s attempt timeout) ends the request in time, and its socket is closed", () =>
    Effect.gen(function*() {
      // the request is read, and never answered
      const server = yield* httpServer(() => {})
      const started = Date.now()
      const error = yield* expectFailure(
        clientCredentials.pipe(
          Effect.provide(endpointLayer(client, server, { timeout: "10 seconds", deadline: "300 millis" })),
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new StillWaiting() })
        ),
        "TransportError"
      )
      const elapsed = Date.now() - started
      console.log(`deadline ${client.name}: TransportError ${error.reason} after ${elapsed} ms (deadline 300 ms)`)
      assert.strictEqual(error.reason, "Timeout")
      assert.isBelow(elapsed, 3_000)
      assert.strictEqual(server.requests(), 1)
      yield* Effect.sleep("500 millis")
      assert.strictEqual(server.openSockets(), 0)
    }))
})
