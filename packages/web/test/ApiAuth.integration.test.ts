/**
 * `ApiAuth` in front of real APIs on loopback – an `HttpRouter` application and an `HttpApi` one, served by
 * `NodeHttpServer` – with tokens from the real authorization server (oidc-provider, `@effect-oauth/test-server`): its
 * JWKS fetched by discovery, its JWT access tokens, and opaque ones introspected at its introspection endpoint. The
 * server's counters say how often the key set was fetched and how many introspections were made. Every refusal is
 * checked with its exact status and `WWW-Authenticate`.
 */
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpRouter,
  HttpServer,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import {
  AuthorizationServer,
  ClientAuth,
  ClientCredentials,
  Introspection,
  Jwks,
  ReplayCache,
  Revocation,
  TokenCache,
  TokenEndpoint
} from "@effect-oauth/client"
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Redacted, Schema } from "effect"
import * as Jose from "jose"
import { createServer } from "node:http"
import * as ApiAuth from "../src/ApiAuth.js"
import * as ApiAuthError from "../src/ApiAuthError.js"
import * as VerifiedToken from "../src/VerifiedToken.js"

const allAlgs = "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519"

/** an answer as a client sees it */
const call = (url: string, init: { readonly method?: string; readonly token?: string } = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: init.method ?? "GET",
      headers: init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }
    })
    return {
      status: response.status,
      wwwAuthenticate: response.headers.get("www-authenticate"),
      body: await response.text()
    }
  })

/** the port a `NodeHttpServer` listens on */
const origin = Effect.map(HttpServer.HttpServer, (server) =>
  `http://127.0.0.1:${server.address._tag === "TcpAddress" ? server.address.port : 0}`)

const listen = NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })

/** the HttpRouter API: GET /orders (any token), POST /orders (api:write) */
const routerApp = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/orders",
    Effect.map(VerifiedToken.VerifiedToken, (token) =>
      HttpServerResponse.unsafeJson({ sub: token.subject, clientId: token.clientId, format: token.format }))
  ),
  HttpRouter.post(
    "/orders",
    Effect.zipRight(VerifiedToken.requireScope("api:write"), Effect.succeed(HttpServerResponse.text("created", { status: 201 })))
  ),
  HttpRouter.use(ApiAuth.middleware)
)

interface ApiSetup {
  /** the API's audience (default the test server's resource) */
  readonly audience?: string
  /** the issuer the API trusts (default the test server's) */
  readonly issuer?: string
  readonly cooldown?: Duration.DurationInput
  readonly clockTolerance?: Duration.DurationInput
  readonly introspection?: boolean
}

/** the API in front of the test server in context, on a free port; its base URL */
const startApi = (setup: ApiSetup = {}) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const authorizationServer = setup.issuer === undefined
      ? AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })
      : AuthorizationServer.layerStatic({
        issuer: setup.issuer,
        tokenEndpoint: server.tokenEndpoint,
        jwksUri: server.jwksUri
      })
    const options: ApiAuth.Options = {
      audience: setup.audience ?? server.resource,
      ...(setup.clockTolerance !== undefined ? { clockTolerance: setup.clockTolerance } : {})
    }
    const rs = server.clients.resourceServer
    const auth = setup.introspection === true
      ? ApiAuth.layerWithIntrospection(options).pipe(
        Layer.provide(Introspection.layer({ auth: ClientAuth.clientSecretBasic(rs.clientId, Redacted.make(rs.clientSecret)) }))
      )
      : ApiAuth.layer(options)
    const Api = HttpServer.serve(routerApp).pipe(
      Layer.provide(auth),
      Layer.provide(Jwks.layer(setup.cooldown === undefined ? {} : { cooldown: setup.cooldown })),
      Layer.provide(ReplayCache.layerMemory()),
      Layer.provide(authorizationServer),
      Layer.provide(FetchHttpClient.layer),
      Layer.provideMerge(listen)
    )
    const context = yield* Layer.build(Api)
    return yield* Effect.provide(origin, context)
  })

/** a client-credentials token of `svc-basic` for the test server's API (a JWT, or opaque with that format) */
const clientToken = (scope: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const basic = server.clients.basic
    const cc = yield* ClientCredentials.make({
      auth: ClientAuth.clientSecretBasic(basic.clientId, Redacted.make(basic.clientSecret)),
      resource: server.resource
    }).pipe(
      Effect.provide(TokenCache.layerMemory()),
      Effect.provide(TokenEndpoint.layer()),
      Effect.provide(AuthorizationServer.layerStatic({ issuer: server.issuer, tokenEndpoint: server.tokenEndpoint })),
      Effect.provide(FetchHttpClient.layer)
    )
    return Redacted.value((yield* cc.acquire({ scope, allowCached: false })).accessToken)
  })

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

