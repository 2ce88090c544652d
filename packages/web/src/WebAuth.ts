/**
 * Web sign-in for `@effect/platform` servers: the routes (`GET /login`, `GET /callback`, `POST /logout`,
 * `GET /session`) and the middleware that finds the user's session on every other route, refreshes its access token
 * through `ManagedToken` – **once per session however many requests arrive at once** – renews the session cookie, and
 * signs the user out when the refresh token is dead.
 *
 * - **Sessions live on the server.** The session cookie holds an opaque random id (a new one at every sign-in: no
 *   fixation), sealed; the tokens live in the `TokenStore` behind `ManagedToken`, under a keyed hash of that id
 *   (HMAC-SHA-256 under a key derived with HKDF from the cookie secret), so whoever reads the store cannot turn its
 *   keys back into cookies.
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
import * as TokenEndpoint from "@effect-oauth/client/TokenEndpoint"
import type { TokenSet } from "@effect-oauth/client/TokenSet"
import type { TokenStore } from "@effect-oauth/client/TokenStore"
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
import { CurrentSession } from "./CurrentSession.js"
import * as Pages from "./internal/pages.js"
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
 * - `Unavailable`: the server's metadata or the session store could not be reached.
 *
 * @since 0.1.0
 * @category errors
 */
export class SignInError extends Schema.TaggedError<SignInError>("@effect-oauth/web/SignInError")("SignInError", {
  reason: Schema.Literal("InvalidReturnTo", "NoPendingSignIn", "Refused", "TokenRequestFailed", "NoIdToken", "Unavailable"),
  description: Schema.String,
  error: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${this.reason}: ${this.description}`
  }

  /**
   * The HTTP status the default page answers with: 400 for a request the browser got wrong, 502 for an answer of the
   * authorization server that could not be used, 503 when something could not be reached.
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
  }
}

/** what the session cookie holds, sealed */
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

type Resolved =
  | { readonly _tag: "None"; readonly cookieSent: boolean }
  | { readonly _tag: "Unavailable" }
  | {
    readonly _tag: "Active"
    readonly session: CurrentSession.Service
    /** a renewed cookie value and its max-age (s), when the cookie is due for renewal */
    readonly renewed: Option.Option<readonly [string, number]>
  }

const invalid = (description: string) => new ConfigurationError({ reason: "InvalidOptions", description })

/**
 * Builds the service from the `AuthorizationCode`, `ManagedToken`, `Revocation` and `AuthorizationServer` in context.
 * Fails with `ConfigurationError` (`InvalidOptions`, `InsecureEndpoint`) for a base URL or a cookie secret it cannot
 * use.
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
> =>
  Effect.gen(function*() {
    const flow = yield* AuthorizationCode.AuthorizationCode
    const managed = yield* ManagedToken.ManagedToken
    const revocation = yield* Revocation.Revocation
    const server = yield* AuthorizationServer.AuthorizationServer
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
    const signInRequired = (request: HttpServerRequest.HttpServerRequest, cookieSent: boolean, api = false) => {
      const method = request.method.toUpperCase()
      const navigate = !api && (method === "GET" || method === "HEAD") && Request.isNavigation(request.headers)
      const response = navigate
        ? HttpServerResponse.redirect(loginPath(returnPath(request)), { status: 302 })
        : json(401, {
          error: "login_required",
          error_description: "no session, or the session ended: sign in again",
          login: loginPath()
        })
      return noStore(cookieSent ? clearCookie(sessionCookieName)(response) : response)
    }

    const unavailable = (request: HttpServerRequest.HttpServerRequest, api = false) =>
      noStore(
        !api && Request.isNavigation(request.headers)
          ? html(503, Pages.page("Try again in a moment", "The sign-in service cannot be reached right now."))
          : json(503, { error: "temporarily_unavailable", error_description: "the session cannot be checked right now" })
      )

    const refused = (request: HttpServerRequest.HttpServerRequest, reason: string) =>
      Effect.as(
        Effect.logWarning("WebAuth: a state-changing request from another site was refused").pipe(
          Effect.annotateLogs({ method: request.method, reason })
        ),
        noStore(
          Request.isNavigation(request.headers)
            ? html(403, Pages.page("Request refused", "This request did not come from this site."))
            : json(403, { error: "cross_site_request", error_description: "this request did not come from this site" })
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

    /** the session cookie of the request, opened: its id's store key and its times */
    const openSessionCookie = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const value = request.cookies[sessionCookieName]
        if (value === undefined || value === "") return Option.none()
        const opened = yield* sealer.open("session", value)
        if (Option.isNone(opened)) return Option.none()
        const cookie = decodeSessionCookie(opened.value.payload)
        if (Option.isNone(cookie)) return Option.none()
        return Option.map(sealer.storeKey(cookie.value.hk, cookie.value.sid), (storeKey) => ({
          storeKey,
          cookie: cookie.value,
          sealedWith: opened.value.secretId
        }))
      })

    /** ends a session here and revokes its refresh token at the server; failures are logged, never shown */
    const endSession = (storeKey: string) =>
      managed.remove(storeKey).pipe(
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

    const resolve = Effect.fn("WebAuth.resolveSession")(function*(request: HttpServerRequest.HttpServerRequest) {
      const opened = yield* openSessionCookie(request)
      const cookieSent = request.cookies[sessionCookieName] !== undefined
      if (Option.isNone(opened)) {
        yield* Effect.annotateCurrentSpan("web.session", cookieSent ? "invalid_cookie" : "none")
        return { _tag: "None", cookieSent } satisfies Resolved
      }
      const { cookie, sealedWith, storeKey } = opened.value
      const now = yield* Clock.currentTimeMillis
      const endsAt = cookie.iat + absoluteMillis
      if (now >= endsAt || now >= cookie.rat + idleMillis || cookie.rat > now + 60_000) {
        // expired (a browser drops it at Max-Age; a replayed one ends the session it names)
        yield* Effect.annotateCurrentSpan("web.session", "expired")
        yield* endSession(storeKey)
        return { _tag: "None", cookieSent } satisfies Resolved
      }
      const got = yield* Effect.either(managed.get(storeKey))
      if (Either.isLeft(got)) {
        if (got.left._tag === "ReauthenticationRequired") {
          yield* Effect.annotateCurrentSpan("web.session", "ended")
          return { _tag: "None", cookieSent } satisfies Resolved
        }
        yield* Effect.annotateCurrentSpan("web.session", "unavailable")
        yield* Effect.logWarning("WebAuth: the session could not be refreshed").pipe(
          Effect.annotateLogs({ error: got.left._tag })
        )
        return { _tag: "Unavailable" } satisfies Resolved
      }
      const user = claimsOf(got.right)
      if (Option.isNone(user)) {
        yield* endSession(storeKey)
        return { _tag: "None", cookieSent } satisfies Resolved
      }
      const renewed = now - cookie.rat >= renewMillis || sealedWith !== sealer.newestId
        ? Option.some(
          [
            yield* sealer.seal("session", { ...cookie, rat: now }),
            Math.min(idleMillis, endsAt - now) / 1000
          ] as const
        )
        : Option.none()
      yield* Effect.annotateCurrentSpan({ "web.session": "active", "web.cookie_renewed": Option.isSome(renewed) })
      const session: CurrentSession.Service = {
        subject: user.value.subject,
        claims: user.value.claims,
        tokens: managed.source(storeKey),
        signedInAt: cookie.iat,
        expiresAt: endsAt
      }
      return { _tag: "Active", session, renewed } satisfies Resolved
    })

    const withRenewal = (renewed: Option.Option<readonly [string, number]>) =>
    (response: HttpServerResponse.HttpServerResponse) =>
      Option.match(renewed, {
        onNone: () => response,
        onSome: ([value, maxAge]) => setCookie(sessionCookieName, value, maxAge)(response)
      })

    const isReauthentication = <E>(error: E): error is Extract<E, ManagedToken.ReauthenticationRequired> =>
      error instanceof ManagedToken.ReauthenticationRequired

    const middleware = <E, R>(
      app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ): Effect.Effect<
      HttpServerResponse.HttpServerResponse,
      WithoutReauthentication<E>,
      Exclude<R, CurrentSession> | HttpServerRequest.HttpServerRequest
    > =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const check = csrfCheck(request)
        if (Either.isLeft(check)) return yield* refused(request, check.left)
        const resolved = yield* resolve(request)
        switch (resolved._tag) {
          case "None":
            return signInRequired(request, resolved.cookieSent)
          case "Unavailable":
            return unavailable(request)
          case "Active": {
            const response = yield* app.pipe(
              Effect.provideService(CurrentSession, resolved.session),
              Effect.catchIf(isReauthentication, () => Effect.succeed(signInRequired(request, true)))
            )
            return withRenewal(resolved.renewed)(response)
          }
        }
      })

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
      const previous = yield* openSessionCookie(request)
      if (Option.isSome(previous)) yield* endSession(previous.value.storeKey)
      const sessionId = Seal.newSessionId()
      const storeKey = sealer.storeKey(sealer.newestId, sessionId)
      if (Option.isNone(storeKey)) return yield* Effect.dieMessage("the newest secret has no store key")
      const started = yield* Effect.either(managed.start(storeKey.value, tokens))
      if (Either.isLeft(started)) {
        return finish(
          yield* signInFailed(new SignInError({ reason: "Unavailable", description: "the session store failed" }))
        )
      }
      const sealed = yield* sealer.seal("session", { sid: sessionId, hk: sealer.newestId, iat: now, rat: now })
      yield* Effect.annotateCurrentSpan("web.callback", "signed_in")
      return finish(
        setCookie(sessionCookieName, sealed, Math.min(idleMillis, absoluteMillis) / 1000)(
          HttpServerResponse.redirect(payload.value.r, { status: 302 })
        )
      )
    })

    const logout = Effect.fn("WebAuth.logout")(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const check = csrfCheck(request)
      if (Either.isLeft(check)) return yield* refused(request, check.left)
      const opened = yield* openSessionCookie(request)
      const removed = Option.isSome(opened) ? yield* endSession(opened.value.storeKey) : Option.none<TokenSet>()
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
      return noStore(clearCookie(sessionCookieName)(response))
    })

    const session = Effect.fn("WebAuth.session")(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const resolved = yield* resolve(request)
      switch (resolved._tag) {
        case "None":
          return signInRequired(request, resolved.cookieSent, true)
        case "Unavailable":
          return unavailable(request, true)
        case "Active":
          return noStore(withRenewal(resolved.renewed)(json(200, resolved.session.claims)))
      }
    })

    return WebAuth.of({ login: login(), callback: callback(), logout: logout(), session: session(), middleware })
  })

/**
 * The service, from the `AuthorizationCode`, `ManagedToken`, `Revocation` and `AuthorizationServer` in context (see
 * {@link make}).
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

const optionalList = (name: string) =>
  Config.map(
    Config.option(Config.string(name)),
    Option.match({
      onNone: () => undefined,
      onSome: (value) => {
        const items = value.split(/[\s,]+/).filter((item) => item !== "")
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

/**
 * Everything from the environment: `WebAuth` (with {@link config}) **and** the `ManagedToken` it uses (provided too,
 * so that handlers and `WebAuth` share its one refresh per session), over the client's services – the server
 * discovered from `OAUTH_ISSUER` (OpenID Connect discovery), the client from `ClientAuth.config` (`OAUTH_CLIENT_ID`,
 * `OAUTH_CLIENT_SECRET`, …), its redirect URI `<WEB_BASE_URL>/callback`. You bring the `TokenStore` (memory for one
 * instance, `RedisTokenStore` for a fleet) and the `HttpClient`. `overrides` sets the options the environment does
 * not (session lifetimes, the CSRF check, …).
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
    const Server = AuthorizationServer.layerDiscoveryConfig(Config.string("OAUTH_ISSUER"), { kind: "oidc" })
    const Foundation = Layer.merge(TokenEndpoint.layer(), Jwks.layer()).pipe(Layer.provideMerge(Server))
    const Clients = Layer.mergeAll(
      AuthorizationCode.layerConfig({
        auth: ClientAuth.config,
        redirectUri: Config.map(Config.string("WEB_BASE_URL"), (url) => `${url.replace(/\/$/, "")}${paths.callback}`)
      }),
      RefreshToken.layerConfig(),
      Revocation.layerConfig()
    ).pipe(Layer.provideMerge(Foundation))
    const Managed = ManagedToken.layer(resource === undefined ? {} : { refresh: { resource } })
    return layer(options).pipe(Layer.provideMerge(Managed), Layer.provide(Clients))
  }))

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
