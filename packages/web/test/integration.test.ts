/**
 * `WebAuth.layerConfig` (sessions on the server) and `WebAuth.layerCookieConfig` (cookie-only) against the real test
 * server (oidc-provider: code flow with PKCE, verified ID tokens, rotation with reuse detection, revocation,
 * RP-initiated logout), served with `HttpLayerRouter` on a loopback
 * `NodeHttpServer`, driven headless with `fetch` and a cookie jar. The browser test (packages/example) runs the same
 * story in Chromium with the classic `HttpRouter`.
 */
import { HttpLayerRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Jwt, RotationStore, TokenStore } from "@effect-oauth/client"
import * as TestServer from "@effect-oauth/test-server"
import { ConfigProvider, Context, Effect, Layer, Option } from "effect"
import * as Http from "node:http"
import * as CurrentSession from "../src/CurrentSession.js"
import * as WebAuth from "../src/WebAuth.js"
import { loopbackBrowser } from "./support.js"

class App extends Context.Tag("test/App")<App, { readonly baseUrl: string; readonly posts: () => number }>() {}

const accessTokenTtl = 2

/** the application: the package's routes, and two routes behind the session middleware */
const routes = (count: () => void) =>
  Layer.mergeAll(
    WebAuth.layerRoutes,
    Layer.mergeAll(
      HttpLayerRouter.add(
        "GET",
        "/api/me",
        Effect.gen(function*() {
          const session = yield* CurrentSession.CurrentSession
          const tokens = yield* session.tokens.get
          const claims = Option.getOrElse(Jwt.decodeOption(tokens.accessToken), () => ({}))
          return HttpServerResponse.unsafeJson({ sub: session.subject, aud: Reflect.get(claims, "aud") })
        })
      ),
      HttpLayerRouter.add("POST", "/api/orders", Effect.sync(() => (count(), HttpServerResponse.text("created", { status: 201 }))))
    ).pipe(Layer.provide(WebAuth.layerMiddleware))
  )

/** the application over `layerConfig` (a memory `TokenStore`), or `layerCookieConfig` (a memory `RotationStore`) */
const Stack = (sessions: "server" | "cookie") => Layer.unwrapEffect(Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  const baseUrl = `http://127.0.0.1:${port}`
  let posts = 0
  const Oidc = TestServer.layer({
    accessTokenTtl,
    webRedirectUris: [`${baseUrl}/callback`],
    webPostLogoutRedirectUris: [`${baseUrl}/signed-out`]
  })
  const Env = Layer.unwrapEffect(Effect.map(TestServer.TestServer, (oidc) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map([
      ["OAUTH_ISSUER", oidc.issuer],
      ["OAUTH_CLIENT_ID", oidc.clients.web.clientId],
      ["OAUTH_CLIENT_SECRET", oidc.clients.web.clientSecret],
      ["OAUTH_SCOPE", "openid offline_access api:read"],
      ["OAUTH_RESOURCE", oidc.resource],
      ["WEB_BASE_URL", baseUrl],
      ["WEB_COOKIE_SECRETS", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE,QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI"],
      ["WEB_POST_LOGOUT_REDIRECT_URI", `${baseUrl}/signed-out`]
    ])))))
  const Sessions = sessions === "server"
    ? WebAuth.layerConfig().pipe(Layer.provide(TokenStore.layerMemory()))
    : WebAuth.layerCookieConfig().pipe(Layer.provide(RotationStore.layerMemory()))
  return HttpLayerRouter.serve(routes(() => posts++), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(Sessions),
    Layer.provide(Env),
    Layer.provide(NodeHttpClient.layerUndici),
    Layer.merge(Layer.succeed(App, { baseUrl, posts: () => posts })),
    Layer.provideMerge(Oidc)
  )
})).pipe(Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })))

const json = { accept: "application/json" }
/** what a browser sends for a link, a typed address or a form */
const navigate = { accept: "text/html", "sec-fetch-mode": "navigate" }

