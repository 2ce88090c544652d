import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigProvider, Effect, Either, Layer, Redacted, Ref, TestClock } from "effect"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as ClientCredentials from "../src/ClientCredentials.js"
import { TokenEndpointError } from "../src/OAuthError.js"
import * as TokenCache from "../src/TokenCache.js"
import { TokenEndpoint, type TokenRequest } from "../src/TokenEndpoint.js"
import * as RealTokenEndpoint from "../src/TokenEndpoint.js"
import { json, mockHttp } from "./support/http.js"
import { accessTokenOf, makeTokenSet } from "./support/tokens.js"
import { withRecordingTracer } from "./support/tracer.js"

const secret = Redacted.make("s3cret-value-0123456789")
const auth = ClientAuth.clientSecretBasic("orders", secret)

/**
 * A counting `TokenEndpoint`: records every request; the n-th answers `t<n>` (issued now, living an hour), unless
 * `fail(n)` says it fails.
 */
const fakeEndpoint = (fail: (n: number) => boolean = () => false) =>
  Effect.gen(function*() {
    const requests = yield* Ref.make<ReadonlyArray<TokenRequest>>([])
    const layer = Layer.succeed(TokenEndpoint, {
      metadata: AuthorizationServer.makeStatic({ tokenEndpoint: "https://issuer.example/token" }).metadata,
      request: (request) =>
        Effect.gen(function*() {
          const n = (yield* Ref.updateAndGet(requests, (rs) => [...rs, request])).length
          if (fail(n)) {
            return yield* new TokenEndpointError({ operation: "token", grant: request.grantType, status: 401, error: "invalid_client" })
          }
          const now = yield* Clock.currentTimeMillis
          return makeTokenSet({
            access: `t${n}`,
            issuedAt: now,
            scope: request.requestedScope,
            grant: request.grantType,
            clientId: request.auth.clientId
          })
        })
    })
    return { requests, layer }
  })

const run = <A, E>(
  options: ClientCredentials.Options,
  f: (cc: ClientCredentials.ClientCredentials.Service, requests: Ref.Ref<ReadonlyArray<TokenRequest>>) => Effect.Effect<A, E>,
  fail?: (n: number) => boolean
) =>
  Effect.gen(function*() {
    const endpoint = yield* fakeEndpoint(fail)
    return yield* Effect.flatMap(ClientCredentials.ClientCredentials, (cc) => f(cc, endpoint.requests)).pipe(
      Effect.provide(
        ClientCredentials.layer(options).pipe(
          Layer.provide(TokenCache.layerMemory()),
          Layer.provide(endpoint.layer)
        )
      )
    )
  })

const count = (requests: Ref.Ref<ReadonlyArray<TokenRequest>>) => Effect.map(Ref.get(requests), (rs) => rs.length)

