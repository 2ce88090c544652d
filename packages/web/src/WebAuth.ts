/**
 * Web sign-in for `@effect/platform` servers: the routes (`GET /login`, `GET /callback`, `POST /logout`,
 * `GET /session`) and the middleware that finds the user's session on every other route, refreshes its access token
 * through `ManagedToken` – **once per session however many requests arrive at once** – renews the session cookie, and
 * signs the user out when the refresh token is dead.
 *
 * - **Sessions on the server** ({@link layer}): the session cookie holds an opaque random id (a new one at every
 *   sign-in: no fixation), sealed; the tokens live in the `TokenStore` behind `ManagedToken`, under a keyed hash of
 *   that id (HMAC-SHA-256 under a key derived with HKDF from the cookie secret), so whoever reads the store cannot
 *   turn its keys back into cookies.
 * - **Or in the cookie** ({@link layerCookie}): the token set itself sealed into the session cookie (chunked past
 *   4 KB), no session store. A refresh rotates the refresh token the browser's other requests still carry; its result
 *   is kept a short while in a `RotationStore` under a keyed hash of the old refresh token, and a request presenting
 *   that token is given it (and the new cookie) instead of presenting the spent token again.
 * - **The pending sign-in** (state, nonce, PKCE verifier, `returnTo`) lives in a sealed, 10-minute, single-use cookie
 *   named after its `state` – several tabs can sign in at once, and a callback that arrives without its cookie (from
 *   another browser: login CSRF) is refused.
 * - **Cookies** are `__Host-`, `HttpOnly`, `Secure`, `SameSite=Lax`, `Path=/`; plain http and no `__Host-` only for a
 *   loopback base URL (development). A tampered, foreign or expired cookie is no session, never an error page.
 * - **State-changing requests** (`POST`, `PUT`, `PATCH`, `DELETE`) to `/logout` and to every route behind the
 *   middleware must be same-origin (`Sec-Fetch-Site`, else `Origin`, else a required header such as `X-CSRF`).
 *
 * @since 0.1.0
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as AuthorizationCode from "@effect-oauth/client/AuthorizationCode"
import * as AuthorizationServer from "@effect-oauth/client/AuthorizationServer"
import * as ClientAuth from "@effect-oauth/client/ClientAuth"
import * as Jwks from "@effect-oauth/client/Jwks"
import * as Jwt from "@effect-oauth/client/Jwt"
import * as ManagedToken from "@effect-oauth/client/ManagedToken"
import { ConfigurationError } from "@effect-oauth/client/OAuthError"
import * as RefreshToken from "@effect-oauth/client/RefreshToken"
import * as Revocation from "@effect-oauth/client/Revocation"
import * as RotationStore from "@effect-oauth/client/RotationStore"
import * as TokenEndpoint from "@effect-oauth/client/TokenEndpoint"
import { TokenSet } from "@effect-oauth/client/TokenSet"
import type { TokenSource } from "@effect-oauth/client/TokenSource"
import { TokenStore } from "@effect-oauth/client/TokenStore"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { CurrentSession } from "./CurrentSession.js"
import * as Chunks from "./internal/chunks.js"
import * as Pages from "./internal/pages.js"
import * as Presented from "./internal/presented.js"
import * as Request from "./internal/request.js"
import * as Seal from "./internal/seal.js"

/**
 * The package's routes, at the root of the base URL.
 *
 * @since 0.1.0
 * @category constants
 */
export const paths = {
  /** `GET /login?returnTo=/path`: starts a sign-in */
  login: "/login",
  /** `GET /callback`: the redirect URI to register at the authorization server (`<baseUrl>/callback`) */
  callback: "/callback",
  /** `POST /logout`: signs the user out here and, when the server has an `end_session_endpoint`, there */
  logout: "/logout",
  /** `GET /session`: the signed-in user's claims as JSON, or `401` */
  session: "/session"
} as const

/**
 * A sign-in that could not be completed. The package answers it with a page (or `onSignInError`'s response); the
 * description never carries a code, a state, a token or a session id.
 *
 * - `InvalidReturnTo`: `/login?returnTo=` names something other than a path on this site (no open redirect);
 * - `NoPendingSignIn`: the callback has no `state`, or this browser holds no pending sign-in for it – the sign-in
 *   began in another browser (login CSRF), its cookie expired (10 minutes) or was already used;
 * - `Refused`: the authorization response was refused (`AuthorizationResponseError`: an `error` such as
 *   `access_denied`, a state or issuer mismatch, no code) – `error` holds the server's error code when it sent one;
 * - `TokenRequestFailed`: the code exchange failed (the token endpoint, the ID token's verification);
 * - `NoIdToken`: the server answered without an ID token (request the `openid` scope);
 * - `TooLarge`: cookie-only sessions – the sealed token set needs more than three cookies (about 11 KB): use sessions
 *   on the server ({@link layer});
 * - `Unavailable`: the server's metadata or the session store could not be reached.
 *
 * @since 0.1.0
 * @category errors
 */
