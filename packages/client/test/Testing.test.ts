/**
 * The test kit as a user's test uses it: code that needs a token, tested with no server under the TestClock; and the
 * one-line layer against the real test server, its URLs wired in with `Layer.unwrapEffect`.
 */
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted, TestClock } from "effect"
import * as BearerClient from "../src/BearerClient.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as ClientCredentials from "../src/ClientCredentials.js"
import { TokenEndpointError } from "../src/OAuthError.js"
import * as Testing from "../src/Testing.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenSet from "../src/TokenSet.js"

/** the code under test: it needs a token for the orders API */
const ordersToken = Effect.flatMap(ClientCredentials.ClientCredentials, (cc) => cc.acquire({ scope: ["orders:read"] }))

const withScript = (answers: ReadonlyArray<Testing.Answer>) =>
  ClientCredentials.layer({ auth: ClientAuth.clientSecretBasic("orders", Redacted.make("secret")) }).pipe(
    Layer.provide(TokenCache.layerMemory()),
    Layer.provideMerge(Testing.layerTokenEndpoint(answers))
  )

describe("Testing.layerTokenEndpoint", () => {
  it.effect("answers in order; the real cache serves, refreshes ahead, and the requests are there to read", () =>
    Effect.gen(function*() {
      const first = yield* ordersToken
      assert.strictEqual(Redacted.value(first.accessToken), "t1")
      assert.deepStrictEqual(first.scope, ["orders:read"])
      assert.strictEqual(first.expiresAt, 300_000)
      // cached: no second request
      yield* ordersToken
      assert.strictEqual((yield* Effect.flatMap(Testing.TokenRequests, (r) => r.all)).length, 1)
      // past the refresh point (80% of 300 s, ±5%): served at once, renewed in the background
      yield* TestClock.adjust("260 seconds")
      assert.strictEqual(Redacted.value((yield* ordersToken).accessToken), "t1")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(Redacted.value((yield* ordersToken).accessToken), "t2")
      const requests = yield* Effect.flatMap(Testing.TokenRequests, (r) => r.all)
      assert.deepStrictEqual(requests.map((r) => [r.grantType, r.params?.scope, r.auth.clientId]), [
        ["client_credentials", "orders:read", "orders"],
        ["client_credentials", "orders:read", "orders"]
      ])
    }).pipe(Effect.provide(withScript([{ accessToken: "t1", expiresIn: 300 }, { accessToken: "t2", expiresIn: 300 }]))))

  it.effect("a scripted failure reaches the code as the typed error, and is not cached", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ordersToken)
      assert.strictEqual(error._tag, "TokenEndpointError")
      assert.strictEqual(error._tag === "TokenEndpointError" && error.error, "invalid_client")
      assert.strictEqual(Redacted.value((yield* ordersToken).accessToken), "after")
    }).pipe(Effect.provide(withScript([
      new TokenEndpointError({ operation: "token", grant: "client_credentials", status: 401, error: "invalid_client" }),
      { accessToken: "after" }
    ]))))
})

describe("Testing.tokenSource and TokenSet.make", () => {
  it.effect("a source of fixed tokens: invalidate moves to the next (BearerClient renews once on 401)", () =>
    Effect.gen(function*() {
      const seen: Array<string | undefined> = []
      const api = HttpClient.make((request) =>
        Effect.sync(() => {
          seen.push(request.headers["authorization"])
          const status = request.headers["authorization"] === "Bearer rejected" ? 401 : 200
          return HttpClientResponse.fromWeb(request, new Response(null, { status }))
        })
      )
      const client = yield* BearerClient.make(Testing.tokenSource(["rejected", "accepted"]), {
        origins: ["https://api.example"]
      }).pipe(Effect.provideService(HttpClient.HttpClient, api))
      const response = yield* client.execute(HttpClientRequest.get("https://api.example/orders"))
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(seen, ["Bearer rejected", "Bearer accepted"])
    }))

  it.effect("TokenSet.make: defaults, times from the Clock, tokens redacted when printed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_000)
      const token = yield* TokenSet.make({ accessToken: "secret-access", refreshToken: "secret-refresh" })
      assert.strictEqual(token.tokenType, "Bearer")
      assert.strictEqual(token.issuedAt, 1_000)
      assert.strictEqual(token.expiresAt, 3_601_000)
      assert.strictEqual(token.provenance.grant, "client_credentials")
      assert.strictEqual(
        String(token),
        "TokenSet(Bearer, grant=client_credentials, scope=-, expiresAt=1970-01-01T01:00:01.000Z, refreshToken=<redacted>)"
      )
    }))
})

// the real server: its URLs are only known once it runs, so the layer is built from it
layer(TestServer.layer(), { excludeTestServices: true })("ClientCredentials.layerFromConfig against the test server", (it) => {
  it.effect("the first token from OAUTH_* variables and an HttpClient", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const token = yield* ordersLikeToken
      assert.strictEqual(token.provenance.tokenEndpoint, server.tokenEndpoint)
      assert.deepStrictEqual(token.scope, ["api:read"])
      assert.strictEqual(server.requestCount("token:client_credentials"), 1)
    }).pipe(Effect.provide(fromConfig)))
})

const ordersLikeToken = Effect.flatMap(ClientCredentials.ClientCredentials, (cc) => cc.acquire())

const fromConfig = Layer.unwrapEffect(
  Effect.map(TestServer.TestServer, (server) =>
    ClientCredentials.layerFromConfig().pipe(
      Layer.provide(FetchHttpClient.layer),
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
        new Map([
          ["OAUTH_ISSUER", server.issuer],
          ["OAUTH_CLIENT_ID", server.clients.basic.clientId],
          ["OAUTH_CLIENT_SECRET", server.clients.basic.clientSecret],
          ["OAUTH_SCOPE", "api:read"],
          ["OAUTH_RESOURCE", server.resource]
        ])
      )))
    ))
)
