/**
 * Introspection against a real authorization server (oidc-provider, `@effect-oauth/test-server`, on 127.0.0.1, its
 * `introspection_endpoint` found by discovery) that issues opaque access tokens for its API: the API's own client
 * (`api-rs`) introspects them – active with what they stand for, once and then from the cache (the server's counter
 * says so); a revoked or unknown token inactive; a wrong secret `invalid_client`.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as ClientCredentials from "../src/ClientCredentials.js"
import * as Introspection from "../src/Introspection.js"
import * as Revocation from "../src/Revocation.js"
import * as TokenCache from "../src/TokenCache.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import { expectFailure } from "./support/assertions.js"

const live = Layer.unwrapEffect(
  Effect.map(TestServer.TestServer, (server) => {
    const basic = ClientAuth.clientSecretBasic(server.clients.basic.clientId, Redacted.make(server.clients.basic.clientSecret))
    const api = ClientAuth.clientSecretBasic(
      server.clients.resourceServer.clientId,
      Redacted.make(server.clients.resourceServer.clientSecret)
    )
    return Layer.mergeAll(
      Introspection.layer({ auth: api }),
      ClientCredentials.layer({ auth: basic, resource: server.resource }).pipe(
        Layer.provide(TokenCache.layerMemory()),
        Layer.provide(TokenEndpoint.layer())
      ),
      Revocation.layer({ auth: basic })
    ).pipe(
      Layer.provideMerge(AuthorizationServer.layerDiscovery(server.issuer, { kind: "oidc" })),
      Layer.provideMerge(FetchHttpClient.layer)
    )
  })
).pipe(Layer.provideMerge(TestServer.layer({ accessTokenFormat: "opaque" })))

describe("Introspection against the test server", () => {
  it.live("an opaque access token introspects as active with its claims, once: the next answer comes from the cache", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const introspection = yield* Introspection.Introspection
      const cc = yield* ClientCredentials.ClientCredentials
      const token = yield* cc.acquire({ scope: ["api:read"] })
      assert.strictEqual(Redacted.value(token.accessToken).split(".").length, 1, "an opaque token, not a JWT")

      const answer = yield* introspection.introspect(token.accessToken, { hint: "access_token" })
      assert.strictEqual(answer.active, true)
      assert.strictEqual(answer.client_id, "svc-basic")
      assert.strictEqual(answer.scope, "api:read")
      assert.strictEqual(answer.aud, "https://api.example")
      assert.strictEqual(answer.iss, server.issuer)
      assert.strictEqual(answer.token_type, "Bearer")
      assert.isNumber(answer.exp)
      assert.strictEqual(server.requestCount("introspection"), 1)

      yield* introspection.introspect(token.accessToken, { hint: "access_token" })
      assert.strictEqual(server.requestCount("introspection"), 1)
    }).pipe(Effect.provide(live)))

  it.live("a revoked token and an unknown one are inactive; a wrong client secret is invalid_client", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const introspection = yield* Introspection.Introspection
      const cc = yield* ClientCredentials.ClientCredentials
      const revocation = yield* Revocation.Revocation
      const token = yield* cc.acquire({ scope: ["api:read"] })
      yield* revocation.revoke(token.accessToken, { hint: "access_token" })

      assert.deepStrictEqual(yield* introspection.introspect(token.accessToken), { active: false })
      assert.deepStrictEqual(yield* introspection.introspect(Redacted.make("no-such-token-a1b2c3")), { active: false })

      const wrong = yield* Introspection.make({
        auth: ClientAuth.clientSecretBasic(server.clients.resourceServer.clientId, Redacted.make("wrong secret"))
      })
      const error = yield* expectFailure(wrong.introspect(Redacted.make("no-such-token-a1b2c3")), "TokenEndpointError")
      assert.strictEqual(error.operation, "introspection")
      assert.strictEqual(error.status, 401)
      assert.strictEqual(error.error, "invalid_client")
    }).pipe(Effect.scoped, Effect.provide(live)))
})