describe.each(["server", "cookie"] as const)("WebAuth against the test server (HttpLayerRouter, sessions: %s)", (sessions) => {
  it.live("sign-in, refresh once for ten requests, a cross-site POST refused, logout with revocation and end_session, a revoked grant signs out", () =>
    Effect.gen(function*() {
      const { baseUrl, posts } = yield* App
      const oidc = yield* TestServer.TestServer
      const { jar, request } = loopbackBrowser(baseUrl)

      expect((yield* request("/api/me", { headers: json })).status).toBe(401)
      const signIn = Effect.gen(function*() {
        const login = yield* request("/login?returnTo=%2Fapi%2Fme", { headers: navigate })
        expect(login.status).toBe(302)
        const callback = yield* Effect.promise(() => oidc.signIn(login.location ?? ""))
        expect(callback.startsWith(`${baseUrl}/callback?`)).toBe(true)
        const done = yield* request(callback.slice(baseUrl.length))
        expect([done.status, done.location, [...jar.keys()]]).toEqual([302, "/api/me", ["session"]])
      })
      yield* signIn
      expect(JSON.parse((yield* request("/api/me", { headers: json })).body)).toEqual({ sub: "alice", aud: "https://api.example" })
      const session = JSON.parse((yield* request("/session")).body)
      expect([session.sub, session.iss, session.aud, session.nonce]).toEqual(["alice", oidc.issuer, "web-app", undefined])

      // after expiry: ten at once, one refresh
      yield* Effect.sleep(`${accessTokenTtl * 1000 + 600} millis`)
      const refreshesBefore = oidc.requestCount("token:refresh_token")
      const all = yield* Effect.all(Array.from({ length: 10 }, () => request("/api/me", { headers: json })), {
        concurrency: "unbounded"
      })
      expect(all.map((a) => a.status)).toEqual(Array.from({ length: 10 }, () => 200))
      expect(oidc.requestCount("token:refresh_token") - refreshesBefore).toBe(1)

      // a state-changing request from another origin of the same site carries the cookie – and is refused
      const crossSite = yield* request("/api/orders", {
        method: "POST",
        headers: { origin: "http://127.0.0.1:1", "sec-fetch-site": "same-site" }
      })
      expect([crossSite.status, posts()]).toEqual([403, 0])
      expect((yield* request("/api/orders", { method: "POST", headers: { origin: baseUrl } })).status).toBe(201)

      // logout: revoked at the server, then to its end_session_endpoint with the ID token as hint
      const revocationsBefore = oidc.requestCount("revocation")
      const out = yield* request("/logout", { method: "POST", headers: { ...navigate, origin: baseUrl } })
      expect(out.status).toBe(303)
      const endSession = new URL(out.location ?? "")
      expect(`${endSession.origin}${endSession.pathname}`).toBe(oidc.endSessionEndpoint)
      expect(endSession.searchParams.get("post_logout_redirect_uri")).toBe(`${baseUrl}/signed-out`)
      expect(Option.map(Jwt.decodeOption(endSession.searchParams.get("id_token_hint") ?? ""), (c) => c["sub"])).toEqual(
        Option.some("alice")
      )
      expect(oidc.requestCount("revocation") - revocationsBefore).toBe(1)
      expect(jar.size).toBe(0)
      expect((yield* request("/api/me", { headers: json })).status).toBe(401)

      // a grant revoked at the server: the next refresh is invalid_grant, the session ends
      yield* signIn
      expect(yield* Effect.promise(() => oidc.revokeGrants("alice"))).toBeGreaterThan(0)
      yield* Effect.sleep(`${accessTokenTtl * 1000 + 600} millis`)
      const ended = yield* request("/api/me", { headers: json })
      expect([ended.status, JSON.parse(ended.body).error, jar.size]).toEqual([401, "login_required", 0])
      const navigation = yield* request("/api/me", { headers: navigate })
      expect([navigation.status, navigation.location]).toEqual([302, "/login?returnTo=%2Fapi%2Fme"])
    }).pipe(Effect.provide(Stack(sessions))), { timeout: 60_000 })
})
