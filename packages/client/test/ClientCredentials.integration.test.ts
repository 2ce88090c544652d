/**
 * ClientCredentials against a real authorization server (oidc-provider, `@effect-oauth/test-server`, on 127.0.0.1),
 * through the real `TokenEndpoint` over fetch. The server's request counter tells how many token requests arrived.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { expect, layer } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Layer, Redacted } from "effect"
import { createRemoteJWKSet, jwtVerify } from "jose"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as ClientCredentials from "../src/ClientCredentials.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import { expectFailure } from "./support/assertions.js"
import { accessTokenOf } from "./support/tokens.js"

/** a fresh cache and ClientCredentials service for `clientFor(server)`, on the test server in context */
const withClientCredentials = <A, E>(
  clientFor: (server: TestServer.TestServerInfo) => ClientCredentials.Options,
  f: (cc: ClientCredentials.ClientCredentials.Service, server: TestServer.TestServerInfo) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const live = ClientCredentials.layer(clientFor(server)).pipe(
      Layer.provide(TokenCache.layerMemory()),
      Layer.provide(TokenEndpoint.layer()),
      Layer.provide(AuthorizationServer.layerStatic({ issuer: server.issuer, tokenEndpoint: server.tokenEndpoint })),
      Layer.provide(FetchHttpClient.layer)
    )
    return yield* Effect.flatMap(ClientCredentials.ClientCredentials, (cc) => f(cc, server)).pipe(Effect.provide(live))
  })

const basic = (server: TestServer.TestServerInfo): ClientCredentials.Options => ({
  auth: ClientAuth.clientSecretBasic(server.clients.basic.clientId, Redacted.make(server.clients.basic.clientSecret)),
  resource: server.resource
})

const ccRequests = (server: TestServer.TestServerInfo) => server.requestCount("token:client_credentials")


