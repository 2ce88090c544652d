/**
 * The demo: one `Effect.gen` program that walks through what `@effect-oauth/client` does, against a real
 * authorization server (`@effect-oauth/test-server`, oidc-provider on 127.0.0.1) and a small protected API.
 *
 * It prints readable, numbered steps through the `Output` service and never prints a token: token sets print as
 * their `toString`, JWTs as a few decoded non-secret claims, refresh tokens as a short hash.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as AuthorizationCode from "@effect-oauth/client/AuthorizationCode"
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as BearerClient from "@effect-oauth/client/BearerClient"
import * as CacheKey from "@effect-oauth/client/CacheKey"
import * as ClientAuth from "@effect-oauth/client/ClientAuth"
import * as ClientCredentials from "@effect-oauth/client/ClientCredentials"
import * as Freshness from "@effect-oauth/client/Freshness"
import * as Jwks from "@effect-oauth/client/Jwks"
import * as Jwt from "@effect-oauth/client/Jwt"
import * as ManagedToken from "@effect-oauth/client/ManagedToken"
import * as RefreshToken from "@effect-oauth/client/RefreshToken"
import * as TokenCache from "@effect-oauth/client/TokenCache"
import * as TokenEndpoint from "@effect-oauth/client/TokenEndpoint"
import * as TokenExchange from "@effect-oauth/client/TokenExchange"
import { GrantTypes, type TokenSet } from "@effect-oauth/client/TokenSet"
import * as TokenStore from "@effect-oauth/client/TokenStore"
import * as TestServer from "@effect-oauth/test-server"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Api from "./api.js"
import * as Output from "./Output.js"
import * as Reports from "./reports.js"

/**
 * The access-token lifetime the demo's authorization server grants, in seconds: short, so that step 4 sees a user's
 * access token run out and `ManagedToken` refresh it.
 *
 * @since 0.1.0
 * @category constants
 */
export const accessTokenTtlSeconds = 3

/**
 * The session id of the signed-in user in step 4.
 *
 * @since 0.1.0
 * @category constants
 */
export const sessionId = "session-alice"

const { detail, line, step } = Output

/** a refresh token as a short, one-way fingerprint: enough to see that it changed */
const fingerprint = (token: Redacted.Redacted<string> | undefined): string =>
  token === undefined ? "(none)" : `#${CacheKey.sha256(Redacted.value(token)).slice(0, 8)}`

const time = (epochMillis: number): string => new Date(epochMillis).toISOString().slice(11, 19)

const claimText = (claims: Jwt.Claims, name: string): string => {
  const value = claims[name]
  if (typeof value === "string") return value
  if (Array.isArray(value)) return value.join(",")
  return "-"
}

/** the non-secret claims of an access token: whose it is, for whom, what it allows, until when */
const describeClaims = (token: TokenSet) =>
  Effect.map(Jwt.decode(token.accessToken), (claims) => {
    const exp = Jwt.expiration(claims)
    return `claims: sub=${claimText(claims, "sub")} client_id=${claimText(claims, "client_id")} ` +
      `aud=${claimText(claims, "aud")} scope="${claimText(claims, "scope")}"` +
      (exp._tag === "Some" ? ` exp=${time(exp.value)}` : "")
  })

const sameAccessToken = (a: TokenSet, b: TokenSet): boolean =>
  Redacted.value(a.accessToken) === Redacted.value(b.accessToken)

const describeCaller = (caller: Api.Caller): string =>
  `sub=${caller.sub} client_id=${caller.client_id} scope="${caller.scope}"`

/** `GET /orders` with `client`, its answer decoded */
const getOrders = <E, R>(client: HttpClient.HttpClient.With<E, R>, origin: string) =>
  client.get(`${origin}/orders`).pipe(
    Effect.flatMap(HttpClientResponse.filterStatusOk),
    Effect.flatMap(HttpClientResponse.schemaBodyJson(Api.OrdersResponse)),
    Effect.scoped
  )

/**
 * The demo's steps. Requires the client's services (built by {@link layer}), the test server, the API and an
 * `Output`.
 *
 * @since 0.1.0
 * @category programs
 */