const invalidToken = (description: string) => `Bearer error="invalid_token", error_description="${description}"`

describe("ApiAuth against the test server (HttpRouter API)", () => {
  it.scopedLive("a valid JWT: 200; the key set fetched once for every request", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const api = yield* startApi()
      const token = yield* clientToken(["api:read"])
      for (let i = 0; i < 3; i++) {
        const answer = yield* call(`${api}/orders`, { token })
        assert.strictEqual(answer.status, 200)
        assert.isNull(answer.wwwAuthenticate)
        assert.deepStrictEqual(JSON.parse(answer.body), { sub: "svc-basic", clientId: "svc-basic", format: "jwt" })
      }
      assert.strictEqual(server.requestCount("jwks"), 1)
    }).pipe(Effect.provide(TestServer.layer())))

  it.scopedLive("no token: 401 Bearer, DPoP algs=…", () =>
    Effect.gen(function*() {
      const api = yield* startApi()
      const answer = yield* call(`${api}/orders`)
      assert.strictEqual(answer.status, 401)
      assert.strictEqual(answer.wwwAuthenticate, `Bearer, DPoP algs="${allAlgs}"`)
    }).pipe(Effect.provide(TestServer.layer())))

  it.scopedLive("a token for another API (aud): 401 invalid_token", () =>
    Effect.gen(function*() {
      const api = yield* startApi({ audience: "https://billing.example" })
      const answer = yield* call(`${api}/orders`, { token: yield* clientToken(["api:read"]) })
      assert.strictEqual(answer.status, 401)
      assert.strictEqual(answer.wwwAuthenticate, invalidToken("the access token is not for this API"))
    }).pipe(Effect.provide(TestServer.layer())))

  it.scopedLive("a token of another issuer (iss): 401 invalid_token", () =>
    Effect.gen(function*() {
      const api = yield* startApi({ issuer: "https://login.other.example" })
      const answer = yield* call(`${api}/orders`, { token: yield* clientToken(["api:read"]) })
      assert.strictEqual(answer.status, 401)
      assert.strictEqual(answer.wwwAuthenticate, invalidToken("the access token is from another issuer"))
    }).pipe(Effect.provide(TestServer.layer())))

  it.scopedLive("an expired token: 401 invalid_token (2-second tokens – iat is rounded down to the second –, no clock tolerance)", () =>
    Effect.gen(function*() {
      const api = yield* startApi({ clockTolerance: 0 })
      const token = yield* clientToken(["api:read"])
      assert.strictEqual((yield* call(`${api}/orders`, { token })).status, 200)
      const exp = Number(Jose.decodeJwt(token).exp)
      yield* Effect.sleep(Duration.millis(Math.max(0, exp * 1000 - Date.now()) + 50))
      const answer = yield* call(`${api}/orders`, { token })
      assert.strictEqual(answer.status, 401)
      assert.strictEqual(answer.wwwAuthenticate, invalidToken("the access token has expired"))
    }).pipe(Effect.provide(TestServer.layer({ accessTokenTtl: 2 }))))

  it.scopedLive("an unknown kid: exactly one refetch of the key set (counted at the server), then the cooldown holds", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const api = yield* startApi({ cooldown: "300 millis" })
      const valid = yield* clientToken(["api:read"])
      assert.strictEqual((yield* call(`${api}/orders`, { token: valid })).status, 200)
      assert.strictEqual(server.requestCount("jwks"), 1)
      // a token signed with a key the server does not publish, with the right issuer, audience and claims
      const stranger = yield* Effect.promise(() => Jose.generateKeyPair("RS256"))
      const forged = yield* Effect.promise(() =>
        new Jose.SignJWT(Jose.decodeJwt(valid)).setProtectedHeader({ alg: "RS256", kid: "rotated-2", typ: "at+jwt" }).sign(
          stranger.privateKey
        )
      )
      yield* Effect.sleep("350 millis")
      const answer = yield* call(`${api}/orders`, { token: forged })
      assert.strictEqual(answer.status, 401)
      assert.strictEqual(
        answer.wwwAuthenticate,
        invalidToken("the access token is signed with a key the authorization server does not publish")
      )
      assert.strictEqual(server.requestCount("jwks"), 2)
      // within the cooldown, more unknown kids cost no fetch
      for (let i = 0; i < 5; i++) assert.strictEqual((yield* call(`${api}/orders`, { token: forged })).status, 401)
      assert.strictEqual(server.requestCount("jwks"), 2)
    }).pipe(Effect.provide(TestServer.layer())))

  it.scopedLive("alg none and HS256 keyed with the server's public key: 401 invalid_token, no key fetched for them", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const api = yield* startApi()
      const valid = yield* clientToken(["api:read"])
      const [, payload] = valid.split(".")
      const kid = Jose.decodeProtectedHeader(valid).kid
      const none = `${b64({ alg: "none", typ: "at+jwt", kid })}.${payload}.`
      const jwks = yield* Effect.promise(() => fetch(server.jwksUri).then((r) => r.json() as Promise<{ keys: Array<Jose.JWK> }>))
      const publicKey = yield* Effect.promise(() => Jose.importJWK({ ...jwks.keys[0], ext: true }, "RS256"))
      assert.notInstanceOf(publicKey, Uint8Array)
      if (publicKey instanceof Uint8Array) return
      const pem = yield* Effect.promise(() => Jose.exportSPKI(publicKey))
      const hs256 = yield* Effect.promise(() =>
        new Jose.SignJWT(Jose.decodeJwt(valid)).setProtectedHeader({ alg: "HS256", kid: kid ?? "", typ: "at+jwt" }).sign(
          new TextEncoder().encode(pem)
        )
      )
      const fetchesBefore = server.requestCount("jwks")
      for (const token of [none, hs256]) {
        const answer = yield* call(`${api}/orders`, { token })
        assert.strictEqual(answer.status, 401)
        assert.strictEqual(answer.wwwAuthenticate, invalidToken("the access token's alg is not accepted"))
      }
      assert.strictEqual(server.requestCount("jwks"), fetchesBefore)
    }).pipe(Effect.provide(TestServer.layer())))

  it.scopedLive("a route's scope missing: 403 insufficient_scope with scope=; with it: 201", () =>
    Effect.gen(function*() {
      const api = yield* startApi()
      const refused = yield* call(`${api}/orders`, { method: "POST", token: yield* clientToken(["api:read"]) })
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(
        refused.wwwAuthenticate,
        `Bearer error="insufficient_scope", error_description="the access token lacks a scope this route requires", scope="api:write"`
      )
      const created = yield* call(`${api}/orders`, { method: "POST", token: yield* clientToken(["api:read", "api:write"]) })
      assert.strictEqual(created.status, 201)
    }).pipe(Effect.provide(TestServer.layer())))
})

