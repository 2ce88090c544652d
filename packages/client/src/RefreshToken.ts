/**
 * The OAuth 2.0 Refresh Token grant (RFC 6749 §6), aware of refresh-token rotation.
 *
 * - `refresh(refreshToken, { scope?, resource?, extra?, retry? })` POSTs `grant_type=refresh_token` through the
 *   `TokenEndpoint`. `scope` may narrow the grant (space-separated, RFC 6749 §6); `resource` is one or several RFC 8707
 *   resource indicators (the parameter is repeated); `extra` adds parameters (it cannot replace `grant_type`,
 *   `refresh_token`, `scope` or `resource`).
 * - **Rotation**: when the server returns a new `refresh_token`, the returned `TokenSet` carries it and the old one
 *   must be forgotten (on servers with reuse detection, presenting it again revokes the whole grant). When the server
 *   returns none, the returned `TokenSet` keeps the refresh token that was sent, so the caller can always store the
 *   returned set as it is.
 * - **Not retried by default**: once a refresh request may have reached the server, a replay could present an already
 *   rotated token and end the user's session. Without a `retry` here, the `TokenEndpoint`'s policy for
 *   `refresh_token` applies, which is `Never` unless that layer was configured otherwise; a caller may pass another
 *   policy (the service's `retry`, or a call's).
 * - `invalid_grant` (expired, revoked or already used refresh token) is recognised by `OAuthError.isInvalidGrant`: the
 *   user has to sign in again.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, ClientAuth, OAuthError, RefreshToken, TokenEndpoint } from "@effect-oauth/client"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * declare const stored: Redacted.Redacted<string> // the session's refresh token
 *
 * const program = Effect.gen(function*() {
 *   const refresher = yield* RefreshToken.RefreshToken
 *   const tokens = yield* refresher.refresh(stored, { scope: ["api:read"], resource: "https://api.example" })
 *   // store `tokens` (its refreshToken is the rotated one, or `stored` when the server did not rotate)
 *   return tokens
 * }).pipe(
 *   Effect.catchIf(OAuthError.isInvalidGrant, () => Effect.fail("sign in again" as const))
 * )
 *
 * const Live = RefreshToken.layer({ auth: ClientAuth.clientSecretBasic("web", Redacted.make("s3cret")) }).pipe(
 *   Layer.provide(TokenEndpoint.layer()),
 *   Layer.provide(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 *
 * program.pipe(Effect.provide(Live))
 * ```
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as CacheKey from "./CacheKey.js"
import * as ClientAuth from "./ClientAuth.js"
import type { KeyPair } from "./DPoP.js"
import type * as IdToken from "./IdToken.js"
import * as IdTokens from "./internal/idTokens.js"
import * as internal from "./internal/refreshToken.js"
import * as Jwks from "./Jwks.js"
import type { TokenRequestError } from "./OAuthError.js"
import { TokenEndpoint } from "./TokenEndpoint.js"
import type { RetryPolicy } from "./RetryPolicy.js"
import { GrantTypes } from "./TokenSet.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** how this client authenticates at the token endpoint */
  readonly auth: ClientAuth.ClientAuth
  /**
   * the retry policy of every refresh that names none (default: the `TokenEndpoint`'s for `refresh_token` – `Never`
   * unless configured otherwise)
   */
  readonly retry?: RetryPolicy | undefined
}

/**
 * The options of one refresh.
 *
 * @since 0.1.0
 * @category models
 */
export interface RefreshOptions {
  /** narrows the scope (must be within the originally granted one); sent sorted, deduplicated, space-separated */
  readonly scope?: ReadonlyArray<string> | undefined
  /** RFC 8707 resource indicator(s): several repeat the `resource` parameter */
  readonly resource?: string | ReadonlyArray<string> | undefined
  /** further form parameters; they cannot replace `grant_type`, `refresh_token`, `scope` or `resource` */
  readonly extra?: Readonly<Record<string, string>> | undefined
  /** overrides the service's retry policy */
  readonly retry?: RetryPolicy | undefined
  /**
   * The ID token of the original authentication (OIDC Core §12.2). When the answer carries a new ID token it is
   * verified – signature, `iss`, `aud`/`azp`, times – and its `iss`, `sub`, `aud`, `azp` and `auth_time` must be the
   * original's (a refresh never switches the user); when it carries none, the returned set keeps this one.
   */
  readonly originalIdToken?: Redacted.Redacted<string> | undefined
  /**
   * The session's DPoP key (`DPoP.keyOf(tokenSet)`), instead of the `TokenEndpoint`'s: a public client's refresh token
   * is bound to the key of the sign-in (RFC 9449 §5), and refreshing with another is `invalid_grant`. `ManagedToken`
   * passes it. A bound answer keeps the key (`TokenSet.dpopKey`).
   */
  readonly dpopKey?: KeyPair | undefined
}

