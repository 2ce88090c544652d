/**
 * TokenExchange through the real TokenEndpoint, with a mock HttpClient: what goes on the wire, and how an RFC 8693
 * answer decodes (N_A included).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { UnsecuredJWT } from "jose"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenExchange from "../src/TokenExchange.js"
import { expectFailure } from "./support/assertions.js"
import { json, mockHttp } from "./support/http.js"

const exchangeWith = (http: ReturnType<typeof mockHttp>, options?: Partial<TokenExchange.Options>) =>
  TokenExchange.layer({
    auth: ClientAuth.clientSecretBasic("exchanger", Redacted.make("exchanger-secret")),
    ...options
  }).pipe(
    Layer.provide(TokenEndpoint.layer()),
    Layer.provide(AuthorizationServer.layerStatic({ issuer: "https://issuer.example", tokenEndpoint: "https://issuer.example/token" })),
    Layer.provide(http.layer),
    Layer.provide(TokenCache.layerMemory())
  )

const userToken = Redacted.make(new UnsecuredJWT({ sub: "alice", client_id: "web", exp: 4_000_000_000 }).encode())

describe("TokenExchange over TokenEndpoint", () => {
  it.effect("sends the grant form: repeated audience and resource, space-separated scope, types", () => {
    const http = mockHttp([json(200, {
      access_token: "issued-access-token",
      issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
      token_type: "Bearer",
      expires_in: 300
    })])
    return Effect.gen(function*() {
      const exchange = yield* TokenExchange.TokenExchange
      const token = yield* exchange.exchange({
        subjectToken: userToken,
        actorToken: Redacted.make("actor-opaque-token"),
        actorTokenType: "urn:ietf:params:oauth:token-type:access_token",
        audience: ["https://api.example", "https://billing.example"],
        resource: ["https://api.example/a", "https://api.example/b"],
        scope: ["api:read", "api:write"],
        requestedTokenType: "urn:ietf:params:oauth:token-type:access_token"
      })
      expect(token.issuedTokenType).toBe("urn:ietf:params:oauth:token-type:access_token")
      expect(token.isAccessToken).toBe(true)
      expect(token.provenance.grant).toBe("urn:ietf:params:oauth:grant-type:token-exchange")
      expect(token.scope).toEqual(["api:read", "api:write"])
      expect(http.requests).toHaveLength(1)
      const [{ headers, form, url }] = http.requests
      expect(url).toBe("https://issuer.example/token")
      expect(headers["authorization"]).toBe(`Basic ${Buffer.from("exchanger:exchanger-secret").toString("base64")}`)
      expect(form.get("grant_type")).toBe("urn:ietf:params:oauth:grant-type:token-exchange")
      expect(form.get("subject_token")).toBe(Redacted.value(userToken))
      expect(form.get("subject_token_type")).toBe("urn:ietf:params:oauth:token-type:access_token")
      expect(form.get("actor_token")).toBe("actor-opaque-token")
      expect(form.get("actor_token_type")).toBe("urn:ietf:params:oauth:token-type:access_token")
      expect(form.getAll("audience")).toEqual(["https://api.example", "https://billing.example"])
      expect(form.getAll("resource")).toEqual(["https://api.example/a", "https://api.example/b"])
      expect(form.get("scope")).toBe("api:read api:write")
      expect(form.get("requested_token_type")).toBe("urn:ietf:params:oauth:token-type:access_token")
    }).pipe(Effect.provide(exchangeWith(http)))
  })

  it.effect("an N_A answer decodes, keeps its token_type and is marked as not an access token", () => {
    const http = mockHttp([json(200, {
      access_token: "not-an-access-token",
      issued_token_type: "urn:ietf:params:oauth:token-type:jwt",
      token_type: "N_A",
      expires_in: 60
    })])
    return Effect.gen(function*() {
      const exchange = yield* TokenExchange.TokenExchange
      const token = yield* exchange.exchange({
        subjectToken: userToken,
        audience: "https://legacy.example",
        requestedTokenType: "urn:ietf:params:oauth:token-type:jwt"
      })
      expect(token.tokenType).toBe("N_A")
      expect(token.isAccessToken).toBe(false)
      expect(token.issuedTokenType).toBe("urn:ietf:params:oauth:token-type:jwt")
      expect(Redacted.value(token.accessToken)).toBe("not-an-access-token")
    }).pipe(Effect.provide(exchangeWith(http)))
  })

  it.effect("guard off: the server's 400 arrives as TokenEndpointError and is not cached", () => {
    const http = mockHttp([json(400, { error: "invalid_request", error_description: "subject token is a system identity" })])
    return Effect.gen(function*() {
      const exchange = yield* TokenExchange.TokenExchange
      const system = Redacted.make(new UnsecuredJWT({ sub: "svc", client_id: "svc" }).encode())
      const error = yield* expectFailure(exchange.exchange({ subjectToken: system }), "TokenEndpointError")
      expect([error.status, error.error]).toEqual([400, "invalid_request"])
      yield* Effect.flip(exchange.exchange({ subjectToken: system }))
      expect(http.requests).toHaveLength(2)
    }).pipe(Effect.provide(exchangeWith(http, { guard: false })))
  })

  it.effect("guard on: the same token never reaches the HttpClient", () => {
    const http = mockHttp([json(400, { error: "invalid_request" })])
    return Effect.gen(function*() {
      const exchange = yield* TokenExchange.TokenExchange
      const system = Redacted.make(new UnsecuredJWT({ sub: "svc", client_id: "svc" }).encode())
      yield* expectFailure(exchange.exchange({ subjectToken: system }), "SystemIdentityTokenError")
      expect(http.requests).toHaveLength(0)
    }).pipe(Effect.provide(exchangeWith(http)))
  })
})
