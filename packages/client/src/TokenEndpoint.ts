/**
 * The one place that POSTs a grant to the token endpoint. Every grant module (client credentials, authorization
 * code, refresh, token exchange) calls `request`, and reads `metadata` – where this endpoint posts – for its cache
 * keys. Each request goes through the library's one form POST (shared with revocation), which does, per attempt:
 *
 * - the form body (`grant_type` first; an array repeats its parameter, `undefined` is left out) and the client
 *   authentication (`ClientAuth`: an RFC 6749 §2.3.1 Basic header, form parameters, or an RFC 7523 assertion with a
 *   fresh `jti`), `Accept: application/json`;
 * - a timeout (30 s by default) over sending and reading, a response-body cap (1 MiB by default) enforced while the
 *   body streams in;
 * - **no redirect is followed**: a 3xx fails as `TransportError` `Redirect` (following a 307 would replay the client's
 *   secret to another host). With `FetchHttpClient` the request runs with `redirect: "manual"`; the Node clients of
 *   `@effect/platform-node` never follow. Do not wrap the `HttpClient` you provide in `HttpClient.followRedirects`;
 * - decoding with `effect/Schema` into a `TokenSet` (see `TokenSet` for `scope`, `expiresAt` and provenance);
 * - error mapping: an RFC 6749 §5.2 error body (with a 4xx/5xx status, or a 2xx status) → `TokenEndpointError`; any
 *   other non-2xx, a redirect, a timeout, a connection failure, a body over the cap → `TransportError`; a 2xx that is
 *   not a token response → `InvalidTokenResponse` (its excerpt has every token replaced by `<redacted>`);
 * - a retry policy chosen per grant (`RetryPolicy.defaultFor`: never for `refresh_token` and `authorization_code`);
 * - a span `TokenEndpoint.request` (attributes `oauth.grant`, `oauth.client_id`, `oauth.token_endpoint`,
 *   `oauth.outcome` – never a secret), and the counter {@link requestsTotal} by grant and outcome.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, ClientAuth, TokenEndpoint } from "@effect-oauth/client"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const endpoint = yield* TokenEndpoint.TokenEndpoint
 *   return yield* endpoint.request({
 *     grantType: "client_credentials",
 *     params: { scope: "api:read", resource: "https://api.example" },
 *     requestedScope: ["api:read"],
 *     auth: ClientAuth.clientSecretBasic("my-client", Redacted.make("s3cret"))
 *   })
 * })
 *
 * program.pipe(
 *   Effect.provide(TokenEndpoint.layer()),
 *   Effect.provide(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Effect.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as MetricLabel from "effect/MetricLabel"
import * as MetricLabelModule from "effect/MetricLabel"
import type * as Scope from "effect/Scope"
import * as AuthorizationServer from "./AuthorizationServer.js"
import * as ClientAuth from "./ClientAuth.js"
import * as DPoPModule from "./DPoP.js"
import * as InternalDPoP from "./internal/dpop.js"
import * as FormPost from "./internal/formPost.js"
import * as TokenResponse from "./internal/tokenResponse.js"
import { ConfigurationError } from "./OAuthError.js"
import type { TokenRequestError } from "./OAuthError.js"
import * as RetryPolicy from "./RetryPolicy.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * A form parameter: a string, or several (the parameter is repeated, as RFC 8707 `resource` is).
 *
 * @since 0.1.0
 * @category models
 */
export type Param = string | ReadonlyArray<string> | undefined

/**
 * @since 0.1.0
 * @category models
 */
