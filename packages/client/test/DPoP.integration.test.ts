/**
 * DPoP (RFC 9449) end to end against the test server (oidc-provider, and the test server's own token exchange and
 * protected resource, which check proofs with `jose` alone), with nonces required and not: every grant – client
 * credentials, authorization code, refresh, token exchange – gets a DPoP-bound token (`token_type: DPoP`, the JWT's
 * `cnf.jkt` the thumbprint of the key, computed here from its public JWK), the nonce round trip costs exactly one
 * extra request (the server's own logs), `BearerClient` reaches the protected resource with a proof (and one replay for
 * its nonce), a public client's refresh token is bound to the key of the sign-in, and a key the server does not list
 * is refused before anything is sent.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import * as Jose from "jose"
import * as AuthorizationCode from "../src/AuthorizationCode.js"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as BearerClient from "../src/BearerClient.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as ClientCredentials from "../src/ClientCredentials.js"
import * as DPoP from "../src/DPoP.js"
import * as Jwks from "../src/Jwks.js"
import * as RefreshToken from "../src/RefreshToken.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenExchange from "../src/TokenExchange.js"
import type { TokenSet } from "../src/TokenSet.js"
import * as TokenSource from "../src/TokenSource.js"
import { expectFailure } from "./support/assertions.js"
import { signIn, webClientAuth } from "./support/signIn.js"
import { accessTokenOf } from "./support/tokens.js"

/** the services of one client instance: its own DPoP key (and nonce memory), over the discovered test server */
const instance = (server: TestServer.TestServerInfo, options?: DPoP.Options, auth = webClientAuth(server)) => {
  const base = Layer.mergeAll(TokenEndpoint.layerDPoP(), Jwks.layer()).pipe(
    Layer.provideMerge(DPoP.layer(options)),
    Layer.provideMerge(AuthorizationServer.layerDiscovery(server.issuer)),
    Layer.provideMerge(FetchHttpClient.layer)
  )
  return Layer.mergeAll(
    ClientCredentials.layer({
      auth: ClientAuth.clientSecretBasic(server.clients.basic.clientId, Redacted.make(server.clients.basic.clientSecret)),
      resource: server.resource
    }),
    TokenExchange.layer({
      auth: ClientAuth.clientSecretBasic(
        server.clients.exchanger.clientId,
        Redacted.make(server.clients.exchanger.clientSecret)
      )
    }),
    AuthorizationCode.layer({ auth, redirectUri: server.clients.web.redirectUri }),
    RefreshToken.layer({ auth })
  ).pipe(Layer.provide(TokenCache.layerMemory()), Layer.provideMerge(base))
}

type Instance = Layer.Layer.Success<ReturnType<typeof instance>>

/** builds an instance in the test's scope */
const build = (server: TestServer.TestServerInfo, options?: DPoP.Options, auth?: ClientAuth.ClientAuth) =>
  Layer.build(instance(server, options, auth))

/** the RFC 7638 thumbprint of the instance's key, computed here from its public JWK */
const thumbprintOf = (context: Context.Context<Instance>) =>
  Effect.promise(() => Jose.calculateJwkThumbprint({ ...Context.get(context, DPoP.DPoP).key.publicJwk }, "sha256"))

/** the `cnf.jkt` of a JWT access token */
const cnfJkt = (token: TokenSet): unknown => {
  const cnf = Jose.decodeJwt(accessTokenOf(token))["cnf"]
  return typeof cnf === "object" && cnf !== null && "jkt" in cnf ? cnf.jkt : undefined
}

/** the statuses of the token requests of one grant since the last reset */
const statuses = (server: TestServer.TestServerInfo, grant: string) =>
  server.tokenRequests().filter((r) => r.grantType === grant).map((r) => r.status)

