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
 * - **Bearer, or DPoP – never a bound token as Bearer**: a `Bearer` token set is sent as `Bearer`. A DPoP-bound one
 *   (`token_type: DPoP`, RFC 9449) is sent – with the `dpop` option – as `Authorization: DPoP <token>` with a fresh
 *   `DPoP` proof (`htm`, `htu`, `ath`, the origin's nonce) signed by its key: the key the token set keeps (a user
 *   session's) or the `DPoP` service's, checked against the token's `jkt` (`DPoPError` `KeyMismatch` otherwise).
 *   Without the option it is refused with {@link NotAnAccessTokenError}, as is any other type (`N_A`, RFC 8693
 *   §2.2.1: not an access token), and nothing is sent.
 * - **DPoP nonces** (RFC 9449 §9): every `DPoP-Nonce` a resource server sends is remembered for its origin; a 401 with
 *   `WWW-Authenticate: DPoP error="use_dpop_nonce"` is answered with one replay carrying the nonce – for any method
 *   (the server refused the request before running it), when the body is held in memory.
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
import type * as DPoP from "./DPoP.js"
import * as internal from "./internal/bearer.js"
import * as InternalDPoP from "./internal/dpop.js"
import * as Http from "./internal/http.js"
import { dpopNonceRequired, tokenRejected } from "./internal/wwwAuthenticate.js"
import { ConfigurationError, DPoPError } from "./OAuthError.js"
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
  /**
   * DPoP (RFC 9449): DPoP-bound tokens are sent as `Authorization: DPoP` with a proof of their key. Without it a bound
   * token is refused (never sent as `Bearer`).
   */
  readonly dpop?: DPoP.DPoP.Service | undefined
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
      `${this.issuedTokenType !== undefined ? ` (issued_token_type ${this.issuedTokenType})` : ""} as a bearer token` +
      `${this.tokenType.toLowerCase() === "dpop" ? ": give BearerClient the DPoP service (the dpop option)" : ""}`
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

/** a token as it is sent: as `Bearer`, or – bound – as `DPoP` with a proof of `key` */
type Sendable =
  | { readonly token: TokenSet; readonly key: undefined }
  | { readonly token: TokenSet; readonly key: DPoP.KeyPair; readonly dpop: DPoP.DPoP.Service }

/**
 * A Bearer token is sent as `Bearer`; a DPoP-bound one only with the DPoP service, signed by its key – the one the
 * token set keeps (a session's), else the service's – when that is the key it is bound to; anything else (`N_A`, a
 * bound token without the service) is refused.
 */
const checkAccessToken = (
  token: TokenSet,
  dpop: DPoP.DPoP.Service | undefined
): Effect.Effect<Sendable, NotAnAccessTokenError | DPoPError> => {
  const type = token.tokenType.toLowerCase()
  if (type === "bearer") return Effect.succeed({ token, key: undefined })
  if (type !== "dpop" || dpop === undefined) {
    return Effect.fail(
      new NotAnAccessTokenError({
        tokenType: token.tokenType,
        ...(token.issuedTokenType !== undefined ? { issuedTokenType: token.issuedTokenType } : {})
      })
    )
  }
  return Effect.flatMap(InternalDPoP.keptKey(token), (kept) => {
    const key = kept ?? dpop.key
    return token.jkt !== undefined && token.jkt !== key.thumbprint
      ? Effect.fail(
        new DPoPError({
          reason: "KeyMismatch",
          description: `the token is bound to the key ${token.jkt}; the key at hand is ${key.thumbprint}`
        })
      )
      : Effect.succeed({ token, key, dpop })
  })
}

/**
 * How an authorized request is sent: no redirect followed inside the client (fetch follows by default), and the
 * `authorization` (and `dpop`) header redacted in the platform's span attributes even where the application changed
 * the list – the form POST's own two steps (`internal/http`), the `RequestInit` read where the request runs.
 */
const noRedirects = Http.withoutRedirects(Option.none())
const sendAuthorized = <E, R>(
  client: HttpClient.HttpClient.With<E, R>,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<HttpClientResponse.HttpClientResponse, E, R> => noRedirects(Http.executeRedacted(request, client.execute))

const unsafeTransform = <E, R, ES>(
  self: HttpClient.HttpClient.With<E, R>,
  source: TokenSource<ES>,
  origins: ReadonlySet<string>,
  retryOn401: RetryOn401,
  dpop: DPoP.DPoP.Service | undefined
): HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError | DPoPError, R> => {
  const acquire = Effect.flatMap(source.get, (token) => checkAccessToken(token, dpop))
  const send = (request: HttpClientRequest.HttpClientRequest, url: URL, sendable: Sendable) => {
    const token = Redacted.value(sendable.token.accessToken)
    if (sendable.key === undefined) return sendAuthorized(self, internal.authorize(request, token))
    const { dpop, key } = sendable
    // a fresh proof per send (a replay is a new request: a new jti, the nonce as it is now), `ath` binding the token
    return dpop.proof({ method: request.method, url, accessToken: token, key }).pipe(
      Effect.flatMap((proof) => sendAuthorized(self, internal.authorize(request, token, proof))),
      Effect.tap((response) => dpop.observe(url, response.headers))
    )
  }
  const mayReplay = (request: HttpClientRequest.HttpClientRequest): boolean =>
    retryOn401 !== "never" && internal.isReplayableBody(request) &&
    (retryOn401 === "always" || internal.isIdempotent(request.method) || internal.hasReplayMarker(request))

  const executeAuthorized = Effect.fn("BearerClient.execute")(function*(
    request: HttpClientRequest.HttpClientRequest,
    url: URL
  ) {
    yield* Effect.annotateCurrentSpan({ "http.request.method": request.method, "bearer.origin": url.origin })
    const sendable = yield* acquire
    const scheme = sendable.key === undefined ? "bearer" : "dpop"
    if (scheme === "dpop") yield* Effect.annotateCurrentSpan("bearer.scheme", "DPoP")
    let response = yield* send(request, url, sendable)
    // RFC 9449 §9: the resource server wants its nonce – one replay with it (any method: the request was refused
    // before it ran), when the body can be sent again
    if (
      scheme === "dpop" && response.status === 401 && dpopNonceRequired(response.headers["www-authenticate"]) &&
      internal.isReplayableBody(request)
    ) {
      yield* Http.discardBody(response)
      yield* Effect.annotateCurrentSpan("bearer.dpop_nonce_replayed", true)
      response = yield* send(request, url, sendable)
    }
    if (response.status !== 401 || !tokenRejected(response.headers["www-authenticate"], scheme)) {
      return response
    }
    yield* Effect.annotateCurrentSpan("bearer.token_rejected", true)
    yield* source.invalidate(sendable.token)
    if (!mayReplay(request)) return response
    const renewed = yield* acquire
    // the source had nothing newer: sending the rejected token again cannot help
    if (Redacted.value(renewed.token.accessToken) === Redacted.value(sendable.token.accessToken)) return response
    // at most 64 KiB of the 401's body is read before the replay; the rest is never read and its socket released
    yield* Http.discardBody(response)
    yield* Effect.annotateCurrentSpan("bearer.replayed", true)
    return yield* send(request, url, renewed)
  })

  const execute = (
    request: HttpClientRequest.HttpClientRequest
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, E | ES | NotAnAccessTokenError | DPoPError, R> =>
    Option.match(Option.filter(internal.requestUrl(request), (url) => origins.has(url.origin)), {
      onNone: () => self.execute(internal.stripReplayMarker(request)),
      onSome: (url) => executeAuthorized(request, url)
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
  ) => HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError | DPoPError | ConfigurationError, R>
  <E, R, ES>(
    self: HttpClient.HttpClient.With<E, R>,
    source: TokenSource<ES>,
    options: Options
  ): HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError | DPoPError | ConfigurationError, R>
} = dual(3, <E, R, ES>(
  self: HttpClient.HttpClient.With<E, R>,
  source: TokenSource<ES>,
  options: Options
): HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError | DPoPError | ConfigurationError, R> =>
  Either.match(internal.parseOrigins(options.origins), {
    onLeft: (description) => {
      const error = invalidOptions(`BearerClient: ${description}`)
      return HttpClient.makeWith<never, never, ConfigurationError, never>(() => Effect.fail(error), Effect.succeed)
    },
    onRight: (origins): HttpClient.HttpClient.With<E | ES | NotAnAccessTokenError | DPoPError | ConfigurationError, R> =>
      unsafeTransform(self, source, origins, options.retryOn401 ?? "idempotent", options.dpop)
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
  HttpClient.HttpClient.With<HttpClientError.HttpClientError | ES | NotAnAccessTokenError | DPoPError>,
  ConfigurationError,
  HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const origins = yield* Either.mapLeft(internal.parseOrigins(options.origins), (d) => invalidOptions(`BearerClient: ${d}`))
    const client = yield* HttpClient.HttpClient
    return unsafeTransform(client, source, origins, options.retryOn401 ?? "idempotent", options.dpop)
  })