export interface TokenRequest {
  /** `grant_type` */
  readonly grantType: string
  /** the other form parameters; `undefined` members are left out, arrays repeat the parameter */
  readonly params?: Readonly<Record<string, Param>>
  /** how the client authenticates */
  readonly auth: ClientAuth.ClientAuth
  /** the scope that was asked for: the `TokenSet.scope` when the response has none (RFC 6749 §5.1) */
  readonly requestedScope?: ReadonlyArray<string> | undefined
  /** overrides the grant's default retry policy */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /**
   * attributes for the request's `TokenEndpoint.request` span, besides the grant, client, endpoint and outcome it
   * always carries (a grant names what it asked for: `oauth.scope`, `oauth.cache`); never a secret
   */
  readonly spanAttributes?: Readonly<Record<string, string>> | undefined
  /**
   * the DPoP key of this request instead of the endpoint's (a user session's own key: its refresh token may be bound
   * to it); only through an endpoint with DPoP (`layerDPoP`)
   */
  readonly dpopKey?: DPoPModule.KeyPair | undefined
  /** a `DPoP` token set keeps the private key it is bound to (`TokenSet.dpopKey`): for user sessions only */
  readonly keepDpopKey?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenEndpoint extends Context.Tag("@effect-oauth/client/TokenEndpoint")<
  TokenEndpoint,
  TokenEndpoint.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace TokenEndpoint {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * Where this endpoint posts: the metadata of its authorization server (the token endpoint URL, the issuer, the
     * server's other endpoints). Grants read it from here – the endpoint they actually use – for their cache keys.
     */
    readonly metadata: Effect.Effect<AuthorizationServer.Metadata, ConfigurationError>
    /** POSTs one grant; the `TokenSet`'s provenance names the grant, the client and the endpoint */
    readonly request: (request: TokenRequest) => Effect.Effect<TokenSet, TokenRequestError>
    /**
     * The DPoP key every request proves possession of unless it names its own (`layerDPoP`); absent without DPoP.
     * Its thumbprint is part of the grants' cache keys: a token bound to one key is never served to another.
     */
    readonly dpopKey?: DPoPModule.KeyPair | undefined
  }
}

/**
 * A seam for sender-constrained tokens (a DPoP layer, RFC 9449): `prepare` runs for every attempt, after the body and
 * client authentication are set, and may add headers (a `DPoP` proof for this method and URL); `observe` sees the
 * status and headers of every response before it is decoded (a `DPoP-Nonce`); when `resendOnce` answers `true` for a
 * `TokenEndpointError` (`use_dpop_nonce`), the attempt is sent once more at once, outside the retry schedule, and
 * `prepare` runs again (with the new nonce).
 *
 * @since 0.1.0
 * @category models
 */
export type RequestHook = FormPost.RequestHook

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** how long one attempt may take, sending and reading (default 30 seconds) */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * how long one request may take, every attempt and every wait between them included (default 60 seconds); past it,
   * `TransportError` `Timeout`
   */
  readonly deadline?: Duration.DurationInput | undefined
  /**
   * after a 429 or 503, how long nothing is sent to the endpoint (for this client): the server's `Retry-After`, at
   * most `retryAfterCap` (default 5 minutes); without one, `base` (default 1 s) doubled at each further 429/503,
   * jittered, at most `max` (default 5 minutes). A request in that window fails at once with `TransportError`
   * `RateLimited` (its `retryAfterMillis` says how long is left); a cached token that is still usable keeps being
   * served meanwhile.
   */
  readonly backoff?: FormPost.BackoffInput | undefined
  /** the largest response body read, in bytes (default 1 MiB); a larger one fails as `BodyTooLarge` */
  readonly maxResponseBytes?: number | undefined
  /** the lifetime of a token whose response has no `expires_in` and which is not a JWT with `exp` (default 1 hour) */
  readonly defaultLifetime?: Duration.DurationInput | undefined
  /** retry policies by grant type, overriding `RetryPolicy.defaultFor` (a request's own `retry` wins over both) */
  readonly retry?: Readonly<Record<string, RetryPolicy.RetryPolicy>> | undefined
  /** see {@link RequestHook} */
  readonly hook?: RequestHook | undefined
  /**
   * DPoP (RFC 9449): every request carries a proof of this service's key and takes its nonces, one `use_dpop_nonce`
   * answer is resent at once, and a `DPoP` token set records the key's thumbprint. It replaces `hook`. `layerDPoP`
   * sets it from the `DPoP` service in context.
   */
  readonly dpop?: DPoPModule.DPoP.Service | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  timeout: FormPost.defaults.timeout,
  deadline: FormPost.defaults.deadline,
  maxResponseBytes: FormPost.defaults.maxResponseBytes,
  defaultLifetime: Duration.hours(1)
} as const

/**
 * Token requests, by `grant` (the grant type) and `outcome`: `success`; an OAuth error code for a
 * `TokenEndpointError` (`invalid_client`, … – `other_error` for codes outside RFC 6749/8693/9449); the reason of a
 * `TransportError` (`Timeout`, `Redirect`, `Status`, `BodyTooLarge`, `RequestError`); `InvalidTokenResponse`;
 * `ConfigurationError`. Counted once per request, after its retries.
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestsTotal: Metric.Metric.Counter<number> = Metric.counter("effect_oauth_token_requests", {
  description: "token endpoint requests by grant and outcome (after retries)",
  incremental: true
})

/**
 * Attempts sent to the token endpoint (each retry counts), by `grant` and `outcome` as {@link requestsTotal}.
 *
 * @since 0.1.0
 * @category metrics
 */