export class SignInError extends Schema.TaggedError<SignInError>("@effect-oauth/web/SignInError")("SignInError", {
  reason: Schema.Literal(
    "InvalidReturnTo",
    "NoPendingSignIn",
    "Refused",
    "TokenRequestFailed",
    "NoIdToken",
    "TooLarge",
    "Unavailable"
  ),
  description: Schema.String,
  error: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${this.reason}: ${this.description}`
  }

  /**
   * The HTTP status the default page answers with: 400 for a request the browser got wrong, 502 for an answer of the
   * authorization server that could not be used (or kept), 503 when something could not be reached.
   *
   * @since 0.1.0
   */
  get status(): number {
    switch (this.reason) {
      case "InvalidReturnTo":
      case "NoPendingSignIn":
      case "Refused":
        return 400
      case "TokenRequestFailed":
      case "NoIdToken":
      case "TooLarge":
        return 502
      case "Unavailable":
        return 503
    }
  }
}

/**
 * How state-changing requests (`POST`, `PUT`, `PATCH`, `DELETE`) are checked, to `/logout` and to every route behind
 * the middleware:
 *
 * - `"origin"` (default): a browser's `Sec-Fetch-Site` must be `same-origin`; without it, `Origin` must be the base
 *   URL's origin; without either, `header` must be present;
 * - `"header"`: as `"origin"`, and `header` is always required (Duende's BFF sends `X-CSRF: 1` from its front end).
 *
 * @since 0.1.0
 * @category models
 */
export interface CsrfOptions {
  readonly mode?: "origin" | "header" | undefined
  /** the header a same-origin script adds (default `"X-CSRF"`): a cross-site page cannot add it without CORS */
  readonly header?: string | undefined
}

/**
 * How long a session lasts.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionOptions {
  /** a session unused this long ends (default 8 hours): the cookie's `Max-Age`, renewed as the user is active */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** a session ends this long after sign-in however active the user is (default 7 days) */
  readonly absoluteTimeout?: Duration.DurationInput | undefined
  /** the cookie is renewed (a new `Max-Age`) on a request at least this long after the last renewal (default 1 minute) */
  readonly renewAfter?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * the application's origin, `https://app.example` – the routes live at its root, the redirect URI is
   * `<baseUrl>/callback`. Plain `http` only on a loopback host (`127.0.0.0/8`, `[::1]`, `localhost`), for development:
   * its cookies then have no `Secure` and no `__Host-` prefix.
   */
  readonly baseUrl: string
  /**
   * the secrets that seal the cookies and key the session-id hash: base64url, 32 random bytes or more each, the
   * **newest first**. The newest seals; every one opens. To rotate, put a new one in front and drop the oldest once
   * `absoluteTimeout` has passed (a session's store key is hashed under the secret that was newest at its sign-in).
   */
  readonly cookieSecrets: Redacted.Redacted<string> | ReadonlyArray<Redacted.Redacted<string>>
  /** the scope of a sign-in (default `["openid", "offline_access"]`; `openid` is needed: a sign-in without an ID token is refused) */
  readonly scope?: ReadonlyArray<string> | undefined
  /** RFC 8707 resource indicator(s) of a sign-in (the API the access token is for) */
  readonly resource?: string | ReadonlyArray<string> | undefined
  /** where the browser goes after `/logout` (default `<baseUrl>/`); register it as a `post_logout_redirect_uri` */
  readonly postLogoutRedirectUri?: string | undefined
  /** where a sign-in without `returnTo` lands (default `/`) */
  readonly afterLogin?: string | undefined
  /** the session cookie's name, before the `__Host-` prefix (default `"session"`) */
  readonly cookieName?: string | undefined
  readonly session?: SessionOptions | undefined
  /** `false` turns the check of state-changing requests off (only behind a proxy that does it) */
  readonly csrf?: CsrfOptions | false | undefined
  /** the response to a sign-in that could not be completed (default: a small HTML page with a link to sign in again) */
  readonly onSignInError?: ((error: SignInError) => HttpServerResponse.HttpServerResponse) | undefined
}

/**
 * The errors of a route behind the middleware, without `ReauthenticationRequired`: the middleware answers that one
 * itself (a session that ended while the handler ran is answered as a request without a session).
 *
 * @since 0.1.0
 * @category models
 */
export type WithoutReauthentication<E> = Exclude<E, Extract<E, ManagedToken.ReauthenticationRequired>>

/**
 * @since 0.1.0
 * @category tags
 */
export class WebAuth extends Context.Tag("@effect-oauth/web/WebAuth")<WebAuth, WebAuth.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace WebAuth {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** `GET /login` */
    readonly login: Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
    /** `GET /callback` */
    readonly callback: Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
    /** `POST /logout` */
    readonly logout: Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
    /** `GET /session` */
    readonly session: Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
    /**
     * Wraps a route (or a whole app): checks a state-changing request, finds the session, provides `CurrentSession`,
     * renews the cookie; without a session, navigations are redirected to `/login?returnTo=…` and API requests get
     * `401` JSON. A handler that fails with `ReauthenticationRequired` (the session ended while it ran) is answered
     * the same way.
     */
    readonly middleware: <E, R>(
      app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) => Effect.Effect<
      HttpServerResponse.HttpServerResponse,
      WithoutReauthentication<E>,
      Exclude<R, CurrentSession> | HttpServerRequest.HttpServerRequest
    >
    /**
     * What the middleware decides before the handler runs, for a middleware of another kind (`WebAuthApi`'s, for
     * `HttpApi`): the cross-site check, then the session (refreshed when due). `Active`: the session for the handler,
     * and `respond`, which the handler's response must go through (it renews the cookie – in cookie-only mode with the
     * token set the handler ended with); `Refused`: the response to send instead (sign-in, `401`, `403`, `503`). In
     * cookie-only mode the request's token set is presented for the `Scope` (the request's).
     */
    readonly authenticate: Effect.Effect<Authentication, never, HttpServerRequest.HttpServerRequest | Scope.Scope>
  }
}

/**
 * What `WebAuth.Service.authenticate` decided about a request.
 *
 * @since 0.1.0
 * @category models
 */
export type Authentication =
  | {
    readonly _tag: "Active"
    readonly session: CurrentSession.Service
    /** the handler's response with the session's cookie renewed when due */
    readonly respond: (response: HttpServerResponse.HttpServerResponse) => Effect.Effect<HttpServerResponse.HttpServerResponse>
    /** the response for a handler that found the session ended while it ran (`ReauthenticationRequired`) */
    readonly ended: HttpServerResponse.HttpServerResponse
  }
  | {
    readonly _tag: "Refused"
    /** `CrossSite`: a state-changing request from another site (403); `NoSession` (sign-in or 401); `Unavailable` (503) */
    readonly reason: "CrossSite" | "NoSession" | "Unavailable"
    readonly response: HttpServerResponse.HttpServerResponse
  }

/** what the session cookie holds, sealed, for sessions on the server */
const SessionCookie = Schema.Struct({
  /** the session id */
  sid: Schema.String,
  /** the fingerprint of the secret its store key is hashed under */
  hk: Schema.String,
  /** signed in at (epoch ms) */
  iat: Schema.Number,
  /** renewed at (epoch ms) */
  rat: Schema.Number
})

/** what the session cookie holds, sealed, for cookie-only sessions */
const TokenCookie = Schema.Struct({
  /** the token set */
  t: TokenSet,
  /** signed in at (epoch ms) */
  iat: Schema.Number,
  /** renewed at (epoch ms) */
  rat: Schema.Number
})

/** what a pending sign-in cookie holds, sealed */
const PendingCookie = Schema.Struct({
  /** the state it belongs to */
  s: Schema.String,
  /** `AuthorizationCode.encodePending` */
  p: Schema.String,
  /** where to go afterwards */
  r: Schema.String,
  /** expires at (epoch ms) */
  exp: Schema.Number
})

