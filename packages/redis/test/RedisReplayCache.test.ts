/**
 * `RedisReplayCache` on a real redis-server: one first use across two clients (two instances), the key name a keyed
 * hash of the id with the proof's time as its PTTL, Redis down is `Unavailable` (fail closed) – and two `ApiAuth`
 * instances of one API sharing it: a DPoP proof accepted by one is refused as a replay by the other, with a proof made
 * here with `jose` and with one of the library's own DPoP client for a token the test server bound to its key.
 */
import { FetchHttpClient, HttpServerResponse } from "@effect/platform"
import { AuthorizationServer, ClientCredentials, DPoP, Jwks } from "@effect-oauth/client"
import * as TestServer from "@effect-oauth/test-server"
import * as ApiAuth from "@effect-oauth/web/ApiAuth"
import * as VerifiedToken from "@effect-oauth/web/VerifiedToken"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { Redis } from "ioredis"
import { createHmac } from "node:crypto"
import * as RedisReplayCache from "../src/RedisReplayCache.js"
import {
  accessClaims,
  audience,
  dpopClient,
  dpopKey,
  issuer,
  proof,
  send,
  serverJwk,
  signAccessToken
} from "../../web/test/apiSupport.js"
import { client, redisAvailable, redisServer } from "./redisServer.js"

/** 32 bytes of 7s, base64url */
const SECRET = Redacted.make("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc")

