/**
 * OAuth 2.0 Token Revocation (RFC 7009): tell the authorization server that a token is no longer needed – when a
 * user signs out, revoke the refresh token, and the server ends the grant (RFC 7009 §2.1: revoking a refresh token
 * should also invalidate the access tokens of the same grant, and oidc-provider does).
 *
 * - `revoke(token, { hint? })` POSTs `token` and `token_type_hint` to the server's `revocation_endpoint` (from the
 *   `AuthorizationServer`; `ConfigurationError` `MissingEndpoint` when it names none), authenticated with the
 *   service's `ClientAuth` exactly as a token request is (Basic header, form parameters or a client assertion whose
 *   audience is the issuer, else the token endpoint).
 * - Given a `TokenSet`, its refresh token is revoked (hint `refresh_token`), or its access token when it has none or
 *   when the hint is `access_token`.
 * - As for the token endpoint: redirects are never followed (`TransportError` `Redirect`), an attempt has a timeout
 *   (30 s by default), the response body is capped (1 MiB by default).
 * - RFC 7009 §2.2: a 200 (any 2xx; its body is ignored) means the token is revoked **or was already invalid** – both
 *   succeed, so signing out twice is harmless. An RFC 6749 §5.2 error body is a `TokenEndpointError`
 *   (`unsupported_token_type`, §2.2.1, when the server cannot revoke that kind of token; `invalid_client`); another
 *   non-2xx status is a `TransportError`.
 * - Revoking is idempotent, so transient failures (transport errors, 408, 429, 5xx such as a 503 with `Retry-After`)
 *   are retried by default, like a `client_credentials` request (`RetryPolicy.transient()`).
 * - A span `Revocation.revoke` (attributes `oauth.client_id`, `oauth.revocation_endpoint`, `oauth.token_type_hint`,
 *   `oauth.outcome` – never the token) and the counter {@link revocationsTotal}.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, ClientAuth, Revocation } from "@effect-oauth/client"
 * import type { TokenSet } from "@effect-oauth/client/TokenSet"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * declare const session: TokenSet
 *
 * // sign out: the refresh token (and with it the grant) is revoked at the server
 * const signOut = Effect.flatMap(Revocation.Revocation, (revocation) => revocation.revoke(session))
 *
 * const Live = Revocation.layer({ auth: ClientAuth.clientSecretBasic("web", Redacted.make("s3cret")) }).pipe(
 *   Layer.provide(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 *
 * signOut.pipe(Effect.provide(Live))
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as Redacted from "effect/Redacted"
import { AuthorizationServer } from "./AuthorizationServer.js"
import * as ClientAuth from "./ClientAuth.js"
import * as FormPost from "./internal/formPost.js"
import type { TokenEndpointError, TransportError } from "./OAuthError.js"
import { ConfigurationError } from "./OAuthError.js"
import * as RetryPolicy from "./RetryPolicy.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * The RFC 7009 §2.1 `token_type_hint` values this library sends.
 *
 * @since 0.1.0
 * @category models
 */
export type TokenTypeHint = "refresh_token" | "access_token"

/**
 * Every way a revocation can fail. The `grant` of a `TokenEndpointError` or `TransportError` is `"revocation"`.
 *
 * @since 0.1.0
 * @category errors
 */
export type RevocationError = TokenEndpointError | TransportError | ConfigurationError

/**
 * How the client authenticates at the revocation endpoint (`auth`), the retry policy (default
 * `RetryPolicy.transient()`: revoking is idempotent), the `timeout` of one attempt (default 30 seconds), the `deadline`
 * of a revocation, retries included (default 60 seconds), `maxResponseBytes` (1 MiB) and the `backoff` after a 429 or
 * 503.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends FormPost.ServiceOptions {}

/**
 * The options of one revocation.
 *
 * @since 0.1.0
 * @category models
 */
export interface RevokeOptions {
  /**
   * The `token_type_hint`. For a `TokenSet` it also picks the token: `access_token` revokes its access token,
   * otherwise its refresh token is revoked when it has one. Without a hint, a bare token is sent without one (the
   * server then searches all its token kinds).
   */
  readonly hint?: TokenTypeHint | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Revocation extends Context.Tag("@effect-oauth/client/Revocation")<
  Revocation,
  Revocation.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace Revocation {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * Revokes `token` (a bare token, or a `TokenSet`'s refresh token – its access token when it has none or the hint
     * is `access_token`). Succeeds when the server answers 200: revoked, or already invalid (RFC 7009 §2.2).
     */
    readonly revoke: (
      token: Redacted.Redacted<string> | TokenSet,
      options?: RevokeOptions
    ) => Effect.Effect<void, RevocationError>
  }
}

