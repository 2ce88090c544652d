/**
 * Jwks: the key set fetched from a real node:http server on 127.0.0.1 (FetchHttpClient) – shared fetches, rotation,
 * the one refetch for an unknown kid and its cooldown (counted at the server), a redirect and an oversized body
 * refused – and, with a scripted HttpClient under the TestClock, the cooldown and maxAge clocks. Then verification:
 * `alg: none`, HS256 keyed with the public key, algorithm and key mismatches, forged signatures, every claim check.
 */
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc, Fiber, Layer, Metric, Redacted, TestClock, Tracer } from "effect"
import { exportJWK } from "jose"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as InternalJwks from "../src/internal/jwks.js"
import * as Jwks from "../src/Jwks.js"
import type { JwksError, JwtVerificationError } from "../src/OAuthError.js"
import {
  hmacWithPublicKey,
  jwksServer,
  keySet,
  listen,
  makeKey,
  mockJwks,
  NOW,
  sign,
  T0,
  unsigned
} from "./Jwks.fixtures.js"
import { mockHttp } from "./support/http.js"
import { awaitSleep } from "./support/waiting.js"

const keyA = await makeKey("key-a")
const keyB = await makeKey("key-b")
const keyEc = await makeKey("key-ec", "ES256")
const keyEd = await makeKey("key-ed", "Ed25519")
const stranger = await makeKey("key-a") // the same kid as keyA, another key pair

const claims = { iss: "https://as.example", sub: "alice", aud: "https://api.example", iat: NOW, exp: NOW + 3600 }
const tokenA = await sign(keyA, claims)
const tokenB = await sign(keyB, claims)
const tokenUnknownKid = await sign(stranger, claims, { kid: "key-x" })

/** the service over a real FetchHttpClient, for a JWKS at `jwksUri` */
const verifier = (jwksUri: string, options?: Jwks.Options) =>
  Effect.provide(Jwks.makeUri(jwksUri, options), FetchHttpClient.layer)

const refusal = (effect: Effect.Effect<unknown, JwtVerificationError | JwksError>) => Effect.flip(effect)

const startAtT0 = TestClock.setTime(T0)

