/**
 * Section 6, web sessions: what `@effect-oauth/web`'s middleware costs a request that has a live session, against the
 * same handler without it – sessions on the server (`WebAuth.layer`, `ManagedToken` over `TokenStore.layerMemory()`)
 * and cookie-only (`WebAuth.layerCookie`, the token set sealed in the cookie, `RotationStore.layerMemory()`).
 *
 * Requests are handled **in process**: an `HttpRouter` made an `HttpApp`, turned into a web handler with
 * `HttpApp.toWebHandlerRuntime` (a web `Request` in, a web `Response` out, read to its end) – the platform's request
 * handling is in every row, no socket is: the network would otherwise dominate. The handler answers `ok` in every row;
 * the session's rows send the cookie a sign-in set (through the real `/login` and `/callback` routes: the code
 * exchange is a fake that returns a token set with an hour to live and an ID token, since the bench's endpoint does no
 * code flow). The access token stays fresh (no refresh: the section asserts the endpoint saw none) and the cookie is
 * not due for renewal (`renewAfter` an hour): the rows measure finding and checking the session on every request.
 */
import * as AuthorizationCode from "@effect-oauth/client/AuthorizationCode"
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as Jwks from "@effect-oauth/client/Jwks"
import * as ManagedToken from "@effect-oauth/client/ManagedToken"
import * as RefreshToken from "@effect-oauth/client/RefreshToken"
import * as Revocation from "@effect-oauth/client/Revocation"
import * as RotationStore from "@effect-oauth/client/RotationStore"
import * as TokenEndpoint from "@effect-oauth/client/TokenEndpoint"
import * as TokenSet from "@effect-oauth/client/TokenSet"
import * as TokenStore from "@effect-oauth/client/TokenStore"
import * as WebAuth from "@effect-oauth/web/WebAuth"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import { base64url } from "./Cached.js"
import * as Library from "./Library.js"
import type { Endpoint } from "./Peers.js"
import type { Subject } from "./Rounds.js"
import { count, perItemRows, type Section, measure, type SectionContext } from "./Section.js"

/** What the token endpoint saw during the section: nothing, since every access token stays fresh. */
export interface WebCounts {
  readonly refreshRequests: number
  readonly requests: number
}

const baseUrl = "https://app.example"

/**
 * The code exchange of a sign-in, faked: a token set as a real server returns it – an 800-byte access token, a
 * refresh token, an (unsigned: the middleware only decodes it) ID token with the usual claims – living an hour.
 */
const signInOnly = (endpoint: Endpoint) =>
  AuthorizationCode.AuthorizationCode.of({
    authorizationUrl: (options) =>
      Effect.sync(() => {
        const state = randomBytes(16).toString("base64url")
        return new AuthorizationCode.PendingAuthorization({
          url: `${endpoint.issuer}/auth?state=${state}`,
          state,
          nonce: randomBytes(16).toString("base64url"),
          codeVerifier: Redacted.make(randomBytes(32).toString("base64url")),
          redirectUri: options?.redirectUri ?? `${baseUrl}/callback`,
          scope: [...(options?.scope ?? [])],
          resource: []
        })
      }),
    exchangeCode: (_callback, pending) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        TokenSet.make({
          accessToken: randomBytes(600).toString("base64url"),
          refreshToken: randomBytes(32).toString("base64url"),
          idToken: `${base64url({ alg: "RS256", kid: "k1" })}.${
            base64url({
              iss: endpoint.issuer,
              sub: "248289761001",
              aud: endpoint.clientId,
              nonce: pending.nonce,
              iat: Math.floor(now / 1000),
              exp: Math.floor(now / 1000) + 3600,
              name: "Jane Doe",
              email: "jane.doe@example.com"
            })
          }.${randomBytes(256).toString("base64url")}`,
          expiresIn: 3600,
          scope: ["openid", "offline_access", "api:read"],
          grant: TokenSet.GrantTypes.authorizationCode,
          clientId: endpoint.clientId,
          tokenEndpoint: endpoint.tokenEndpoint
        }))
  })

/** the client's services over the bench's endpoint: a real `RefreshToken` and `Revocation` (never called) */
const clients = (endpoint: Endpoint) => {
  const auth = Library.authOf(endpoint)
  return Layer.mergeAll(
    RefreshToken.layer({ auth }).pipe(Layer.provide(Jwks.layerKeys({ keys: [] }))),
    Revocation.layer({ auth }),
    Layer.succeed(AuthorizationCode.AuthorizationCode, signInOnly(endpoint))
  ).pipe(
    Layer.provideMerge(TokenEndpoint.layer()),
    Layer.provideMerge(AuthorizationServer.layerStatic({ issuer: endpoint.issuer, tokenEndpoint: endpoint.tokenEndpoint })),
    Layer.provide(FetchHttpClient.layer)
  )
}

const webOptions: WebAuth.Options = {
  baseUrl,
  cookieSecrets: [Redacted.make(randomBytes(32).toString("base64url"))],
  session: { renewAfter: "1 hour" }
}

const sessionsLayer = (endpoint: Endpoint, mode: "server" | "cookie") =>
  (mode === "server"
    ? WebAuth.layer(webOptions).pipe(
      Layer.provide(ManagedToken.layer()),
      Layer.provide(TokenStore.layerMemory())
    )
    : WebAuth.layerCookie(webOptions).pipe(Layer.provide(RotationStore.layerMemory()))).pipe(
      Layer.provide(clients(endpoint))
    )

