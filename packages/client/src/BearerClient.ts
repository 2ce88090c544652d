/**
 * `HttpClient` middleware that sends the access token of a `TokenSource` as `Authorization: Bearer …` (RFC 6750 §2.1)
 * – to the origins it is given and nowhere else.
 *
 * - **Origins**: the header is attached only when the request URL's origin (scheme, host and port) is one of
 *   `origins`. Any other request passes through untouched.
 * - **Redirects**: a response is never followed with the token attached. With `FetchHttpClient` the middleware asks
 *   fetch for `redirect: "manual"` on authorized requests, so the 3xx comes back to the caller (the Node and undici
 *   clients never follow redirects). To follow redirects, apply `HttpClient.followRedirects` to the client this module
 *   returns – each hop comes back through the origin check – never to the client underneath it.
 * - **Only Bearer tokens**: a token set whose type is not `Bearer` – `N_A` (RFC 8693 §2.2.1: not an access token),
 *   `DPoP` (bound to a key: sent as `Bearer` it is refused, and it must never be) – is refused with
 *   {@link NotAnAccessTokenError} and nothing is sent.
 * - **One renewal on 401**: when the resource server answers 401 and its `WWW-Authenticate` says
 *   `error="invalid_token"` (or carries no `error`, or is absent), the token is invalidated at its source; the request
 *   is sent once more with a new token when it is safe to replay: by default idempotent methods (GET, HEAD, OPTIONS,
 *   PUT, DELETE) and requests marked with {@link withReplay}, and only with a body held in memory. A second 401 is
 *   returned as it is. `insufficient_scope` is never retried: another token of the same source would not help.
 *
 * @example
 * ```ts
 * import { BearerClient, ClientCredentials } from "@effect-oauth/client"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const cc = yield* ClientCredentials.ClientCredentials
 *   const api = yield* BearerClient.make(cc.source({ scope: ["api:read"] }), { origins: ["https://api.example"] })
 *   return yield* api.get("https://api.example/orders")
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as internal from "./internal/bearer.js"
import * as Http from "./internal/http.js"
import { bearerTokenRejected } from "./internal/wwwAuthenticate.js"
import { ConfigurationError } from "./OAuthError.js"
import type { TokenSet } from "./TokenSet.js"
import type { TokenSource } from "./TokenSource.js"

/**
 * Which requests are sent again, with a renewed token, after a 401 that rejected the token:
 *
 * - `"idempotent"` (default): GET, HEAD, OPTIONS, PUT and DELETE, and any request marked with {@link withReplay};
 * - `"always"`: every request;
 * - `"never"`: none (the token is still invalidated, so the caller's next request gets a new one).
 *
 * In every mode a request whose body is a stream is never replayed.
 *
 * @since 0.1.0
 * @category models
 */
export type RetryOn401 = "idempotent" | "never" | "always"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The origins (`https://api.example`, `https://api.example:8443`; `http://` only on loopback) that receive the
   * token. Matched exactly against the request URL's origin: scheme, host and port.
   */
  readonly origins: ReadonlyArray<string>
  /** default `"idempotent"` */
  readonly retryOn401?: RetryOn401 | undefined
}

/**
 * The token source handed out a token set that cannot be sent as a `Bearer` token – not an access token (token type
 * `N_A`, RFC 8693 §2.2.1), or one of another type (`DPoP`): it is refused before any request is sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotAnAccessTokenError extends Schema.TaggedError<NotAnAccessTokenError>(
  "@effect-oauth/client/NotAnAccessTokenError"
)("NotAnAccessTokenError", {
  tokenType: Schema.String,
  issuedTokenType: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `refusing to send a token of type ${this.tokenType}` +
      `${this.issuedTokenType !== undefined ? ` (issued_token_type ${this.issuedTokenType})` : ""} as a bearer token`
  }
}

/**
 * Marks a request as safe to send twice, so that it is replayed with a renewed token after a 401 even when its
 * method is not idempotent (a POST with an idempotency key, say). The mark is a header that the bearer client removes
 * before the request leaves.
 *
 * @example
 * ```ts
 * import { HttpClientRequest } from "@effect/platform"
 * import { BearerClient } from "@effect-oauth/client"
 *
 * const request = HttpClientRequest.post("https://api.example/orders").pipe(
 *   HttpClientRequest.setHeader("idempotency-key", "order-42"),
 *   BearerClient.withReplay
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withReplay = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.setHeader(request, internal.replayHeader, "1")

const invalidOptions = (description: string) => new ConfigurationError({ reason: "InvalidOptions", description })

/** only a Bearer token is sent as `Bearer` (an `N_A` token is not an access token; a `DPoP` one is bound to a key) */
const checkAccessToken = (token: TokenSet): Effect.Effect<TokenSet, NotAnAccessTokenError> =>
  token.tokenType.toLowerCase() === "bearer"
    ? Effect.succeed(token)
    : Effect.fail(
      new NotAnAccessTokenError({
        tokenType: token.tokenType,
        ...(token.issuedTokenType !== undefined ? { issuedTokenType: token.issuedTokenType } : {})
      })
    )

