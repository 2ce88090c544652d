/**
 * The OAuth 2.0 Authorization Code grant (RFC 6749 §4.1) with PKCE (RFC 7636, `S256`): how a user session gets its
 * first tokens – and its first refresh token, which `RefreshToken` and `ManagedToken` then keep rotating.
 *
 * 1. `authorizationUrl({ scope, resource?, redirectUri?, prompt?, extra? })` builds the URL to send the browser to,
 *    at the server's `authorization_endpoint` (from the `TokenEndpoint`'s server metadata), with a fresh PKCE verifier (32 random
 *    bytes, base64url) and its `S256` challenge, a random `state` and a random `nonce`. It returns a
 *    {@link PendingAuthorization}: keep it server-side (in the user's session, see {@link encodePending}) until the
 *    callback arrives – its `codeVerifier` is a secret.
 * 2. `exchangeCode(callback, pending)` checks the callback **before any request**: its `state` must be the pending
 *    one (else `StateMismatch`); when it carries RFC 9207 `iss`, that must equal the server's issuer, and it must
 *    carry one when the server advertises `authorization_response_iss_parameter_supported` (else
 *    `IssuerMismatch`); an `error` fails as `ErrorResponse` with the server's `error`, `error_description`,
 *    `error_uri`; no `code` fails as `MissingCode`. Then it POSTs `grant_type=authorization_code` with the `code`, the
 *    `redirect_uri` and the `code_verifier` (and the `resource`s of the request) through `TokenEndpoint`, not retried
 *    (a code is single-use). When the answer has an ID token, it is verified as OpenID Connect Core §3.1.3.7 says
 *    before the token set is handed out – signature against the server's key set (`Jwks`), `iss`, `aud`/`azp`, `exp`
 *    and `iat`, and the pending `nonce` – else `IdTokenError` with its `reason` (see `IdToken.validate`).
 *
 * @example
 * ```ts
 * import { AuthorizationCode, AuthorizationServer, ClientAuth, TokenEndpoint } from "@effect-oauth/client"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * // on GET /login
 * const login = Effect.gen(function*() {
 *   const flow = yield* AuthorizationCode.AuthorizationCode
 *   const pending = yield* flow.authorizationUrl({ scope: ["openid", "offline_access", "api:read"] })
 *   // store AuthorizationCode.encodePending(pending) in the user's session, then redirect to pending.url
 *   return pending
 * })
 *
 * // on GET /callback?code=…&state=…&iss=…
 * const callback = (requestUrl: string, pending: AuthorizationCode.PendingAuthorization) =>
 *   Effect.flatMap(AuthorizationCode.AuthorizationCode, (flow) => flow.exchangeCode(requestUrl, pending))
 *
 * const Live = AuthorizationCode.layer({
 *   auth: ClientAuth.clientSecretBasic("web", Redacted.make("s3cret")),
 *   redirectUri: "https://app.example/callback"
 * }).pipe(
 *   Layer.provide(TokenEndpoint.layer()),
 *   Layer.provide(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as CacheKey from "./CacheKey.js"
import * as ClientAuth from "./ClientAuth.js"
import type { KeyPair } from "./DPoP.js"
import * as internal from "./internal/authorizationCode.js"
import * as Pkce from "./internal/pkce.js"
import type * as IdToken from "./IdToken.js"
import * as IdTokens from "./internal/idTokens.js"
import * as Jwks from "./Jwks.js"
import type { TokenRequestError } from "./OAuthError.js"
import { ConfigurationError } from "./OAuthError.js"
import type { RetryPolicy } from "./RetryPolicy.js"
import type { Param } from "./TokenEndpoint.js"
import { TokenEndpoint } from "./TokenEndpoint.js"
import { GrantTypes } from "./TokenSet.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * An authorization response refused by `exchangeCode`:
 *
 * - `StateMismatch`: the callback's `state` is missing or not the pending one (a forged or crossed callback); no
 *   request was sent;
 * - `IssuerMismatch`: its RFC 9207 `iss` is not the server's issuer, or is missing although the server promises it
 *   (a mix-up attack); no request was sent;
 * - `ErrorResponse`: the server answered with `error` (`access_denied`, `login_required`, …) – in `error`,
 *   `errorDescription`, `errorUri`; no request was sent;
 * - `MissingCode`: neither `code` nor `error`; no request was sent;
 * - `InvalidCallback`: not a URL, or a parameter repeated; no request was sent;
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthorizationResponseError extends Schema.TaggedError<AuthorizationResponseError>(
  "@effect-oauth/client/AuthorizationResponseError"
)("AuthorizationResponseError", {
  reason: Schema.Literal(
    "StateMismatch",
    "IssuerMismatch",
    "ErrorResponse",
    "MissingCode",
    "InvalidCallback"
  ),
  description: Schema.String,
  error: Schema.optional(Schema.String),
  errorDescription: Schema.optional(Schema.String),
  errorUri: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const server = this.error !== undefined
      ? `: ${this.error}${this.errorDescription !== undefined ? ` (${this.errorDescription})` : ""}`
      : ""
    return `${this.reason}: ${this.description}${server}`
  }
}

/**
 * An authorization request waiting for its callback: the URL to send the browser to, and what `exchangeCode` needs
 * to check and complete it. Keep it server-side (the `codeVerifier` is a secret; `state` and `nonce` must not be
 * guessable by the browser's counterpart); it is a `Schema.Class`, see {@link encodePending} / {@link decodePending}.
 * `toString`, `toJSON` and `util.inspect` print none of the three (nor the URL's query, which carries `state` and
 * `nonce`); `encodePending` keeps them all.
 *
 * @since 0.1.0
 * @category models
 */
