/**
 * Issue 11, item 3 – empty and cut bodies, against real servers under both clients.
 *
 * - A token request answered `204`, or `200` with an empty body (declared `Content-Length: 0`, or chunked with no
 *   chunk), is an `InvalidTokenResponse` – fetch gives a 204 no body stream at all (`EmptyBody`), which must not turn
 *   into a transport error.
 * - Revocation answered with an empty 200 or a 204 succeeds (RFC 7009 §2.2).
 * - A 2xx body cut mid-stream (a `Content-Length` longer than what came, then the connection closed or reset; a chunked
 *   body without its last chunk) is a transient `TransportError` `RequestError` with `maybeSent: true`: retried under
 *   `client_credentials`' policy (three requests at the server; a second attempt that is answered gets the token), sent
 *   once under `refresh_token`'s, which never retries.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import type * as Net from "node:net"
import * as ClientAuth from "../../src/ClientAuth.js"
import { isTransient } from "../../src/OAuthError.js"
import * as Revocation from "../../src/Revocation.js"
import { expectFailure } from "../support/assertions.js"
import { accessTokenOf } from "../support/tokens.js"
import type { Handler } from "../support/hostile.js"
import { clients, endpointLayer, httpServer, rawServer, requestToken, revocationLayer } from "../support/hostile.js"

const auth = ClientAuth.clientSecretBasic("bodies-client", Redacted.make("bodies-client-secret"))
const clientCredentials = requestToken({ grantType: "client_credentials", auth })
const refresh = requestToken({
  grantType: "refresh_token",
  params: { refresh_token: "a-refresh-token-value" },
  auth
})

const empty: ReadonlyArray<readonly [string, Handler]> = [
  ["204 No Content", (_request, response) => void response.writeHead(204).end()],
  ["200 with Content-Length: 0", (_request, response) =>
    void response.writeHead(200, { "content-type": "application/json", "content-length": 0 }).end()],
  ["200 chunked, no chunk", (_request, response) => {
    response.writeHead(200, { "content-type": "application/json" })
    response.flushHeaders()
    response.end()
  }]
]

const partial = "{\"access_token\":\"cut-short-token\",\"token_type\":\"Bearer\","

/** the head of a 200 JSON answer and the start of its body */
const cutAnswers: ReadonlyArray<readonly [string, (socket: Net.Socket) => void]> = [
  ["Content-Length 200, 56 bytes sent, then the connection closed", (socket) => {
    socket.end(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n${partial}`
    )
  }],
  ["Content-Length 200, 56 bytes sent, then the connection reset", (socket) => {
    socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n${partial}`, () => {
      setTimeout(() => socket.resetAndDestroy(), 20)
    })
  }],
  ["chunked, one chunk, then the connection closed without the last chunk", (socket) => {
    socket.end(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n` +
        `${Buffer.byteLength(partial).toString(16)}\r\n${partial}\r\n`
    )
  }]
]

const validAnswer = (socket: Net.Socket) => {
  const body = JSON.stringify({ access_token: "after-the-cut", token_type: "Bearer", expires_in: 60 })
  socket.end(
    `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`
  )
}

describe.each(clients)("$name: empty bodies", (client) => {
  for (const [title, answer] of empty) {
    it.scopedLive(`a token request answered ${title}: InvalidTokenResponse`, () =>
      Effect.gen(function*() {
        const server = yield* httpServer(answer)
        const error = yield* expectFailure(
          clientCredentials.pipe(Effect.provide(endpointLayer(client, server))),
          "InvalidTokenResponse"
        )
        assert.strictEqual(error.status, title.startsWith("204") ? 204 : 200)
        assert.strictEqual(error.description, "the body is not a JSON object")
        assert.strictEqual(error.excerpt, "")
        // not transient: nothing to retry
        assert.strictEqual(server.requests(), 1)
      }))

    it.scopedLive(`a revocation answered ${title}: success (RFC 7009 §2.2)`, () =>
      Effect.gen(function*() {
        const server = yield* httpServer(answer)
        yield* Effect.flatMap(Revocation.Revocation, (revocation) => revocation.revoke(Redacted.make("revoked-token"))).pipe(
          Effect.provide(revocationLayer(client, server, { auth }))
        )
        assert.strictEqual(server.requests(), 1)
      }))
  }
})

describe.each(clients)("$name: a 2xx body cut mid-stream", (client) => {
  for (const [title, cut] of cutAnswers) {
    it.scopedLive(`${title}: client_credentials retries it (3 requests), TransportError RequestError, maybeSent`, () =>
      Effect.gen(function*() {
        const server = yield* rawServer(cut)
        const error = yield* expectFailure(
          clientCredentials.pipe(Effect.provide(endpointLayer(client, server))),
          "TransportError"
        )
        assert.strictEqual(error.reason, "RequestError")
        assert.strictEqual(error.maybeSent, true)
        assert.strictEqual(error.status, 200)
        assert.isTrue(isTransient(error))
        assert.strictEqual(server.requests(), 3)
      }))

    it.scopedLive(`${title}: refresh_token sends it once (its policy never retries)`, () =>
      Effect.gen(function*() {
        const server = yield* rawServer(cut)
        const error = yield* expectFailure(refresh.pipe(Effect.provide(endpointLayer(client, server))), "TransportError")
        assert.strictEqual(error.reason, "RequestError")
        assert.strictEqual(error.maybeSent, true)
        assert.strictEqual(server.requests(), 1)
      }))
  }

  it.scopedLive("a cut body, then a complete answer: client_credentials' retry gets the token", () =>
    Effect.gen(function*() {
      let answered = 0
      const server = yield* rawServer((socket) => {
        answered++
        if (answered === 1) cutAnswers[0]![1](socket)
        else validAnswer(socket)
      })
      const tokens = yield* clientCredentials.pipe(Effect.provide(endpointLayer(client, server)))
      assert.strictEqual(accessTokenOf(tokens), "after-the-cut")
      assert.strictEqual(server.requests(), 2)
    }))
})
