/**
 * ManagedToken against a real authorization server (oidc-provider, `@effect-oauth/test-server`, on 127.0.0.1) that
 * rotates refresh tokens (reusing a retired one is `invalid_grant` and revokes the whole grant), with access tokens
 * that live 3 seconds. The user signs in headlessly through the real AuthorizationCode flow; refreshes go through the
 * real RefreshToken and TokenEndpoint over undici. The server's counters tell how many refresh requests arrived.
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as TestServer from "@effect-oauth/test-server"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as AuthorizationCode from "../src/AuthorizationCode.js"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as Jwks from "../src/Jwks.js"
import * as ManagedToken from "../src/ManagedToken.js"
import { isInvalidGrant } from "../src/OAuthError.js"
import * as RefreshToken from "../src/RefreshToken.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenStore from "../src/TokenStore.js"
import { signIn, webClientAuth } from "./support/signIn.js"
import { revealed, sleepUntilExpired } from "./support/tokens.js"

const ACCESS_TOKEN_TTL_SECONDS = 3

/** the client side, for the `web` client of the test server in context */
const clientLayer = Layer.unwrapEffect(Effect.map(TestServer.TestServer, (server) => {
  const auth = webClientAuth(server)
  const endpoint = Layer.merge(TokenEndpoint.layer(), Jwks.layer()).pipe(
    Layer.provideMerge(AuthorizationServer.layerStatic({
      issuer: server.issuer,
      tokenEndpoint: server.tokenEndpoint,
      authorizationEndpoint: server.authorizationEndpoint,
      jwksUri: server.jwksUri
    })),
    Layer.provide(NodeHttpClient.layerUndici)
  )
  const refresh = RefreshToken.layer({ auth })
  const managed = ManagedToken.layer().pipe(Layer.provideMerge(refresh), Layer.provideMerge(TokenStore.layerMemory()))
  return Layer.mergeAll(managed, AuthorizationCode.layer({ auth, redirectUri: server.clients.web.redirectUri })).pipe(
    Layer.provide(endpoint)
  )
}))

const live = clientLayer.pipe(
  Layer.provideMerge(TestServer.layer({ accessTokenTtl: ACCESS_TOKEN_TTL_SECONDS, rotateRefreshToken: true }))
)

describe("ManagedToken against the test server", () => {
  it.live(
    "100 concurrent gets across an expiry: one refresh, no invalid_grant, and the stored refresh token is the newest",
    () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const managed = yield* ManagedToken.ManagedToken
        const store = yield* TokenStore.TokenStore
        const refresh = yield* RefreshToken.RefreshToken

        const initial = yield* signIn()
        expect(initial.refreshToken).toBeDefined()
        // the test relies on a short lifetime: fail here rather than sleep for minutes
        expect(initial.lifetimeMillis).toBeLessThanOrEqual(ACCESS_TOKEN_TTL_SECONDS * 1000)
        yield* managed.start("alice-session", initial)
        expect(revealed((yield* managed.get("alice-session")).accessToken)).toBe(revealed(initial.accessToken))
        expect(server.requestCount("token:refresh_token")).toBe(0)

        yield* sleepUntilExpired(initial)
        const results = yield* Effect.all(
          Array.from({ length: 100 }, () => Effect.either(managed.get("alice-session"))),
          { concurrency: "unbounded" }
        )

        // every caller got a token: no invalid_grant (nor anything else)
        const failures = results.filter((r) => r._tag === "Left")
        expect(failures).toEqual([])
        const tokens = new Set(results.flatMap((r) => (r._tag === "Right" ? [revealed(r.right.accessToken)] : [])))
        expect(tokens.size).toBe(1)
        expect(tokens.has(revealed(initial.accessToken))).toBe(false)
        expect(server.requestCount("token:refresh_token")).toBe(1)

        // the store holds the rotated refresh token
        const stored = Option.getOrThrow(yield* store.get("alice-session"))
        expect([...tokens]).toEqual([revealed(stored.accessToken)])
        expect(revealed(stored.refreshToken)).toBeDefined()
        expect(revealed(stored.refreshToken)).not.toBe(revealed(initial.refreshToken))

        // proof that it is the newest: the server accepts it once more (a retired one would be invalid_grant)
        const again = yield* refresh.refresh(stored.refreshToken!)
        expect(revealed(again.accessToken)).toBeDefined()
        expect(server.requestCount("token:refresh_token")).toBe(2)

        // and the server does rotate: the refresh token of the sign-in was retired by the first refresh
        const reused = yield* Effect.flip(refresh.refresh(initial.refreshToken!))
        expect(isInvalidGrant(reused)).toBe(true)
      }).pipe(Effect.provide(live))
  )

  it.live("a session whose grant was revoked ends with ReauthenticationRequired and is removed", () =>
    Effect.gen(function*() {
      const managed = yield* ManagedToken.ManagedToken
      const store = yield* TokenStore.TokenStore
      const refresh = yield* RefreshToken.RefreshToken

      const initial = yield* signIn()
      yield* managed.start("bob-session", initial)
      // someone replays the refresh token twice outside the service: the server revokes the whole grant
      yield* refresh.refresh(initial.refreshToken!)
      yield* Effect.flip(refresh.refresh(initial.refreshToken!))

      yield* sleepUntilExpired(initial)
      const error = yield* Effect.flip(managed.get("bob-session"))
      expect(error).toMatchObject({ _tag: "ReauthenticationRequired", reason: "InvalidGrant" })
      expect(yield* store.get("bob-session")).toEqual(Option.none())
    }).pipe(Effect.provide(live)))
})