/**
 * Revocation requests, by `hint` (`refresh_token`, `access_token` or `none`) and `outcome`: `success`; an RFC 7009 /
 * RFC 6749 error code for a `TokenEndpointError` (`unsupported_token_type`, `invalid_client`, … – `other_error` for
 * any other); the reason of a `TransportError`; `ConfigurationError`. Counted once per revocation, after its retries.
 *
 * @since 0.1.0
 * @category metrics
 */
export const revocationsTotal: Metric.Metric.Counter<number> = Metric.counter("effect_oauth_revocations", {
  description: "token revocation requests by hint and outcome (after retries)",
  incremental: true
})

/** the token to send and its hint */
const select = (
  token: Redacted.Redacted<string> | TokenSet,
  hint: TokenTypeHint | undefined
): { readonly token: Redacted.Redacted<string>; readonly hint: TokenTypeHint | undefined } => {
  if (Redacted.isRedacted(token)) return { token, hint }
  if (hint !== "access_token" && token.refreshToken !== undefined) {
    return { token: token.refreshToken, hint: "refresh_token" }
  }
  return { token: token.accessToken, hint: "access_token" }
}

/**
 * Builds the service from the `AuthorizationServer` and the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Revocation.Service, never, AuthorizationServer | HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* AuthorizationServer
    const post = yield* FormPost.make(FormPost.resolveOptions(options))
    const retry = options.retry ?? RetryPolicy.transient()
    const clientId = ClientAuth.clientId(options.auth)

    const revoke = Effect.fn("Revocation.revoke")(function*(
      token: Redacted.Redacted<string> | TokenSet,
      revokeOptions?: RevokeOptions
    ) {
      const selected = select(token, revokeOptions?.hint)
      yield* Effect.annotateCurrentSpan({
        "oauth.client_id": clientId,
        "oauth.token_type_hint": selected.hint ?? "none"
      })
      const exit = yield* Effect.exit(Effect.flatMap(server.metadata, (metadata) =>
        FormPost.tokenRequest(post, metadata, {
          operation: "revocation",
          token: selected.token,
          hint: selected.hint,
          auth: options.auth,
          retry,
          // RFC 7009 §2.2: the status says it all; the body is dropped unread (a 204 or a body-less 200 has none)
          readSuccessBody: false,
          decode: () => Either.void
        })))
      const outcome = FormPost.exitOutcome(exit, () => "success")
      yield* Metric.update(
        revocationsTotal.pipe(Metric.tagged("hint", selected.hint ?? "none"), Metric.tagged("outcome", outcome)),
        1
      )
      yield* Effect.annotateCurrentSpan("oauth.outcome", outcome)
      return yield* exit
    })

    return Revocation.of({ revoke })
  })

/**
 * The service, from the `AuthorizationServer` and `HttpClient` in context.
 *
 * @example
 * ```ts
 * import { ClientAuth, Revocation } from "@effect-oauth/client"
 * import { Redacted } from "effect"
 *
 * const Revoke = Revocation.layer({ auth: ClientAuth.clientSecretBasic("web", Redacted.make("s3cret")) })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Revocation, never, AuthorizationServer | HttpClient.HttpClient> =>
  Layer.scoped(Revocation, make(options))

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
 * import { ClientAuth, Revocation } from "@effect-oauth/client"
 * import { Config } from "effect"
 *
 * // OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_CLIENT_AUTH_METHOD
 * const FromEnv = Revocation.layerConfig()
 *
 * // or field by field
 * const Custom = Revocation.layerConfig({
 *   auth: Config.all([Config.string("WEB_CLIENT_ID"), Config.redacted("WEB_CLIENT_SECRET")]).pipe(
 *     Config.map(([id, secret]) => ClientAuth.clientSecretBasic(id, secret))
 *   ),
 *   timeout: Config.duration("OAUTH_TIMEOUT").pipe(Config.withDefault("30 seconds"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options> = config
): Layer.Layer<Revocation, ConfigError.ConfigError, AuthorizationServer | HttpClient.HttpClient> =>
  Layer.scoped(Revocation, Effect.flatMap(Config.unwrap(options), make))