const decodeSessionCookie = Schema.decodeUnknownOption(SessionCookie)
const decodeTokenCookie = Schema.decodeUnknownOption(TokenCookie)
const encodeTokenCookie = Schema.encodeSync(TokenCookie)
const decodePendingCookie = Schema.decodeUnknownOption(PendingCookie)

/** the claims that only served the sign-in's own checks: not part of who the user is */
const protocolClaims = new Set(["nonce", "at_hash", "c_hash"])

const defaults = {
  scope: ["openid", "offline_access"],
  idleTimeout: Duration.hours(8),
  absoluteTimeout: Duration.days(7),
  renewAfter: Duration.minutes(1),
  pendingTtl: Duration.minutes(10),
  cookieName: "session",
  csrfHeader: "x-csrf"
} as const

/**
 * Cookie-only sessions refresh in the request, never in the background: a background refresh would rotate the
 * refresh token while the response that could carry the new cookie is already gone, and a browser that stays away
 * past the `RotationStore`'s window would come back with a spent token. So there is no "usable" phase: a token set
 * is fresh until `expiresAt` minus the skew, then refreshed by the request that finds it so.
 */
const cookieFreshness = { refreshRatio: 1, jitter: 0 } as const

/** where the sessions live: the application's `ManagedToken` over a `TokenStore`, or one over the cookies themselves */
type Mode =
  | { readonly _tag: "Server"; readonly managed: ManagedToken.ManagedToken.Service }
  | { readonly _tag: "Cookie"; readonly managed: ManagedToken.ManagedToken.Service; readonly presented: Presented.Presented }

/** a session cookie, opened */
interface Opened {
  /** the `ManagedToken` key: the session's store key, or the rotation key of the refresh token the cookie carries */
  readonly key: string
  /** signed in at, renewed at (epoch ms) */
  readonly iat: number
  readonly rat: number
  /** the fingerprint of the secret that sealed it */
  readonly sealedWith: string
  /** cookie-only sessions: the token set it carries */
  readonly tokenSet: TokenSet | undefined
  /** its value sealed again with the newest secret, renewed at `now` – with `tokenSet` for a cookie-only session */
  readonly reseal: (now: number, tokenSet: TokenSet) => Effect.Effect<string>
}

type Resolved =
  | { readonly _tag: "None" }
  | { readonly _tag: "Unavailable" }
  | {
    readonly _tag: "Active"
    readonly session: CurrentSession.Service
    readonly respond: (response: HttpServerResponse.HttpServerResponse) => Effect.Effect<HttpServerResponse.HttpServerResponse>
  }

const invalid = (description: string) => new ConfigurationError({ reason: "InvalidOptions", description })

const sameToken = (a: Redacted.Redacted<string> | undefined, b: Redacted.Redacted<string> | undefined): boolean =>
  a === undefined || b === undefined ? a === b : Redacted.value(a) === Redacted.value(b)

/** the service over a mode: everything but where the sessions live is the same */
const build = (
  options: Options,
  mode: Mode
): Effect.Effect<
  WebAuth.Service,
  ConfigurationError,
  AuthorizationCode.AuthorizationCode | Revocation.Revocation | AuthorizationServer.AuthorizationServer