describe("ClientCredentials over the real TokenEndpoint", () => {
  it.effect("a token of a type the client does not understand is refused and never cached", () => {
    const mock = mockHttp([
      json(200, { access_token: "mac-token", token_type: "mac", expires_in: 3600 }),
      json(200, { access_token: "bearer-token", token_type: "Bearer", expires_in: 3600 })
    ])
    return Effect.gen(function*() {
      const cc = yield* ClientCredentials.ClientCredentials
      const error = yield* Effect.flip(cc.acquire({ scope: ["api:read"] }))
      expect(error._tag).toBe("InvalidTokenResponse")
      // nothing was cached: the next call asks again, and gets the Bearer token
      expect(accessTokenOf(yield* cc.acquire({ scope: ["api:read"] }))).toBe("bearer-token")
      expect(accessTokenOf(yield* cc.acquire({ scope: ["api:read"] }))).toBe("bearer-token")
      expect(mock.requests).toHaveLength(2)
    }).pipe(
      Effect.provide(ClientCredentials.layer({ auth }).pipe(
        Layer.provide(TokenCache.layerMemory()),
        Layer.provide(RealTokenEndpoint.layer()),
        Layer.provide(AuthorizationServer.layerStatic({ tokenEndpoint: "https://as.example/token" })),
        Layer.provide(mock.layer)
      ))
    )
  })

  it.effect("one span per request that leaves the cache, with what it asked for; none for a hit; no secret or token in any", () => {
    const mock = mockHttp([
      json(200, { access_token: "t1", token_type: "Bearer", expires_in: 3600 }),
      json(200, { access_token: "t2", token_type: "Bearer", expires_in: 3600 })
    ])
    return Effect.gen(function*() {
      const { spans } = yield* withRecordingTracer(Effect.gen(function*() {
        const cc = yield* ClientCredentials.ClientCredentials
        yield* cc.acquire()
        yield* cc.acquire()
        yield* cc.acquire({ allowCached: false })
      }))
      expect(mock.requests).toHaveLength(2)
      const names = spans.map((span) => span.name)
      expect(names.filter((n) => n === "TokenEndpoint.request")).toHaveLength(2)
      expect(names.filter((n) => n === "TokenCache.acquire")).toHaveLength(1)
      const requests = spans.filter((span) => span.name === "TokenEndpoint.request")
      expect(requests.map((span) => Object.fromEntries(span.attributes))).toEqual([
        {
          "oauth.scope": "api:read",
          "oauth.cache": "use",
          "oauth.grant": "client_credentials",
          "oauth.client_id": "orders",
          "oauth.token_endpoint": "https://as.example/token",
          "oauth.outcome": "success"
        },
        {
          "oauth.scope": "api:read",
          "oauth.cache": "bypass",
          "oauth.grant": "client_credentials",
          "oauth.client_id": "orders",
          "oauth.token_endpoint": "https://as.example/token",
          "oauth.outcome": "success"
        }
      ])
      for (const span of spans) {
        for (const value of span.attributes.values()) {
          expect(String(value)).not.toContain("s3cret-value")
          expect(String(value)).not.toMatch(/^t\d+$/)
        }
      }
    }).pipe(
      Effect.provide(ClientCredentials.layer({ auth, scope: ["api:read"] }).pipe(
        Layer.provide(TokenCache.layerMemory()),
        Layer.provide(RealTokenEndpoint.layer()),
        Layer.provide(AuthorizationServer.layerStatic({ tokenEndpoint: "https://as.example/token" })),
        Layer.provide(mock.layer)
      ))
    )
  })
})

