/**
 * Issue 11, item 2 – a refused body releases its socket. A real `node:http` server sends 200 answers, one after
 * another, whose bodies the client refuses without reading them to the end; 500 ms after the last one, without a
 * garbage collection, the server counts the sockets still open: at most 2 (a kept-alive connection or two), where
 * unread, un-cancelled bodies would keep one socket each until a GC.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Redacted } from "effect"
import type * as Http from "node:http"
import * as ClientAuth from "../../src/ClientAuth.js"
import * as Revocation from "../../src/Revocation.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as TokenEndpoint from "../../src/TokenEndpoint.js"
import { expectFailure } from "../support/assertions.js"
import type { Received } from "../support/hostile.js"
import { clients, httpServer, serverLayer, writeBody } from "../support/hostile.js"

const MiB = 1024 * 1024
const rounds = 200
const auth = ClientAuth.clientSecretBasic("socket-client", Redacted.make("socket-client-secret"))

interface Case {
  readonly title: string
  readonly answer: (request: Received, response: Http.ServerResponse) => void
  /** one request, and what it must end in */
  readonly send: Effect.Effect<void, never, TokenEndpoint.TokenEndpoint | Revocation.Revocation>
  /** the cap (default 1 MiB) */
  readonly maxResponseBytes?: number
}

const tokenRequest = Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) =>
  endpoint.request({ grantType: "client_credentials", auth, retry: RetryPolicy.never }))

const expectTransport = (reason: "BodyTooLarge" | "Redirect") =>
  Effect.flatMap(expectFailure(tokenRequest, "TransportError"), (error) =>
    Effect.sync(() => assert.strictEqual(error.reason, reason)))

const cases: ReadonlyArray<Case> = [
  {
    title: "a token response declaring 2 MiB (over the 1 MiB cap), the body sent: BodyTooLarge",
    answer: (_request, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-length": 2 * MiB })
      writeBody(response, 2 * MiB)
    },
    send: expectTransport("BodyTooLarge")
  },
  {
    title: "a token response of 256 KiB without Content-Length, a 64 KiB cap (refused while it streams): BodyTooLarge",
    answer: (_request, response) => {
      response.writeHead(200, { "content-type": "application/json" })
      writeBody(response, 256 * 1024)
    },
    send: expectTransport("BodyTooLarge"),
    maxResponseBytes: 64 * 1024
  },
  {
    title: "a 307 with a 1 MiB body and its Content-Length (over the 64 KiB discardBody reads): Redirect",
    answer: (_request, response) => {
      response.writeHead(307, { location: "http://127.0.0.1:1/elsewhere", "content-length": MiB })
      writeBody(response, MiB)
    },
    send: expectTransport("Redirect")
  },
  {
    title: "a 307 with a 1 MiB chunked body: Redirect",
    answer: (_request, response) => {
      response.writeHead(307, { location: "http://127.0.0.1:1/elsewhere" })
      writeBody(response, MiB)
    },
    send: expectTransport("Redirect")
  },
  {
    title: "a revocation answered 200 with a 1 MiB body (RFC 7009: the body is not read): success",
    answer: (_request, response) => {
      response.writeHead(200, { "content-type": "text/plain", "content-length": MiB })
      writeBody(response, MiB)
    },
    send: Effect.flatMap(Revocation.Revocation, (revocation) => revocation.revoke(Redacted.make("a-token-to-revoke"))).pipe(
      Effect.orDieWith((error) => new Error(`the revocation failed: ${error.message}`))
    )
  }
]

describe.each(clients)("$name: 200 refused bodies, one after another", (client) => {
  for (const c of cases) {
    it.live(`${c.title}; at most 2 sockets open 500 ms later`, () =>
      Effect.gen(function*() {
        const server = yield* httpServer(c.answer)
        const services = yield* Layer.build(
          Layer.mergeAll(
            TokenEndpoint.layer({ maxResponseBytes: c.maxResponseBytes }),
            Revocation.layer({ auth, retry: RetryPolicy.never })
          ).pipe(Layer.provide(serverLayer(server)), Layer.provide(client.layer))
        )
        for (let i = 0; i < rounds; i++) yield* Effect.provide(c.send, services)
        yield* Effect.sleep("500 millis")
        const open = server.openSockets()
        console.log(`sockets ${client.name}: ${c.title}: ${server.connections()} connections, ${open} open 500 ms after the last`)
        assert.strictEqual(server.requests(), rounds)
        assert.isAtMost(open, 2)
      }).pipe(Effect.scoped), 60_000)
  }
})

describe.each(clients)("$name: requests interrupted by their caller", (client) => {
  const interrupted = [
    {
      title: "waiting for the answer's headers",
      answer: (_request: Received, _response: Http.ServerResponse) => {}
    },
    {
      title: "reading a body that never ends",
      answer: (_request: Received, response: Http.ServerResponse) => {
        response.writeHead(200, { "content-type": "application/json", "content-length": 4096 })
        response.write("{\"access_token\":\"")
      }
    }
  ]
  for (const c of interrupted) {
    it.live(`50 requests interrupted while ${c.title}: each interruption returns, at most 2 sockets open 500 ms later`, () =>
      Effect.gen(function*() {
        const server = yield* httpServer(c.answer)
        const services = yield* Layer.build(
          TokenEndpoint.layer().pipe(Layer.provide(serverLayer(server)), Layer.provide(client.layer))
        )
        for (let i = 0; i < 50; i++) {
          const fiber = yield* Effect.fork(Effect.provide(tokenRequest, services))
          // interrupted once the server holds the request (and, for the body case, has begun the answer)
          while (server.requests() <= i) yield* Effect.sleep("1 millis")
          yield* Effect.sleep("5 millis")
          const exit = yield* Fiber.interrupt(fiber)
          assert.isTrue(Exit.isInterrupted(exit))
        }
        yield* Effect.sleep("500 millis")
        assert.strictEqual(server.requests(), 50)
        assert.isAtMost(server.openSockets(), 2)
      }).pipe(Effect.scoped), 60_000)
  }
})
