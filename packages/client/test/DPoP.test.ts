/**
 * DPoP (RFC 9449) unit tests: what a proof holds (checked with `jose` directly, the expected values written out – the
 * `ath` is RFC 9449 §7.1's own example), `iat` from the `TestClock`, `htu` as a property over URLs, nonces remembered
 * per origin, keys (generated, imported, printed), the token endpoint's proofs and its one resend on `use_dpop_nonce`,
 * `BearerClient` sending a bound token as `DPoP` (one replay on the resource's nonce, never `Bearer`), cache keys apart
 * by key, and a bound session without its key refused by `ManagedToken`.
 */
import { HttpClientRequest } from "@effect/platform"
import { assert, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, FastCheck as fc, Layer, Option, Redacted, TestClock } from "effect"
import * as Jose from "jose"
import { inspect } from "node:util"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as BearerClient from "../src/BearerClient.js"
import * as CacheKey from "../src/CacheKey.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as ClientCredentials from "../src/ClientCredentials.js"
import * as DPoP from "../src/DPoP.js"
import * as ManagedToken from "../src/ManagedToken.js"
import * as RefreshToken from "../src/RefreshToken.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenSet from "../src/TokenSet.js"
import * as TokenSource from "../src/TokenSource.js"
import * as TokenStore from "../src/TokenStore.js"
import { expectFailure } from "./support/assertions.js"
import { json, mockHttp } from "./support/http.js"

// RFC 9449 §7.1: this access token's `ath` is fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo
const RFC_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
const RFC_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"

/** the proof's header and claims, after its signature is verified with the public key in its own header */
const opened = (proof: string) =>
  Effect.promise(async () => {
    const { payload, protectedHeader } = await Jose.compactVerify(proof, Jose.EmbeddedJWK)
    const claims: Record<string, unknown> = JSON.parse(new TextDecoder().decode(payload))
    return { header: protectedHeader, claims }
  })

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const server = AuthorizationServer.layerStatic({ issuer: "https://as.example", tokenEndpoint: "https://as.example/token" })
const basic = ClientAuth.clientSecretBasic("svc", Redacted.make("svc-secret-value"))

const tokenBody = (tokenType: string, extra: Record<string, unknown> = {}) =>
  json(200, { access_token: "at-1", token_type: tokenType, expires_in: 300, ...extra })