describe("Jwks against a JWKS server on 127.0.0.1", () => {
  it.scoped("verifies, and fetches the set once: ten concurrent callers share the one fetch", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const server = yield* jwksServer(keySet(keyA))
      const jwks = yield* verifier(server.jwksUri)
      const results = yield* Effect.all(Array.from({ length: 10 }, () => jwks.verify(tokenA)), { concurrency: "unbounded" })
      assert.strictEqual(server.hits(), 1)
      assert.deepStrictEqual(results[9]!.claims, claims)
      assert.deepStrictEqual(results[9]!.header, { alg: "RS256", kid: "key-a" })
      yield* jwks.verify(Redacted.make(tokenA))
      yield* TestClock.adjust("9 minutes")
      yield* jwks.verify(tokenA)
      assert.strictEqual(server.hits(), 1)
    }))

  it.scoped("rotation: a new kid after the first fetch is found with one refetch", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const server = yield* jwksServer(keySet(keyA))
      const jwks = yield* verifier(server.jwksUri)
      yield* jwks.verify(tokenA)
      assert.strictEqual(server.hits(), 1)
      server.setBody(keySet(keyA, keyB)) // the server publishes its next key
      yield* TestClock.adjust("61 seconds")
      const verified = yield* jwks.verify(tokenB)
      assert.deepStrictEqual(verified.header, { alg: "RS256", kid: "key-b" })
      assert.strictEqual(server.hits(), 2)
      // both keys are known now: no further fetch
      yield* jwks.verify(tokenA)
      yield* jwks.verify(tokenB)
      assert.strictEqual(server.hits(), 2)
      assert.deepStrictEqual((yield* jwks.keys).map((key) => key.kid), ["key-a", "key-b"])
    }))

  it.scoped("an unknown kid twice within a minute: exactly one refetch, then the next one a minute later", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const server = yield* jwksServer(keySet(keyA))
      const jwks = yield* verifier(server.jwksUri)
      yield* jwks.verify(tokenA) // the first fetch, at T0
      yield* TestClock.adjust("61 seconds")
      const first = yield* refusal(jwks.verify(tokenUnknownKid))
      assert.strictEqual(first._tag === "JwtVerificationError" && first.reason, "UnknownKey")
      assert.strictEqual(server.hits(), 2)
      yield* TestClock.adjust("59 seconds")
      const second = yield* refusal(jwks.verify(tokenUnknownKid))
      assert.strictEqual(second._tag === "JwtVerificationError" && second.reason, "UnknownKey")
      assert.strictEqual(server.hits(), 2)
      // concurrent unknown kids inside the cooldown: still no fetch
      yield* Effect.all(Array.from({ length: 5 }, () => Effect.either(jwks.verify(tokenUnknownKid))), { concurrency: 5 })
      assert.strictEqual(server.hits(), 2)
      yield* TestClock.adjust("1 second") // a minute after the refetch
      yield* Effect.either(jwks.verify(tokenUnknownKid))
      assert.strictEqual(server.hits(), 3)
    }))

  it.scoped("a key published within the cooldown of the first fetch is used once the cooldown has passed", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const server = yield* jwksServer(keySet(keyA))
      const jwks = yield* verifier(server.jwksUri)
      yield* jwks.verify(tokenA)
      server.setBody(keySet(keyA, keyB))
      yield* TestClock.adjust("10 seconds")
      const early = yield* refusal(jwks.verify(tokenB))
      assert.strictEqual(early._tag === "JwtVerificationError" && early.reason, "UnknownKey")
      assert.strictEqual(server.hits(), 1)
      yield* TestClock.adjust("50 seconds")
      yield* jwks.verify(tokenB)
      assert.strictEqual(server.hits(), 2)
    }))

  it.scoped("a redirect is refused and not followed", () =>
    Effect.gen(function*() {
      yield* startAtT0
      let elsewhere = 0
      const target = yield* listen((_req, res) => {
        elsewhere++
        res.setHeader("content-type", "application/json")
        res.end(JSON.stringify(keySet(keyA)))
      })
      const server = yield* jwksServer(keySet(keyA))
      server.setRespond((res) => {
        res.writeHead(302, { location: `${target}/jwks` })
        res.end()
      })
      const jwks = yield* verifier(server.jwksUri)
      const error = yield* refusal(jwks.verify(tokenA))
      assert.strictEqual(error._tag, "JwksError")
      assert.strictEqual(error._tag === "JwksError" && error.reason, "Redirect")
      assert.strictEqual(error._tag === "JwksError" && error.status, 302)
      assert.strictEqual(elsewhere, 0)
      // a failed fetch is not kept: once the server answers, the next verification fetches again and succeeds
      server.setRespond(undefined)
      yield* jwks.verify(tokenA)
      assert.strictEqual(server.hits(), 2)
    }))

  it.scoped("an oversized key set is refused, with and without a Content-Length", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const big = JSON.stringify({ keys: [keyA.publicJwk], padding: "x".repeat(5000) })
      const server = yield* jwksServer(keySet(keyA))
      for (const chunked of [false, true]) {
        server.setRespond((res) => {
          res.setHeader("content-type", "application/json")
          if (chunked) {
            res.write(big.slice(0, 2500))
            res.end(big.slice(2500))
          } else {
            res.setHeader("content-length", String(Buffer.byteLength(big)))
            res.end(big)
          }
        })
        const jwks = yield* verifier(server.jwksUri, { maxResponseBytes: 4096 })
        const error = yield* refusal(jwks.verify(tokenA))
        assert.strictEqual(error._tag === "JwksError" && error.reason, "BodyTooLarge")
        assert.strictEqual(error.message, "JWKS BodyTooLarge (HTTP 200): jwks_uri: the document is larger than 4096 bytes")
      }
    }))

  it.scoped("a non-200 answer, a body that is not a key set, and a plain-http jwks_uri off loopback", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const server = yield* jwksServer(keySet(keyA))
      const jwks = yield* verifier(server.jwksUri)
      server.setRespond((res) => {
        res.statusCode = 503
        res.end("<html>down</html>")
      })
      const status = yield* refusal(jwks.verify(tokenA))
      assert.strictEqual(status._tag === "JwksError" && status.reason, "Status")
      assert.strictEqual(status._tag === "JwksError" && status.status, 503)
      for (const body of ["<html>", JSON.stringify({ keys: "none" }), JSON.stringify([keyA.publicJwk])]) {
        server.setRespond((res) => res.end(body))
        const invalid = yield* refusal(jwks.verify(tokenA))
        assert.strictEqual(invalid._tag === "JwksError" && invalid.reason, "InvalidKeySet")
      }
      const insecure = yield* verifier("http://keys.example/jwks")
      const refused = yield* refusal(insecure.verify(tokenA))
      assert.strictEqual(refused._tag === "JwksError" && refused.reason, "Configuration")
    }))
})