> =>
  Effect.gen(function*() {
    const flow = yield* AuthorizationCode.AuthorizationCode
    const revocation = yield* Revocation.Revocation
    const server = yield* AuthorizationServer.AuthorizationServer
    const managed = mode.managed
    const base = yield* Either.mapLeft(
      Request.parseBaseUrl(options.baseUrl),
      (description) => new ConfigurationError({ reason: "InsecureEndpoint", description })
    )
    const sealer = yield* Seal.make(options.cookieSecrets)
    const idleMillis = Duration.toMillis(Duration.decode(options.session?.idleTimeout ?? defaults.idleTimeout))
    const absoluteMillis = Duration.toMillis(Duration.decode(options.session?.absoluteTimeout ?? defaults.absoluteTimeout))
    const renewMillis = Duration.toMillis(Duration.decode(options.session?.renewAfter ?? defaults.renewAfter))
    const pendingMillis = Duration.toMillis(defaults.pendingTtl)
    if (!(idleMillis >= 1000 && absoluteMillis >= idleMillis && renewMillis >= 0 && renewMillis < idleMillis)) {
      return yield* invalid("session: 1 s <= idleTimeout <= absoluteTimeout, and renewAfter < idleTimeout")
    }
    const afterLogin = yield* Either.mapLeft(
      Request.safeReturnTo(options.afterLogin ?? "/", base.origin),
      (description) => invalid(`afterLogin: ${description}`)
    )
    const postLogoutRedirectUri = options.postLogoutRedirectUri ?? `${base.origin}/`
    const redirectUri = `${base.origin}${paths.callback}`
    const scope = options.scope ?? defaults.scope
    const cookieName = options.cookieName ?? defaults.cookieName
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(cookieName)) return yield* invalid("cookieName: letters, digits, _ and - only")
    const prefix = base.secure ? "__Host-" : ""
    const sessionCookieName = `${prefix}${cookieName}`
    const pendingCookieName = (state: string) => `${prefix}${cookieName}-signin-${Seal.stateFingerprint(state)}`
    const csrf: Request.CsrfPolicy | false = options.csrf === false ? false : {
      mode: options.csrf?.mode ?? "origin",
      header: (options.csrf?.header ?? defaults.csrfHeader).toLowerCase()
    }

    // ---- responses -------------------------------------------------------------------------------------------

    const cookieOptions = (maxAgeSeconds: number) => ({
      path: "/",
      httpOnly: true,
      secure: base.secure,
      sameSite: "lax" as const,
      maxAge: Duration.seconds(Math.max(0, Math.floor(maxAgeSeconds)))
    })
    const setCookie = (name: string, value: string, maxAgeSeconds: number) =>
      HttpServerResponse.unsafeSetCookie(name, value, cookieOptions(maxAgeSeconds))
    const clearCookie = (name: string) => HttpServerResponse.unsafeSetCookie(name, "", cookieOptions(0))
    const noStore = HttpServerResponse.setHeader("cache-control", "no-store")

    /**
     * The session cookie set to `chunks` (one value, or the chunks of a long one), and every chunk of an earlier,
     * longer value the request carries cleared in the same response.
     */
    const setSessionCookie =
      (request: HttpServerRequest.HttpServerRequest, chunks: ReadonlyArray<string>, maxAgeSeconds: number) =>
      (response: HttpServerResponse.HttpServerResponse): HttpServerResponse.HttpServerResponse => {
        let out = response
        chunks.forEach((value, i) => (out = setCookie(Chunks.chunkName(sessionCookieName, i), value, maxAgeSeconds)(out)))
        for (const stale of Chunks.staleNames(request.cookies, sessionCookieName, chunks.length)) {
          out = clearCookie(stale)(out)
        }
        return out
      }
    /** every chunk of the session cookie the request carries cleared (`always`: the first one even if it carries none) */
    const clearSessionCookie =
      (request: HttpServerRequest.HttpServerRequest, always = false) =>
      (response: HttpServerResponse.HttpServerResponse): HttpServerResponse.HttpServerResponse => {
        let out = always && request.cookies[sessionCookieName] === undefined ? clearCookie(sessionCookieName)(response) : response
        for (const name of Chunks.staleNames(request.cookies, sessionCookieName, 0)) out = clearCookie(name)(out)
        return out
      }

    const html = (status: number, body: string) =>
      HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })
    const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status })

    const loginPath = (returnTo?: string) =>
      returnTo === undefined ? paths.login : `${paths.login}?${new URLSearchParams({ returnTo })}`

    /** the request's URL as the browser sent it (a Node request has only its path; a web `Request` its whole URL) */
    const requestUrl = (request: HttpServerRequest.HttpServerRequest): URL => new URL(request.originalUrl, base.origin)

    /** the request's path and query, when it may come back after a sign-in */
    const returnPath = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
      const url = requestUrl(request)
      return Either.getOrUndefined(Request.safeReturnTo(`${url.pathname}${url.search}`, base.origin))
    }

    /** no session: navigations go to sign-in and come back, everything else gets 401 JSON; a sent cookie is cleared */
    const signInRequired = (request: HttpServerRequest.HttpServerRequest, api = false) => {
      const method = request.method.toUpperCase()
      const navigate = !api && (method === "GET" || method === "HEAD") && Request.isNavigation(request.headers)
      const response = navigate
        ? HttpServerResponse.redirect(loginPath(returnPath(request)), { status: 302 })
        : json(401, {
          error: Pages.refusals.NoSession.error,
          error_description: Pages.refusals.NoSession.description,
          login: loginPath()
        })
      return noStore(clearSessionCookie(request)(response))
    }

    const unavailable = (request: HttpServerRequest.HttpServerRequest, api = false) =>
      noStore(
        !api && Request.isNavigation(request.headers)
          ? html(503, Pages.page("Try again in a moment", "The sign-in service cannot be reached right now."))
          : json(503, { error: Pages.refusals.Unavailable.error, error_description: Pages.refusals.Unavailable.description })
      )

    const refused = (request: HttpServerRequest.HttpServerRequest, reason: string) =>
      Effect.as(
        Effect.logWarning("WebAuth: a state-changing request from another site was refused").pipe(
          Effect.annotateLogs({ method: request.method, reason })
        ),
        noStore(
          Request.isNavigation(request.headers)
            ? html(403, Pages.page("Request refused", "This request did not come from this site."))
            : json(403, { error: Pages.refusals.CrossSite.error, error_description: Pages.refusals.CrossSite.description })
        )
      )

    const signInFailed = (error: SignInError) =>
      Effect.as(
        Effect.logWarning("WebAuth: a sign-in could not be completed").pipe(
          Effect.annotateLogs({ reason: error.reason, ...(error.error !== undefined ? { error: error.error } : {}) })
        ),
        options.onSignInError?.(error) ??
          html(
            error.status,
            Pages.page(
              "Sign-in not completed",
              error.reason === "Refused" && error.error === "access_denied"
                ? "The sign-in was cancelled."
                : error.status === 400
                ? "This sign-in could not be completed in this browser. Please start again."
                : "The sign-in service did not answer as expected. Please try again.",
              { href: paths.login, text: "Sign in" }
            )
          )
      )

    const csrfCheck = (request: HttpServerRequest.HttpServerRequest): Either.Either<void, string> =>
      csrf === false ? Either.void : Request.crossSiteCheck(request.method, request.headers, base.origin, csrf)

    // ---- sessions --------------------------------------------------------------------------------------------

    /**
     * The request's session cookie, opened: its `ManagedToken` key and its times. A cookie-only session's token set
     * is presented under its key for the scope (the request), so that `ManagedToken` finds it.
     */
    const openSessionCookie = (
      request: HttpServerRequest.HttpServerRequest
    ): Effect.Effect<Option.Option<Opened>, never, Scope.Scope> =>
      Effect.gen(function*() {
        const value = Chunks.join(request.cookies, sessionCookieName)
        if (Option.isNone(value)) return Option.none()
        if (mode._tag === "Server") {
          const opened = yield* sealer.open("session", value.value)
          if (Option.isNone(opened)) return Option.none()
          const cookie = decodeSessionCookie(opened.value.payload)
          if (Option.isNone(cookie)) return Option.none()
          const { hk, iat, rat, sid } = cookie.value
          return Option.map(sealer.storeKey(hk, sid), (key): Opened => ({
            key,
            iat,
            rat,
            sealedWith: opened.value.secretId,
            tokenSet: undefined,
            reseal: (now) => sealer.seal("session", { sid, hk, iat, rat: now })
          }))
        }
        const opened = yield* sealer.open("tokens", value.value)
        if (Option.isNone(opened)) return Option.none()
        const cookie = decodeTokenCookie(opened.value.payload)
        if (Option.isNone(cookie)) return Option.none()
        const { iat, rat, t } = cookie.value
        // the key of what presenting this cookie leads to: its refresh token's (else its access token's: a session
        // without refresh token ends at expiry)
        const key = sealer.rotationKey(opened.value.secretId, Redacted.value(t.refreshToken ?? t.accessToken))
        if (Option.isNone(key)) return Option.none()
        yield* mode.presented.present(key.value, t)
        return Option.some<Opened>({
          key: key.value,
          iat,
          rat,
          sealedWith: opened.value.secretId,
          tokenSet: t,
          reseal: (now, tokenSet) => sealer.seal("tokens", encodeTokenCookie({ t: tokenSet, iat, rat: now }))
        })
      })

    /** a new session for `tokens` (a sign-in): the session cookie's value, sealed and split into chunks */
    const beginSession = (tokens: TokenSet, now: number): Effect.Effect<ReadonlyArray<string>, SignInError> =>
      Effect.gen(function*() {
        let sealed: string
        if (mode._tag === "Server") {
          const sessionId = Seal.newSessionId()
          const storeKey = sealer.storeKey(sealer.newestId, sessionId)
          if (Option.isNone(storeKey)) return yield* Effect.dieMessage("the newest secret has no store key")
          yield* Effect.mapError(
            managed.start(storeKey.value, tokens),
            () => new SignInError({ reason: "Unavailable", description: "the session store failed" })
          )
          sealed = yield* sealer.seal("session", { sid: sessionId, hk: sealer.newestId, iat: now, rat: now })
        } else {
          sealed = yield* sealer.seal("tokens", encodeTokenCookie({ t: tokens, iat: now, rat: now }))
        }
        const chunks = Chunks.split(sealed)
        if (Option.isNone(chunks)) {
          return yield* new SignInError({
            reason: "TooLarge",
            description: `the sealed token set (${sealed.length} characters) does not fit in ${Chunks.maxChunks} cookies`
          })
        }
        return chunks.value
      })

    /** ends a session here and revokes its refresh token at the server; failures are logged, never shown */
    const endSession = (key: string) =>
      managed.remove(key).pipe(
        Effect.tap(Option.match({
          onNone: () => Effect.void,
          onSome: (tokens) =>
            revocation.revoke(tokens).pipe(
              Effect.catchAll((error) =>
                Effect.logWarning("WebAuth: the session's refresh token could not be revoked").pipe(
                  Effect.annotateLogs({ error: error._tag })
                )
              )
            )
        })),
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logWarning("WebAuth: the session could not be removed").pipe(Effect.annotateLogs({ error: error._tag })),
            Option.none<TokenSet>()
          )
        )
      )

    const claimsOf = (tokens: TokenSet): Option.Option<{ readonly subject: string; readonly claims: Jwt.Claims }> =>
      tokens.idToken === undefined ? Option.none() : Option.flatMap(Jwt.decodeOption(tokens.idToken), (claims) => {
        const sub = claims["sub"]
        if (typeof sub !== "string" || sub === "") return Option.none()
        const kept: Record<string, unknown> = {}
        for (const [name, value] of Object.entries(claims)) if (!protocolClaims.has(name)) kept[name] = value
        return Option.some({ subject: sub, claims: kept })
      })

    /**
     * The session's `TokenSource` for the handler. In cookie-only mode it also remembers the last token set it
     * handed out – a refresh the handler caused (after a 401 and `invalidate`) must reach this response's cookie.
     */
    const tokenSourceOf = (opened: Opened, first: TokenSet): { readonly source: TokenSource<ManagedToken.ManagedTokenError>; readonly latest: () => TokenSet } => {
      const source = managed.source(opened.key)
      if (mode._tag === "Server") return { source, latest: () => first }
      let latest = first
      return {
        source: {
          get: Effect.tap(source.get, (tokenSet) =>
            Effect.sync(() => {
              latest = tokenSet
              mode.presented.offer(opened.key, tokenSet)
            })),
          invalidate: source.invalidate
        },
        latest: () => latest
      }
    }

    const resolve = Effect.fn("WebAuth.resolveSession")(function*(request: HttpServerRequest.HttpServerRequest) {
      const opened = yield* openSessionCookie(request)
      const cookieSent = request.cookies[sessionCookieName] !== undefined
      if (Option.isNone(opened)) {
        yield* Effect.annotateCurrentSpan("web.session", cookieSent ? "invalid_cookie" : "none")
        return { _tag: "None" } satisfies Resolved
      }
      const cookie = opened.value
      const now = yield* Clock.currentTimeMillis
      const endsAt = cookie.iat + absoluteMillis
      if (now >= endsAt || now >= cookie.rat + idleMillis || cookie.rat > now + 60_000) {
        // expired (a browser drops it at Max-Age; a replayed one ends the session it names)
        yield* Effect.annotateCurrentSpan("web.session", "expired")
        yield* endSession(cookie.key)
        return { _tag: "None" } satisfies Resolved
      }
      const got = yield* Effect.either(managed.get(cookie.key))
      if (Either.isLeft(got)) {
        if (got.left._tag === "ReauthenticationRequired") {
          yield* Effect.annotateCurrentSpan("web.session", "ended")
          return { _tag: "None" } satisfies Resolved
        }
        yield* Effect.annotateCurrentSpan("web.session", "unavailable")
        yield* Effect.logWarning("WebAuth: the session could not be refreshed").pipe(
          Effect.annotateLogs({ error: got.left._tag })
        )
        return { _tag: "Unavailable" } satisfies Resolved
      }
      const user = claimsOf(got.right)
      if (Option.isNone(user)) {
        yield* endSession(cookie.key)
        return { _tag: "None" } satisfies Resolved
      }
      if (mode._tag === "Cookie") mode.presented.offer(cookie.key, got.right)
      const { latest, source } = tokenSourceOf(cookie, got.right)
      yield* Effect.annotateCurrentSpan({
        "web.session": "active",
        "web.tokens_changed": cookie.tokenSet !== undefined && !sameToken(cookie.tokenSet.accessToken, got.right.accessToken)
      })
      const session: CurrentSession.Service = {
        subject: user.value.subject,
        claims: user.value.claims,
        tokens: source,
        signedInAt: cookie.iat,
        expiresAt: endsAt
      }
      /**
       * The cookie renewed in the response when due: `renewAfter` passed, sealed with an older secret – or, for a
       * cookie-only session, the tokens changed (a refresh): the response that refreshed always carries the new
       * cookie, its stale chunks cleared.
       */
      const respond = (response: HttpServerResponse.HttpServerResponse) =>
        Effect.gen(function*() {
          const at = yield* Clock.currentTimeMillis
          const tokens = latest()
          const changed = cookie.tokenSet !== undefined && (
            !sameToken(cookie.tokenSet.accessToken, tokens.accessToken) ||
            !sameToken(cookie.tokenSet.refreshToken, tokens.refreshToken)
          )
          if (!changed && at - cookie.rat < renewMillis && cookie.sealedWith === sealer.newestId) return response
          const sealed = yield* cookie.reseal(at, tokens)
          const chunks = Chunks.split(sealed)
          if (Option.isNone(chunks)) {
            yield* Effect.logWarning("WebAuth: the refreshed token set does not fit in the session cookie; the session ends")
            // ended as a sign-out ends it: the new refresh token revoked, the rotation's result recorded as Ended
            yield* endSession(cookie.key)
            return clearSessionCookie(request)(response)
          }
          return setSessionCookie(request, chunks.value, Math.min(idleMillis, endsAt - at) / 1000)(response)
        })
      return { _tag: "Active", session, respond } satisfies Resolved
    })

    const isReauthentication = <E>(error: E): error is Extract<E, ManagedToken.ReauthenticationRequired> =>
      error instanceof ManagedToken.ReauthenticationRequired

    const authenticate: Effect.Effect<Authentication, never, HttpServerRequest.HttpServerRequest | Scope.Scope> = Effect
      .gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const check = csrfCheck(request)
        if (Either.isLeft(check)) {
          return { _tag: "Refused", reason: "CrossSite", response: yield* refused(request, check.left) } as const
        }
        const resolved = yield* resolve(request)
        switch (resolved._tag) {
          case "None":
            return { _tag: "Refused", reason: "NoSession", response: signInRequired(request) } as const
          case "Unavailable":
            return { _tag: "Refused", reason: "Unavailable", response: unavailable(request) } as const
          case "Active":
            return {
              _tag: "Active",
              session: resolved.session,
              respond: resolved.respond,
              ended: signInRequired(request)
            } as const
        }
      })

    /** `effect` with a scope of its own, closed when it ends (the handler's own `Scope`, if it needs one, is not it) */
    const withOwnScope = <A, E, R>(effect: (scope: Scope.Scope) => Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(Scope.make(), effect, (scope, exit) => Scope.close(scope, exit))

    const middleware = <E, R>(
      app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ): Effect.Effect<
      HttpServerResponse.HttpServerResponse,
      WithoutReauthentication<E>,
      Exclude<R, CurrentSession> | HttpServerRequest.HttpServerRequest
    > =>
      withOwnScope((scope) =>
        Effect.gen(function*() {
          const authentication = yield* Scope.extend(authenticate, scope)
          if (authentication._tag === "Refused") return authentication.response
          const response = yield* app.pipe(
            Effect.provideService(CurrentSession, authentication.session),
            Effect.map(Either.right),
            Effect.catchIf(isReauthentication, () => Effect.succeed(Either.left(authentication.ended)))
          )
          return Either.isLeft(response) ? response.left : yield* authentication.respond(response.right)
        })
      )

    // ---- routes ----------------------------------------------------------------------------------------------

    const login = Effect.fn("WebAuth.login")(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const given = requestUrl(request).searchParams.getAll("returnTo")
      const returnTo = given.length === 0 ? Either.right(afterLogin) : given.length > 1
        ? Either.left("returnTo is repeated")
        : Request.safeReturnTo(given[0] ?? "", base.origin)
      if (Either.isLeft(returnTo)) {
        return noStore(yield* signInFailed(new SignInError({ reason: "InvalidReturnTo", description: returnTo.left })))
      }
      const pending = yield* Effect.either(flow.authorizationUrl({ scope, resource: options.resource, redirectUri }))
      if (Either.isLeft(pending)) {
        return noStore(
          yield* signInFailed(new SignInError({ reason: "Unavailable", description: pending.left.message }))
        )
      }
      const now = yield* Clock.currentTimeMillis
      const sealed = yield* sealer.seal("pending", {
        s: pending.right.state,
        // what the callback needs; the URL (the browser is on its way there) is left out to keep the cookie small
        p: AuthorizationCode.encodePending(new AuthorizationCode.PendingAuthorization({ ...pending.right, url: "" })),
        r: returnTo.right,
        exp: now + pendingMillis
      })
      return HttpServerResponse.redirect(pending.right.url, { status: 302 }).pipe(
        setCookie(pendingCookieName(pending.right.state), sealed, pendingMillis / 1000),
        noStore
      )
    })

    const callback = Effect.fn("WebAuth.callback")(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const callbackUrl = requestUrl(request)
      const states = callbackUrl.searchParams.getAll("state")
      const state = states.length === 1 ? states[0] : undefined
      const noPending = new SignInError({
        reason: "NoPendingSignIn",
        description: "no sign-in of this browser waits for this callback"
      })
      if (state === undefined || state === "") return noStore(yield* signInFailed(noPending))
      const cookieName = pendingCookieName(state)
      // single use: whatever happens next, the pending sign-in is spent
      const finish = (response: HttpServerResponse.HttpServerResponse) => noStore(clearCookie(cookieName)(response))
      const value = request.cookies[cookieName]
      const opened = value === undefined ? Option.none() : yield* sealer.open("pending", value)
      const payload = Option.flatMap(opened, (o) => decodePendingCookie(o.payload))
      const now = yield* Clock.currentTimeMillis
      if (Option.isNone(payload) || payload.value.s !== state || now >= payload.value.exp) {
        yield* Effect.annotateCurrentSpan("web.callback", "no_pending_sign_in")
        return finish(yield* signInFailed(noPending))
      }
      const pending = yield* Effect.either(AuthorizationCode.decodePending(payload.value.p))
      if (Either.isLeft(pending)) return finish(yield* signInFailed(noPending))

      const exchanged = yield* Effect.either(flow.exchangeCode(callbackUrl.searchParams, pending.right))
      if (Either.isLeft(exchanged)) {
        const error = exchanged.left
        yield* Effect.annotateCurrentSpan("web.callback", error._tag)
        return finish(
          yield* signInFailed(
            error._tag === "AuthorizationResponseError"
              ? new SignInError({
                reason: "Refused",
                description: `the authorization response was refused (${error.reason})`,
                ...(error.error !== undefined ? { error: error.error.slice(0, 64) } : {})
              })
              : new SignInError({ reason: "TokenRequestFailed", description: `the code exchange failed (${error._tag})` })
          )
        )
      }
      const tokens = exchanged.right
      if (Option.isNone(claimsOf(tokens))) {
        return finish(
          yield* signInFailed(
            new SignInError({ reason: "NoIdToken", description: "the token response has no ID token: request openid" })
          )
        )
      }
      // the browser's previous session (a second sign-in) ends: one session per cookie, a new id every time
      yield* Effect.scoped(
        Effect.flatMap(openSessionCookie(request), Option.match({
          onNone: () => Effect.void,
          onSome: (cookie) => Effect.asVoid(endSession(cookie.key))
        }))
      )
      const begun = yield* Effect.either(beginSession(tokens, now))
      if (Either.isLeft(begun)) {
        // the tokens are not kept: their refresh token is revoked
        if (begun.left.reason === "TooLarge") yield* Effect.ignore(revocation.revoke(tokens))
        return finish(yield* signInFailed(begun.left))
      }
      yield* Effect.annotateCurrentSpan("web.callback", "signed_in")
      return finish(
        setSessionCookie(request, begun.right, Math.min(idleMillis, absoluteMillis) / 1000)(
          HttpServerResponse.redirect(payload.value.r, { status: 302 })
        )
      )
    })

    const logout = Effect.fn("WebAuth.logout")(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const check = csrfCheck(request)
      if (Either.isLeft(check)) return yield* refused(request, check.left)
      const removed = yield* Effect.scoped(
        Effect.flatMap(openSessionCookie(request), Option.match({
          onNone: () => Effect.succeed(Option.none<TokenSet>()),
          onSome: (cookie) => endSession(cookie.key)
        }))
      )
      const idToken = Option.flatMap(removed, (tokens) => Option.fromNullable(tokens.idToken))
      const endSessionEndpoint = Option.flatMap(
        Option.getRight(yield* Effect.either(server.metadata)),
        (metadata) => Option.fromNullable(metadata.endSessionEndpoint)
      )
      let location = postLogoutRedirectUri
      if (Option.isSome(idToken) && Option.isSome(endSessionEndpoint)) {
        const url = new URL(endSessionEndpoint.value)
        url.searchParams.set("id_token_hint", Redacted.value(idToken.value))
        url.searchParams.set("post_logout_redirect_uri", postLogoutRedirectUri)
        location = url.href
      }
      yield* Effect.annotateCurrentSpan({
        "web.session": Option.isSome(removed) ? "ended" : "none",
        "web.end_session": location !== postLogoutRedirectUri
      })
      const response = Request.isNavigation(request.headers)
        ? HttpServerResponse.redirect(location, { status: 303 })
        : json(200, { location })
      return noStore(clearSessionCookie(request, true)(response))
    })

    const session = Effect.fn("WebAuth.session")(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      return yield* withOwnScope((scope) =>
        Effect.gen(function*() {
          const resolved = yield* Scope.extend(resolve(request), scope)
          switch (resolved._tag) {
            case "None":
              return signInRequired(request, true)
            case "Unavailable":
              return unavailable(request, true)
            case "Active":
              return noStore(yield* resolved.respond(json(200, resolved.session.claims)))
          }
        })
      )
    })

    return WebAuth.of({
      login: login(),
      callback: callback(),
      logout: logout(),
      session: session(),
      middleware,
      authenticate
    })
  })

