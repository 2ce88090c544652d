/**
 * BearerClient over ClientCredentials (TokenCache, TokenEndpoint) against the real test server, calling a loopback API
 * that rejects the first token it sees (as if it had been revoked) with `401 invalid_token` and accepts any other.
 * The server's counter shows how many requests reached the token endpoint.
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as TestServer from "@effect-oauth/test-server"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as BearerClient from "../src/BearerClient.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as ClientCredentials from "../src/ClientCredentials.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"

/** an API on loopback: the first bearer token it sees is refused, every later one accepted */
const revokingApi = Effect.gen(function*() {
  const seen: Array<string> = []
  const server = yield* Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const server = http.createServer((req, res) => {
        const token = (req.headers.authorization ?? "").replace(/^Bearer /, "")
        seen.push(token)
        if (token === "" || token === seen[0]) {
          res.writeHead(401, { "www-authenticate": "Bearer error=\"invalid_token\"" }).end()
        } else {
          res.writeHead(200, { "content-type": "text/plain" }).end("orders")
        }
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
})

const clientCredentials = Layer.unwrapEffect(Effect.map(TestServer.TestServer, (server) =>
  ClientCredentials.layer({
    auth: ClientAuth.clientSecretBasic(server.clients.basic.clientId, Redacted.make(server.clients.basic.clientSecret)),
    resource: server.resource
  }).pipe(
    Layer.provide(TokenCache.layerMemory()),
    Layer.provide(TokenEndpoint.layer()),
    Layer.provide(AuthorizationServer.layerStatic({ issuer: server.issuer, tokenEndpoint: server.tokenEndpoint }))
  )))

const live = clientCredentials.pipe(
  Layer.provideMerge(NodeHttpClient.layerUndici),
  Layer.provideMerge(TestServer.layer())
)

describe("BearerClient over ClientCredentials against the test server", () => {
  it.scopedLive("a rejected token is renewed once at the token endpoint; later calls are served from the cache", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const cc = yield* ClientCredentials.ClientCredentials
      const api = yield* revokingApi
      const client = yield* BearerClient.make(cc.source({ scope: ["api:read"] }), { origins: [api.origin] })

      const first = yield* client.get(`${api.origin}/orders`)
      expect(first.status).toBe(200)
      expect(api.seen).toHaveLength(2)
      expect(api.seen[0]).not.toBe(api.seen[1])
      expect(server.requestCount("token:client_credentials")).toBe(2)

      for (let i = 0; i < 5; i++) {
        expect((yield* client.get(`${api.origin}/orders`)).status).toBe(200)
      }
      expect(new Set(api.seen.slice(1))).toEqual(new Set([api.seen[1]]))
      expect(server.requestCount("token:client_credentials")).toBe(2)
    }).pipe(Effect.provide(live)))
})