describe("Jwks clocks (a scripted HttpClient under the TestClock)", () => {
  const scripted = (current: () => unknown, options?: Jwks.Options) => {
    const mock = mockJwks(current)
    return { mock, jwks: Effect.provide(Jwks.makeUri("https://as.example/jwks", options), mock.layer) }
  }

  it.scoped("the cooldown is configurable and measured with the Clock", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const { jwks: make, mock } = scripted(() => keySet(keyA), { cooldown: "5 minutes" })
      const jwks = yield* make
      yield* jwks.verify(tokenA)
      yield* TestClock.adjust("4 minutes")
      yield* Effect.either(jwks.verify(tokenUnknownKid))
      assert.strictEqual(mock.requests.length, 1)
      yield* TestClock.adjust("59 seconds")
      yield* Effect.either(jwks.verify(tokenUnknownKid))
      assert.strictEqual(mock.requests.length, 1)
      yield* TestClock.adjust("1 second")
      yield* Effect.either(jwks.verify(tokenUnknownKid))
      assert.strictEqual(mock.requests.length, 2)
      assert.strictEqual(mock.requests[1]!.method, "GET")
      assert.strictEqual(mock.requests[1]!.url, "https://as.example/jwks")
      assert.strictEqual(mock.requests[1]!.headers["accept"], "application/jwk-set+json, application/json")
    }))

  it.scoped("a set older than maxAge is fetched again; fail closed when that fetch fails, not kept", () =>
    Effect.gen(function*() {
      yield* startAtT0
      let up = true
      const mock = mockHttp([() => (up ? new Response(JSON.stringify(keySet(keyA)), { status: 200 }) : new Response("", { status: 500 }))])
      const jwks = yield* Effect.provide(Jwks.makeUri("https://as.example/jwks", { maxAge: "10 minutes" }), mock.layer)
      yield* jwks.verify(tokenA)
      yield* TestClock.adjust("599 seconds")
      yield* jwks.verify(tokenA)
      assert.strictEqual(mock.requests.length, 1)
      yield* TestClock.adjust("1 second")
      yield* jwks.verify(tokenA)
      assert.strictEqual(mock.requests.length, 2)
      yield* TestClock.adjust("10 minutes")
      up = false
      const error = yield* refusal(jwks.verify(tokenA))
      assert.strictEqual(error._tag === "JwksError" && error.reason, "Status")
      up = true
      yield* jwks.verify(tokenA)
      assert.strictEqual(mock.requests.length, 4)
    }))

  it.scoped("a fetch that does not answer times out (10 s by default)", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const mock = mockHttp(["hang"])
      const jwks = yield* Effect.provide(Jwks.makeUri("https://as.example/jwks"), mock.layer)
      const fiber = yield* Effect.fork(Effect.flip(jwks.verify(tokenA)))
      yield* awaitSleep()
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "JwksError" && error.reason, "Timeout")
      assert.strictEqual(error.message, "JWKS Timeout: jwks_uri: no complete answer within 10s")
    }))

  it.scoped("jwks_uri from the AuthorizationServer metadata; none there is a Configuration error", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const mock = mockJwks(() => keySet(keyA))
      const fromMetadata = yield* Jwks.make().pipe(
        Effect.provide(Layer.merge(
          AuthorizationServer.layerStatic({ tokenEndpoint: "https://as.example/token", jwksUri: "https://as.example/keys" }),
          mock.layer
        ))
      )
      yield* fromMetadata.verify(tokenA)
      assert.strictEqual(mock.requests[0]!.url, "https://as.example/keys")
      const without = yield* Jwks.make().pipe(
        Effect.provide(Layer.merge(AuthorizationServer.layerStatic({ tokenEndpoint: "https://as.example/token" }), mock.layer))
      )
      const error = yield* refusal(without.verify(tokenA))
      assert.strictEqual(error._tag === "JwksError" && error.reason, "Configuration")
      assert.strictEqual(error.message, "JWKS Configuration: the authorization server names no jwks_uri")
      assert.strictEqual(mock.requests.length, 1)
    }))
})