/**
 * Sessions on the server: builds the service from the `AuthorizationCode`, `ManagedToken`, `Revocation` and
 * `AuthorizationServer` in context. Fails with `ConfigurationError` (`InvalidOptions`, `InsecureEndpoint`) for a base
 * URL or a cookie secret it cannot use.
 *
 * `ManagedToken` must be the application's one instance (its single flight is what makes one refresh per session);
 * give it without revocation (`ManagedToken.layer()`): `/logout` revokes the refresh token itself, through
 * `Revocation`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  WebAuth.Service,
  ConfigurationError,
  | AuthorizationCode.AuthorizationCode
  | ManagedToken.ManagedToken
  | Revocation.Revocation
  | AuthorizationServer.AuthorizationServer
> => Effect.flatMap(ManagedToken.ManagedToken, (managed) => build(options, { _tag: "Server", managed }))

/**
 * Cookie-only sessions: no session store – the token set is sealed into the session cookie (JWE `dir` + `A256GCM`
 * under a key derived from the cookie secret, chunked into `<name>`, `<name>.1`, `<name>.2` past 3,800 characters,
 * joined and opened as one). The service refreshes through a `ManagedToken` of its own, built here over the
 * `RefreshToken` in context (the same single flight, the same ID-token checks), whose keys are keyed hashes of the
 * refresh tokens the cookies carry:
 *
 * - a refresh's result is kept in the `RotationStore` for its window (60 s by default) under the keyed hash of the
 *   refresh token it rotated – a request that still carries the old cookie is given that result and the new cookie,
 *   and the spent refresh token is never presented again within the window; concurrent requests carrying the same
 *   cookie share one refresh (across instances too when the store has a lock, as `RedisRotationStore` does);
 * - a token set is refreshed in the request that finds it expired (never in the background), and the response that
 *   refreshed always carries the new cookie, its stale chunks cleared;
 * - the refreshes use `options.resource`.
 *
 * Scoped: the refreshes run in fibers of the layer's scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCookie = (
  options: Options
): Effect.Effect<
  WebAuth.Service,
  ConfigurationError,
  | AuthorizationCode.AuthorizationCode
  | RefreshToken.RefreshToken
  | RotationStore.RotationStore
  | Revocation.Revocation
  | AuthorizationServer.AuthorizationServer
  | Scope.Scope
> =>
  Effect.gen(function*() {
    const presented = Presented.make(yield* RotationStore.RotationStore)
    const managed = yield* ManagedToken.make({
      freshness: cookieFreshness,
      ...(options.resource !== undefined ? { refresh: { resource: options.resource } } : {})
    }).pipe(Effect.provideService(TokenStore, presented.store))
    return yield* build(options, { _tag: "Cookie", managed, presented })
  })

/**
 * Sessions on the server, from the `AuthorizationCode`, `ManagedToken`, `Revocation` and `AuthorizationServer` in
 * context (see {@link make}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  WebAuth,
  ConfigurationError,
  | AuthorizationCode.AuthorizationCode
  | ManagedToken.ManagedToken
  | Revocation.Revocation
  | AuthorizationServer.AuthorizationServer
> => Layer.effect(WebAuth, make(options))

/**
 * Cookie-only sessions, from the `AuthorizationCode`, `RefreshToken`, `RotationStore`, `Revocation` and
 * `AuthorizationServer` in context (see {@link makeCookie}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCookie = (
  options: Options
): Layer.Layer<
  WebAuth,
  ConfigurationError,
  | AuthorizationCode.AuthorizationCode
  | RefreshToken.RefreshToken
  | RotationStore.RotationStore
  | Revocation.Revocation
  | AuthorizationServer.AuthorizationServer
> => Layer.scoped(WebAuth, makeCookie(options))

const optionalList = (name: string) =>
  Config.map(
    Config.option(Config.string(name)),
    Option.match({
      onNone: () => undefined,
      onSome: (value) => {
        // space-separated, as OAuth writes scopes (a scope token may contain a comma) and as the client reads them
        const items = value.split(/\s+/).filter((item) => item !== "")
        return items.length === 0 ? undefined : items
      }
    })
  )

/**
 * The options from the environment:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `WEB_BASE_URL` | the application's origin (required) |
 * | `WEB_COOKIE_SECRETS` | base64url secrets of 32 bytes or more, comma-separated, newest first (required, `Redacted`) |
 * | `OAUTH_SCOPE` | the sign-in's scope, space-separated (default `openid offline_access`) |
 * | `OAUTH_RESOURCE` | RFC 8707 resource indicators, space-separated (optional) |
 * | `WEB_POST_LOGOUT_REDIRECT_URI` | where `/logout` ends (default `<WEB_BASE_URL>/`) |
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  baseUrl: Config.string("WEB_BASE_URL"),
  cookieSecrets: Config.map(
    Config.redacted("WEB_COOKIE_SECRETS"),
    (secrets) =>
      Redacted.value(secrets).split(",").map((secret) => secret.trim()).filter((secret) => secret !== "").map((secret) =>
        Redacted.make(secret)
      )
  ),
  scope: optionalList("OAUTH_SCOPE"),
  resource: optionalList("OAUTH_RESOURCE"),
  postLogoutRedirectUri: Config.option(Config.string("WEB_POST_LOGOUT_REDIRECT_URI"))
}).pipe(
  Config.map(({ baseUrl, cookieSecrets, postLogoutRedirectUri, resource, scope }): Options => ({
    baseUrl,
    cookieSecrets,
    scope,
    resource,
    postLogoutRedirectUri: Option.getOrUndefined(postLogoutRedirectUri)
  }))
)

/** the client's services from the environment, for `layerConfig` and `layerCookieConfig` */
const clientsFromConfig = Layer.mergeAll(
  AuthorizationCode.layerConfig({
    auth: ClientAuth.config,
    redirectUri: Config.map(Config.string("WEB_BASE_URL"), (url) => `${url.replace(/\/$/, "")}${paths.callback}`)
  }),
  RefreshToken.layerConfig(),
  Revocation.layerConfig()
).pipe(
  Layer.provideMerge(Layer.merge(TokenEndpoint.layer(), Jwks.layer())),
  Layer.provideMerge(AuthorizationServer.layerDiscoveryConfig(Config.string("OAUTH_ISSUER"), { kind: "oidc" }))
)