export const attemptsTotal: Metric.Metric.Counter<number> = Metric.counter("effect_oauth_token_attempts", {
  description: "token endpoint attempts by grant and outcome (each retry counts)",
  incremental: true
})

/**
 * The labels of each grant and outcome, built once (a bounded set: grants × outcomes). A counter updated with the same
 * label array finds its registry entry by that array's identity; a new array per update (what `Metric.tagged` builds)
 * would hash a new key each time.
 */
const labels = new Map<string, Map<string, ReadonlyArray<MetricLabel.MetricLabel>>>()

/** counts one, in place (no effect to run) */
const count = (metric: Metric.Metric.Counter<number>, grant: string, outcome: string): void => {
  // by grant, then outcome: two lookups of strings the caller already holds, no key string built per update
  let byOutcome = labels.get(grant)
  if (byOutcome === undefined) {
    byOutcome = new Map()
    labels.set(grant, byOutcome)
  }
  let tags = byOutcome.get(outcome)
  if (tags === undefined) {
    tags = [MetricLabelModule.make("grant", grant), MetricLabelModule.make("outcome", outcome)]
    byOutcome.set(outcome, tags)
  }
  metric.unsafeUpdate(1, tags)
}

/** `grant_type` first, then the request's parameters (a `grant_type` among them is the one above) */
const formOf = (grant: string, params: TokenRequest["params"]): Array<[string, string]> => {
  const form: Array<[string, string]> = [["grant_type", grant]]
  for (const pair of FormPost.pairs(params)) if (pair[0] !== "grant_type") form.push(pair)
  return form
}

/**
 * Builds the service from the `AuthorizationServer` and the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<
  TokenEndpoint.Service,
  never,
  AuthorizationServer.AuthorizationServer | HttpClient.HttpClient | Scope.Scope
> =>
  Effect.gen(function*() {
    const server = yield* AuthorizationServer.AuthorizationServer
    const dpop = options?.dpop
    const post = yield* FormPost.make(
      FormPost.resolveOptions(dpop === undefined ? options : { ...options, hook: InternalDPoP.tokenEndpointHook(dpop) })
    )
    const defaultLifetimeMillis = Duration.toMillis(Duration.decode(options?.defaultLifetime ?? defaults.defaultLifetime))

    const policyFor = (request: TokenRequest): RetryPolicy.RetryPolicy =>
      request.retry ?? options?.retry?.[request.grantType] ?? RetryPolicy.defaultFor(request.grantType)

    // one span per request, opened without a stack trace (`Effect.fn` would capture one per call: an `Error`, ~10 µs)
    // and annotated in place
    const request = (request: TokenRequest): Effect.Effect<TokenSet, TokenRequestError> => {
      const grant = request.grantType
      const clientId = ClientAuth.clientId(request.auth)
      // what the request alone decides, built with the effect (once for an effect run again and again)
      const form = formOf(grant, request.params)
      const retry = policyFor(request)
      // without DPoP (the common case) there is no key to look up: no step for it
      const needsKey = dpop !== undefined || request.dpopKey !== undefined
      return Effect.useSpan(
        "TokenEndpoint.request",
        { captureStackTrace: false },
        (span) => {
          // set one by one: an attributes object spread from the request's would be built only to be read back
          const attributes = request.spanAttributes
          if (attributes !== undefined) for (const name in attributes) span.attribute(name, attributes[name])
          span.attribute("oauth.grant", grant)
          span.attribute("oauth.client_id", clientId)
          return Effect.flatMap(server.metadata, (metadata) => {
            const tokenEndpoint = metadata.tokenEndpoint
            span.attribute("oauth.token_endpoint", tokenEndpoint)
            const withKey = <A, E>(
              f: (key: DPoPModule.KeyPair | undefined) => Effect.Effect<A, E>
            ): Effect.Effect<A, E | ConfigurationError> =>
              needsKey ? Effect.flatMap(keyOf(request, metadata), f) : f(undefined)
            return withKey((dpopKey) => {
              const sent = post({
                target: { operation: "token", grant, url: tokenEndpoint, issuer: metadata.issuer, tokenEndpoint },
                form,
                auth: request.auth,
                retry,
                countAttempt: (outcome) => count(attemptsTotal, grant, outcome),
                span,
                decode: (success) =>
                  TokenResponse.decodeSuccess(success.body, {
                    grant,
                    status: success.status,
                    clientId,
                    tokenEndpoint,
                    requestedScope: request.requestedScope,
                    now: success.sentAt,
                    defaultLifetimeMillis,
                    sentSecrets: success.secrets,
                    dpopProof: success.dpopProof,
                    dpopKey: dpopKey === undefined ? undefined : {
                      thumbprint: dpopKey.thumbprint,
                      keep: request.keepDpopKey === true ? dpopKey.privateJwk : undefined
                    },
                    request: success.context
                  })
              })
              // a request's own key (a session's) signs its proofs: the hook reads it from the fiber
              return request.dpopKey === undefined ? sent : Effect.locally(sent, InternalDPoP.currentKey, request.dpopKey)
            })
          }).pipe(
            Effect.exit,
            Effect.flatMap((exit) => {
              const outcome = FormPost.exitOutcome(exit, () => "success")
              count(requestsTotal, grant, outcome)
              span.attribute("oauth.outcome", outcome)
              return exit
            })
          )
        }
      )
    }

    /** the key of a request's proofs (checked against the server's algorithms), or none without DPoP */
    const keyOf = (
      request: TokenRequest,
      metadata: AuthorizationServer.Metadata
    ): Effect.Effect<DPoPModule.KeyPair | undefined, ConfigurationError> => {
      if (dpop === undefined) {
        return request.dpopKey === undefined ? Effect.succeed(undefined) : Effect.fail(
          new ConfigurationError({
            reason: "InvalidOptions",
            description: "a request names a DPoP key, but the token endpoint sends no proofs: use TokenEndpoint.layerDPoP"
          })
        )
      }
      const key = request.dpopKey ?? dpop.key
      const allowed = metadata.dpopSigningAlgValuesSupported
      return allowed === undefined || allowed.includes(key.algorithm) ? Effect.succeed(key) : Effect.fail(
        new ConfigurationError({
          reason: "InvalidOptions",
          description: `the DPoP key is ${key.algorithm}; the server accepts proofs signed with ${
            allowed.join(", ") || "nothing"
          } (dpop_signing_alg_values_supported)`
        })
      )
    }

    return TokenEndpoint.of({ metadata: server.metadata, request, dpopKey: dpop?.key })
  })