describe("ApiAuth against the test server: opaque tokens by introspection", () => {
  it.scopedLive("an active opaque token: 200, introspected once (counted at the server), then from the cache", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const api = yield* startApi({ introspection: true })
      const token = yield* clientToken(["api:read"])
      assert.strictEqual(token.split(".").length, 1)
      for (let i = 0; i < 3; i++) {
        const answer = yield* call(`${api}/orders`, { token })
        assert.strictEqual(answer.status, 200)
        // oidc-provider names no sub for a client-credentials token in its introspection answer
        assert.deepStrictEqual(JSON.parse(answer.body), { clientId: "svc-basic", format: "opaque" })
      }
      assert.strictEqual(server.requestCount("introspection"), 1)
    }).pipe(Effect.provide(TestServer.layer({ accessTokenFormat: "opaque" }))))

  it.scopedLive("an inactive opaque token (revoked, or unknown): 401 invalid_token", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const api = yield* startApi({ introspection: true })
      const token = yield* clientToken(["api:read"])
      const basic = server.clients.basic
      yield* Effect.flatMap(Revocation.Revocation, (revocation) => revocation.revoke(Redacted.make(token))).pipe(
        Effect.provide(Revocation.layer({ auth: ClientAuth.clientSecretBasic(basic.clientId, Redacted.make(basic.clientSecret)) })),
        Effect.provide(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })),
        Effect.provide(FetchHttpClient.layer)
      )
      for (const inactive of [token, "bm90LWEtdG9rZW4tb2YtdGhpcy1zZXJ2ZXI"]) {
        const answer = yield* call(`${api}/orders`, { token: inactive })
        assert.strictEqual(answer.status, 401)
        assert.strictEqual(answer.wwwAuthenticate, invalidToken("the access token is not active"))
      }
      assert.strictEqual(server.requestCount("introspection"), 2)
    }).pipe(Effect.provide(TestServer.layer({ accessTokenFormat: "opaque" }))))
})

// ---- an HttpApi application ----------------------------------------------------------------------------------------

class WriteAccess extends HttpApiMiddleware.Tag<WriteAccess>()("test/WriteAccess", {
  provides: VerifiedToken.VerifiedToken,
  failure: ApiAuthError.ApiAuthError
}) {}

