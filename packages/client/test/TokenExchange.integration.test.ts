/**
 * TokenExchange against a real authorization server (oidc-provider, `@effect-oauth/test-server`, on 127.0.0.1): a user
 * signs in through the authorization code flow of the `web` client, and the `exchanger` client exchanges that user's
 * access token.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { createRemoteJWKSet, jwtVerify } from "jose"
import * as AuthorizationCode from "../src/AuthorizationCode.js"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as Jwks from "../src/Jwks.js"
import * as Jwt from "../src/Jwt.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenExchange from "../src/TokenExchange.js"
import type { TokenSet } from "../src/TokenSet.js"
import { expectFailure } from "./support/assertions.js"
import { signIn, webClientAuth } from "./support/signIn.js"

let server: TestServer.TestServerInfo

beforeAll(async () => {
  server = await TestServer.start()
})

afterAll(async () => {
  await server?.stop()
})

const exchangerAuth = () =>
  ClientAuth.clientSecretBasic(server.clients.exchanger.clientId, Redacted.make(server.clients.exchanger.clientSecret))

/** TokenEndpoint on the test server, over fetch */
const endpointLayer = () =>
  TokenEndpoint.layer().pipe(
    Layer.provide(
      AuthorizationServer.layerStatic({
        issuer: server.issuer,
        tokenEndpoint: server.tokenEndpoint,
        authorizationEndpoint: server.authorizationEndpoint,
        jwksUri: server.jwksUri
      })
    ),
    Layer.provide(FetchHttpClient.layer)
  )

const exchangeLayer = (options?: Partial<TokenExchange.Options>) =>
  TokenExchange.layer({ auth: exchangerAuth(), ...options }).pipe(
    Layer.provideMerge(Layer.merge(endpointLayer(), TokenCache.layerMemory()))
  )

/** The `web` client's authorization code flow on the test server, over the TokenEndpoint in context. */
const webLayer = () =>
  AuthorizationCode.layer({ auth: webClientAuth(server), redirectUri: server.clients.web.redirectUri }).pipe(
    Layer.provide(Jwks.layerUri(server.jwksUri).pipe(Layer.provide(FetchHttpClient.layer)))
  )

/** A real sign-in: authorization URL with PKCE S256, headless login + consent as alice, code exchanged by `web`. */
const signInUser: Effect.Effect<TokenSet, unknown, TokenEndpoint.TokenEndpoint> = Effect.suspend(() =>
  signIn({ scope: ["openid", "api:read", "api:write"] }).pipe(
    Effect.provide(webLayer()),
    Effect.provideService(TestServer.TestServer, server)
  )
)

/** A client-credentials token of the exchanger itself: a system identity. */
const systemToken: Effect.Effect<TokenSet, unknown, TokenEndpoint.TokenEndpoint> = Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) =>
  endpoint.request({
    grantType: "client_credentials",
    params: { resource: server.resource, scope: "api:read" },
    auth: exchangerAuth()
  }))

describe("TokenExchange against oidc-provider", () => {
  it.live("a signed-in user's token is exchanged for https://api.example with api:read", () =>
    Effect.gen(function*() {
      const user = yield* signInUser
      const userClaims = yield* Jwt.decode(user.accessToken)
      expect(userClaims.client_id).toBe(server.clients.web.clientId)
      expect(userClaims.sub).toBeTypeOf("string")

      const exchange = yield* TokenExchange.TokenExchange
      const token = yield* exchange.exchange({
        subjectToken: user,
        resource: "https://api.example",
        scope: ["api:read"]
      })
      expect(token.issuedTokenType).toBe("urn:ietf:params:oauth:token-type:access_token")
      expect(token.tokenType.toLowerCase()).toBe("bearer")
      expect(token.isAccessToken).toBe(true)
      expect(token.provenance.grant).toBe("urn:ietf:params:oauth:grant-type:token-exchange")

      // a JWT signed by the server, for the user, issued to the exchanging client
      const { payload } = yield* Effect.promise(() =>
        jwtVerify(Redacted.value(token.accessToken), createRemoteJWKSet(new URL(server.jwksUri)), {
          issuer: server.issuer,
          audience: "https://api.example"
        })
      )
      expect(payload.sub).toBe(userClaims.sub)
      expect(payload.sub).not.toBe(server.clients.exchanger.clientId)
      expect(payload.client_id).toBe(server.clients.exchanger.clientId)
      expect(payload.scope).toBe("api:read")
    }).pipe(Effect.provide(exchangeLayer())))

  it.live("a client-credentials token is refused by the guard with zero requests at the server", () =>
    Effect.gen(function*() {
      const system = yield* systemToken
      const exchange = yield* TokenExchange.TokenExchange
      server.resetCounts()

      const byProvenance = yield* expectFailure(
        exchange.exchange({ subjectToken: system, resource: "https://api.example" }),
        "SystemIdentityTokenError"
      )
      expect(byProvenance.mark).toBe("provenance: client_credentials")

      // the bare token too: oidc-provider's client-credentials JWT has sub = client_id (RFC 9068 §2.2)
      const byClaim = yield* expectFailure(
        exchange.exchange({ subjectToken: system.accessToken, resource: "https://api.example" }),
        "SystemIdentityTokenError"
      )
      expect(byClaim.mark).toBe("claim sub=client_id")

      expect(server.requestCount("token")).toBe(0)
    }).pipe(Effect.provide(exchangeLayer())))

  it.live("with the guard off, the server's 400 comes back as TokenEndpointError", () =>
    Effect.gen(function*() {
      const system = yield* systemToken
      const exchange = yield* TokenExchange.TokenExchange
      server.resetCounts()

      const error = yield* expectFailure(
        exchange.exchange({ subjectToken: system, resource: "https://api.example" }),
        "TokenEndpointError"
      )
      expect([error.status, error.error]).toEqual([400, "invalid_request"])
      expect(server.requestCount("token")).toBe(1)
    }).pipe(Effect.provide(exchangeLayer({ guard: false }))))

  it.live("a second identical exchange is served from the cache; another audience or resource makes a request", () =>
    Effect.gen(function*() {
      const user = yield* signInUser
      const exchange = yield* TokenExchange.TokenExchange
      server.resetCounts()

      const request = { subjectToken: user, resource: "https://api.example", scope: ["api:read"] }
      const first = yield* exchange.exchange(request)
      expect(server.requestCount("token")).toBe(1)
      const second = yield* exchange.exchange({ ...request, allowCached: true })
      expect(server.requestCount("token")).toBe(1)
      expect(Redacted.value(second.accessToken)).toBe(Redacted.value(first.accessToken))

      // the same API named as an audience instead of a resource: another request
      const byAudience = yield* exchange.exchange({ subjectToken: user, audience: "https://api.example", scope: ["api:read"] })
      expect(server.requestCount("token")).toBe(2)
      expect(Redacted.value(byAudience.accessToken)).not.toBe(Redacted.value(first.accessToken))

      // another scope: another request; then both are cached
      yield* exchange.exchange({ ...request, scope: ["api:write"] })
      expect(server.requestCount("token")).toBe(3)
      yield* exchange.exchange({ ...request, scope: ["api:write"] })
      yield* exchange.exchange({ subjectToken: user, audience: "https://api.example", scope: ["api:read"] })
      expect(server.requestCount("token")).toBe(3)

      // allowCached: false always asks
      yield* exchange.exchange({ ...request, allowCached: false })
      expect(server.requestCount("token")).toBe(4)
    }).pipe(Effect.provide(exchangeLayer())))
})