/**
 * How an authorized request is sent: no redirect followed inside the client (fetch follows by default), and the
 * `authorization` (and `dpop`) header redacted in the platform's span attributes even where the application changed
 * the list.
 */
const sendAuthorized = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    Effect.serviceOption(FetchHttpClient.RequestInit),
    (init) =>
      effect.pipe(
        Effect.provideService(FetchHttpClient.RequestInit, { ...Option.getOrUndefined(init), redirect: "manual" }),
        Http.withCredentialHeadersRedacted
      )
  )

const unsafeTransform = <E, R, ES>(
  self: HttpClient.HttpClient.With<E, R>,
  source: TokenSource<ES>,
  origins: ReadonlySet<string>,
  retryOn401: RetryOn401
): HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError, R> => {
  const acquire = Effect.flatMap(source.get, checkAccessToken)
  const send = (request: HttpClientRequest.HttpClientRequest, token: TokenSet) =>
    sendAuthorized(self.execute(internal.authorize(request, Redacted.value(token.accessToken))))
  const mayReplay = (request: HttpClientRequest.HttpClientRequest): boolean =>
    retryOn401 !== "never" && internal.isReplayableBody(request) &&
    (retryOn401 === "always" || internal.isIdempotent(request.method) || internal.hasReplayMarker(request))

  const executeAuthorized = Effect.fn("BearerClient.execute")(function*(
    request: HttpClientRequest.HttpClientRequest,
    origin: string
  ) {
    yield* Effect.annotateCurrentSpan({ "http.request.method": request.method, "bearer.origin": origin })
    const token = yield* acquire
    const response = yield* send(request, token)
    if (response.status !== 401 || !bearerTokenRejected(response.headers["www-authenticate"])) {
      return response
    }
    yield* Effect.annotateCurrentSpan("bearer.token_rejected", true)
    yield* source.invalidate(token)
    if (!mayReplay(request)) return response
    const renewed = yield* acquire
    // the source had nothing newer: sending the rejected token again cannot help
    if (Redacted.value(renewed.accessToken) === Redacted.value(token.accessToken)) return response
    // at most 64 KiB of the 401's body is read before the replay; the rest is never read and its socket released
    yield* Http.discardBody(response)
    yield* Effect.annotateCurrentSpan("bearer.replayed", true)
    return yield* send(request, renewed)
  })

  const execute = (
    request: HttpClientRequest.HttpClientRequest
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, E | ES | NotAnAccessTokenError, R> =>
    Option.match(Option.filter(internal.requestOrigin(request), (origin) => origins.has(origin)), {
      onNone: () => self.execute(internal.stripReplayMarker(request)),
      onSome: (origin) => executeAuthorized(request, origin)
    })

  return HttpClient.makeWith(
    (request: Effect.Effect<HttpClientRequest.HttpClientRequest>) => Effect.flatMap(request, execute),
    Effect.succeed
  )
}

/**
 * Wraps a client with bearer authentication from `source` (see the module documentation for the rules). Invalid
 * `options` make every request of the returned client fail with a `ConfigurationError`, and nothing is sent; use
 * {@link make} to get that error once, up front.
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { BearerClient, TokenSource } from "@effect-oauth/client"
 * import { Effect } from "effect"
 *
 * declare const source: TokenSource.TokenSource
 * const api = Effect.map(HttpClient.HttpClient, (client) =>
 *   client.pipe(
 *     BearerClient.transform(source, { origins: ["https://api.example"] }),
 *     HttpClient.followRedirects(3) // outside: every hop is checked against the origins again
 *   ))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const transform: {
  <ES>(
    source: TokenSource<ES>,
    options: Options
  ): <E, R>(
    self: HttpClient.HttpClient.With<E, R>
  ) => HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError | ConfigurationError, R>
  <E, R, ES>(
    self: HttpClient.HttpClient.With<E, R>,
    source: TokenSource<ES>,
    options: Options
  ): HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError | ConfigurationError, R>
} = dual(3, <E, R, ES>(
  self: HttpClient.HttpClient.With<E, R>,
  source: TokenSource<ES>,
  options: Options
): HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError | ConfigurationError, R> =>
  Either.match(internal.parseOrigins(options.origins), {
    onLeft: (description) => {
      const error = invalidOptions(`BearerClient: ${description}`)
      return HttpClient.makeWith<never, never, ConfigurationError, never>(() => Effect.fail(error), Effect.succeed)
    },
    onRight: (origins): HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError | ConfigurationError, R> =>
      unsafeTransform(self, source, origins, options.retryOn401 ?? "idempotent")
  }))

/**
 * The `HttpClient` of the context with bearer authentication from `source`. Fails with a `ConfigurationError` when an
 * origin is not a bare `https://host[:port]` (or `http://` on loopback).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <ES>(
  source: TokenSource<ES>,
  options: Options
): Effect.Effect<
  HttpClient.HttpClient.With<HttpClientError.HttpClientError | ES | NotAnAccessTokenError>,
  ConfigurationError,
  HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const origins = yield* Either.mapLeft(internal.parseOrigins(options.origins), (d) => invalidOptions(`BearerClient: ${d}`))
    const client = yield* HttpClient.HttpClient
    return unsafeTransform(client, source, origins, options.retryOn401 ?? "idempotent")
  })
