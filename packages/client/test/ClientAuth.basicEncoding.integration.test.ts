/**
 * `client_secret_basic` against two real servers that read the Basic header differently:
 * - `@node-oauth/oauth2-server` (an independent implementation) hands the header's id and secret to its model as they
 *   are, without the form-decoding RFC 6749 §2.3.1 asks for – like many deployed servers;
 * - the test server (oidc-provider) form-decodes them, as the RFC says.
 * The default encoding (`rfc6749`) is right for the second and fails on the first with a secret holding specials; the
 * opt-in `rfc7617` (raw `id:secret`) is right for the first and fails on the second. `client_secret_post` works on
 * both. Both over the real `TokenEndpoint` and fetch, loopback only.
 */
import { FetchHttpClient } from "@effect/platform"
import * as TestServer from "@effect-oauth/test-server"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth2Server from "@node-oauth/oauth2-server"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import * as Http from "node:http"
import * as AuthorizationServer from "../src/AuthorizationServer.js"
import * as ClientAuth from "../src/ClientAuth.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import { expectFailure } from "./support/assertions.js"

const CLIENT_ID = "svc+id&x~1"
const CLIENT_SECRET = "s3 c:r%e+t&=~!*'()"

/** @node-oauth/oauth2-server on 127.0.0.1 with one client_credentials client; the secrets its model was handed */
const startNodeOAuth = async () => {
  const handed: Array<{ readonly clientId: string; readonly clientSecret: string }> = []
  const oauth = new OAuth2Server({
    model: {
      getClient: async (clientId: string, clientSecret: string) => {
        handed.push({ clientId, clientSecret })
        return clientId === CLIENT_ID && clientSecret === CLIENT_SECRET
          ? { id: CLIENT_ID, grants: ["client_credentials"] }
          : false
      },
      getUserFromClient: async () => ({ id: "service-user" }),
      saveToken: async (token, client, user) => ({ ...token, client, user }),
      getAccessToken: async () => false
    },
    requireClientAuthentication: { client_credentials: true }
  })
  const server = Http.createServer((req, res) => {
    let raw = ""
    req.on("data", (chunk: Buffer) => (raw += chunk.toString("utf8")))
    req.on("end", () => {
      const request = new OAuth2Server.Request({
        method: req.method ?? "POST",
        // a single value per header (Node joins repeated ones into a string; set-cookie is not sent here)
        headers: Object.fromEntries(
          Object.entries(req.headers).flatMap(([name, value]) => (typeof value === "string" ? [[name, value]] : []))
        ),
        query: {},
        body: Object.fromEntries(new URLSearchParams(raw))
      })
      const response = new OAuth2Server.Response({ headers: {} })
      oauth.token(request, response).then(
        () => undefined,
        () => undefined
      ).finally(() => {
        res.writeHead(response.status ?? 500, { "content-type": "application/json" })
        res.end(JSON.stringify(response.body ?? {}))
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no TCP address")
  const port = address.port
  return {
    tokenEndpoint: `http://127.0.0.1:${port}/token`,
    handed,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

let nodeOAuth: Awaited<ReturnType<typeof startNodeOAuth>>
let testServer: TestServer.TestServerInfo

beforeAll(async () => {
  nodeOAuth = await startNodeOAuth()
  testServer = await TestServer.start()
})

afterAll(async () => {
  await nodeOAuth?.stop()
  await testServer?.stop()
})

const token = (tokenEndpoint: string, auth: ClientAuth.ClientAuth, resource?: string) =>
  Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) =>
    endpoint.request({
      grantType: "client_credentials",
      params: resource === undefined ? {} : { resource },
      auth
    })).pipe(
      Effect.provide(
        TokenEndpoint.layer({ retry: { client_credentials: { _tag: "Never" } } }).pipe(
          Layer.provide(AuthorizationServer.layerStatic({ tokenEndpoint })),
          Layer.provide(FetchHttpClient.layer)
        )
      )
    )

describe("client_secret_basic encodings against a server that does not form-decode (@node-oauth/oauth2-server)", () => {
  it.live("rfc6749 (the default) is refused there: the model is handed the form-encoded secret", () =>
    Effect.gen(function*() {
      nodeOAuth.handed.length = 0
      const error = yield* expectFailure(
        token(nodeOAuth.tokenEndpoint, ClientAuth.clientSecretBasic(CLIENT_ID, Redacted.make(CLIENT_SECRET))),
        "TokenEndpointError"
      )
      assert.strictEqual(error.error, "invalid_client")
      assert.deepStrictEqual(nodeOAuth.handed, [{
        clientId: "svc%2Bid%26x%7E1",
        clientSecret: "s3+c%3Ar%25e%2Bt%26%3D%7E%21*%27%28%29"
      }])
      assert.notInclude(error.message, CLIENT_SECRET)
    }))

  it.live("rfc7617 is accepted: the raw id and secret arrive as they are", () =>
    Effect.gen(function*() {
      nodeOAuth.handed.length = 0
      const issued = yield* token(
        nodeOAuth.tokenEndpoint,
        ClientAuth.clientSecretBasic(CLIENT_ID, Redacted.make(CLIENT_SECRET), { encoding: "rfc7617" })
      )
      assert.strictEqual(issued.tokenType, "Bearer")
      assert.deepStrictEqual(nodeOAuth.handed, [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }])
    }))

  it.live("client_secret_post is accepted too", () =>
    Effect.gen(function*() {
      const issued = yield* token(nodeOAuth.tokenEndpoint, ClientAuth.clientSecretPost(CLIENT_ID, Redacted.make(CLIENT_SECRET)))
      assert.strictEqual(issued.tokenType, "Bearer")
    }))

  it.live("OAUTH_CLIENT_BASIC_ENCODING=rfc7617 selects it from the environment", () =>
    Effect.gen(function*() {
      const auth = yield* ClientAuth.config.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([
          ["OAUTH_CLIENT_ID", CLIENT_ID],
          ["OAUTH_CLIENT_SECRET", CLIENT_SECRET],
          ["OAUTH_CLIENT_BASIC_ENCODING", "rfc7617"]
        ])))
      )
      const issued = yield* token(nodeOAuth.tokenEndpoint, auth)
      assert.strictEqual(issued.tokenType, "Bearer")
    }))
})

describe("client_secret_basic encodings against a server that form-decodes (the test server, oidc-provider)", () => {
  it.live("rfc6749 is accepted; rfc7617 with a secret holding specials is refused", () =>
    Effect.gen(function*() {
      const { clientId, clientSecret } = testServer.clients.basic
      const issued = yield* token(
        testServer.tokenEndpoint,
        ClientAuth.clientSecretBasic(clientId, Redacted.make(clientSecret)),
        testServer.resource
      )
      assert.strictEqual(issued.tokenType, "Bearer")
      const error = yield* expectFailure(
        token(
          testServer.tokenEndpoint,
          ClientAuth.clientSecretBasic(clientId, Redacted.make(clientSecret), { encoding: "rfc7617" }),
          testServer.resource
        ),
        "TokenEndpointError"
      )
      assert.oneOf(error.error, ["invalid_client", "invalid_request"])
      assert.notInclude(error.message, clientSecret)
    }))
})

describe("rfc7617 and a client id with ':'", () => {
  it.effect("is a ConfigurationError before any request (RFC 7617 §2), and a ConfigError from the environment", () =>
    Effect.gen(function*() {
      const error = yield* expectFailure(
        token("http://127.0.0.1:9/token", ClientAuth.clientSecretBasic("a:b", Redacted.make("secret-1"), { encoding: "rfc7617" })),
        "ConfigurationError"
      )
      assert.include(error.description, "':'")
      const configError = yield* Effect.flip(
        ClientAuth.config.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([
            ["OAUTH_CLIENT_ID", "a:b"],
            ["OAUTH_CLIENT_SECRET", "secret-1"],
            ["OAUTH_CLIENT_BASIC_ENCODING", "rfc7617"]
          ])))
        )
      )
      assert.include(String(configError), "OAUTH_CLIENT_ID")
    }))
})