class OrdersGroup extends HttpApiGroup.make("orders")
  .add(HttpApiEndpoint.get("list", "/orders").addSuccess(Schema.Struct({ sub: Schema.String })))
  .add(HttpApiEndpoint.post("create", "/orders").addSuccess(Schema.String, { status: 201 }))
  .middleware(ApiAuth.Authentication)
{}

class AdminGroup extends HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.del("purge", "/orders").addSuccess(Schema.String))
  .middleware(WriteAccess)
{}

class OrdersApi extends HttpApi.make("orders-api").add(OrdersGroup).add(AdminGroup) {}

const OrdersLive = HttpApiBuilder.group(OrdersApi, "orders", (handlers) =>
  handlers
    .handle("list", () => Effect.map(VerifiedToken.VerifiedToken, (token) => ({ sub: token.subject ?? "" })))
    .handle("create", () => Effect.as(VerifiedToken.requireScope("api:write"), "created")))

const AdminLive = HttpApiBuilder.group(OrdersApi, "admin", (handlers) => handlers.handle("purge", () => Effect.succeed("purged")))

/** the HttpApi application in front of the test server in context; its base URL */
const startHttpApi = Effect.gen(function*() {
  const server = yield* TestServer.TestServer
  const Api = HttpApiBuilder.api(OrdersApi).pipe(
    Layer.provide(OrdersLive),
    Layer.provide(AdminLive),
    Layer.provide(ApiAuth.layerAuthentication),
    Layer.provide(Layer.effect(WriteAccess, ApiAuth.httpApiMiddleware({ scope: ["api:write"] })))
  )
  const Served = HttpApiBuilder.serve().pipe(
    Layer.provide(Api),
    Layer.provide(ApiAuth.layer({ audience: server.resource })),
    Layer.provide(Jwks.layer()),
    Layer.provide(ReplayCache.layerMemory()),
    Layer.provide(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })),
    Layer.provide(FetchHttpClient.layer),
    Layer.provideMerge(listen)
  )
  return yield* Effect.provide(origin, yield* Layer.build(Served))
})

describe("ApiAuth in an HttpApi application against the test server", () => {
  it.scopedLive("no token, a bad token, a missing scope: the HttpApi's error answer with the exact challenge", () =>
    Effect.gen(function*() {
      const api = yield* startHttpApi
      const none = yield* call(`${api}/orders`)
      assert.strictEqual(none.status, 401)
      assert.strictEqual(none.wwwAuthenticate, `Bearer, DPoP algs="${allAlgs}"`)
      assert.deepStrictEqual(JSON.parse(none.body), {
        _tag: "Unauthorized",
        error_description: "the request carries no access token"
      })

      const forged = yield* call(`${api}/orders`, { token: `${b64({ alg: "none" })}.${b64({ sub: "mallory" })}.` })
      assert.strictEqual(forged.status, 401)
      assert.strictEqual(forged.wwwAuthenticate, invalidToken("the access token's alg is not accepted"))

      const reader = yield* clientToken(["api:read"])
      const listed = yield* call(`${api}/orders`, { token: reader })
      assert.strictEqual(listed.status, 200)
      assert.isNull(listed.wwwAuthenticate)
      assert.deepStrictEqual(JSON.parse(listed.body), { sub: "svc-basic" })

      // the scope required in the handler (VerifiedToken.requireScope) …
      const create = yield* call(`${api}/orders`, { method: "POST", token: reader })
      assert.strictEqual(create.status, 403)
      assert.strictEqual(
        create.wwwAuthenticate,
        `Bearer error="insufficient_scope", error_description="the access token lacks a scope this route requires", scope="api:write"`
      )
      assert.deepStrictEqual(JSON.parse(create.body), {
        _tag: "InsufficientScope",
        error: "insufficient_scope",
        error_description: "the access token lacks a scope this route requires",
        scope: "api:write",
        scheme: "Bearer"
      })
      // … and by a middleware of the application's own (httpApiMiddleware({ scope }))
      const purge = yield* call(`${api}/orders`, { method: "DELETE", token: reader })
      assert.strictEqual(purge.status, 403)
      assert.strictEqual(create.wwwAuthenticate, purge.wwwAuthenticate)

      const writer = yield* clientToken(["api:read", "api:write"])
      assert.strictEqual((yield* call(`${api}/orders`, { method: "POST", token: writer })).status, 201)
      assert.strictEqual((yield* call(`${api}/orders`, { method: "DELETE", token: writer })).status, 200)
    }).pipe(Effect.provide(TestServer.layer())))
})