// live clock and the real server for every test of this block; the server stops when the block's scope closes
layer(TestServer.layer(), { excludeTestServices: true })("ClientCredentials against the test server", (it) => {
  it.effect("the token's JWT claims carry the requested scope and aud (signature verified with the server's keys)", () =>
    withClientCredentials(basic, (cc, server) =>
      Effect.gen(function*() {
        const token = yield* cc.acquire({ scope: ["api:read"] })
        const { payload } = yield* Effect.promise(() =>
          jwtVerify(accessTokenOf(token), createRemoteJWKSet(new URL(server.jwksUri)), {
            issuer: server.issuer,
            audience: "https://api.example"
          })
        )
        expect(payload.scope).toBe("api:read")
        expect(payload.aud === "https://api.example" || (Array.isArray(payload.aud) && payload.aud.includes("https://api.example")))
          .toBe(true)
        expect(payload.client_id).toBe(server.clients.basic.clientId)
        expect(token.scope).toEqual(["api:read"])
        expect(token.provenance.grant).toBe("client_credentials")

        const both = yield* cc.acquire({ scope: ["api:write", "api:read"] })
        const claims = yield* Effect.promise(() =>
          jwtVerify(accessTokenOf(both), createRemoteJWKSet(new URL(server.jwksUri)), { audience: "https://api.example" })
        )
        expect(String(claims.payload.scope).split(" ").sort()).toEqual(["api:read", "api:write"])
      })
    ))

  it.effect("a second acquire makes no request", () =>
    withClientCredentials(basic, (cc, server) =>
      Effect.gen(function*() {
        const before = ccRequests(server)
        const first = yield* cc.acquire({ scope: ["api:read"] })
        expect(ccRequests(server)).toBe(before + 1)
        const second = yield* cc.acquire({ scope: ["api:read", "api:read"] })
        expect(accessTokenOf(second)).toBe(accessTokenOf(first))
        expect(ccRequests(server)).toBe(before + 1)
      })
    ))

  it.effect("allowCached: false makes one request and leaves the cached entry", () =>
    withClientCredentials(basic, (cc, server) =>
      Effect.gen(function*() {
        const cached = yield* cc.acquire({ scope: ["api:read"] })
        const before = ccRequests(server)
        const uncached = yield* cc.acquire({ scope: ["api:read"], allowCached: false })
        expect(ccRequests(server)).toBe(before + 1)
        expect(accessTokenOf(uncached)).not.toBe(accessTokenOf(cached))
        const again = yield* cc.acquire({ scope: ["api:read"] })
        expect(accessTokenOf(again)).toBe(accessTokenOf(cached))
        expect(ccRequests(server)).toBe(before + 1)
      })
    ))

  it.effect("1,000 concurrent cold acquires make exactly one request", () =>
    withClientCredentials(basic, (cc, server) =>
      Effect.gen(function*() {
        const before = ccRequests(server)
        const tokens = yield* Effect.all(
          Array.from({ length: 1000 }, () => cc.acquire({ scope: ["api:write"] })),
          { concurrency: "unbounded" }
        )
        expect(ccRequests(server)).toBe(before + 1)
        expect(new Set(tokens.map(accessTokenOf)).size).toBe(1)
      })
    ))

  it.effect("per-call credentials (client_secret_post) get their own token and their own entry", () =>
    withClientCredentials(basic, (cc, server) =>
      Effect.gen(function*() {
        const post = ClientAuth.clientSecretPost(server.clients.post.clientId, Redacted.make(server.clients.post.clientSecret))
        const before = ccRequests(server)
        const mine = yield* cc.acquire({ scope: ["api:read"] })
        const theirs = yield* cc.acquire({ scope: ["api:read"], credentials: post })
        expect(ccRequests(server)).toBe(before + 2)
        expect(theirs.provenance.clientId).toBe(server.clients.post.clientId)
        expect(accessTokenOf(theirs)).not.toBe(accessTokenOf(mine))
        expect(accessTokenOf(yield* cc.acquire({ scope: ["api:read"], credentials: post }))).toBe(accessTokenOf(theirs))
        expect(ccRequests(server)).toBe(before + 2)
      })
    ))

  it.effect("a wrong secret fails as TokenEndpointError invalid_client, and nothing is cached", () =>
    withClientCredentials((server) => ({
      auth: ClientAuth.clientSecretBasic(server.clients.basic.clientId, Redacted.make("wrong-secret")),
      resource: server.resource
    }), (cc, server) =>
      Effect.gen(function*() {
        const before = ccRequests(server)
        const error = yield* expectFailure(cc.acquire({ scope: ["api:read"] }), "TokenEndpointError")
        expect(error.error).toBe("invalid_client")
        yield* Effect.flip(cc.acquire({ scope: ["api:read"] }))
        expect(ccRequests(server)).toBe(before + 2)
      })
    ))

  it.effect("the README wiring: layerConfig from OAUTH_* variables, the server discovered from OAUTH_ISSUER", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const env = ConfigProvider.fromMap(
        new Map([
          ["OAUTH_ISSUER", server.issuer],
          ["OAUTH_CLIENT_ID", server.clients.post.clientId],
          ["OAUTH_CLIENT_SECRET", server.clients.post.clientSecret],
          ["OAUTH_CLIENT_AUTH_METHOD", "client_secret_post"],
          ["OAUTH_SCOPE", "api:read"],
          ["OAUTH_RESOURCE", server.resource]
        ])
      )
      const live = ClientCredentials.layerConfig().pipe(
        Layer.provide(TokenCache.layerMemory({ capacity: 10_000 })),
        Layer.provide(TokenEndpoint.layer()),
        Layer.provide(AuthorizationServer.layerDiscoveryConfig(Config.string("OAUTH_ISSUER"))),
        Layer.provide(FetchHttpClient.layer),
        Layer.provide(Layer.setConfigProvider(env))
      )
      const before = ccRequests(server)
      const [first, second] = yield* Effect.flatMap(
        ClientCredentials.ClientCredentials,
        (cc) => Effect.all([cc.acquire(), cc.acquire()])
      ).pipe(Effect.provide(live))
      expect(accessTokenOf(second)).toBe(accessTokenOf(first))
      expect(ccRequests(server)).toBe(before + 1)
      expect(first.provenance.clientId).toBe(server.clients.post.clientId)
      const { payload } = yield* Effect.promise(() =>
        jwtVerify(accessTokenOf(first), createRemoteJWKSet(new URL(server.jwksUri)), { audience: "https://api.example" })
      )
      expect(payload.scope).toBe("api:read")
    }))

  it.effect("private_key_jwt as per-call credentials", () =>
    withClientCredentials(basic, (cc, server) =>
      Effect.gen(function*() {
        const pk = server.clients.privateKeyJwt
        const credentials = ClientAuth.privateKeyJwt(pk.clientId, Redacted.make(pk.privateKey), {
          algorithm: pk.algorithm,
          keyId: pk.keyId
        })
        const before = ccRequests(server)
        const token = yield* cc.acquire({ scope: ["api:read"], credentials })
        expect(token.provenance.clientId).toBe(pk.clientId)
        expect(accessTokenOf(yield* cc.acquire({ scope: ["api:read"], credentials }))).toBe(accessTokenOf(token))
        expect(ccRequests(server)).toBe(before + 1)
      })
    ))
})
