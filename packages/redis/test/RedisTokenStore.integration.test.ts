/**
 * Two instances of an application (two `ManagedToken` services, two ioredis clients) share a user session through
 * one real redis-server, against a real authorization server (oidc-provider, `@effect-oauth/test-server`, on
 * 127.0.0.1) that rotates refresh tokens – reusing a retired one is `invalid_grant` and revokes the whole grant – with
 * access tokens that live 3 seconds. The sign-in is the real AuthorizationCode flow; refreshes go through the real
 * RefreshToken and TokenEndpoint. The server's counters tell how many refresh requests arrived.
 */
import * as AuthorizationCode from "@effect-oauth/client/AuthorizationCode"
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
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
import * as RedisTokenStore from "../src/RedisTokenStore.js"
import { signIn, webClientAuth } from "../../client/test/support/signIn.js"
import { revealed, sleepUntilExpired } from "../../client/test/support/tokens.js"
import { client, redisAvailable, redisServer } from "./redisServer.js"

const ACCESS_TOKEN_TTL_SECONDS = 3
const KEY = Redacted.make("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc")

const fetchHttpClient = FetchHttpClient.layer

/** one instance of the application: its own Redis client, ManagedToken, RefreshToken and TokenEndpoint */
const instance = (server: TestServer.TestServerInfo, redis: Redis) => {
  const auth = webClientAuth(server)
  const endpoint = Layer.merge(TokenEndpoint.layer(), Jwks.layer()).pipe(
    Layer.provideMerge(AuthorizationServer.layerStatic({
      issuer: server.issuer,
      tokenEndpoint: server.tokenEndpoint,
      authorizationEndpoint: server.authorizationEndpoint,
      jwksUri: server.jwksUri
    })),
    Layer.provide(fetchHttpClient)
  )
  const store = RedisTokenStore.layerClient(redis, { prefix: "web-app:", encryption: { key: KEY } })
  const managed = ManagedToken.layer().pipe(
    Layer.provideMerge(RefreshToken.layer({ auth })),
    Layer.provideMerge(store)
  )
  return Layer.mergeAll(managed, AuthorizationCode.layer({ auth, redirectUri: server.clients.web.redirectUri })).pipe(
    Layer.provide(endpoint)
  )
}

describe.skipIf(!redisAvailable)("RedisTokenStore + ManagedToken: two instances share a session", () => {
  it.scopedLive(
    "100 concurrent gets split across two instances across an expiry: one refresh for the fleet, no invalid_grant",
    () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const redisUrl = (yield* redisServer).url
        const a = yield* Layer.build(instance(server, yield* client(redisUrl)))
        const b = yield* Layer.build(instance(server, yield* client(redisUrl)))
        const managedA = Context.get(a, ManagedToken.ManagedToken)
        const managedB = Context.get(b, ManagedToken.ManagedToken)

        // the user signs in through instance A; instance B serves the same session from Redis
        const initial = yield* signIn().pipe(
          Effect.provideService(AuthorizationCode.AuthorizationCode, Context.get(a, AuthorizationCode.AuthorizationCode))
        )
        expect(initial.refreshToken).toBeDefined()
        // the test relies on a short lifetime: fail here rather than sleep for minutes
        expect(initial.lifetimeMillis).toBeLessThanOrEqual(ACCESS_TOKEN_TTL_SECONDS * 1000)
        yield* managedA.start("alice-session", initial)
        expect(revealed((yield* managedB.get("alice-session")).accessToken)).toBe(revealed(initial.accessToken))
        expect(server.requestCount("token:refresh_token")).toBe(0)

        yield* sleepUntilExpired(initial)
        const results = yield* Effect.all(
          Array.from({ length: 100 }, (_, i) => Effect.either((i % 2 === 0 ? managedA : managedB).get("alice-session"))),
          { concurrency: "unbounded" }
        )

        // every caller on both instances got a token: no invalid_grant (nor anything else)
        expect(results.filter((r) => r._tag === "Left")).toEqual([])
        const tokens = new Set(results.flatMap((r) => (r._tag === "Right" ? [revealed(r.right.accessToken)] : [])))
        expect(tokens.size).toBe(1)
        expect(tokens.has(revealed(initial.accessToken))).toBe(false)
        // exactly one refresh request reached the server, for both instances together
        expect(server.requestCount("token:refresh_token")).toBe(1)

        // both instances hold the same rotated token set
        const storedA = Option.getOrThrow(yield* Context.get(a, TokenStore.TokenStore).get("alice-session"))
        const storedB = Option.getOrThrow(yield* Context.get(b, TokenStore.TokenStore).get("alice-session"))
        expect(revealed(storedA.accessToken)).toBe([...tokens][0])
        expect(revealed(storedB.accessToken)).toBe([...tokens][0])
        expect(revealed(storedA.refreshToken)).toBeDefined()
        expect(revealed(storedA.refreshToken)).not.toBe(revealed(initial.refreshToken))
        expect(revealed(storedB.refreshToken)).toBe(revealed(storedA.refreshToken))

        // proof that it is the newest: the server accepts it once more (a retired one would be invalid_grant and
        // revoke the grant)
        const again = yield* Context.get(b, RefreshToken.RefreshToken).refresh(storedB.refreshToken!)
        expect(revealed(again.accessToken)).toBeDefined()
        expect(server.requestCount("token:refresh_token")).toBe(2)
      }).pipe(
        Effect.provide(TestServer.layer({ accessTokenTtl: ACCESS_TOKEN_TTL_SECONDS, rotateRefreshToken: true }))
      )
  )
})
