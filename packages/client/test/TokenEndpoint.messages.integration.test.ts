/**
 * Errors say where: against the real test server and a closed port, each message names the endpoint URL, the client
 * and how it authenticated – so a refused connection says which server, and a wrong method reads differently from a
 * wrong secret (the client id and method are there to compare with the registration). Never a secret.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Net from "node:net"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as RetryPolicy from "../src/RetryPolicy.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"

/** a loopback port nothing listens on */
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve, reject) => {
    const probe = Net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => (address !== null && typeof address === "object" ? resolve(address.port) : reject(new Error("no port"))))
    })
  })
)

const failure = (tokenEndpoint: string, auth: ClientAuth.ClientAuth) =>
  Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) =>
    endpoint.request({ grantType: "client_credentials", auth, retry: RetryPolicy.never })).pipe(
      Effect.flip,
      Effect.provide(
        TokenEndpoint.layer().pipe(
          Layer.provide(AuthorizationServer.layerStatic({ tokenEndpoint })),
          Layer.provide(FetchHttpClient.layer)
        )
      )
    )

layer(TestServer.layer(), { excludeTestServices: true })("error messages name the endpoint, the client, the method", (it) => {
  it.effect("a refused connection, a wrong secret, a wrong method", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const { basic, post } = server.clients
      const port = yield* closedPort
      const refused = yield* failure(
        `http://127.0.0.1:${port}/token`,
        ClientAuth.clientSecretBasic(basic.clientId, Redacted.make(basic.clientSecret))
      )
      assert.strictEqual(
        refused.message,
        `token request (client_credentials) to http://127.0.0.1:${port}/token as svc-basic (client_secret_basic): ` +
          "RequestError: the request failed (ECONNREFUSED)"
      )
      const wrongSecret = yield* failure(
        server.tokenEndpoint,
        ClientAuth.clientSecretBasic(basic.clientId, Redacted.make("not-the-secret"))
      )
      assert.strictEqual(
        wrongSecret.message,
        `token request (client_credentials) to ${server.tokenEndpoint} as svc-basic (client_secret_basic): ` +
          "invalid_client (HTTP 401): client authentication failed"
      )
      // svc-post is registered for client_secret_post: the message shows what was sent instead
      const wrongMethod = yield* failure(
        server.tokenEndpoint,
        ClientAuth.clientSecretBasic(post.clientId, Redacted.make(post.clientSecret))
      )
      assert.strictEqual(
        wrongMethod.message,
        `token request (client_credentials) to ${server.tokenEndpoint} as svc-post (client_secret_basic): ` +
          "invalid_client (HTTP 401): client authentication failed"
      )
      for (const error of [refused, wrongSecret, wrongMethod]) {
        for (const secret of [basic.clientSecret, post.clientSecret]) assert.notInclude(JSON.stringify(error), secret)
      }
    }))
})
