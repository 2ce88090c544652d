/**
 * The web demo (`pnpm web`): a small application on `@effect/platform`'s `HttpServer` that signs its user in at the
 * test authorization server with `@effect-oauth/web`, shows who is signed in, and calls the protected API **as that
 * user** through `BearerClient` over the session's `TokenSource` – the access token refreshed by `ManagedToken`, once
 * per session however many requests arrive at once.
 *
 * - `GET /` (behind the session middleware): the page – the user, the orders the API returned for them, a sign-out
 *   button; it loads `/api/orders` with `fetch`.
 * - `GET /api/orders`, `POST /api/orders` (behind the middleware): the API called as the user.
 * - `GET /signed-out`: where the server's end-session sends the browser back (public).
 * - `/login`, `/callback`, `/logout`, `/session`: `WebAuth.routes`.
 *
 * @since 0.1.0
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as AuthorizationCode from "@effect-oauth/client/AuthorizationCode"
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as BearerClient from "@effect-oauth/client/BearerClient"
import * as ClientAuth from "@effect-oauth/client/ClientAuth"
import * as Jwks from "@effect-oauth/client/Jwks"
import * as ManagedToken from "@effect-oauth/client/ManagedToken"
import * as RefreshToken from "@effect-oauth/client/RefreshToken"
import * as Revocation from "@effect-oauth/client/Revocation"
import * as TokenEndpoint from "@effect-oauth/client/TokenEndpoint"
import * as RotationStore from "@effect-oauth/client/RotationStore"
import * as TokenStore from "@effect-oauth/client/TokenStore"
import * as RedisRotationStore from "@effect-oauth/redis/RedisRotationStore"
import * as RedisTokenStore from "@effect-oauth/redis/RedisTokenStore"
import * as TestServer from "@effect-oauth/test-server"
import * as CurrentSession from "@effect-oauth/web/CurrentSession"
import * as WebAuth from "@effect-oauth/web/WebAuth"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import { randomBytes } from "node:crypto"
import * as Api from "./api.js"
import * as Proxy from "./proxy.js"

/**
 * The running web demo.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebAppInfo {
  /** what a browser opens: `http://127.0.0.1:<port>` – the application, or the proxy in front of a fleet */
  readonly baseUrl: string
  /** each instance's own URL (one: the same as `baseUrl`) */
  readonly instances: ReadonlyArray<string>
  /** the requests the proxy passed to each instance, in the order of `instances` */
  readonly served: () => ReadonlyArray<number>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WebApp extends Context.Tag("@effect-oauth/example/WebApp")<WebApp, WebAppInfo>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the port on 127.0.0.1 (0: a free one) */
  readonly port: number
  /** the access-token lifetime the test server grants, in seconds */
  readonly accessTokenTtl: number
  /**
   * where the sessions live: `"server"` (default: the cookie holds an id, the tokens a `TokenStore`) or `"cookie"`
   * (the token set sealed in the cookie, rotation results in a `RotationStore`)
   */
  readonly sessions?: "server" | "cookie" | undefined
  /** a `redis://` URL: the store in Redis (`RedisTokenStore` / `RedisRotationStore`, encrypted) instead of memory */
  readonly redis?: string | undefined
  /** how many instances (default 1); more run behind a loopback proxy that alternates requests between them */
  readonly instances?: number | undefined
}