/** the handler of every row */
const ok = Effect.succeed(HttpServerResponse.text("ok"))

/** a web handler over `router`, in `runtime` */
const webHandler = async <E>(
  runtime: ManagedRuntime.ManagedRuntime<WebAuth.WebAuth, E>,
  router: HttpRouter.HttpRouter<unknown, WebAuth.WebAuth>
) => HttpApp.toWebHandlerRuntime(await runtime.runtime())(await runtime.runPromise(HttpRouter.toHttpApp(router)))

type Handler = (request: Request) => Promise<Response>

/** signs in through `/login` and `/callback`: the session cookie's `name=value` pairs, for a `Cookie` header */
const signIn = async (handle: Handler): Promise<string> => {
  const login = await handle(new Request(`${baseUrl}/login`, { headers: { "sec-fetch-mode": "navigate" } }))
  const state = new URL(login.headers.get("location") ?? "").searchParams.get("state") ?? ""
  const pending = login.headers.getSetCookie().map((line) => line.split(";", 1)[0]).join("; ")
  const done = await handle(new Request(`${baseUrl}/callback?code=c&state=${state}`, { headers: { cookie: pending } }))
  const session = done.headers.getSetCookie().map((line) => line.split(";", 1)[0] ?? "").filter((pair) =>
    pair.startsWith("__Host-session=") || pair.startsWith("__Host-session.")
  )
  if (done.status !== 302 || session.length === 0) throw new Error(`the bench's sign-in failed (${done.status})`)
  return session.join("; ")
}

/** `batch` requests for `/api/me` one after the other, each read to its end; anything but 200 fails the run */
const requests = (handle: Handler, batch: number, cookie: string | undefined) => async () => {
  const headers: Record<string, string> = {
    accept: "application/json",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "same-origin",
    ...(cookie === undefined ? {} : { cookie })
  }
  for (let i = 0; i < batch; i++) {
    const response = await handle(new Request(`${baseUrl}/api/me`, { headers }))
    await response.text()
    if (response.status !== 200) throw new Error(`a request answered ${response.status}`)
  }
}

export const webSection = async (ctx: SectionContext): Promise<{ section: Section; counts: WebCounts }> => {
  const { config, endpoint, server } = ctx
  const batch = config.web.batch
  const serverMode = ManagedRuntime.make(sessionsLayer(endpoint, "server"))
  const cookieMode = ManagedRuntime.make(sessionsLayer(endpoint, "cookie"))
  try {
    await server.reset()
    const guarded = HttpRouter.empty.pipe(
      HttpRouter.get("/api/me", ok),
      HttpRouter.use(WebAuth.middleware),
      HttpRouter.concat(WebAuth.routes)
    )
    const bare = HttpApp.toWebHandler(await Effect.runPromise(HttpRouter.toHttpApp(HttpRouter.get(HttpRouter.empty, "/api/me", ok))))
    const withServerSessions = await webHandler(serverMode, guarded)
    const withCookieSessions = await webHandler(cookieMode, guarded)
    const serverCookie = await signIn(withServerSessions)
    const cookieCookie = await signIn(withCookieSessions)

    const subjects: ReadonlyArray<Subject> = [
      { id: "web.bare", label: "the handler alone (no middleware, no cookie)", run: requests(bare, batch, undefined) },
      {
        id: "web.server",
        label: "`WebAuth.middleware`, sessions on the server (`TokenStore.layerMemory()`), live session",
        run: requests(withServerSessions, batch, serverCookie)
      },
      {
        id: "web.cookie",
        label: "`WebAuth.middleware`, cookie-only (`RotationStore.layerMemory()`), live session",
        run: requests(withCookieSessions, batch, cookieCookie)
      }
    ]
    const measurements = await measure(ctx, subjects, ["web.bare"], config.web)
    const stats = await server.stats()
    return {
      section: {
        name: "web",
        title: "6. Web sessions",
        note: `In-process requests (\`HttpApp.toWebHandlerRuntime\`: a web \`Request\` in, the \`Response\` read to its ` +
          `end; no socket), ${count(batch)} one after the other per sample; ${config.web.rounds} rounds of ` +
          `${config.web.passes} samples per row, taken in turns. The handler answers \`ok\` in every row; the ` +
          "session rows carry the cookie of a sign-in through `/login` and `/callback` (an 800-byte access token " +
          "living an hour, a refresh token, a 0.6 KB ID token), never refreshed and never renewed in the rounds " +
          `(the endpoint saw ${stats.refreshToken} refresh request(s)). Session cookie: ${count(serverCookie.length)} ` +
          `characters on the server, ${count(cookieCookie.length)} cookie-only. µs per request is the median of the rounds' ` +
          `median samples divided by ${count(batch)}; a ratio is the median of the per-round ratios to the bare ` +
          "handler (min–max over the rounds).",
        columns: ["subject", "µs/request (median)", "vs bare handler"],
        rows: perItemRows(measurements, { divisor: batch * 1e3, baseline: "web.bare" }),
        measurements
      },
      counts: { refreshRequests: stats.refreshToken, requests: stats.requests }
    }
  } finally {
    await serverMode.dispose()
    await cookieMode.dispose()
  }
}