export const steps = Effect.gen(function*() {
  const server = yield* TestServer.TestServer
  const api = yield* Api.ProtectedApi
  const startedAt = yield* Clock.currentTimeMillis
  const counter = (key: string) => Effect.sync(() => server.requestCount(key))

  yield* line("effect-oauth demo")
  yield* detail(`authorization server  ${server.issuer}  (oidc-provider, access tokens live ${accessTokenTtlSeconds} s)`)
  yield* detail(`orders API            ${api.origin}  (audience ${api.audience}, ApiAuth: JWTs against the JWKS)`)
  yield* detail(`reports API           ${(yield* Reports.ReportsApi).origin}  (calls the orders API on the caller's behalf)`)

  // 1 -----------------------------------------------------------------------------------------------------------
  yield* step(1, "Client credentials: a token, then a cache hit  [ClientCredentials, TokenCache]")
  const cc = yield* ClientCredentials.ClientCredentials
  const ccBefore = yield* counter("token:client_credentials")
  const machine = yield* cc.acquire({ scope: ["api:read"] })
  const ccAfterFirst = yield* counter("token:client_credentials")
  yield* detail(`acquire({ scope: api:read }) -> ${machine}`)
  yield* detail(yield* describeClaims(machine))
  const again = yield* cc.acquire({ scope: ["api:read"] })
  const ccAfterSecond = yield* counter("token:client_credentials")
  yield* detail(`acquire({ scope: api:read }) again -> ${sameAccessToken(machine, again) ? "the same token (cache hit)" : "a different token"}`)
  yield* detail(
    `client_credentials requests at the server: ${ccBefore} -> ${ccAfterFirst} -> ${ccAfterSecond}` +
      (ccAfterSecond === ccAfterFirst ? " (the second acquire sent none)" : "")
  )

  // 2 -----------------------------------------------------------------------------------------------------------
  yield* step(2, "An API call through BearerClient  [BearerClient over ClientCredentials.source]")
  const plain = yield* HttpClient.HttpClient
  const anonymous = yield* Effect.scoped(plain.get(`${api.origin}/orders`))
  yield* detail(`GET /orders without a token -> ${anonymous.status}, WWW-Authenticate: ${anonymous.headers["www-authenticate"] ?? "-"}`)
  const machineApi = yield* BearerClient.make(cc.source({ scope: ["api:read"] }), { origins: [api.origin] })
  const machineOrders = yield* getOrders(machineApi, api.origin)
  yield* detail(`GET /orders with BearerClient -> 200, the API saw ${describeCaller(machineOrders.caller)}`)
  yield* detail(`${machineOrders.orders.length} orders; BearerClient attaches the token for ${api.origin} only`)

  // 3 -----------------------------------------------------------------------------------------------------------
  yield* step(3, "A user signs in (authorization code + PKCE, headless)  [AuthorizationCode]")
  const authorizationCode = yield* AuthorizationCode.AuthorizationCode
  const flow = yield* authorizationCode.authorizationUrl({
    scope: ["openid", "offline_access", "api:read", "api:write"],
    resource: server.resource
  })
  const authorizationUrl = new URL(flow.url)
  yield* detail(
    `authorization URL: ${authorizationUrl.origin}${authorizationUrl.pathname}?client_id=` +
      `${authorizationUrl.searchParams.get("client_id")}&code_challenge_method=` +
      `${authorizationUrl.searchParams.get("code_challenge_method")}&… (with state, nonce and a PKCE challenge)`
  )
  const callback = yield* TestServer.signIn(flow.url, { accountId: "alice" })
  yield* detail(`alice signed in and consented -> redirected to ${new URL(callback).origin}${new URL(callback).pathname}?code=…&state=…`)
  const signedIn = yield* authorizationCode.exchangeCode(callback, flow)
  yield* detail(`exchangeCode(callback) -> ${signedIn}`)
  yield* detail(yield* describeClaims(signedIn))
  yield* detail(`refresh token ${fingerprint(signedIn.refreshToken)} (printed as a short hash, never in clear)`)

  // 4 -----------------------------------------------------------------------------------------------------------
  yield* step(4, "ManagedToken keeps the session valid: refresh with rotation  [ManagedToken, TokenStore, RefreshToken]")
  const managed = yield* ManagedToken.ManagedToken
  const store = yield* TokenStore.TokenStore
  const events = yield* managed.subscribe
  yield* managed.start(sessionId, signedIn)
  yield* detail(`start("${sessionId}") stored the signed-in token set`)
  const usableUntil = Freshness.usableUntil(signedIn)
  const wait = Math.max(0, usableUntil - (yield* Clock.currentTimeMillis)) + 50
  yield* detail(`waiting ${(wait / 1000).toFixed(1)} s, until the access token is no longer usable (${time(usableUntil)}) …`)
  yield* Effect.sleep(Duration.millis(wait))
  const refreshBefore = yield* counter("token:refresh_token")
  const concurrent = yield* Effect.all(Array.from({ length: 10 }, () => managed.get(sessionId)), { concurrency: "unbounded" })
  const refreshAfter = yield* counter("token:refresh_token")
  const refreshed = concurrent[0]!
  yield* detail(
    `10 concurrent get("${sessionId}") -> ${refreshAfter - refreshBefore} refresh_token request, ` +
      `${concurrent.every((t) => sameAccessToken(t, refreshed)) ? "all got the same new" : "different"} access token`
  )
  yield* detail(`-> ${refreshed}`)
  const stored = yield* store.get(sessionId)
  const storedRefresh = stored._tag === "Some" ? stored.value.refreshToken : undefined
  yield* detail(
    `refresh token ${fingerprint(signedIn.refreshToken)} -> ${fingerprint(refreshed.refreshToken)} ` +
      `(${Redacted.value(signedIn.refreshToken ?? Redacted.make("")) === Redacted.value(refreshed.refreshToken ?? Redacted.make("")) ? "not rotated" : "rotated"}); ` +
      `the store holds ${fingerprint(storedRefresh)}`
  )
  const seen = yield* Queue.takeAll(events)
  for (const event of seen) {
    yield* detail(
      `event ${event._tag}(${Redacted.value(event.sessionId)})` +
        (event._tag === "Ended" ? ` reason=${event.reason}` : ` refresh token ${fingerprint(event.tokenSet.refreshToken)}`) +
        (event._tag === "Rotated" ? "  <- where an application renews its session cookie" : "")
    )
  }

  // 5 -----------------------------------------------------------------------------------------------------------
  yield* step(5, "An API that calls another as the user: verify, exchange, call  [ApiAuth, TokenExchange, BearerClient]")
  const reports = yield* Reports.ReportsApi
  const exchangesBefore = yield* counter(`token:${GrantTypes.tokenExchange}`)
  const asAlice = yield* BearerClient.make(managed.source(sessionId), { origins: [reports.origin] })
  const report = yield* asAlice.get(`${reports.origin}/report`).pipe(
    Effect.flatMap(HttpClientResponse.filterStatusOk),
    Effect.flatMap(HttpClientResponse.schemaBodyJson(Reports.ReportResponse)),
    Effect.scoped
  )
  const exchangesAfter = yield* counter(`token:${GrantTypes.tokenExchange}`)
  yield* detail(`GET ${reports.origin}/report with alice's access token -> 200`)
  yield* detail(`the reports API verified it (ApiAuth.middleware): ${describeCaller(report.caller)}`)
  yield* detail(
    `exchanged it as client ${server.clients.exchanger.clientId} (token-exchange requests at the server: ` +
      `${exchangesBefore} -> ${exchangesAfter}) and called the orders API through BearerClient`
  )
  yield* detail(`the orders API saw ${describeCaller(report.ordersApiSaw)}: alice, on behalf of the reports API`)

  // 6 -----------------------------------------------------------------------------------------------------------
  yield* step(6, "The system-identity guard refuses a client-credentials token  [TokenExchange, SystemIdentity]")
  const exchange = yield* TokenExchange.TokenExchange
  const exchangeBefore = yield* counter(`token:${GrantTypes.tokenExchange}`)
  const refused = yield* Effect.flip(exchange.exchange({ subjectToken: machine, resource: server.resource }))
  yield* detail(`exchange(the token from step 1) -> ${refused._tag}: ${refused.message}`)
  const refusedBare = yield* Effect.flip(exchange.exchange({ subjectToken: machine.accessToken, resource: server.resource }))
  yield* detail(`exchange(the same token as a bare string) -> ${refusedBare._tag}: ${refusedBare.message}`)
  const exchangeAfter = yield* counter(`token:${GrantTypes.tokenExchange}`)
  yield* detail(`token-exchange requests at the server: ${exchangeBefore} -> ${exchangeAfter} (refused before sending)`)

  const finishedAt = yield* Clock.currentTimeMillis
  yield* line(`\nAll 6 steps done in ${((finishedAt - startedAt) / 1000).toFixed(1)} s.`)
})