/**
 * Everything from the environment, sessions on the server: `WebAuth` (with {@link config}) **and** the `ManagedToken`
 * it uses (provided too, so that handlers and `WebAuth` share its one refresh per session), over the client's
 * services – the server discovered from `OAUTH_ISSUER` (OpenID Connect discovery), the client from `ClientAuth.config`
 * (`OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`, …), its redirect URI `<WEB_BASE_URL>/callback`. You bring the
 * `TokenStore` (memory for one instance, `RedisTokenStore` for a fleet) and the `HttpClient`. `overrides` sets the
 * options the environment does not (session lifetimes, the CSRF check, …).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  overrides?: Omit<Options, "baseUrl" | "cookieSecrets">
): Layer.Layer<
  WebAuth | ManagedToken.ManagedToken,
  ConfigError.ConfigError | ConfigurationError,
  TokenStore | HttpClient.HttpClient
> =>
  Layer.unwrapEffect(Effect.map(config, (fromEnv) => {
    const options: Options = { ...fromEnv, ...overrides }
    const resource = options.resource
    const Managed = ManagedToken.layer(resource === undefined ? {} : { refresh: { resource } })
    return layer(options).pipe(Layer.provideMerge(Managed), Layer.provide(clientsFromConfig))
  }))

/**
 * Everything from the environment, cookie-only sessions ({@link makeCookie}): `WebAuth` with {@link config}, over the
 * same client services as {@link layerConfig}. You bring the `RotationStore` (`RotationStore.layerMemory()` for one
 * instance, `RedisRotationStore` for a fleet) and the `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCookieConfig = (
  overrides?: Omit<Options, "baseUrl" | "cookieSecrets">
): Layer.Layer<
  WebAuth,
  ConfigError.ConfigError | ConfigurationError,
  RotationStore.RotationStore | HttpClient.HttpClient
> =>
  Layer.unwrapEffect(
    Effect.map(config, (fromEnv) => layerCookie({ ...fromEnv, ...overrides }).pipe(Layer.provide(clientsFromConfig)))
  )

/**
 * The routes as an `HttpRouter` (`@effect/platform/HttpRouter`): `GET /login`, `GET /callback`, `POST /logout`,
 * `GET /session`. Concatenate it with the application's router (after applying {@link middleware} to that one).
 *
 * @since 0.1.0
 * @category routes
 */