export class PendingAuthorization extends Schema.Class<PendingAuthorization>(
  "@effect-oauth/client/PendingAuthorization"
)({
  /** the authorization request URL */
  url: Schema.String,
  state: Schema.String,
  nonce: Schema.String,
  /** the PKCE code verifier (RFC 7636 §4.1) */
  codeVerifier: Schema.Redacted(Schema.String),
  /** the redirect URI of the request, sent again with the code */
  redirectUri: Schema.String,
  /** the scope requested: the token set's scope when the token response names none */
  scope: Schema.Array(Schema.String),
  /** the RFC 8707 resources requested, sent again with the code */
  resource: Schema.Array(Schema.String)
}) {
  /**
   * A printable summary without `state`, `nonce` or the verifier – and the URL without its query, which carries the
   * first two (an attacker who reads them from a log can forge the callback of a sign-in in progress).
   *
   * @since 0.1.0
   */
  override toString(): string {
    return `PendingAuthorization(${JSON.stringify(this.toJSON())})`
  }

  /**
   * @since 0.1.0
   */
  toJSON(): unknown {
    const query = this.url.indexOf("?")
    return {
      _id: "PendingAuthorization",
      url: query === -1 ? this.url : `${this.url.slice(0, query)}?<redacted>`,
      state: "<redacted>",
      nonce: "<redacted>",
      codeVerifier: "<redacted>",
      redirectUri: this.redirectUri,
      scope: this.scope,
      resource: this.resource
    }
  }

  /**
   * @since 0.1.0
   */
  [Symbol.for("nodejs.util.inspect.custom")](): unknown {
    return this.toJSON()
  }
}

/**
 * Encodes a pending authorization as JSON for a server-side session store (the verifier in clear: keep it out of
 * cookies the browser can read, or seal them).
 *
 * @since 0.1.0
 * @category serialization
 */
export const encodePending: (pending: PendingAuthorization) => string = Schema.encodeSync(
  Schema.parseJson(PendingAuthorization)
)

/**
 * Decodes a stored pending authorization.
 *
 * @since 0.1.0
 * @category serialization
 */
export const decodePending = Schema.decodeUnknown(Schema.parseJson(PendingAuthorization))

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** how this client authenticates at the token endpoint (`ClientAuth.none(clientId)` for a public client) */
  readonly auth: ClientAuth.ClientAuth
  /** the redirect URI registered for this client, used when a request names none */
  readonly redirectUri: string
  /** the scope requested when a request names none */
  readonly scope?: ReadonlyArray<string> | undefined
  /**
   * the retry policy of the code exchange (default: the `TokenEndpoint`'s for `authorization_code` – `Never` unless
   * configured otherwise: a code is single-use)
   */
  readonly retry?: RetryPolicy | undefined
}

/**
 * The options of one authorization request.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationUrlOptions {
  /** the scope to request (default: the service's `scope`); `offline_access` asks many servers for a refresh token */
  readonly scope?: ReadonlyArray<string> | undefined
  /** RFC 8707 resource indicator(s): repeated in the URL, and sent again with the code */
  readonly resource?: string | ReadonlyArray<string> | undefined
  /** the redirect URI (default: the service's `redirectUri`) */
  readonly redirectUri?: string | undefined
  /** OpenID Connect `prompt`: `"login"`, `"consent"`, `"none"`, `"select_account"` (space-separated for several) */
  readonly prompt?: string | undefined
  /** further query parameters (`login_hint`, `ui_locales`, …); they cannot replace the protocol's own */
  readonly extra?: Readonly<Record<string, string>> | undefined
}

