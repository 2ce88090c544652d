/**
 * The one place that POSTs a grant to the token endpoint. Every grant module (client credentials, authorization
 * code, refresh, token exchange) calls `request`; it does, for each attempt:
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
 * - a retry `Schedule` chosen per grant (see {@link defaultRetryPolicy});
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
 *   Effect.provide(TokenEndpoint.layer),
 *   Effect.provide(AuthorizationServer.layerDiscovery("https://login.example")),
 *   Effect.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { AuthorizationServer } from "./AuthorizationServer.js"
import * as ClientAuth from "./ClientAuth.js"
import * as InternalClientAuth from "./internal/clientAuth.js"
import * as Http from "./internal/http.js"
import * as Retry from "./internal/retry.js"
import * as TokenResponse from "./internal/tokenResponse.js"
import type { TokenRequestError } from "./OAuthError.js"
import type { TokenEndpointError } from "./OAuthError.js"
import { TransportError } from "./OAuthError.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * How a failed request is retried. `"transient"`: transport failures, 408, 429 and 5xx, with exponential backoff and
 * jitter, honouring `Retry-After` up to `retryAfterCap`. `"never"`: one attempt (the refresh grant's default, since a
 * replayed rotated refresh token revokes the grant).
 *
 * @since 0.1.0
 * @category models
 */
export type RetryPolicy =
  | { readonly _tag: "Never" }
  | {
    readonly _tag: "Transient"
    /** retries after the first attempt (default 2) */
    readonly times?: number
    /** first backoff (default 100 ms), doubled each time, jittered */
    readonly base?: Duration.DurationInput
    /** the longest `Retry-After` honoured (default 10 s); a longer one fails at once */
    readonly retryAfterCap?: Duration.DurationInput
  }

/**
 * One attempt only.
 *
 * @since 0.1.0
 * @category retry
 */
export const retryNever: RetryPolicy = { _tag: "Never" }

/**
 * Retry transient failures (transport errors except `Redirect` and `BodyTooLarge`; HTTP 408, 429, 5xx) with
 * exponential backoff and jitter, never sooner than the server's `Retry-After`, and not at all when that is longer
 * than `retryAfterCap`. Defaults: `times` 2, `base` 100 ms, `retryAfterCap` 10 s.
 *
 * @since 0.1.0
 * @category retry
 */
export const retryTransient = (options?: {
  readonly times?: number
  readonly base?: Duration.DurationInput
  readonly retryAfterCap?: Duration.DurationInput
}): RetryPolicy => ({ _tag: "Transient", ...options })

/**
 * The default policy of a grant: `Never` for `refresh_token` (a replayed rotated refresh token revokes the whole
 * grant) and `authorization_code` (a code is single-use); `Transient` with its defaults for every other grant.
 *
 * @since 0.1.0
 * @category retry
 */