/**
 * Every way a refresh can fail: the token request, or the ID token it returned (refused, or its key set out of reach).
 *
 * @since 0.1.0
 * @category errors
 */
export type RefreshError = TokenRequestError | IdToken.ValidationError

/**
 * @since 0.1.0
 * @category tags
 */
export class RefreshToken extends Context.Tag("@effect-oauth/client/RefreshToken")<
  RefreshToken,
  RefreshToken.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace RefreshToken {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * Exchanges `refreshToken` for a new token set. The result's `refreshToken` is the rotated one when the server
     * returned one, else `refreshToken` itself. Fails with `TokenEndpointError` `invalid_grant` (see
     * `OAuthError.isInvalidGrant`) when the refresh token is expired, revoked or was already used.
     */
    readonly refresh: (
      refreshToken: Redacted.Redacted<string>,
      options?: RefreshOptions
    ) => Effect.Effect<TokenSet, RefreshError>
  }
}

/**
 * Builds the service from the `TokenEndpoint` and the `Jwks` (the server's key set, for ID tokens) in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<RefreshToken.Service, never, TokenEndpoint | Jwks.Jwks> =>
  Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint
    const jwks = yield* Jwks.Jwks
    const clientId = ClientAuth.clientId(options.auth)

    const refresh = Effect.fn("RefreshToken.refresh")(function*(
      refreshToken: Redacted.Redacted<string>,
      request?: RefreshOptions
    ) {
      const normalized = CacheKey.normalizeScope(request?.scope)
      const scope = normalized.length > 0 ? normalized : undefined
      yield* Effect.annotateCurrentSpan({
        "oauth.client_id": clientId,
        "oauth.scope": scope?.join(" ") ?? ""
      })
      const tokenSet = yield* endpoint.request({
        grantType: GrantTypes.refreshToken,
        params: internal.params(refreshToken, { scope, resource: request?.resource, extra: request?.extra }),
        auth: options.auth,
        requestedScope: scope,
        retry: request?.retry ?? options.retry,
        // a user session: a DPoP-bound token set keeps the key it is bound to
        dpopKey: request?.dpopKey,
        keepDpopKey: true
      })
      const rotated = tokenSet.refreshToken !== undefined
      yield* Effect.annotateCurrentSpan("oauth.refresh_token_rotated", rotated)
      // a new ID token is verified against the original authentication's, or the set is not handed out
      const checked = yield* IdTokens.verified(tokenSet, {
        jwks,
        metadata: yield* endpoint.metadata,
        clientId,
        original: request?.originalIdToken
      })
      return internal.keepRefreshToken(checked, refreshToken)
    })

    return RefreshToken.of({ refresh })
  })

/**
 * The service, from the `TokenEndpoint` in context.
 *
 * @example
 * ```ts
 * import { ClientAuth, RefreshToken } from "@effect-oauth/client"
 * import { Redacted } from "effect"
 *
 * const Refresh = RefreshToken.layer({ auth: ClientAuth.clientSecretBasic("web", Redacted.make("s3cret")) })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<RefreshToken, never, TokenEndpoint | Jwks.Jwks> =>
  Layer.effect(RefreshToken, make(options))

/**
 * The service's options from the environment: the client authentication of `ClientAuth.config`
 * (`OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`, `OAUTH_CLIENT_AUTH_METHOD`, …).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.map(ClientAuth.config, (auth): Options => ({ auth }))

/**
 * The service with its options from `Config` (default: {@link config}, the `OAUTH_CLIENT_*` environment variables).
 *
 * @example
 * ```ts
 * import { ClientAuth, RefreshToken } from "@effect-oauth/client"
 * import { Config } from "effect"
 *
 * // OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_CLIENT_AUTH_METHOD
 * const FromEnv = RefreshToken.layerConfig()
 *
 * // or field by field
 * const Custom = RefreshToken.layerConfig({
 *   auth: Config.all([Config.string("WEB_CLIENT_ID"), Config.redacted("WEB_CLIENT_SECRET")]).pipe(
 *     Config.map(([id, secret]) => ClientAuth.clientSecretBasic(id, secret))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options> = config
): Layer.Layer<RefreshToken, ConfigError.ConfigError, TokenEndpoint | Jwks.Jwks> =>
  Layer.effect(RefreshToken, Effect.flatMap(Config.unwrap(options), make))
