/**
 * The real `FetchHttpClient` (Node's fetch, which follows redirects by default) against node:http servers on
 * 127.0.0.1: the token endpoint's 307 must not be followed.
 */
import { FetchHttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { AuthorizationServer, ClientAuth, RetryPolicy, TokenEndpoint } from "@effect-oauth/client"
import { Effect, Layer, Redacted } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { expectFailure } from "./support/assertions.js"

const SECRET = "fetch-secret-value-3c9d"

const listen = (handler: Http.RequestListener) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(handler)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => ({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })))

const endpoint = (tokenEndpoint: string) =>
  TokenEndpoint.layer().pipe(
    Layer.provide(AuthorizationServer.layerStatic({ tokenEndpoint })),
    Layer.provide(FetchHttpClient.layer)
  )

describe("TokenEndpoint with the Node clients of @effect/platform-node", () => {
  for (const [name, client] of [["layerUndici", NodeHttpClient.layerUndici], ["layer (node:http)", NodeHttpClient.layer]] as const) {
    it.scopedLive(`${name}: a 307 is not followed`, () =>
      Effect.gen(function*() {
        let targetHits = 0
        const target = yield* listen((_req, res) => {
          targetHits++
          res.end()
        })
        const redirecting = yield* listen((_req, res) => {
          res.writeHead(307, { location: `${target.url}/token` })
          res.end()
        })
        const error = yield* expectFailure(
          Effect.flatMap(TokenEndpoint.TokenEndpoint, (e) =>
            e.request({ grantType: "client_credentials", auth: ClientAuth.clientSecretBasic("svc", Redacted.make(SECRET)) })).pipe(
              Effect.provide(
                TokenEndpoint.layer().pipe(
                  Layer.provide(AuthorizationServer.layerStatic({ tokenEndpoint: `${redirecting.url}/token` })),
                  Layer.provide(client)
                )
              )
            ),
          "TransportError"
        )
        assert.strictEqual(error.reason, "Redirect")
        assert.strictEqual(targetHits, 0)
      }))
  }
})

describe("TokenEndpoint with FetchHttpClient", () => {
  it.scopedLive("a 307 to another loopback server is not followed: the target sees no request", () =>
    Effect.gen(function*() {
      let targetHits = 0
      const target = yield* listen((_req, res) => {
        targetHits++
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ access_token: "stolen", token_type: "Bearer", expires_in: 60 }))
      })
      let endpointHits = 0
      const redirecting = yield* listen((_req, res) => {
        endpointHits++
        res.writeHead(307, { location: `${target.url}/token` })
        res.end()
      })
      const error = yield* expectFailure(
        Effect.flatMap(TokenEndpoint.TokenEndpoint, (e) =>
          e.request({
            grantType: "client_credentials",
            auth: ClientAuth.clientSecretBasic("svc", Redacted.make(SECRET))
          })).pipe(Effect.provide(endpoint(`${redirecting.url}/token`))),
        "TransportError"
      )
      assert.strictEqual(error.reason, "Redirect")
      assert.strictEqual(error.status, 307)
      assert.strictEqual(endpointHits, 1)
      assert.strictEqual(targetHits, 0)
    }))

  it.scopedLive("a user's RequestInit is kept, with redirect forced to manual", () =>
    Effect.gen(function*() {
      let targetHits = 0
      const target = yield* listen((_req, res) => {
        targetHits++
        res.end()
      })
      let seen: string | undefined
      const redirecting = yield* listen((req, res) => {
        seen = req.headers["x-from-request-init"] as string | undefined
        res.writeHead(308, { location: target.url })
        res.end()
      })
      const error = yield* expectFailure(
        Effect.flatMap(TokenEndpoint.TokenEndpoint, (e) =>
          e.request({ grantType: "client_credentials", auth: ClientAuth.none("svc") })).pipe(
            Effect.provide(
              endpoint(redirecting.url).pipe(
                Layer.provide(
                  Layer.succeed(FetchHttpClient.RequestInit, { redirect: "follow", headers: { "x-from-request-init": "yes" } })
                )
              )
            )
          ),
        "TransportError"
      )
      assert.strictEqual(error.reason, "Redirect")
      assert.strictEqual(error.status, 308)
      assert.strictEqual(seen, "yes")
      assert.strictEqual(targetHits, 0)
    }))

  it.scopedLive("connection refused: TransportError RequestError, maybeSent false", () =>
    Effect.gen(function*() {
      const closed = yield* Effect.scoped(listen((_req, res) => res.end()))
      const error = yield* expectFailure(
        Effect.flatMap(TokenEndpoint.TokenEndpoint, (e) =>
          e.request({
            grantType: "client_credentials",
            auth: ClientAuth.clientSecretPost("svc", Redacted.make(SECRET)),
            retry: RetryPolicy.never
          })).pipe(Effect.provide(endpoint(`${closed.url}/token`))),
        "TransportError"
      )
      assert.strictEqual(error.reason, "RequestError")
      assert.isFalse(error.maybeSent)
      assert.notInclude(String(error), SECRET)
    }))
})