export const defaultRetryPolicy = (grantType: string): RetryPolicy =>
  grantType === "refresh_token" || grantType === "authorization_code" ? retryNever : retryTransient()

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
  readonly retry?: RetryPolicy | undefined
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
    /** POSTs one grant; the `TokenSet`'s provenance names the grant, the client and the endpoint */
    readonly request: (request: TokenRequest) => Effect.Effect<TokenSet, TokenRequestError>
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
export interface RequestHook {
  readonly prepare: (
    request: HttpClientRequest.HttpClientRequest
  ) => Effect.Effect<HttpClientRequest.HttpClientRequest, TokenRequestError>
  readonly observe?: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<void>
  readonly resendOnce?: (error: TokenEndpointError) => boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** how long one attempt may take, sending and reading (default 30 seconds) */
  readonly timeout?: Duration.DurationInput | undefined
  /** the largest response body read, in bytes (default 1 MiB); a larger one fails as `BodyTooLarge` */
  readonly maxResponseBytes?: number | undefined
  /** the lifetime of a token whose response has no `expires_in` and which is not a JWT with `exp` (default 1 hour) */
  readonly defaultLifetime?: Duration.DurationInput | undefined
  /** retry policies by grant type, overriding {@link defaultRetryPolicy} (a request's own `retry` wins over both) */
  readonly retry?: Readonly<Record<string, RetryPolicy>> | undefined
  /** see {@link RequestHook} */
  readonly hook?: RequestHook | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  timeout: Duration.seconds(30),
  maxResponseBytes: 1024 * 1024,
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

const knownErrorCodes = new Set([
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
  "invalid_target",
  "temporarily_unavailable",
  "server_error",
  "access_denied",
  "authorization_pending",
  "slow_down",
  "expired_token",
  "use_dpop_nonce",
  "invalid_dpop_proof"
])

const errorOutcome = (error: TokenRequestError): string => {
  switch (error._tag) {
    case "TokenEndpointError":
      return knownErrorCodes.has(error.error) ? error.error : "other_error"
    case "TransportError":
      return error.reason
    default:
      return error._tag
  }
}

const count = (metric: Metric.Metric.Counter<number>, grant: string, outcome: string) =>
  Metric.update(metric.pipe(Metric.tagged("grant", grant), Metric.tagged("outcome", outcome)), 1)

/** the body: grant_type first, then the parameters, then the client authentication's (which replace same-named ones) */
const formBody = (
  grantType: string,
  params: Readonly<Record<string, Param>> | undefined,
  authParams: Readonly<Record<string, string>>
): Array<[string, string]> => {
  const pairs: Array<[string, string]> = [["grant_type", grantType]]
  for (const [name, value] of Object.entries(params ?? {})) {
    if (name === "grant_type" || name in authParams || value === undefined) continue
    if (typeof value === "string") pairs.push([name, value])
    else for (const item of value) pairs.push([name, item])
  }
  for (const [name, value] of Object.entries(authParams)) pairs.push([name, value])
  return pairs
}

const describeStatus = (response: HttpClientResponse.HttpClientResponse): string => {
  const type = response.headers["content-type"]?.split(";")[0]?.trim()
  return `HTTP ${response.status} without an OAuth error body${type ? ` (${type.slice(0, 60)})` : ""}`
}

/**
 * Builds the service from the `AuthorizationServer` and the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<TokenEndpoint.Service, never, AuthorizationServer | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const server = yield* AuthorizationServer
    const client = yield* HttpClient.HttpClient
    const fetchInit = yield* Effect.serviceOption(FetchHttpClient.RequestInit)
    const timeout = Duration.decode(options?.timeout ?? defaults.timeout)
    const maxBytes = options?.maxResponseBytes ?? defaults.maxResponseBytes
    const defaultLifetimeMillis = Duration.toMillis(Duration.decode(options?.defaultLifetime ?? defaults.defaultLifetime))
    const hook = options?.hook
    const noRedirects = Http.withoutRedirects(fetchInit)

    const policyFor = (request: TokenRequest): RetryPolicy =>
      request.retry ?? options?.retry?.[request.grantType] ?? defaultRetryPolicy(request.grantType)

    const attempt = (
      request: TokenRequest,
      issuer: string | undefined,
      endpoint: string
    ): Effect.Effect<TokenSet, Retry.AttemptFailure> => {
      const grant = request.grantType
      const fail = (error: TokenRequestError, retryAfterMillis?: number): Effect.Effect<never, Retry.AttemptFailure> =>
        Effect.fail({ error, retryAfterMillis })
      const transport = Retry.transportFailure(grant)

      return Effect.gen(function*() {
        const applied = yield* InternalClientAuth.apply(request.auth, { issuer, tokenEndpoint: endpoint }).pipe(
          Effect.catchAll((error) => fail(error))
        )
        const form = formBody(grant, request.params, applied.params)
        // what a server might echo back in an error: the secret-bearing form values, and a Basic secret
        const secrets = TokenResponse.sentSecrets(
          form,
          request.auth._tag === "ClientSecretBasic" ? [Redacted.value(request.auth.clientSecret)] : []
        )
        let httpRequest = HttpClientRequest.post(endpoint).pipe(
          HttpClientRequest.acceptJson,
          HttpClientRequest.setHeaders(applied.headers),
          HttpClientRequest.bodyUrlParams(form)
        )
        if (hook) httpRequest = yield* Effect.catchAll(hook.prepare(httpRequest), (error) => fail(error))
        // a token's life starts no earlier than the request: expiresAt is never overestimated
        const sentAt = yield* Clock.currentTimeMillis
        const response = yield* client.execute(httpRequest).pipe(
          noRedirects,
          Effect.catchAll((error) => {
            const { description, maybeSent } = Http.classifyRequestError(error)
            return transport("RequestError", description, { maybeSent })
          })
        )
        const now = yield* Clock.currentTimeMillis
        if (hook?.observe) yield* hook.observe(response)
        const status = response.status
        if (Http.isRedirect(status)) {
          yield* Http.discardBody(response)
          return yield* transport("Redirect", `HTTP ${status}: the token endpoint redirected; redirects are never followed`, {
            status
          })
        }
        const retryAfterMillis = Http.parseRetryAfter(response.headers["retry-after"], now)
        const body = yield* Http.readBodyCapped(response, maxBytes).pipe(
          Effect.catchAll((failure) =>
            failure._tag === "TooLarge"
              ? transport("BodyTooLarge", `the response body is larger than ${failure.limit} bytes`, { status })
              : transport("RequestError", failure.description, {
                status,
                ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {})
              })
          )
        )
        if (status >= 200 && status < 300) {
          const decoded = TokenResponse.decodeSuccess(body, {
            grant,
            status,
            clientId: ClientAuth.clientId(request.auth),
            tokenEndpoint: endpoint,
            requestedScope: request.requestedScope,
            now: sentAt,
            defaultLifetimeMillis,
            sentSecrets: secrets
          })
          return Either.isRight(decoded) ? decoded.right : yield* fail(decoded.left, retryAfterMillis)
        }
        const errorBody = TokenResponse.parseErrorBody(body)
        if (errorBody !== undefined) {
          return yield* fail(TokenResponse.endpointError(grant, status, errorBody, secrets), retryAfterMillis)
        }
        return yield* transport("Status", describeStatus(response), {
          status,
          ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {})
        })
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: (): Retry.AttemptFailure => ({
            error: new TransportError({
              grant,
              reason: "Timeout",
              description: `no complete answer within ${Duration.format(timeout)}`,
              maybeSent: true
            }),
            retryAfterMillis: undefined
          })
        }),
        Effect.tapBoth({
          onFailure: (failure) => count(attemptsTotal, grant, errorOutcome(failure.error)),
          onSuccess: () => count(attemptsTotal, grant, "success")
        })
      )
    }

    const withResend = (
      once: Effect.Effect<TokenSet, Retry.AttemptFailure>
    ): Effect.Effect<TokenSet, Retry.AttemptFailure> => {
      const resendOnce = hook?.resendOnce
      if (resendOnce === undefined) return once
      return Effect.catchIf(
        once,
        (failure) => failure.error._tag === "TokenEndpointError" && resendOnce(failure.error),
        () => once
      )
    }

    const request = Effect.fn("TokenEndpoint.request")(function*(request: TokenRequest) {
      const grant = request.grantType
      yield* Effect.annotateCurrentSpan({
        "oauth.grant": grant,
        "oauth.client_id": ClientAuth.clientId(request.auth)
      })
      const exit = yield* Effect.exit(Effect.gen(function*() {
        const metadata = yield* server.metadata
        yield* Effect.annotateCurrentSpan("oauth.token_endpoint", metadata.tokenEndpoint)
        return yield* withResend(attempt(request, metadata.issuer, metadata.tokenEndpoint)).pipe(
          Effect.retry(Retry.schedule(policyFor(request))),
          Effect.mapError((failure) => failure.error)
        )
      }))
      const outcome = Exit.match(exit, {
        onSuccess: () => "success",
        onFailure: (cause) =>
          Option.match(Cause.failureOption(cause), { onNone: () => "interrupted_or_defect", onSome: errorOutcome })
      })
      yield* count(requestsTotal, grant, outcome)
      yield* Effect.annotateCurrentSpan("oauth.outcome", outcome)
      return yield* exit
    })

    return TokenEndpoint.of({ request })
  })

/**
 * The service with the {@link defaults}, from the `AuthorizationServer` and `HttpClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<TokenEndpoint, never, AuthorizationServer | HttpClient.HttpClient> = Layer.effect(
  TokenEndpoint,
  make()
)

/**
 * The service with options.
 *
 * @example
 * ```ts
 * import { TokenEndpoint } from "@effect-oauth/client"
 *
 * const Endpoint = TokenEndpoint.layerWith({
 *   timeout: "10 seconds",
 *   retry: { client_credentials: TokenEndpoint.retryTransient({ times: 4 }) }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (
  options: Options
): Layer.Layer<TokenEndpoint, never, AuthorizationServer | HttpClient.HttpClient> =>
  Layer.effect(TokenEndpoint, make(options))

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
): Layer.Layer<TokenEndpoint, ConfigError.ConfigError, AuthorizationServer | HttpClient.HttpClient> =>
  Layer.effect(TokenEndpoint, Effect.flatMap(Config.unwrap(options), make))
