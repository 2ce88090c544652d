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
import { createHash, randomBytes } from "node:crypto"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as Jwt from "../src/Jwt.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenExchange from "../src/TokenExchange.js"
import type { TokenSet } from "../src/TokenSet.js"
import { expectFailure } from "./support/assertions.js"

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
  TokenEndpoint.layer.pipe(
    Layer.provide(
      AuthorizationServer.layerStatic({ issuer: server.issuer, tokenEndpoint: server.tokenEndpoint })
    ),
    Layer.provide(FetchHttpClient.layer)
  )

const exchangeLayer = (options?: Partial<TokenExchange.Options>) =>
  TokenExchange.layer({ auth: exchangerAuth(), ...options }).pipe(
    Layer.provideMerge(Layer.merge(endpointLayer(), TokenCache.layerMemory()))
  )

const base64url = (bytes: Buffer) => bytes.toString("base64url")

/** A real sign-in: authorization URL with PKCE S256, headless login + consent as alice, code exchanged by `web`. */
const signInUser: Effect.Effect<TokenSet, unknown, TokenEndpoint.TokenEndpoint> = Effect.gen(function*() {
  const web = server.clients.web
  const verifier = base64url(randomBytes(32))
  const challenge = base64url(createHash("sha256").update(verifier).digest())
  const state = base64url(randomBytes(16))
  const url = new URL(server.authorizationEndpoint)
  url.search = new URLSearchParams({
    client_id: web.clientId,
    response_type: "code",
    redirect_uri: web.redirectUri,
    scope: "openid api:read api:write",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    resource: server.resource
  }).toString()
  const redirect = new URL(yield* Effect.promise(() => server.signIn(url.toString())))
  expect(redirect.searchParams.get("state")).toBe(state)
  const code = redirect.searchParams.get("code")
  expect(code).toBeTypeOf("string")
  const endpoint = yield* TokenEndpoint.TokenEndpoint
  return yield* endpoint.request({
    grantType: "authorization_code",
    params: {
      code: code ?? "",
      redirect_uri: web.redirectUri,
      code_verifier: verifier,
      resource: server.resource
    },
    auth: ClientAuth.clientSecretBasic(web.clientId, Redacted.make(web.clientSecret))
  })
})

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