export const routes: HttpRouter.HttpRouter<never, WebAuth> = HttpRouter.empty.pipe(
  HttpRouter.get(paths.login, Effect.flatMap(WebAuth, (web) => web.login)),
  HttpRouter.get(paths.callback, Effect.flatMap(WebAuth, (web) => web.callback)),
  HttpRouter.post(paths.logout, Effect.flatMap(WebAuth, (web) => web.logout)),
  HttpRouter.get(paths.session, Effect.flatMap(WebAuth, (web) => web.session))
)

/**
 * The session middleware for routes of an `HttpRouter` (`HttpRouter.use(WebAuth.middleware)`) or any `HttpApp`: see
 * `WebAuth.Service.middleware`.
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  WithoutReauthentication<E>,
  Exclude<R, CurrentSession> | HttpServerRequest.HttpServerRequest | WebAuth
> => Effect.flatMap(WebAuth, (web) => web.middleware(app))

/**
 * The routes for an `HttpLayerRouter` (`@effect/platform/HttpLayerRouter`).
 *
 * @since 0.1.0
 * @category routes
 */
export const layerRoutes: Layer.Layer<never, never, HttpLayerRouter.HttpRouter | WebAuth> = HttpLayerRouter.use(
  (router) =>
    Effect.flatMap(WebAuth, (web) =>
      router.addAll([
        HttpLayerRouter.route("GET", paths.login, web.login),
        HttpLayerRouter.route("GET", paths.callback, web.callback),
        HttpLayerRouter.route("POST", paths.logout, web.logout),
        HttpLayerRouter.route("GET", paths.session, web.session)
      ]))
)

/**
 * The session middleware for `HttpLayerRouter` routes: provide it to the routes that need a signed-in user
 * (`Layer.provide(WebAuth.layerMiddleware)`); they get `CurrentSession`.
 *
 * @since 0.1.0
 * @category middleware
 */
export const layerMiddleware = HttpLayerRouter.middleware<{ provides: CurrentSession }>()(
  Effect.map(WebAuth, (web) => (effect) => web.middleware(effect))
).layer