const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** the page: server-rendered user, orders loaded with fetch (the browser holds no token, only the session cookie) */
const page = (user: string) =>
  `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>effect-oauth web demo</title>
<style>
  body { font-family: sans-serif; margin: 2rem auto; max-width: 40rem; padding: 1.5rem; color: #222; }
  h1 { font-weight: 400; } code, pre { background: #f4f4f4; padding: 0.1rem 0.3rem; }
  pre { padding: 0.8rem; white-space: pre-wrap; } button { font-size: 1rem; padding: 0.4rem 1rem; }
</style>
</head>
<body>
<h1>Signed in as <strong id="user">${escapeHtml(user)}</strong></h1>
<p>This page holds no token. It calls <code>/api/orders</code> with <code>fetch</code>; the server calls the protected
API as <strong>${escapeHtml(user)}</strong> through <code>BearerClient</code> over the session's <code>TokenSource</code>.</p>
<pre id="orders">loading…</pre>
<form method="post" action="/logout"><button id="sign-out" type="submit">Sign out</button></form>
<script>
fetch("/api/orders", { headers: { accept: "application/json" } })
  .then((res) => res.json().then((body) => ({ status: res.status, body })))
  .then(({ status, body }) => {
    document.getElementById("orders").textContent = status !== 200
      ? "HTTP " + status + ": " + JSON.stringify(body)
      : "The API saw sub=" + body.caller.sub + ", client_id=" + body.caller.client_id + ", scope=" + body.caller.scope +
        "\\n" + body.orders.map((o) => o.id + "  " + o.item).join("\\n")
  })
</script>
</body>
</html>`