/**
 * The options of one code exchange.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExchangeOptions {
  /** further form parameters; they cannot replace `grant_type`, `code`, `redirect_uri`, `code_verifier`, `resource` */
  readonly extra?: Readonly<Record<string, string>> | undefined
  /** overrides the service's retry policy */
  readonly retry?: RetryPolicy | undefined
  /**
   * the DPoP key of this session (default: the `TokenEndpoint`'s, through `TokenEndpoint.layerDPoP`): a new key per
   * sign-in keeps one session's key out of every other's. A bound token set keeps its key (`TokenSet.dpopKey`).
   */
  readonly dpopKey?: KeyPair | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AuthorizationCode extends Context.Tag("@effect-oauth/client/AuthorizationCode")<
  AuthorizationCode,
  AuthorizationCode.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace AuthorizationCode {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * A new authorization request: its URL, with a fresh PKCE verifier, `state` and `nonce`. Fails with
     * `ConfigurationError` `MissingEndpoint` when the server has no `authorization_endpoint` (or as its metadata
     * fails).
     */
    readonly authorizationUrl: (
      options?: AuthorizationUrlOptions
    ) => Effect.Effect<PendingAuthorization, ConfigurationError>
    /**
     * Checks the callback (the redirect URL, a path with its query such as a Node `req.url`, or its parameters) against
     * `pending`, then exchanges its code for tokens.
     */
    readonly exchangeCode: (
      callback: string | URL | URLSearchParams,
      pending: PendingAuthorization,
      options?: ExchangeOptions
    ) => Effect.Effect<TokenSet, ExchangeError>
  }
}

/**
 * Every way `exchangeCode` can fail: the callback refused, the token request failed, or the ID token refused (or its
 * key set out of reach).
 *
 * @since 0.1.0
 * @category errors
 */
export type ExchangeError = AuthorizationResponseError | TokenRequestError | IdToken.ValidationError

const exchangeReserved = new Set(["grant_type", "code", "redirect_uri", "code_verifier", "resource"])