describe("DPoP", () => {
  describe("proofs", () => {
    it.effect("typ dpop+jwt, the public JWK (no private member), htm, htu, iat from the Clock, a fresh jti", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        yield* TestClock.setTime(1_700_000_000_999)
        const first = yield* dpop.proof({ method: "POST", url: "https://AS.example:443/token?x=1#frag" })
        const second = yield* dpop.proof({ method: "POST", url: "https://as.example/token" })
        const { claims, header } = yield* opened(first)
        expect(header.typ).toBe("dpop+jwt")
        expect(header.alg).toBe("ES256")
        expect(Object.keys(header.jwk ?? {}).sort()).toEqual(["crv", "kty", "x", "y"])
        expect(header.jwk?.kty).toBe("EC")
        expect(header.jwk?.crv).toBe("P-256")
        expect(header.jwk).toEqual(dpop.key.publicJwk)
        expect(Object.keys(claims).sort()).toEqual(["htm", "htu", "iat", "jti"])
        expect(claims.htm).toBe("POST")
        expect(claims.htu).toBe("https://as.example/token")
        expect(claims.iat).toBe(1_700_000_000)
        expect(claims.jti).toMatch(uuid)
        const again = (yield* opened(second)).claims
        expect(again.jti).toMatch(uuid)
        expect(again.jti).not.toBe(claims.jti)
        // the key's thumbprint is RFC 7638's of that public JWK
        expect(dpop.key.thumbprint).toBe(yield* Effect.promise(() => Jose.calculateJwkThumbprint(header.jwk ?? {})))
      }))

    it.effect("ath is base64url(SHA-256(access token)): RFC 9449 §7.1's example", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        for (const token of [RFC_TOKEN, Redacted.make(RFC_TOKEN)]) {
          const { claims } = yield* opened(yield* dpop.proof({ method: "GET", url: "https://rs.example/r", accessToken: token }))
          expect(claims.ath).toBe(RFC_ATH)
        }
      }))

    it.effect("the nonce a server gave (DPoP-Nonce) goes into its origin's proofs, and only its origin's; a later one replaces it", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        const nonceOf = (url: string) => Effect.map(Effect.flatMap(dpop.proof({ method: "GET", url }), opened), (p) => p.claims.nonce)
        expect(yield* nonceOf("https://as.example/token")).toBeUndefined()
        yield* dpop.observe("https://as.example/token", { "dpop-nonce": "eyJ7S_zG.eyJH0-Z.HX4w-7v" })
        expect(yield* nonceOf("https://as.example/token")).toBe("eyJ7S_zG.eyJH0-Z.HX4w-7v")
        expect(yield* nonceOf("https://as.example/other?q")).toBe("eyJ7S_zG.eyJH0-Z.HX4w-7v")
        expect(yield* nonceOf("https://rs.example/r")).toBeUndefined()
        expect(yield* nonceOf("https://as.example:8443/token")).toBeUndefined()
        yield* dpop.observe(new URL("https://as.example/x"), { "content-type": "application/json" })
        expect(yield* nonceOf("https://as.example/token")).toBe("eyJ7S_zG.eyJH0-Z.HX4w-7v")
        yield* dpop.observe("https://as.example/token", { "dpop-nonce": "n-2" })
        expect(yield* nonceOf("https://as.example/token")).toBe("n-2")
        expect(yield* dpop.nonce("https://as.example")).toEqual(Option.some("n-2"))
        expect(yield* dpop.nonce("https://rs.example")).toEqual(Option.none())
      }))

    const segment = fc.stringMatching(/^[a-z0-9\-_~]{1,8}$/)
    const urlParts = fc.record({
      scheme: fc.constantFrom("https", "http"),
      host: fc.constantFrom("api.example", "API.Example", "127.0.0.1", "[::1]", "xn--bcher-kva.example"),
      port: fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }),
      segments: fc.array(segment, { maxLength: 4 }),
      query: fc.option(fc.stringMatching(/^[a-z0-9=&%+]{0,12}$/), { nil: undefined }),
      fragment: fc.option(fc.stringMatching(/^[a-z0-9]{0,8}$/), { nil: undefined })
    })
    it.effect.prop("htu is the URL without query and fragment, host lower-cased, default port dropped", { parts: urlParts }, ({ parts }) =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        const port = parts.port === undefined ? "" : `:${parts.port}`
        const path = `/${parts.segments.join("/")}`
        const url = `${parts.scheme}://${parts.host}${port}${path}${parts.query === undefined ? "" : `?${parts.query}`}${
          parts.fragment === undefined ? "" : `#${parts.fragment}`
        }`
        const defaultPort = parts.scheme === "https" ? 443 : 80
        const expected = `${parts.scheme}://${parts.host.toLowerCase()}${
          parts.port === undefined || parts.port === defaultPort ? "" : `:${parts.port}`
        }${path}`
        const { claims } = yield* opened(yield* dpop.proof({ method: "GET", url }))
        expect(claims.htu).toBe(expected)
      }), { fastCheck: { numRuns: 40 } })

    it.effect("htu, ath and thumbprint as functions – what a resource server checks a proof with – give the RFCs' values", () =>
      Effect.gen(function*() {
        expect(DPoP.htu("HTTPS://API.Example:443/a/../orders?page=2#top")).toEqual(Option.some("https://api.example/orders"))
        expect(DPoP.htu(new URL("http://127.0.0.1:8080/x/?q"))).toEqual(Option.some("http://127.0.0.1:8080/x/"))
        expect(DPoP.htu("/orders")).toEqual(Option.none())
        expect(DPoP.ath(RFC_TOKEN)).toBe(RFC_ATH)
        expect(DPoP.ath(Redacted.make(RFC_TOKEN))).toBe(RFC_ATH)
        // RFC 7638 §3.1's example key and its thumbprint
        const rfc7638 = {
          kty: "RSA",
          n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
          e: "AQAB",
          alg: "RS256",
          kid: "2011-04-29"
        }
        expect(yield* DPoP.thumbprint(rfc7638)).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        const error = yield* Effect.flip(DPoP.thumbprint({ kty: "oct" }))
        expect(error.reason).toBe("InvalidKey")
      }))
  })

  describe("keys", () => {
    it.effect("a given private JWK: its algorithm, its thumbprint; printing shows neither the JWK nor d", () =>
      Effect.gen(function*() {
        const { privateKey, publicKey } = yield* Effect.promise(() => Jose.generateKeyPair("ES256", { extractable: true }))
        const privateJwk = yield* Effect.promise(() => Jose.exportJWK(privateKey))
        const publicJwk = yield* Effect.promise(() => Jose.exportJWK(publicKey))
        const expected = yield* Effect.promise(() => Jose.calculateJwkThumbprint(publicJwk))
        const dpop = yield* DPoP.make({ key: { ...privateJwk, alg: "ES256" } })
        expect(dpop.key.algorithm).toBe("ES256")
        expect(dpop.key.thumbprint).toBe(expected)
        expect(dpop.key.publicJwk).toEqual({ kty: "EC", crv: "P-256", x: publicJwk.x, y: publicJwk.y })
        const d = privateJwk.d ?? ""
        expect(d.length).toBeGreaterThan(20)
        for (const shown of [String(dpop.key), JSON.stringify(dpop.key), inspect(dpop.key, { depth: Infinity })]) {
          expect(shown).not.toContain(d)
          expect(shown).toContain(expected)
        }
        expect(String(dpop.key)).toBe(`DPoP.KeyPair(ES256, jkt=${expected})`)
        // as JSON (a Redacted string, as a session keeps it), the same key
        const again = yield* DPoP.importKey(Redacted.make(JSON.stringify(privateJwk)), "ES256")
        expect(again.thumbprint).toBe(expected)
      }))

    it.effect("from the environment (DPoP.config): a given ES384 key keeps its JWK's alg; without a key, a new ES256 key", () =>
      Effect.gen(function*() {
        const { privateKey, publicKey } = yield* Effect.promise(() => Jose.generateKeyPair("ES384", { extractable: true }))
        const privateJwk = yield* Effect.promise(() => Jose.exportJWK(privateKey))
        const publicJwk = yield* Effect.promise(() => Jose.exportJWK(publicKey))
        const expected = yield* Effect.promise(() => Jose.calculateJwkThumbprint(publicJwk))
        const fromEnv = (env: Record<string, string>) =>
          Effect.flatMap(DPoP.DPoP, (dpop) => Effect.succeed(dpop.key)).pipe(
            Effect.provide(DPoP.layerConfig()),
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
          )
        const given = yield* fromEnv({ OAUTH_DPOP_KEY: JSON.stringify({ ...privateJwk, alg: "ES384" }) })
        expect(given.algorithm).toBe("ES384")
        expect(given.thumbprint).toBe(expected)
        const generated = yield* fromEnv({})
        expect(generated.algorithm).toBe("ES256")
        const named = yield* fromEnv({ OAUTH_DPOP_ALGORITHM: "EdDSA" })
        expect(named.algorithm).toBe("EdDSA")
      }))

    it.effect("refused: no private part, an unknown or symmetric algorithm, no algorithm, not JSON", () =>
      Effect.gen(function*() {
        const { publicKey } = yield* Effect.promise(() => Jose.generateKeyPair("ES256"))
        const publicJwk = yield* Effect.promise(() => Jose.exportJWK(publicKey))
        const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, import("../src/OAuthError.js").DPoPError>, string]> = [
          ["public only", DPoP.importKey({ ...publicJwk, alg: "ES256" }), "InvalidKey"],
          ["HS256", DPoP.importKey({ kty: "oct", k: "c2VjcmV0", alg: "HS256" }), "UnsupportedAlgorithm"],
          ["no alg", DPoP.importKey({ ...publicJwk, d: "AAAA" }), "InvalidKey"],
          ["not JSON", DPoP.importKey(Redacted.make("{nope")), "InvalidKey"]
        ]
        for (const [name, effect, reason] of cases) {
          const error = yield* expectFailure(effect, "DPoPError", name)
          expect([name, error.reason]).toEqual([name, reason])
        }
      }))

    it.effect("EdDSA and RS256 keys sign proofs their own header's key verifies", () =>
      Effect.gen(function*() {
        for (const algorithm of ["EdDSA", "RS256"] as const) {
          const dpop = yield* DPoP.make({ algorithm })
          const { header } = yield* opened(yield* dpop.proof({ method: "GET", url: "https://rs.example/" }))
          expect(header.alg).toBe(algorithm)
          expect(header.jwk).toEqual(dpop.key.publicJwk)
          expect(header.jwk).not.toHaveProperty("d")
        }
      }))

    it.effect("keyOf: a session's kept key, checked against its jkt", () =>
      Effect.gen(function*() {
        const key = yield* DPoP.generateKey()
        const kept = new TokenSet.TokenSet({
          ...(yield* TokenSet.make({ accessToken: "a", tokenType: "DPoP", jkt: key.thumbprint })),
          dpopKey: key.privateJwk
        })
        expect(Option.map(yield* DPoP.keyOf(kept), (k) => k.thumbprint)).toEqual(Option.some(key.thumbprint))
        const mismatched = new TokenSet.TokenSet({ ...kept, jkt: "another-thumbprint" })
        const error = yield* expectFailure(DPoP.keyOf(mismatched), "DPoPError")
        expect(error.reason).toBe("KeyMismatch")
        expect(yield* DPoP.keyOf(yield* TokenSet.make({ accessToken: "a" }))).toEqual(Option.none())
      }))
  })

  describe("the token endpoint (layerDPoP)", () => {
    const endpoint = (mock: ReturnType<typeof mockHttp>, dpop: DPoP.DPoP.Service, metadata = server) =>
      TokenEndpoint.layerDPoP().pipe(
        Layer.provide(Layer.succeed(DPoP.DPoP, dpop)),
        Layer.provide(metadata),
        Layer.provide(mock.layer)
      )
    const request = (req: TokenEndpoint.TokenRequest) =>
      Effect.flatMap(TokenEndpoint.TokenEndpoint, (e) => e.request(req))

    it.effect("a proof on every attempt; use_dpop_nonce: sent once more with the nonce; the set records jkt", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        const mock = mockHttp([
          json(400, { error: "use_dpop_nonce", error_description: "nonce required" }, { "dpop-nonce": "as-n1" }),
          tokenBody("DPoP")
        ])
        const token = yield* request({ grantType: "client_credentials", auth: basic }).pipe(
          Effect.provide(endpoint(mock, dpop))
        )
        expect(mock.requests).toHaveLength(2)
        const proofs = yield* Effect.forEach(mock.requests, (r) => opened(r.headers["dpop"] ?? ""))
        expect(proofs.map((p) => [p.claims.htm, p.claims.htu, p.claims.nonce])).toEqual([
          ["POST", "https://as.example/token", undefined],
          ["POST", "https://as.example/token", "as-n1"]
        ])
        expect(proofs[0]!.claims.jti).not.toBe(proofs[1]!.claims.jti)
        expect([token.tokenType, token.jkt, token.dpopKey]).toEqual(["DPoP", dpop.key.thumbprint, undefined])
      }))

    it.effect("a second use_dpop_nonce is the error (one resend, outside the retry schedule)", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        const mock = mockHttp([json(400, { error: "use_dpop_nonce" }, { "dpop-nonce": "n" })])
        const error = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic }).pipe(Effect.provide(endpoint(mock, dpop))),
          "TokenEndpointError"
        )
        expect(error.error).toBe("use_dpop_nonce")
        expect(mock.requests).toHaveLength(2)
      }))

    it.effect("a Bearer answer to a proof is not bound; a session's request keeps the key, with its own key", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        const mock = mockHttp([tokenBody("Bearer"), tokenBody("DPoP"), tokenBody("DPoP")])
        const layer = endpoint(mock, dpop)
        const bearer = yield* request({ grantType: "client_credentials", auth: basic }).pipe(Effect.provide(layer))
        expect([bearer.tokenType, bearer.jkt, bearer.dpopKey]).toEqual(["Bearer", undefined, undefined])
        const session = yield* DPoP.generateKey()
        const refreshed = yield* request({
          grantType: "refresh_token",
          params: { refresh_token: "rt" },
          auth: basic,
          dpopKey: session,
          keepDpopKey: true
        }).pipe(Effect.provide(layer))
        expect(refreshed.jkt).toBe(session.thumbprint)
        expect(refreshed.dpopKey).toBe(session.privateJwk)
        const signedBy = yield* opened(mock.requests[1]!.headers["dpop"] ?? "")
        expect(signedBy.header.jwk).toEqual(session.publicJwk)
        // a later request of the same fiber is the endpoint's key again
        const plain = yield* request({ grantType: "client_credentials", auth: basic }).pipe(Effect.provide(layer))
        expect(plain.jkt).toBe(dpop.key.thumbprint)
      }))

    it.effect("refused before sending: an algorithm the server does not list; a request key without DPoP", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make({ algorithm: "PS256" })
        const mock = mockHttp([tokenBody("DPoP")])
        const listing = AuthorizationServer.layerStatic({
          tokenEndpoint: "https://as.example/token",
          dpopSigningAlgValuesSupported: ["ES256", "EdDSA"]
        })
        const refused = yield* expectFailure(
          request({ grantType: "client_credentials", auth: basic }).pipe(Effect.provide(endpoint(mock, dpop, listing))),
          "ConfigurationError"
        )
        expect(refused.description).toBe(
          "the DPoP key is PS256; the server accepts proofs signed with ES256, EdDSA (dpop_signing_alg_values_supported)"
        )
        const withoutDpop = yield* expectFailure(
          request({ grantType: "refresh_token", auth: basic, dpopKey: dpop.key }).pipe(
            Effect.provide(TokenEndpoint.layer().pipe(Layer.provide(server), Layer.provide(mock.layer)))
          ),
          "ConfigurationError"
        )
        expect(withoutDpop.description).toContain("TokenEndpoint.layerDPoP")
        expect(mock.requests).toHaveLength(0)
      }))

    it.scoped("cache keys apart by key: two DPoP clients (and one without) sharing a cache get their own tokens", () =>
      Effect.gen(function*() {
        const a = yield* DPoP.make()
        const b = yield* DPoP.make()
        let n = 0
        const mock = mockHttp([() => tokenBody(`DPoP`, { access_token: `at-${++n}` })])
        const bearerMock = mockHttp([tokenBody("Bearer", { access_token: "at-bearer" })])
        const cache = yield* Layer.build(TokenCache.layerMemory())
        const acquire = (layer: Layer.Layer<TokenEndpoint.TokenEndpoint>) =>
          Effect.flatMap(ClientCredentials.ClientCredentials, (cc) => cc.acquire({ scope: ["api:read"] })).pipe(
            Effect.provide(ClientCredentials.layer({ auth: basic }).pipe(Layer.provide(layer))),
            Effect.provide(cache)
          )
        const fromA = yield* acquire(endpoint(mock, a))
        const fromB = yield* acquire(endpoint(mock, b))
        const plain = yield* acquire(TokenEndpoint.layer().pipe(Layer.provide(server), Layer.provide(bearerMock.layer)))
        expect([fromA.jkt, fromB.jkt, plain.jkt]).toEqual([a.key.thumbprint, b.key.thumbprint, undefined])
        expect([fromA, fromB, plain].map((t) => Redacted.value(t.accessToken))).toEqual(["at-1", "at-2", "at-bearer"])
        // the same key again: the cached one
        expect(yield* acquire(endpoint(mock, a))).toBe(fromA)
        expect(mock.requests).toHaveLength(2)
      }))
  })

  describe("cache keys (CacheKey.make)", () => {
    const parts = fc.record({
      endpoint: fc.string({ maxLength: 12 }),
      clientId: fc.string({ maxLength: 8 }),
      scope: fc.array(fc.stringMatching(/^[a-z:]{1,6}$/), { maxLength: 3 })
    })
    const jkt = fc.stringMatching(/^[A-Za-z0-9_-]{43}$/)
    it.prop("a jkt is a part of its own: two keys apart, none apart, and without one the key is as before", [parts, jkt, jkt], ([p, j1, j2]) => {
      const base = { ...p, grant: "client_credentials" }
      const withA = CacheKey.make({ ...base, jkt: j1 }, CacheKey.sha256)
      const withB = CacheKey.make({ ...base, jkt: j2 }, CacheKey.sha256)
      const none = CacheKey.make(base, CacheKey.sha256)
      expect(withA === withB).toBe(j1 === j2)
      expect(withA).not.toBe(none)
      expect(withA.endsWith(`,["jkt",${JSON.stringify(j1)}]]`)).toBe(true)
      // the Bearer key, written out: the eight parts, no ninth
      expect(none).toBe(
        `effect-oauth/v1${
          JSON.stringify([p.endpoint, p.clientId, "client_credentials", [...new Set(p.scope)].sort(), [], [], [], []])
        }`
      )
    })
  })

  describe("BearerClient", () => {
    const origin = "https://rs.example"
    const boundToken = (key: DPoP.KeyPair, token = RFC_TOKEN) =>
      TokenSet.make({ accessToken: token, tokenType: "DPoP", jkt: key.thumbprint })
    const nonceChallenge = () =>
      new Response(JSON.stringify({ error: "use_dpop_nonce" }), {
        status: 401,
        headers: { "www-authenticate": "DPoP error=\"use_dpop_nonce\", error_description=\"nonce\"", "dpop-nonce": "rs-n1" }
      })

    it.effect("a bound token: Authorization DPoP and a proof with ath; the resource's nonce: one replay, any method", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        const mock = mockHttp([nonceChallenge(), new Response("ok", { status: 201 }), new Response("ok")])
        const client = yield* BearerClient.make(TokenSource.succeed(yield* boundToken(dpop.key)), {
          origins: [origin],
          dpop
        }).pipe(Effect.provide(mock.layer))
        const response = yield* client.execute(
          HttpClientRequest.post(`${origin}/orders?x=1`).pipe(HttpClientRequest.bodyText("{\"item\":1}", "application/json"))
        )
        expect(response.status).toBe(201)
        expect(mock.requests.map((r) => [r.method, r.headers["authorization"], r.body])).toEqual([
          ["POST", `DPoP ${RFC_TOKEN}`, "{\"item\":1}"],
          ["POST", `DPoP ${RFC_TOKEN}`, "{\"item\":1}"]
        ])
        const proofs = yield* Effect.forEach(mock.requests, (r) => opened(r.headers["dpop"] ?? ""))
        expect(proofs.map((p) => [p.claims.htm, p.claims.htu, p.claims.ath, p.claims.nonce])).toEqual([
          ["POST", `${origin}/orders`, RFC_ATH, undefined],
          ["POST", `${origin}/orders`, RFC_ATH, "rs-n1"]
        ])
        // the nonce is remembered: the next request carries it at once
        yield* client.get(`${origin}/orders`)
        expect((yield* opened(mock.requests[2]!.headers["dpop"] ?? "")).claims.nonce).toBe("rs-n1")
        expect(mock.requests).toHaveLength(3)
      }))

    it.effect("a second use_dpop_nonce is returned as it is (one replay)", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        const mock = mockHttp([nonceChallenge()])
        const client = yield* BearerClient.make(TokenSource.succeed(yield* boundToken(dpop.key)), { origins: [origin], dpop })
          .pipe(Effect.provide(mock.layer))
        expect((yield* client.get(`${origin}/r`)).status).toBe(401)
        expect(mock.requests).toHaveLength(2)
      }))

    it.effect("never a bound token as Bearer: without the DPoP service, or with a key it is not bound to – nothing sent", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        const other = yield* DPoP.generateKey()
        const mock = mockHttp([new Response("ok")])
        const without = yield* BearerClient.make(TokenSource.succeed(yield* boundToken(dpop.key)), { origins: [origin] })
          .pipe(Effect.provide(mock.layer))
        const refused = yield* expectFailure(without.get(`${origin}/r`), "NotAnAccessTokenError")
        expect(refused.message).toBe(
          "refusing to send a token of type DPoP as a bearer token: give BearerClient the DPoP service (the dpop option)"
        )
        const mismatched = yield* BearerClient.make(TokenSource.succeed(yield* boundToken(other)), { origins: [origin], dpop })
          .pipe(Effect.provide(mock.layer))
        const error = yield* expectFailure(mismatched.get(`${origin}/r`), "DPoPError")
        expect(error.reason).toBe("KeyMismatch")
        expect(mock.requests).toHaveLength(0)
      }))

    it.effect("a session's token set is sent with the key it keeps; a Bearer token stays Bearer", () =>
      Effect.gen(function*() {
        const dpop = yield* DPoP.make()
        const session = yield* DPoP.generateKey()
        const mock = mockHttp([new Response("ok")])
        const kept = new TokenSet.TokenSet({ ...(yield* boundToken(session)), dpopKey: session.privateJwk })
        const client = yield* BearerClient.make(TokenSource.succeed(kept), { origins: [origin], dpop })
          .pipe(Effect.provide(mock.layer))
        yield* client.get(`${origin}/r`)
        expect((yield* opened(mock.requests[0]!.headers["dpop"] ?? "")).header.jwk).toEqual(session.publicJwk)
        const bearer = yield* BearerClient.make(TokenSource.succeed(yield* TokenSet.make({ accessToken: "plain" })), {
          origins: [origin],
          dpop
        }).pipe(Effect.provide(mock.layer))
        yield* bearer.get(`${origin}/r`)
        expect([mock.requests[1]!.headers["authorization"], mock.requests[1]!.headers["dpop"]]).toEqual(["Bearer plain", undefined])
      }))
  })

  it.scoped("ManagedToken.start refuses a bound token set that keeps no key (no instance could refresh it)", () =>
    Effect.gen(function*() {
      const refresh = Layer.succeed(RefreshToken.RefreshToken, { refresh: () => Effect.dieMessage("no refresh expected") })
      const context = yield* Layer.build(
        ManagedToken.layer().pipe(Layer.provide(refresh), Layer.provide(TokenStore.layerMemory()))
      )
      const managed = Context.get(context, ManagedToken.ManagedToken)
      const bound = yield* TokenSet.make({ accessToken: "a", tokenType: "DPoP", jkt: "j", refreshToken: "r" })
      const error = yield* expectFailure(managed.start("s", bound), "DPoPError")
      expect(error.reason).toBe("NoKey")
      assert.strictEqual(Option.isNone(yield* managed.remove("s")), true)
    }))
})