/**
 * Every service the steps use, wired as an application would: the grants over one `TokenEndpoint` and one
 * `TokenCache`, the server found by discovery, the test server and the API started on loopback. Requires only an
 * `HttpClient` (`NodeHttpClient.layerUndici` or `FetchHttpClient.layer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Layer.unwrapEffect(
  Effect.map(TestServer.TestServer, (server) => {
    const { basic, exchanger, web } = server.clients
    const basicAuth = ClientAuth.clientSecretBasic(basic.clientId, Redacted.make(basic.clientSecret))
    const webAuth = ClientAuth.clientSecretBasic(web.clientId, Redacted.make(web.clientSecret))
    const exchangerAuth = ClientAuth.clientSecretBasic(exchanger.clientId, Redacted.make(exchanger.clientSecret))
    const sessions = ManagedToken.layer({ refresh: { resource: server.resource } }).pipe(
      Layer.provideMerge(RefreshToken.layer({ auth: webAuth })),
      Layer.provideMerge(TokenStore.layerMemory())
    )
    return Layer.mergeAll(
      ClientCredentials.layer({ auth: basicAuth, resource: server.resource }),
      TokenExchange.layer({ auth: exchangerAuth }),
      AuthorizationCode.layer({ auth: webAuth, redirectUri: web.redirectUri }),
      sessions
    ).pipe(
      Layer.provideMerge(TokenCache.layerMemory({ capacity: 1_000 })),
      // the token endpoint, and the key set its ID tokens are verified with (jwks_uri from discovery)
      Layer.provideMerge(Layer.merge(TokenEndpoint.layer(), Jwks.layer())),
      Layer.provideMerge(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" }))
    )
  })
).pipe(
  Layer.provideMerge(Reports.layerTestServer),
  Layer.provideMerge(Api.layerTestServer),
  Layer.provideMerge(TestServer.layer({ accessTokenTtl: accessTokenTtlSeconds }))
)

/**
 * The whole demo: {@link steps} with {@link layer}. Provide an `HttpClient` and an `Output`.
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.scoped(steps).pipe(Effect.provide(layer))