describe.skipIf(!redisAvailable)("RedisReplayCache", () => {
  it.scopedLive("one first use across two instances; the key is the HMAC of the id, living for the ttl", () =>
    Effect.gen(function*() {
      const { url } = yield* redisServer
      const a = yield* RedisReplayCache.make(yield* client(url), { keyHashSecret: SECRET, prefix: "api:" })
      const b = yield* RedisReplayCache.make(yield* client(url), { keyHashSecret: SECRET, prefix: "api:" })
      const results = yield* Effect.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).use("jkt-1.jti-1", Duration.seconds(65))),
        { concurrency: "unbounded" }
      )
      expect(results.filter((first) => first)).toHaveLength(1)
      expect(yield* b.use("jkt-1.jti-2", Duration.seconds(65))).toBe(true)

      const inspect = yield* client(url)
      const keys = (yield* Effect.promise(() => inspect.keys("*"))).sort()
      // HMAC-SHA-256 under the 32 bytes of 7s, computed here with node:crypto
      const expected = ["jkt-1.jti-1", "jkt-1.jti-2"].map((id) =>
        `api:replay:${createHmac("sha256", Buffer.alloc(32, 7)).update(id).digest("base64url")}`
      ).sort()
      expect(keys).toEqual(expected)
      for (const key of keys) {
        expect(key).not.toContain("jti")
        const pttl = yield* Effect.promise(() => inspect.pttl(key))
        expect(pttl).toBeGreaterThan(60_000)
        expect(pttl).toBeLessThanOrEqual(65_000)
      }
    }))

  it.scopedLive("Redis unreachable: ReplayCacheError Unavailable (the API answers 503, never accepts unrecorded)", () =>
    Effect.gen(function*() {
      const redis = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const r = new Redis("redis://127.0.0.1:1", { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true })
          r.on("error", () => {})
          return r
        }),
        (r) => Effect.sync(() => r.disconnect())
      )
      const cache = yield* RedisReplayCache.make(redis, { keyHashSecret: SECRET, operationTimeout: "300 millis" })
      const error = yield* Effect.flip(cache.use("jkt.jti", Duration.seconds(60)))
      expect(error._tag).toBe("ReplayCacheError")
      expect(error.reason).toBe("Unavailable")
    }))

  it.effect("a keyHashSecret under 32 bytes is a ConfigurationError", () =>
    Effect.gen(function*() {
      const redis = new Redis({ lazyConnect: true })
      const error = yield* Effect.flip(RedisReplayCache.make(redis, { keyHashSecret: Redacted.make("c2hvcnQ") }))
      expect(error.description).toBe("keyHashSecret must be 32 bytes or more")
      redis.disconnect()
    }))

  it.scopedLive("two instances of an API sharing it: a proof accepted by one is a replay at the other", () =>
    Effect.gen(function*() {
      const { url } = yield* redisServer
      /** one instance: its own ApiAuth and Redis client, the same key set and replay secret */
      const instance = Effect.gen(function*() {
        const replay = RedisReplayCache.layerClient(yield* client(url), { keyHashSecret: SECRET })
        const context = yield* Layer.build(
          ApiAuth.layer({ audience, origin: "https://api.example" }).pipe(
            Layer.provide(Jwks.layerKeys({ keys: [serverJwk] })),
            Layer.provide(AuthorizationServer.layerStatic({ issuer, tokenEndpoint: `${issuer}/token` })),
            Layer.provide(replay)
          )
        )
        return (headers: Record<string, string>) =>
          send(
            ApiAuth.middleware(Effect.map(VerifiedToken.subject, (sub) => HttpServerResponse.text(sub ?? ""))),
            "https://api.example/orders",
            { headers }
          ).pipe(Effect.provide(context))
      })
      const a = yield* instance
      const b = yield* instance

      const key = yield* dpopKey()
      const now = Math.floor(Date.now() / 1000)
      const token = yield* signAccessToken(accessClaims({ cnf: { jkt: key.jkt } }, now))
      const headers = {
        authorization: `DPoP ${token}`,
        dpop: yield* proof(key, { htm: "GET", htu: "https://api.example/orders", accessToken: token, iat: now })
      }
      const accepted = yield* a(headers)
      expect(accepted.status).toBe(200)
      expect(accepted.body).toBe("alice")
      const replayed = yield* b(headers)
      expect(replayed.status).toBe(401)
      expect(replayed.headers["www-authenticate"]).toBe(
        `DPoP error="invalid_dpop_proof", error_description="the DPoP proof was already used", algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519"`
      )
      // a fresh proof by the same key is fine at either instance
      const fresh = yield* proof(key, { htm: "GET", htu: "https://api.example/orders", accessToken: token, iat: now })
      expect((yield* b({ ...headers, dpop: fresh })).status).toBe(200)
    }))

  it.scopedLive("the library's DPoP client, a token bound by the test server: its proof accepted by one instance is a replay at the other", () =>
    Effect.gen(function*() {
      const { url } = yield* redisServer
      const server = yield* TestServer.TestServer
      /** one instance of the API at the test server's resource: its own ApiAuth, key set and Redis client */
      const instance = Effect.gen(function*() {
        const context = yield* Layer.build(
          ApiAuth.layer({ audience: server.resource, origin: server.resource }).pipe(
            Layer.provide(Jwks.layer()),
            Layer.provide(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })),
            Layer.provide(FetchHttpClient.layer),
            Layer.provide(RedisReplayCache.layerClient(yield* client(url), { keyHashSecret: SECRET }))
          )
        )
        return (headers: Record<string, string>) =>
          send(
            ApiAuth.middleware(Effect.map(VerifiedToken.VerifiedToken, (t) => HttpServerResponse.text(`${t.scheme} ${t.jkt}`))),
            `${server.resource}/orders`,
            { headers }
          ).pipe(Effect.provide(context))
      })
      const a = yield* instance
      const b = yield* instance

      // the client: its DPoP key, svc-basic's client credentials bound to it by the server
      const clientContext = yield* Layer.build(dpopClient(server))
      const dpop = Context.get(clientContext, DPoP.DPoP)
      const tokenSet = yield* Context.get(clientContext, ClientCredentials.ClientCredentials).acquire({ scope: ["api:read"] })
      expect(tokenSet.tokenType).toBe("DPoP")
      const token = Redacted.value(tokenSet.accessToken)
      const headers = {
        authorization: `DPoP ${token}`,
        dpop: yield* dpop.proof({ method: "GET", url: `${server.resource}/orders`, accessToken: token })
      }
      const accepted = yield* a(headers)
      expect(accepted.status).toBe(200)
      expect(accepted.body).toBe(`DPoP ${dpop.key.thumbprint}`)
      const replayed = yield* b(headers)
      expect(replayed.status).toBe(401)
      expect(replayed.headers["www-authenticate"]).toBe(
        `DPoP error="invalid_dpop_proof", error_description="the DPoP proof was already used", algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519"`
      )
      // the replay is refused at the first instance too, and a fresh proof is fine at the second
      expect((yield* a(headers)).status).toBe(401)
      const fresh = yield* dpop.proof({ method: "GET", url: `${server.resource}/orders`, accessToken: token })
      expect((yield* b({ ...headers, dpop: fresh })).status).toBe(200)
    }).pipe(Effect.provide(TestServer.layer())))
})
