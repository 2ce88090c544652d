/**
 * DPoP sessions across instances: a public client (RFC 9449 §5: its refresh token is bound to the key of the sign-in)
 * signs a user in on instance A (its own DPoP key); instance B – another process in real life, with another key, the
 * same `RedisTokenStore` on one real redis-server – refreshes the session after its 3-second access token expired,
 * with the session's key (kept, sealed, in the store), and calls the test server's protected resource with it. The
 * session's refresh token sent with B's own key is refused by the server (`invalid_grant`). With nonces required and
 * not.
 */
import * as AuthorizationCode from "@effect-oauth/client/AuthorizationCode"
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as BearerClient from "@effect-oauth/client/BearerClient"
import * as ClientAuth from "@effect-oauth/client/ClientAuth"
import * as DPoP from "@effect-oauth/client/DPoP"
import * as Jwks from "@effect-oauth/client/Jwks"
import * as ManagedToken from "@effect-oauth/client/ManagedToken"
import * as RefreshToken from "@effect-oauth/client/RefreshToken"
import * as TokenEndpoint from "@effect-oauth/client/TokenEndpoint"
import * as TokenStore from "@effect-oauth/client/TokenStore"
import * as TestServer from "@effect-oauth/test-server"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import type { Redis } from "ioredis"
import * as Jose from "jose"
import * as RedisTokenStore from "../src/RedisTokenStore.js"
import { signIn } from "../../client/test/support/signIn.js"
import { revealed, sleepUntilExpired } from "../../client/test/support/tokens.js"
import { client, redisAvailable, redisServer } from "./redisServer.js"

const ACCESS_TOKEN_TTL_SECONDS = 3
const KEY = Redacted.make("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc")

/** one instance of the application: its own DPoP key, Redis client, ManagedToken, RefreshToken and TokenEndpoint */
const instance = (server: TestServer.TestServerInfo, redis: Redis) => {
  const auth = ClientAuth.none(server.clients.publicWeb.clientId)
  const endpoint = Layer.merge(TokenEndpoint.layerDPoP(), Jwks.layer()).pipe(
    Layer.provideMerge(DPoP.layer()),
    Layer.provideMerge(AuthorizationServer.layerDiscovery(server.issuer)),
    Layer.provideMerge(FetchHttpClient.layer)
  )
  const store = RedisTokenStore.layerClient(redis, { prefix: "public-app:", encryption: { key: KEY } })
  // a JWT access token for the API on every refresh (the protected resource takes JWTs)
  const managed = ManagedToken.layer({ refresh: { resource: server.resource } }).pipe(
    Layer.provideMerge(RefreshToken.layer({ auth })),
    Layer.provideMerge(store)
  )
  return Layer.mergeAll(managed, AuthorizationCode.layer({ auth, redirectUri: server.clients.publicWeb.redirectUri })).pipe(
    Layer.provideMerge(endpoint)
  )
}

const cnfJkt = (accessToken: Redacted.Redacted<string>): unknown => {
  const cnf = Jose.decodeJwt(Redacted.value(accessToken))["cnf"]
  return typeof cnf === "object" && cnf !== null && "jkt" in cnf ? cnf.jkt : undefined
}

describe.skipIf(!redisAvailable)("RedisTokenStore + ManagedToken + DPoP: a public client's session on two instances", () => {
  for (const requireDpopNonce of [false, true]) {
    it.scopedLive(
      `requireDpopNonce: ${requireDpopNonce} – B refreshes with the session's key; B's own key is refused`,
      () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          const redisUrl = (yield* redisServer).url
          const a = yield* Layer.build(instance(server, yield* client(redisUrl)))
          const b = yield* Layer.build(instance(server, yield* client(redisUrl)))
          const keyA = Context.get(a, DPoP.DPoP).key
          const keyB = Context.get(b, DPoP.DPoP).key
          const jktA = yield* Effect.promise(() => Jose.calculateJwkThumbprint({ ...keyA.publicJwk }, "sha256"))
          expect(keyB.thumbprint).not.toBe(jktA)

          // the user signs in through instance A: tokens bound to A's key, the session keeps it
          const initial = yield* signIn().pipe(
            Effect.provideService(AuthorizationCode.AuthorizationCode, Context.get(a, AuthorizationCode.AuthorizationCode))
          )
          expect([initial.tokenType, initial.jkt, cnfJkt(initial.accessToken)]).toEqual(["DPoP", jktA, jktA])
          expect(initial.lifetimeMillis).toBeLessThanOrEqual(ACCESS_TOKEN_TTL_SECONDS * 1000)
          yield* Context.get(a, ManagedToken.ManagedToken).start("bob-session", initial)

          // the store holds the key sealed: no member of the private JWK in Redis in clear
          const raw = yield* client(redisUrl)
          const keys = yield* Effect.promise(() => raw.keys("public-app:*"))
          const values = yield* Effect.promise(() => Promise.all(keys.map((k) => raw.get(k))))
          const privateJwk: unknown = JSON.parse(Redacted.value(keyA.privateJwk))
          const d = typeof privateJwk === "object" && privateJwk !== null && "d" in privateJwk ? String(privateJwk.d) : ""
          expect(d.length).toBeGreaterThan(20)
          expect(values.length).toBeGreaterThan(0)
          for (const value of values) expect(value ?? "").not.toContain(d)

          // the session's refresh token with B's own key: refused by the server (nothing rotated or revoked)
          server.resetCounts()
          const refused = yield* Effect.either(
            Context.get(b, RefreshToken.RefreshToken).refresh(initial.refreshToken ?? Redacted.make(""))
          )
          expect(refused._tag === "Left" && refused.left._tag === "TokenEndpointError" && refused.left.error)
            .toBe("invalid_grant")
          // B's first request to the server: with nonces required, a use_dpop_nonce answer first (B learns the nonce)
          expect(server.tokenRequests().map((r) => r.status)).toEqual(requireDpopNonce ? [400, 400] : [400])

          // after the expiry, B refreshes the session: with the session's key (A's), read from Redis
          yield* sleepUntilExpired(initial)
          server.resetCounts()
          const refreshed = yield* Context.get(b, ManagedToken.ManagedToken).get("bob-session")
          expect(revealed(refreshed.accessToken)).not.toBe(revealed(initial.accessToken))
          expect([refreshed.tokenType, refreshed.jkt, cnfJkt(refreshed.accessToken)]).toEqual(["DPoP", jktA, jktA])
          // one refresh request (B remembers the server's nonce)
          expect(server.tokenRequests().map((r) => [r.grantType, r.status])).toEqual([["refresh_token", 200]])
          const stored = Option.getOrThrow(yield* Context.get(a, TokenStore.TokenStore).get("bob-session"))
          expect(revealed(stored.refreshToken)).toBe(revealed(refreshed.refreshToken))
          expect(Option.map(yield* DPoP.keyOf(stored), (key) => key.thumbprint)).toEqual(Option.some(jktA))

          // B calls the protected resource with the session's token and key
          const resource = server.protectedResource.url
          const api = yield* BearerClient.make(Context.get(b, ManagedToken.ManagedToken).source("bob-session"), {
            origins: [resource],
            dpop: Context.get(b, DPoP.DPoP)
          }).pipe(Effect.provide(b))
          const me = yield* Effect.flatMap(api.get(`${resource}/me`), (r) => r.json)
          expect(me).toMatchObject({ sub: "alice", jkt: jktA })
        }).pipe(
          Effect.provide(TestServer.layer({ accessTokenTtl: ACCESS_TOKEN_TTL_SECONDS, requireDpopNonce }))
        ),
      { timeout: 60_000 }
    )
  }
})