for (const requireDpopNonce of [false, true]) {
  /** what the first request to a server costs with nonces required: a `use_dpop_nonce` answer, then the request */
  const first = requireDpopNonce ? [400, 200] : [200]

  layer(TestServer.layer({ requireDpopNonce }), { excludeTestServices: true })(
    `DPoP against the test server, requireDpopNonce: ${requireDpopNonce}`,
    (it) => {
      it.scoped("client credentials: token_type DPoP, cnf.jkt the key's thumbprint; the nonce costs one request, once", () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          const client = yield* build(server)
          const jkt = yield* thumbprintOf(client)
          const cc = Context.get(client, ClientCredentials.ClientCredentials)
          server.resetCounts()
          const token = yield* cc.acquire({ scope: ["api:read"] })
          expect(token.tokenType).toBe("DPoP")
          expect(token.jkt).toBe(jkt)
          expect(cnfJkt(token)).toBe(jkt)
          // a cached grant's token set never keeps a private key
          expect(token.dpopKey).toBeUndefined()
          expect(statuses(server, "client_credentials")).toEqual(first)
          // the nonce is remembered for the server: the next request costs one
          yield* cc.acquire({ scope: ["api:read"], allowCached: false })
          expect(statuses(server, "client_credentials")).toEqual([...first, 200])
          // cached: none
          expect(yield* cc.acquire({ scope: ["api:read"] })).toBe(token)
          expect(server.requestCount("token")).toBe(first.length + 1)
        }))

      it.scoped("authorization code and refresh (confidential client): both bound; the session keeps its key", () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          const client = yield* build(server)
          const jkt = yield* thumbprintOf(client)
          server.resetCounts()
          const tokens = yield* signIn().pipe(Effect.provide(client))
          expect(tokens.tokenType).toBe("DPoP")
          expect(tokens.jkt).toBe(jkt)
          expect(cnfJkt(tokens)).toBe(jkt)
          expect(statuses(server, "authorization_code")).toEqual(first)
          // the token set of a session keeps the private key it is bound to
          const kept = yield* DPoP.keyOf(tokens)
          expect(Option.map(kept, (key) => key.thumbprint)).toEqual(Option.some(jkt))
          expect(`${tokens}`).not.toContain("\"d\"")
          expect(JSON.stringify(tokens)).toContain("\"dpopKey\":\"<redacted>\"")

          const refresher = Context.get(client, RefreshToken.RefreshToken)
          const refreshed = yield* refresher.refresh(tokens.refreshToken ?? Redacted.make(""), {
            resource: server.resource,
            dpopKey: Option.getOrUndefined(kept)
          })
          expect(refreshed.tokenType).toBe("DPoP")
          expect(refreshed.jkt).toBe(jkt)
          expect(cnfJkt(refreshed)).toBe(jkt)
          expect(refreshed.dpopKey).toBeDefined()
          expect(statuses(server, "refresh_token")).toEqual([200])
        }))

      it.scoped("public client: code and refresh bound to the key of the sign-in; another key's refresh is invalid_grant", () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          const client = yield* build(server, undefined, ClientAuth.none(server.clients.publicWeb.clientId))
          const jkt = yield* thumbprintOf(client)
          server.resetCounts()
          const tokens = yield* signIn().pipe(Effect.provide(client))
          expect([tokens.tokenType, tokens.jkt, cnfJkt(tokens)]).toEqual(["DPoP", jkt, jkt])
          const refresher = Context.get(client, RefreshToken.RefreshToken)
          const refreshToken = tokens.refreshToken ?? Redacted.make("")

          // the same refresh token with another key: refused, and nothing consumed
          const other = yield* DPoP.generateKey()
          const refused = yield* expectFailure(
            refresher.refresh(refreshToken, { resource: server.resource, dpopKey: other }),
            "TokenEndpointError"
          )
          expect(refused.error).toBe("invalid_grant")
          // with the session's key (the endpoint's here): accepted, bound again
          const sessionKey = yield* DPoP.keyOf(tokens)
          const refreshed = yield* refresher.refresh(refreshToken, {
            resource: server.resource,
            dpopKey: Option.getOrUndefined(sessionKey)
          })
          expect([refreshed.tokenType, refreshed.jkt, cnfJkt(refreshed)]).toEqual(["DPoP", jkt, jkt])
          expect(statuses(server, "refresh_token")).toEqual([400, 200])
        }))

      it.scoped("token exchange: the exchanged token is bound to the exchanging client's key", () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          // the user signs in through one instance; another (its own key, no nonce known yet) exchanges
          const user = yield* signIn().pipe(Effect.provide(yield* build(server)))
          const exchanger = yield* build(server)
          const jkt = yield* thumbprintOf(exchanger)
          server.resetCounts()
          const exchanged = yield* Context.get(exchanger, TokenExchange.TokenExchange).exchange({
            subjectToken: user.accessToken,
            resource: server.resource,
            scope: ["api:read"]
          })
          expect([exchanged.tokenType, exchanged.jkt, cnfJkt(exchanged)]).toEqual(["DPoP", jkt, jkt])
          expect(exchanged.dpopKey).toBeUndefined()
          expect(Jose.decodeJwt(accessTokenOf(exchanged)).sub).toBe("alice")
          expect(statuses(server, TestServer.tokenExchangeGrant)).toEqual(first)
        }))

      it.scoped("BearerClient: the protected resource accepts the proofs; its nonce costs one request, once", () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          const client = yield* build(server)
          const jkt = yield* thumbprintOf(client)
          const dpop = Context.get(client, DPoP.DPoP)
          const cc = Context.get(client, ClientCredentials.ClientCredentials)
          const resource = server.protectedResource.url
          const api = yield* BearerClient.make(cc.source({ scope: ["api:read"] }), { origins: [resource], dpop }).pipe(
            Effect.provide(client)
          )
          server.resetCounts()
          const got = yield* Effect.flatMap(api.get(`${resource}/orders?page=2#top`), (r) => r.json)
          expect(got).toEqual({
            sub: server.clients.basic.clientId,
            client_id: server.clients.basic.clientId,
            scope: "api:read",
            jkt,
            method: "GET",
            path: "/orders?page=2"
          })
          const seen = () => server.protectedResource.requests().map((r) => [r.scheme, r.status, r.error])
          const nonceFirst = requireDpopNonce
            ? [["dpop", 401, "use_dpop_nonce"], ["dpop", 200, undefined]]
            : [["dpop", 200, undefined]]
          expect(seen()).toEqual(nonceFirst)
          // a POST with a body, after: one request (the nonce is remembered for the resource's origin)
          const posted = yield* Effect.flatMap(api.post(`${resource}/orders`, { body: undefined }), (r) => r.json)
          expect(posted).toMatchObject({ method: "POST", path: "/orders", jkt })
          expect(seen()).toEqual([...nonceFirst, ["dpop", 200, undefined]])
          // the resource's nonce is not the authorization server's: both are remembered
          const resourceNonce = yield* dpop.nonce(resource)
          const serverNonce = yield* dpop.nonce(server.tokenEndpoint)
          if (requireDpopNonce) {
            expect(Option.isSome(resourceNonce) && Option.isSome(serverNonce)).toBe(true)
            expect(resourceNonce).not.toEqual(serverNonce)
          }
        }))

      it.scoped("BearerClient: a session's token with its kept key; without the DPoP service a bound token is never sent", () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          // signed in through one instance (its key kept by the token set); sent by another (another key)
          const tokens = yield* signIn().pipe(Effect.provide(yield* build(server)))
          const other = yield* build(server)
          const resource = server.protectedResource.url
          const dpop = Context.get(other, DPoP.DPoP)
          expect(dpop.key.thumbprint).not.toBe(tokens.jkt)
          const api = yield* BearerClient.make(TokenSource.succeed(tokens), { origins: [resource], dpop }).pipe(
            Effect.provide(other)
          )
          const got = yield* Effect.flatMap(api.get(`${resource}/me`), (r) => r.json)
          expect(got).toMatchObject({ sub: "alice", jkt: tokens.jkt })

          server.resetCounts()
          const bearerOnly = yield* BearerClient.make(TokenSource.succeed(tokens), { origins: [resource] }).pipe(
            Effect.provide(other)
          )
          const refused = yield* expectFailure(bearerOnly.get(`${resource}/me`), "NotAnAccessTokenError")
          expect(refused.tokenType).toBe("DPoP")
          expect(server.protectedResource.requestCount()).toBe(0)
        }))

      it.scoped("EdDSA keys are bound; a key the server does not list (PS256) is refused before anything is sent", () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          const ed = yield* build(server, { algorithm: "EdDSA" })
          const jkt = yield* thumbprintOf(ed)
          const token = yield* Context.get(ed, ClientCredentials.ClientCredentials).acquire({ scope: ["api:read"] })
          expect([token.tokenType, token.jkt, cnfJkt(token)]).toEqual(["DPoP", jkt, jkt])

          const ps = yield* build(server, { algorithm: "PS256" })
          server.resetCounts()
          const refused = yield* expectFailure(
            Context.get(ps, ClientCredentials.ClientCredentials).acquire({ scope: ["api:read"] }),
            "ConfigurationError"
          )
          expect(refused.description).toBe(
            "the DPoP key is PS256; the server accepts proofs signed with ES256, EdDSA, Ed25519, RS256 " +
              "(dpop_signing_alg_values_supported)"
          )
          expect(server.requestCount("token")).toBe(0)
        }))
    }
  )
}