const signedOutPage = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><h1 id="signed-out">Signed out</h1><p><a href="/">Sign in again</a></p></body></html>`

/** the protected API, called as the signed-in user */
const asUser = Effect.gen(function*() {
  const session = yield* CurrentSession.CurrentSession
  const api = yield* Api.ProtectedApi
  const client = yield* BearerClient.make(session.tokens, { origins: [api.origin] })
  return { api, client }
})

/** the API's answer passed through; a failure other than the session's end is a 502 */
const relay = <E, R>(call: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>) =>
  call.pipe(
    Effect.flatMap((response) =>
      Effect.map(response.json, (body) => HttpServerResponse.unsafeJson(body, { status: response.status }))
    ),
    Effect.scoped,
    Effect.catchIf(
      (error) => !(error instanceof ManagedToken.ReauthenticationRequired),
      (error) =>
        Effect.succeed(HttpServerResponse.unsafeJson({ error: "bad_gateway", cause: tagOf(error) }, { status: 502 }))
    )
  )

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "unknown"

/**
 * The application's router: its own routes behind `WebAuth.middleware`, then the package's routes and one public
 * page.
 *
 * @since 0.1.0
 * @category routes
 */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/", Effect.map(CurrentSession.subject, (user) => HttpServerResponse.html(page(user)))),
  HttpRouter.get(
    "/api/orders",
    Effect.flatMap(asUser, ({ api, client }) => relay(client.get(`${api.origin}/orders`)))
  ),
  HttpRouter.post(
    "/api/orders",
    Effect.flatMap(asUser, ({ api, client }) => relay(client.execute(HttpClientRequest.post(`${api.origin}/orders`))))
  ),
  HttpRouter.use(WebAuth.middleware),
  HttpRouter.concat(WebAuth.routes),
  HttpRouter.get("/signed-out", Effect.succeed(HttpServerResponse.html(signedOutPage)))
)

/** what the instances of a fleet share besides the authorization server and the API: the secrets */
interface Shared {
  /** seals the cookies: the same for every instance, or one could not open another's cookies */
  readonly cookieSecret: Redacted.Redacted<string>
  /** encrypts what Redis holds (sessions, rotation results) */
  readonly storeKey: Redacted.Redacted<string>
}

/**
 * One instance's sessions: `WebAuth` over the client's services wired by hand, with its store – sessions on the
 * server (`ManagedToken` over a `TokenStore`: memory, or `RedisTokenStore`) or cookie-only (a `RotationStore`: memory,
 * or `RedisRotationStore`).
 */
const sessionsLayer = (oidc: TestServer.TestServerInfo, baseUrl: string, shared: Shared, options: Options) => {
  const auth = ClientAuth.clientSecretBasic(oidc.clients.web.clientId, Redacted.make(oidc.clients.web.clientSecret))
  const webOptions: WebAuth.Options = {
    baseUrl,
    cookieSecrets: [shared.cookieSecret],
    scope: ["openid", "offline_access", "api:read", "api:write"],
    resource: oidc.resource,
    postLogoutRedirectUri: `${baseUrl}/signed-out`
  }
  const Clients = Layer.mergeAll(
    AuthorizationCode.layer({ auth, redirectUri: `${baseUrl}/callback` }),
    RefreshToken.layer({ auth }),
    Revocation.layer({ auth })
  ).pipe(
    Layer.provideMerge(Layer.merge(TokenEndpoint.layer(), Jwks.layer())),
    Layer.provideMerge(AuthorizationServer.layerDiscovery(oidc.issuer, { kind: "oidc" }))
  )
  const redis = options.redis
  const protection = { prefix: "web-demo:", encryption: { key: shared.storeKey } }
  const Sessions = options.sessions === "cookie"
    ? WebAuth.layerCookie(webOptions).pipe(
      Layer.provide(redis === undefined ? RotationStore.layerMemory() : RedisRotationStore.layer({ redis, ...protection }))
    )
    : WebAuth.layer(webOptions).pipe(
      Layer.provide(ManagedToken.layer({ refresh: { resource: oidc.resource } })),
      Layer.provide(redis === undefined ? TokenStore.layerMemory() : RedisTokenStore.layer({ redis, ...protection }))
    )
  return Sessions.pipe(Layer.provide(Clients))
}

const portOf = (server: HttpServer.HttpServer, fallback: number): number =>
  server.address._tag === "TcpAddress" ? server.address.port : fallback

/**
 * The whole demo as a layer: the test authorization server registering this application's callback and post-logout
 * URIs, the protected API, and the application – one instance on 127.0.0.1 (`port`), or (`instances: 2`) a fleet of
 * instances on free ports behind a loopback proxy on `port` that alternates requests between them, sharing the
 * authorization server, the API, the cookie secret and the Redis (`redis`). Requires an `HttpClient`
 * (`NodeHttpClient.layerUndici`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const count = Math.max(1, options.instances ?? 1)
    if (count > 1 && options.redis === undefined) {
      return yield* Effect.dieMessage("a fleet needs a shared store (the sessions, or the rotation results of cookie-only sessions): give redis")
    }
    // every instance listens first (its port is its URL), then serves
    const listening = yield* Effect.forEach(Array.from({ length: count }), () =>
      Layer.build(NodeHttpServer.layer(() => Http.createServer(), { port: count === 1 ? options.port : 0, host: "127.0.0.1" })))
    const ports = listening.map((context) => portOf(Context.get(context, HttpServer.HttpServer), options.port))
    const proxy = count === 1 ? undefined : yield* Proxy.listen(options.port)
    const baseUrl = proxy?.origin ?? `http://127.0.0.1:${ports[0]}`

    const shared: Shared = {
      // a new secret every run: sessions do not outlive the demo (a real application reads WEB_COOKIE_SECRETS)
      cookieSecret: Redacted.make(randomBytes(32).toString("base64url")),
      storeKey: Redacted.make(randomBytes(32).toString("base64url"))
    }
    const oidcContext = yield* Layer.build(TestServer.layer({
      accessTokenTtl: options.accessTokenTtl,
      webRedirectUris: [`${baseUrl}/callback`],
      webPostLogoutRedirectUris: [`${baseUrl}/signed-out`]
    }))
    const oidc = Context.get(oidcContext, TestServer.TestServer)
    const apiContext = yield* Layer.build(Api.layerTestServer.pipe(Layer.provide(Layer.succeedContext(oidcContext))))
    for (const context of listening) {
      yield* Layer.build(
        HttpServer.serve(router).pipe(
          Layer.provide(sessionsLayer(oidc, baseUrl, shared, options)),
          Layer.provide(Layer.succeedContext(Context.merge(context, apiContext)))
        )
      )
    }
    proxy?.route(ports)
    const info: WebAppInfo = {
      baseUrl,
      instances: ports.map((port) => `http://127.0.0.1:${port}`),
      served: () => proxy?.served() ?? []
    }
    return Layer.succeedContext(Context.merge(oidcContext, apiContext)).pipe(Layer.merge(Layer.succeed(WebApp, info)))
  }))