const resources = (resource: string | ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
  resource === undefined ? [] : typeof resource === "string" ? [resource] : resource

/**
 * Builds the service from the `TokenEndpoint` in context (its server's metadata names the authorization endpoint).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<AuthorizationCode.Service, never, TokenEndpoint | Jwks.Jwks> =>
  Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint
    const jwks = yield* Jwks.Jwks
    const clientId = ClientAuth.clientId(options.auth)

    const authorizationUrl = Effect.fn("AuthorizationCode.authorizationUrl")(function*(
      request?: AuthorizationUrlOptions
    ) {
      const scope = CacheKey.normalizeScope(request?.scope ?? options.scope)
      yield* Effect.annotateCurrentSpan({ "oauth.client_id": clientId, "oauth.scope": scope.join(" ") })
      const metadata = yield* endpoint.metadata
      if (metadata.authorizationEndpoint === undefined) {
        return yield* new ConfigurationError({
          reason: "MissingEndpoint",
          description: "the authorization server has no authorization_endpoint"
        })
      }
      const { codeVerifier, nonce, state } = yield* Effect.sync(() => ({
        codeVerifier: Pkce.generateVerifier(),
        state: Pkce.randomToken(),
        nonce: Pkce.randomToken()
      }))
      const redirectUri = request?.redirectUri ?? options.redirectUri
      const resource = resources(request?.resource)
      const url = internal.authorizationUrl({
        authorizationEndpoint: metadata.authorizationEndpoint,
        clientId,
        redirectUri,
        scope,
        resource,
        state,
        nonce,
        codeChallenge: Pkce.challengeS256(codeVerifier),
        prompt: request?.prompt,
        extra: request?.extra
      })
      return new PendingAuthorization({
        url,
        state,
        nonce,
        codeVerifier: Redacted.make(codeVerifier),
        redirectUri,
        scope,
        resource
      })
    })

    const refuse = (failure: internal.ResponseFailure) => Effect.fail(new AuthorizationResponseError(failure))

    const exchangeCode = Effect.fn("AuthorizationCode.exchangeCode")(function*(
      callback: string | URL | URLSearchParams,
      pending: PendingAuthorization,
      request?: ExchangeOptions
    ) {
      yield* Effect.annotateCurrentSpan({ "oauth.client_id": clientId })
      const params = yield* Effect.catchAll(internal.callbackParams(callback), refuse)
      // the state first: a forged callback must not even trigger discovery
      yield* Effect.catchAll(internal.checkState(params, pending.state), refuse)
      const metadata = yield* endpoint.metadata
      const code = yield* Effect.catchAll(
        internal.checkResponse(params, {
          issuer: metadata.issuer,
          issRequired: metadata.authorizationResponseIssParameterSupported
        }),
        refuse
      )
      const form: Record<string, Param> = {}
      for (const [name, value] of Object.entries(request?.extra ?? {})) {
        if (!exchangeReserved.has(name)) form[name] = value
      }
      form.code = code
      form.redirect_uri = pending.redirectUri
      form.code_verifier = Redacted.value(pending.codeVerifier)
      if (pending.resource.length > 0) form.resource = pending.resource
      const tokenSet = yield* endpoint.request({
        grantType: GrantTypes.authorizationCode,
        params: form,
        auth: options.auth,
        requestedScope: pending.scope.length > 0 ? pending.scope : undefined,
        retry: request?.retry ?? options.retry,
        // a user session: a DPoP-bound token set keeps its key, to refresh with it (RFC 9449 §5) on any instance
        dpopKey: request?.dpopKey,
        keepDpopKey: true
      })
      // an ID token is verified (signature, iss, aud, azp, times, this request's nonce) or the set is not handed out
      const checked = yield* IdTokens.verified(tokenSet, { jwks, metadata, clientId, nonce: pending.nonce })
      yield* Effect.annotateCurrentSpan({
        "oauth.refresh_token_issued": checked.refreshToken !== undefined,
        "oauth.id_token": checked.idToken !== undefined
      })
      return checked
    })

    return AuthorizationCode.of({ authorizationUrl, exchangeCode })
  })

/**
 * The service, from the `TokenEndpoint` in context.
 *
 * @example
 * ```ts
 * import { AuthorizationCode, ClientAuth } from "@effect-oauth/client"
 * import { Redacted } from "effect"
 *
 * const Flow = AuthorizationCode.layer({
 *   auth: ClientAuth.clientSecretBasic("web", Redacted.make("s3cret")),
 *   redirectUri: "https://app.example/callback",
 *   scope: ["openid", "offline_access", "api:read"]
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<AuthorizationCode, never, TokenEndpoint | Jwks.Jwks> =>
  Layer.effect(AuthorizationCode, make(options))

/**
 * The service's options from the environment: the client authentication of `ClientAuth.config`
 * (`OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`, `OAUTH_CLIENT_AUTH_METHOD`, …), and
 *
 * | variable | meaning |
 * | --- | --- |
 * | `OAUTH_REDIRECT_URI` | the redirect URI (required) |
 * | `OAUTH_SCOPE` | the default scope, space-separated (optional) |
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  auth: ClientAuth.config,
  redirectUri: Config.string("OAUTH_REDIRECT_URI"),
  scope: Config.option(Config.string("OAUTH_SCOPE"))
}).pipe(
  Config.map(({ auth, redirectUri, scope }): Options => ({
    auth,
    redirectUri,
    scope: Option.match(scope, {
      onNone: () => undefined,
      onSome: (value) => CacheKey.normalizeScope(value)
    })
  }))
)

/**
 * The service with its options from `Config` (default: {@link config}).
 *
 * @example
 * ```ts
 * import { AuthorizationCode, ClientAuth } from "@effect-oauth/client"
 * import { Config } from "effect"
 *
 * // OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_CLIENT_AUTH_METHOD, OAUTH_REDIRECT_URI, OAUTH_SCOPE
 * const FromEnv = AuthorizationCode.layerConfig()
 *
 * // or field by field: a public client (no secret)
 * const Public = AuthorizationCode.layerConfig({
 *   auth: Config.map(Config.string("SPA_CLIENT_ID"), ClientAuth.none),
 *   redirectUri: Config.string("SPA_REDIRECT_URI")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options> = config
): Layer.Layer<AuthorizationCode, ConfigError.ConfigError, TokenEndpoint | Jwks.Jwks> =>
  Layer.effect(AuthorizationCode, Effect.flatMap(Config.unwrap(options), make))