describe("ClientCredentials", () => {
  it.effect("sends a client_credentials request with the sorted scope, the resource and the client's auth", () =>
    run({ auth, scope: ["api:write", "api:read", "api:read"], resource: "https://api.example" }, (cc, requests) =>
      Effect.gen(function*() {
        const token = yield* cc.acquire()
        expect(accessTokenOf(token)).toBe("t1")
        const [request] = yield* Ref.get(requests)
        expect(request?.grantType).toBe("client_credentials")
        expect(request?.params).toEqual({ scope: "api:read api:write", resource: "https://api.example" })
        expect(request?.requestedScope).toEqual(["api:read", "api:write"])
        expect(request?.auth).toBe(auth)
      })))

  it.effect("no scope, no resource: neither parameter is sent", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        yield* cc.acquire()
        const [request] = yield* Ref.get(requests)
        expect(request?.params).toEqual({ scope: undefined, resource: undefined })
        expect(request?.requestedScope).toBeUndefined()
      })))

  it.effect("the retry policy of the options reaches the token endpoint", () =>
    run({ auth, retry: { _tag: "Never" } }, (cc, requests) =>
      Effect.gen(function*() {
        yield* cc.acquire()
        expect((yield* Ref.get(requests))[0]?.retry).toEqual({ _tag: "Never" })
      })))

  it.effect("a second acquire is served from the cache; the same scopes in another order or repeated too", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        const first = yield* cc.acquire({ scope: ["api:read", "api:write"] })
        yield* TestClock.adjust("10 minutes")
        const second = yield* cc.acquire({ scope: ["api:write", "api:read", "api:write"] })
        expect(accessTokenOf(second)).toBe(accessTokenOf(first))
        expect(yield* count(requests)).toBe(1)
        // another scope is another request
        expect(accessTokenOf(yield* cc.acquire({ scope: ["api:read"] }))).toBe("t2")
        // another resource too
        expect(accessTokenOf(yield* cc.acquire({ scope: ["api:read"], resource: "https://other.example" }))).toBe("t3")
        expect(yield* count(requests)).toBe(3)
      })))

  it.effect("the request is read when the effect runs: an effect reused after its options changed asks for the new shape", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        const options: { scope: Array<string> } = { scope: ["api:read"] }
        const get = cc.acquire(options)
        expect(accessTokenOf(yield* get)).toBe("t1")
        options.scope = ["api:write"]
        expect(accessTokenOf(yield* get)).toBe("t2")
        options.scope.push("api:read")
        expect(accessTokenOf(yield* get)).toBe("t3")
        expect((yield* Ref.get(requests)).map((r) => r.params?.["scope"])).toEqual(["api:read", "api:write", "api:read api:write"])
      })))

  it.effect("allowCached: false reads the request when the effect runs too: each shape, and each client, asks for its own", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        const options: { scope: Array<string>; allowCached: false; credentials?: ClientAuth.ClientAuth | undefined } = {
          scope: ["api:read"],
          allowCached: false
        }
        const get = cc.acquire(options)
        yield* get
        yield* get
        options.scope = ["api:write"]
        yield* get
        options.credentials = ClientAuth.clientSecretBasic("billing", Redacted.make("another-secret-0123456789"))
        yield* get
        options.credentials = undefined
        yield* get
        // every call a request (nothing cached), each with the shape and client its options had when it ran
        expect((yield* Ref.get(requests)).map((r) => [r.params?.["scope"], r.auth.clientId])).toEqual([
          ["api:read", "orders"],
          ["api:read", "orders"],
          ["api:write", "orders"],
          ["api:write", "billing"],
          ["api:write", "orders"]
        ])
      })))

  it.effect("shapes that only differ by where their parts split never share a cache entry", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        const shapes: ReadonlyArray<ClientCredentials.AcquireOptions> = [
          { scope: ["a", "b"] },
          { scope: ["a\u0000b"] },
          { scope: ["a\u0001b"] },
          { scope: ["a"], resource: "b" },
          { scope: ["a"], resource: ["b", "c"] },
          { scope: [], resource: ["a", "b"] },
          { scope: ["a\u0000"], resource: ["b"] },
          { resource: "https://x.example" }
        ]
        const tokens = []
        for (const shape of shapes) tokens.push(accessTokenOf(yield* cc.acquire(shape)))
        // each shape a request of its own (scopes a+b and a\u0000b are different scopes once normalised), then each
        // served from the cache with its own token
        expect(yield* count(requests)).toBe(shapes.length)
        for (const [i, shape] of shapes.entries()) expect(accessTokenOf(yield* cc.acquire(shape))).toBe(tokens[i])
        expect(yield* count(requests)).toBe(shapes.length)
      })))

  it.effect("1,000 concurrent cold acquires make one request", () =>
    run({ auth, scope: ["api:read"] }, (cc, requests) =>
      Effect.gen(function*() {
        const tokens = yield* Effect.all(Array.from({ length: 1000 }, () => cc.acquire()), { concurrency: "unbounded" })
        expect(new Set(tokens.map(accessTokenOf))).toEqual(new Set(["t1"]))
        expect(yield* count(requests)).toBe(1)
      })))

  it.effect("per-call credentials: that client's auth is sent and its token cached under its own key", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        const other = ClientAuth.clientSecretPost("billing", Redacted.make("other-secret-0123456789"))
        expect(accessTokenOf(yield* cc.acquire())).toBe("t1")
        expect(accessTokenOf(yield* cc.acquire({ credentials: other }))).toBe("t2")
        expect((yield* Ref.get(requests))[1]?.auth).toBe(other)
        expect(accessTokenOf(yield* cc.acquire({ credentials: other }))).toBe("t2")
        expect(accessTokenOf(yield* cc.acquire())).toBe("t1")
        expect(yield* count(requests)).toBe(2)
      })))

  it.effect("the same client id with another secret never receives the token cached for the right one", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        yield* cc.acquire()
        const wrong = ClientAuth.clientSecretBasic("orders", Redacted.make("not-the-secret-0123456789"))
        const result = yield* Effect.either(cc.acquire({ credentials: wrong }))
        expect(Either.isLeft(result)).toBe(true)
        expect(yield* count(requests)).toBe(2)
      }), (n) => n === 2))

  it.effect("allowCached: false makes a request, returns its token, and leaves the cached entry alone", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        expect(accessTokenOf(yield* cc.acquire())).toBe("t1")
        expect(accessTokenOf(yield* cc.acquire({ allowCached: false }))).toBe("t2")
        expect(yield* count(requests)).toBe(2)
        // the cache still holds t1 (not replaced by t2, not dropped)
        expect(accessTokenOf(yield* cc.acquire())).toBe("t1")
        expect(yield* count(requests)).toBe(2)
      })))

  it.effect("allowCached: false on a cold cache stores nothing", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        expect(accessTokenOf(yield* cc.acquire({ allowCached: false }))).toBe("t1")
        expect(accessTokenOf(yield* cc.acquire())).toBe("t2")
        expect(yield* count(requests)).toBe(2)
      })))

  it.effect("a failed request is not cached: the next acquire asks again", () =>
    run({ auth }, (cc, requests) =>
      Effect.gen(function*() {
        const failed = yield* Effect.flip(cc.acquire())
        expect(failed._tag).toBe("TokenEndpointError")
        expect(accessTokenOf(yield* cc.acquire())).toBe("t2")
        expect(yield* count(requests)).toBe(2)
      }), (n) => n === 1))

  it.effect("source: get goes through the cache; invalidate with an old token leaves the newer one", () =>
    run({ auth, scope: ["api:read"] }, (cc, requests) =>
      Effect.gen(function*() {
        const source = cc.source()
        const t1 = yield* source.get
        expect(accessTokenOf(t1)).toBe("t1")
        expect(accessTokenOf(yield* source.get)).toBe("t1")
        yield* source.invalidate(t1)
        const t2 = yield* source.get
        expect(accessTokenOf(t2)).toBe("t2")
        // a 401 on the old token arrives late: the newer token stays
        yield* source.invalidate(t1)
        expect(accessTokenOf(yield* source.get)).toBe("t2")
        expect(yield* count(requests)).toBe(2)
        // a source of another shape does not touch this one's entry
        yield* cc.source({ scope: ["api:write"] }).invalidate(t2)
        expect(accessTokenOf(yield* source.get)).toBe("t2")
        // acquire with the same shape shares the source's entry
        expect(accessTokenOf(yield* cc.acquire({ scope: ["api:read"] }))).toBe("t2")
        expect(yield* count(requests)).toBe(2)
      })))

  it.effect("the token endpoint the service posts through is part of the key", () =>
    Effect.gen(function*() {
      const endpoint = yield* fakeEndpoint()
      const cache = TokenCache.layerMemory()
      const serviceFor = (tokenEndpoint: string) =>
        Effect.gen(function*() {
          const fake = yield* TokenEndpoint
          return yield* ClientCredentials.make({ auth }).pipe(
            Effect.provideService(TokenEndpoint, {
              ...fake,
              metadata: AuthorizationServer.makeStatic({ tokenEndpoint }).metadata
            })
          )
        }).pipe(Effect.provide(endpoint.layer))
      yield* Effect.gen(function*() {
        const a = yield* serviceFor("https://a.example/token")
        const b = yield* serviceFor("https://b.example/token")
        expect(accessTokenOf(yield* a.acquire())).toBe("t1")
        expect(accessTokenOf(yield* b.acquire())).toBe("t2")
        expect(accessTokenOf(yield* a.acquire())).toBe("t1")
        expect(yield* count(endpoint.requests)).toBe(2)
      }).pipe(Effect.provide(cache))
    }))

  describe("layerConfig", () => {
    const withEnv = (env: Record<string, string>) =>
      Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

    const requestFrom = (env: Record<string, string>) =>
      Effect.gen(function*() {
        const endpoint = yield* fakeEndpoint()
        yield* Effect.flatMap(ClientCredentials.ClientCredentials, (cc) => cc.acquire()).pipe(
          Effect.provide(
            ClientCredentials.layerConfig().pipe(
              Layer.provide(TokenCache.layerMemory()),
              Layer.provide(endpoint.layer),
              Layer.provide(withEnv(env))
            )
          )
        )
        return (yield* Ref.get(endpoint.requests))[0]
      })

    it.effect("reads OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_CLIENT_AUTH_METHOD, OAUTH_SCOPE, OAUTH_RESOURCE", () =>
      Effect.gen(function*() {
        const request = yield* requestFrom({
          OAUTH_CLIENT_ID: "orders",
          OAUTH_CLIENT_SECRET: "from-env-secret",
          OAUTH_CLIENT_AUTH_METHOD: "client_secret_post",
          OAUTH_SCOPE: "api:write  api:read",
          OAUTH_RESOURCE: "https://api.example"
        })
        expect(request?.auth._tag).toBe("ClientSecretPost")
        expect(request?.auth.clientId).toBe("orders")
        expect(request?.auth._tag === "ClientSecretPost" && Redacted.value(request.auth.clientSecret)).toBe("from-env-secret")
        expect(request?.params).toEqual({ scope: "api:read api:write", resource: "https://api.example" })
      }))

    it.effect("client_secret_basic is the default method; several resources repeat the parameter", () =>
      Effect.gen(function*() {
        const request = yield* requestFrom({
          OAUTH_CLIENT_ID: "orders",
          OAUTH_CLIENT_SECRET: "from-env-secret",
          OAUTH_RESOURCE: "https://a.example https://b.example"
        })
        expect(request?.auth._tag).toBe("ClientSecretBasic")
        expect(request?.params).toEqual({ scope: undefined, resource: ["https://a.example", "https://b.example"] })
      }))

    it.effect("private_key_jwt reads OAUTH_CLIENT_PRIVATE_KEY, OAUTH_CLIENT_KEY_ID and OAUTH_CLIENT_SIGNING_ALG", () =>
      Effect.gen(function*() {
        const request = yield* requestFrom({
          OAUTH_CLIENT_ID: "orders",
          OAUTH_CLIENT_AUTH_METHOD: "private_key_jwt",
          OAUTH_CLIENT_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
          OAUTH_CLIENT_KEY_ID: "k1",
          OAUTH_CLIENT_SIGNING_ALG: "PS256"
        })
        expect(request?.auth._tag).toBe("PrivateKeyJwt")
        if (request?.auth._tag === "PrivateKeyJwt") {
          expect(request.auth.keyId).toBe("k1")
          expect(request.auth.algorithm).toBe("PS256")
        }
      }))

    it.effect("a secret method without OAUTH_CLIENT_SECRET fails with a ConfigError that names it", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(requestFrom({ OAUTH_CLIENT_ID: "orders" }))
        expect(String(error)).toContain("OAUTH_CLIENT_SECRET")
      }))

    it.effect("an unknown method fails with a ConfigError", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          requestFrom({ OAUTH_CLIENT_ID: "orders", OAUTH_CLIENT_SECRET: "x", OAUTH_CLIENT_AUTH_METHOD: "magic" })
        )
        expect(String(error)).toContain("OAUTH_CLIENT_AUTH_METHOD")
      }))
  })
})