describe("Jwks.verify", () => {
  const setup = (published: unknown = keySet(keyA, keyEc, keyEd), options?: Jwks.Options) => {
    const mock = mockJwks(() => published)
    return Effect.map(
      Effect.zipRight(startAtT0, Effect.provide(Jwks.makeUri("https://as.example/jwks", options), mock.layer)),
      (jwks) => ({ jwks, mock })
    )
  }
  const reasonOf = (error: JwtVerificationError | JwksError) => `${error._tag}:${error.reason}`

  it.scoped("RS256, ES256 and Ed25519 keys of one set verify; the claims and header come back as sent", () =>
    Effect.gen(function*() {
      const { jwks } = yield* setup()
      for (const key of [keyA, keyEc, keyEd]) {
        const result = yield* jwks.verify(yield* Effect.promise(() => sign(key, claims, { typ: "at+jwt" })), {
          issuer: "https://as.example",
          audience: "https://api.example",
          typ: "at+jwt"
        })
        assert.deepStrictEqual(result.header, { alg: key.alg, kid: key.kid, typ: "at+jwt" })
        assert.deepStrictEqual(result.claims, claims)
      }
    }))

  it.scoped("alg: none is refused before any key is fetched", () =>
    Effect.gen(function*() {
      const { jwks, mock } = yield* setup()
      const error = yield* refusal(jwks.verify(unsigned(claims, "key-a")))
      assert.strictEqual(reasonOf(error), "JwtVerificationError:Algorithm")
      assert.strictEqual(
        error.message,
        "JWT refused (Algorithm): alg \"none\" is not allowed (allowed: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519)"
      )
      assert.strictEqual(mock.requests.length, 0)
    }))

  it.scoped("HS256 signed with the RSA public key (its PEM, or its JWK) is refused", () =>
    Effect.gen(function*() {
      const { jwks, mock } = yield* setup()
      for (const secret of ["spki", "jwk"] as const) {
        const forged = yield* Effect.promise(() => hmacWithPublicKey(keyA, claims, secret))
        const error = yield* refusal(jwks.verify(forged))
        assert.strictEqual(reasonOf(error), "JwtVerificationError:Algorithm")
      }
      assert.strictEqual(mock.requests.length, 0)
    }))

  it.scoped("HMAC stays refused when an untyped configuration lists it and the set publishes the key as oct", () =>
    Effect.gen(function*() {
      // as a JavaScript caller or a JSON configuration would pass it: the type does not allow HS256
      const fromJson: ReadonlyArray<Jwks.Algorithm> = JSON.parse(`["HS256", "RS256"]`)
      const octKey = { kty: "oct", kid: "key-a", k: Buffer.from(keyA.spki).toString("base64url") }
      const { jwks } = yield* setup({ keys: [octKey, keyA.publicJwk] }, { algorithms: fromJson })
      const forged = yield* Effect.promise(() => hmacWithPublicKey(keyA, claims, "spki"))
      const error = yield* refusal(jwks.verify(forged, { algorithms: fromJson }))
      assert.strictEqual(error.message, "JWT refused (Algorithm): alg \"HS256\" is not allowed (allowed: RS256)")
      // the oct member is not part of the usable set
      assert.deepStrictEqual((yield* jwks.keys).map((key) => key.kty), ["RSA"])
      yield* jwks.verify(tokenA)
    }))

  it.scoped("the allow-list narrows: an ES256 token is refused when only RS256 is allowed", () =>
    Effect.gen(function*() {
      const { jwks } = yield* setup(keySet(keyA, keyEc), { algorithms: ["RS256"] })
      const error = yield* refusal(jwks.verify(yield* Effect.promise(() => sign(keyEc, claims))))
      assert.strictEqual(reasonOf(error), "JwtVerificationError:Algorithm")
      const narrowed = yield* setup(keySet(keyA, keyEc))
      const perCall = yield* refusal(narrowed.jwks.verify(tokenA, { algorithms: ["ES256"] }))
      assert.strictEqual(reasonOf(perCall), "JwtVerificationError:Algorithm")
    }))

  it.scoped("a key's alg must fit the token: PS256 with the RS256 key's kid finds no key", () =>
    Effect.gen(function*() {
      const { jwks } = yield* setup(keySet(keyA))
      const psKey = yield* Effect.promise(() => makeKey("key-a", "PS256"))
      const ps = yield* Effect.promise(() => sign(psKey, claims))
      const error = yield* refusal(jwks.verify(ps))
      assert.strictEqual(reasonOf(error), "JwtVerificationError:UnknownKey")
    }))

  it.scoped("forged: the same claims signed with another key under the same kid fail the signature", () =>
    Effect.gen(function*() {
      const { jwks } = yield* setup(keySet(keyA))
      const forged = yield* Effect.promise(() => sign(stranger, claims))
      const error = yield* refusal(jwks.verify(forged))
      assert.strictEqual(reasonOf(error), "JwtVerificationError:InvalidSignature")
      assert.strictEqual(error.message, "JWT refused (InvalidSignature): the signature does not verify")
      assert.notInclude(error.message, forged)
      // a tampered payload under a genuine signature too
      const [header, , signature] = tokenA.split(".")
      const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: "mallory" })).toString("base64url")}.${signature}`
      assert.strictEqual(reasonOf(yield* refusal(jwks.verify(tampered))), "JwtVerificationError:InvalidSignature")
    }))

  it.scoped("no kid: the one matching key is used; with several, each is tried", () =>
    Effect.gen(function*() {
      const { jwks } = yield* setup({ keys: [{ ...keyA.publicJwk, kid: undefined }, { ...keyB.publicJwk, kid: undefined }] })
      const withoutKid = yield* Effect.promise(() => sign(keyB, claims, { kid: undefined }))
      const result = yield* jwks.verify(withoutKid)
      assert.deepStrictEqual(result.header, { alg: "RS256" })
      const forged = yield* Effect.promise(() => sign(stranger, claims, { kid: undefined }))
      assert.strictEqual(reasonOf(yield* refusal(jwks.verify(forged))), "JwtVerificationError:InvalidSignature")
    }))

  it.scoped("a set that publishes a private key is refused", () =>
    Effect.gen(function*() {
      const privateJwk = yield* Effect.promise(() => exportJWK(keyA.privateKey))
      const { jwks } = yield* setup({ keys: [{ ...privateJwk, kid: "key-a", alg: "RS256" }] })
      assert.strictEqual(reasonOf(yield* refusal(jwks.verify(tokenA))), "JwksError:InvalidKeySet")
    }))

  it.scoped("malformed tokens", () =>
    Effect.gen(function*() {
      const { jwks, mock } = yield* setup()
      for (const garbage of ["", "not-a-jwt", "a.b", "a.b.c", "!!!.e30.sig", `${tokenA}.x.y`]) {
        const error = yield* refusal(jwks.verify(garbage))
        assert.strictEqual(reasonOf(error), "JwtVerificationError:Malformed", garbage)
      }
      // a header that decodes but a payload that is not JSON
      const [header, , signature] = tokenA.split(".")
      const bad = yield* refusal(jwks.verify(`${header}.${Buffer.from("[1,2]").toString("base64url")}.${signature}`))
      assert.strictEqual(reasonOf(bad), "JwtVerificationError:InvalidSignature")
      assert.strictEqual(mock.requests.length, 1)
    }))

  it.scoped("claims: exp, nbf, iss, aud, sub, typ, required claims, maxTokenAge, each with its reason and claim", () =>
    Effect.gen(function*() {
      const { jwks } = yield* setup(keySet(keyA))
      const check = (
        tokenClaims: Record<string, unknown>,
        options: Jwks.VerifyOptions,
        expected: string,
        claim: string | undefined
      ) =>
        Effect.gen(function*() {
          const token = yield* Effect.promise(() => sign(keyA, tokenClaims))
          const error = yield* refusal(jwks.verify(token, options))
          assert.strictEqual(reasonOf(error), expected, JSON.stringify(tokenClaims))
          assert.strictEqual(error._tag === "JwtVerificationError" ? error.claim : "", claim)
        })
      yield* check({ ...claims, exp: NOW }, {}, "JwtVerificationError:Expired", "exp")
      yield* check({ ...claims, exp: NOW - 31 }, { clockTolerance: "30 seconds" }, "JwtVerificationError:Expired", "exp")
      yield* check({ ...claims, nbf: NOW + 1 }, {}, "JwtVerificationError:NotYetValid", "nbf")
      yield* check(claims, { issuer: "https://other.example" }, "JwtVerificationError:Issuer", "iss")
      yield* check(claims, { audience: ["https://other.example", "web"] }, "JwtVerificationError:Audience", "aud")
      yield* check(claims, { subject: "bob" }, "JwtVerificationError:Subject", "sub")
      yield* check(claims, { typ: "at+jwt" }, "JwtVerificationError:Type", "typ")
      yield* check(claims, { requiredClaims: ["jti"] }, "JwtVerificationError:MissingClaim", "jti")
      yield* check({ ...claims, exp: "tomorrow" }, {}, "JwtVerificationError:Claim", "exp")
      yield* check({ ...claims, iat: NOW - 301 }, { maxTokenAge: "5 minutes" }, "JwtVerificationError:Expired", "iat")
      // within the tolerance: accepted
      yield* jwks.verify(yield* Effect.promise(() => sign(keyA, { ...claims, exp: NOW - 29, nbf: NOW + 29 })), {
        clockTolerance: "30 seconds"
      })
    }))

  it.scoped("time is the Effect Clock: a token valid at T0 expires when the TestClock passes exp", () =>
    Effect.gen(function*() {
      const { jwks } = yield* setup(keySet(keyA))
      const token = yield* Effect.promise(() => sign(keyA, { ...claims, exp: NOW + 60 }))
      yield* jwks.verify(token)
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(reasonOf(yield* refusal(jwks.verify(token))), "JwtVerificationError:Expired")
    }))
})

describe("Jwks: parsing and observability", () => {
  it.prop("any JSON body is a key set of typed, non-symmetric keys, or InvalidKeySet – never a throw", {
    body: fc.oneof(
      fc.json(),
      fc.record({ keys: fc.array(fc.oneof(fc.jsonValue(), fc.record({ kty: fc.constantFrom("RSA", "EC", "oct", "OKP") }))) })
        .map((value) => JSON.stringify(value))
    )
  }, ({ body }) => {
    Either.match(InternalJwks.parseKeySet(body), {
      onLeft: (error) => assert.strictEqual(error.reason, "InvalidKeySet"),
      onRight: (keys) => {
        for (const key of keys) {
          assert.isString(key.kty)
          assert.notStrictEqual(key.kty, "oct")
        }
      }
    })
  })

  it.scoped.prop("any string as a token is refused with a typed error that does not repeat it", {
    token: fc.oneof(fc.string(), fc.stringMatching(/^[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}$/))
  }, ({ token }) =>
    Effect.gen(function*() {
      yield* startAtT0
      const jwks = yield* Effect.provide(Jwks.makeUri("https://as.example/jwks"), mockJwks(() => keySet(keyA)).layer)
      const error = yield* refusal(jwks.verify(token))
      assert.oneOf(error._tag, ["JwtVerificationError", "JwksError"])
      if (token.length >= 8) assert.notInclude(error.message, token)
    }))

  it.scoped("spans and metrics name the algorithm, the outcome and the jwks_uri – never the token", () =>
    Effect.gen(function*() {
      yield* startAtT0
      const spans: Array<Tracer.Span> = []
      const base = yield* Effect.tracer
      const recording = Tracer.make({
        span: (...args) => {
          const span = base.span(...args)
          spans.push(span)
          return span
        },
        context: base.context
      })
      const jwks = yield* Effect.provide(Jwks.makeUri("https://as.example/jwks"), mockJwks(() => keySet(keyA)).layer)
      const before = yield* Metric.value(
        Jwks.fetchesTotal.pipe(Metric.tagged("trigger", "initial"), Metric.tagged("outcome", "success"))
      )
      yield* jwks.verify(tokenA).pipe(Effect.withTracer(recording))
      yield* Effect.flip(jwks.verify(tokenUnknownKid)).pipe(Effect.withTracer(recording))
      const verifies = spans.filter((span) => span.name === "Jwks.verify")
      assert.deepStrictEqual(
        verifies.map((span) => [span.attributes.get("jwt.alg"), span.attributes.get("oauth.outcome")]),
        [["RS256", "success"], ["RS256", "UnknownKey"]]
      )
      const fetches = spans.filter((span) => span.name === "Jwks.fetch")
      assert.strictEqual(fetches.length, 1)
      assert.strictEqual(fetches[0]!.attributes.get("oauth.jwks_uri"), "https://as.example/jwks")
      assert.strictEqual(fetches[0]!.attributes.get("oauth.jwks_trigger"), "initial")
      for (const span of spans) {
        for (const value of span.attributes.values()) {
          assert.notInclude(String(value), tokenA)
          assert.notInclude(String(value), tokenUnknownKid)
        }
      }
      const after = yield* Metric.value(
        Jwks.fetchesTotal.pipe(Metric.tagged("trigger", "initial"), Metric.tagged("outcome", "success"))
      )
      assert.strictEqual(after.count - before.count, 1)
    }))
})