/**
 * The service, from the `AuthorizationServer` and `HttpClient` in context; without options, the {@link defaults}.
 *
 * @example
 * ```ts
 * import { RetryPolicy, TokenEndpoint } from "@effect-oauth/client"
 *
 * const Endpoint = TokenEndpoint.layer({
 *   timeout: "10 seconds",
 *   retry: { client_credentials: RetryPolicy.transient({ times: 4 }) }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<TokenEndpoint, never, AuthorizationServer.AuthorizationServer | HttpClient.HttpClient> =>
  Layer.scoped(TokenEndpoint, make(options))

/**
 * The service with options from `Config`.
 *
 * @example
 * ```ts
 * import { TokenEndpoint } from "@effect-oauth/client"
 * import { Config } from "effect"
 *
 * const Endpoint = TokenEndpoint.layerConfig({
 *   timeout: Config.duration("OAUTH_TIMEOUT").pipe(Config.withDefault("30 seconds")),
 *   maxResponseBytes: Config.integer("OAUTH_MAX_RESPONSE_BYTES").pipe(Config.withDefault(1024 * 1024))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options>
): Layer.Layer<TokenEndpoint, ConfigError.ConfigError, AuthorizationServer.AuthorizationServer | HttpClient.HttpClient> =>
  Layer.scoped(TokenEndpoint, Effect.flatMap(Config.unwrap(options), make))

/**
 * The service with DPoP (RFC 9449), from the `DPoP` service in context: every grant's request carries a proof of its
 * key (with the server's nonce, after one immediate resend on `use_dpop_nonce`), and a `token_type: DPoP` answer is a
 * `TokenSet` with the key's thumbprint (`jkt`). A request is refused before it is sent when the server lists
 * `dpop_signing_alg_values_supported` without the key's algorithm.
 *
 * @example
 * ```ts
 * import { DPoP, TokenEndpoint } from "@effect-oauth/client"
 * import { Layer } from "effect"
 *
 * const Endpoint = TokenEndpoint.layerDPoP().pipe(Layer.provideMerge(DPoP.layer()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDPoP = (
  options?: Omit<Options, "dpop" | "hook">
): Layer.Layer<
  TokenEndpoint,
  never,
  DPoPModule.DPoP | AuthorizationServer.AuthorizationServer | HttpClient.HttpClient
> => Layer.scoped(TokenEndpoint, Effect.flatMap(DPoPModule.DPoP, (dpop) => make({ ...options, dpop })))
