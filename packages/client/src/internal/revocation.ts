/**
 * One attempt at an RFC 7009 revocation request, built from the same pieces as a token request: `ClientAuth` applied
 * by `internal/clientAuth`, no redirects, a capped body read and transport classification from `internal/http`, the
 * RFC 6749 §5.2 error body parsed by `internal/tokenResponse`, failures shaped for the `internal/retry` schedule.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { ClientAuth } from "../ClientAuth.js"
import type { ConfigurationError, TokenEndpointError } from "../OAuthError.js"
import { TransportError } from "../OAuthError.js"
import * as InternalClientAuth from "./clientAuth.js"
import * as Http from "./http.js"
import * as Retry from "./retry.js"
import * as TokenResponse from "./tokenResponse.js"

/**
 * The `grant` of the errors of a revocation request (`TokenEndpointError`, `TransportError`), so that their messages
 * read `revocation: unsupported_token_type (HTTP 400)`.
 *
 * @internal
 */
export const operation = "revocation"

/**
 * Every way a revocation can fail.
 *
 * @internal
 */
export type RevocationError = TokenEndpointError | TransportError | ConfigurationError

/**
 * A failed attempt, as the retry schedule of token requests reads it.
 *
 * @internal
 */
export interface AttemptFailure extends Retry.AttemptFailure {
  readonly error: RevocationError
}

/**
 * What one attempt sends, and where.
 *
 * @internal
 */
export interface Attempt {
  readonly client: HttpClient.HttpClient
  /** `FetchHttpClient.RequestInit` as captured when the service was built (kept, with `redirect: "manual"`) */
  readonly noRedirects: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly endpoint: string
  /** the assertion audience of `private_key_jwt` / `client_secret_jwt`: as for token requests */
  readonly issuer: string | undefined
  readonly tokenEndpoint: string
  readonly auth: ClientAuth
  readonly token: string
  readonly hint: string | undefined
  readonly timeout: Duration.Duration
  readonly maxBytes: number
}

/** `token` first, then the hint, then the client authentication's parameters (RFC 7009 §2.1) */
const formBody = (
  token: string,
  hint: string | undefined,
  authParams: Readonly<Record<string, string>>
): Array<[string, string]> => {
  const pairs: Array<[string, string]> = [["token", token]]
  if (hint !== undefined) pairs.push(["token_type_hint", hint])
  for (const [name, value] of Object.entries(authParams)) {
    if (name !== "token" && name !== "token_type_hint") pairs.push([name, value])
  }
  return pairs
}

const describeStatus = (response: HttpClientResponse.HttpClientResponse): string => {
  const type = response.headers["content-type"]?.split(";")[0]?.trim()
  return `HTTP ${response.status} without an OAuth error body${type ? ` (${type.slice(0, 60)})` : ""}`
}

/**
 * One POST to the revocation endpoint. Succeeds on a 2xx (RFC 7009 §2.2: the token is revoked, or was invalid
 * already; the body is ignored); a non-2xx with an RFC 6749 §5.2 error body is a `TokenEndpointError`; a redirect,
 * another status, a timeout, a body over the cap or a connection failure a `TransportError`.
 *
 * @internal
 */
export const attempt = (options: Attempt): Effect.Effect<void, AttemptFailure> => {
  const fail = (error: RevocationError, retryAfterMillis?: number): Effect.Effect<never, AttemptFailure> =>
    Effect.fail({ error, retryAfterMillis })
  const transport = Retry.transportFailure(operation)

  return Effect.gen(function*() {
    const applied = yield* InternalClientAuth.apply(options.auth, {
      issuer: options.issuer,
      tokenEndpoint: options.tokenEndpoint
    }).pipe(Effect.catchAll((error) => fail(error)))
    const form = formBody(options.token, options.hint, applied.params)
    // a server that echoes the token (or a posted secret) in its error text gets it back as <redacted>
    const secrets = TokenResponse.sentSecrets(form, [options.token])
    const request = HttpClientRequest.post(options.endpoint).pipe(
      HttpClientRequest.acceptJson,
      HttpClientRequest.setHeaders(applied.headers),
      HttpClientRequest.bodyUrlParams(form)
    )
    const response = yield* options.client.execute(request).pipe(
      options.noRedirects,
      Effect.catchAll((error) => {
        const { description, maybeSent } = Http.classifyRequestError(error)
        return transport("RequestError", description, { maybeSent })
      })
    )
    const status = response.status
    if (Http.isRedirect(status)) {
      yield* Http.discardBody(response)
      return yield* transport(
        "Redirect",
        `HTTP ${status}: the revocation endpoint redirected; redirects are never followed`,
        { status }
      )
    }
    if (status >= 200 && status < 300) {
      // RFC 7009 §2.2: the status says it all, the body is ignored (read and dropped, so the connection is released;
      // a 204 or a body-less 200 has none to read)
      yield* Http.discardBody(response)
      return
    }
    const now = yield* Clock.currentTimeMillis
    const retryAfterMillis = Http.parseRetryAfter(response.headers["retry-after"], now)
    const body = yield* Http.readBodyCapped(response, options.maxBytes).pipe(
      Effect.catchAll((failure) =>
        failure._tag === "TooLarge"
          ? transport("BodyTooLarge", `the response body is larger than ${failure.limit} bytes`, { status })
          : transport("RequestError", failure.description, {
            status,
            ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {})
          })
      )
    )
    const errorBody = TokenResponse.parseErrorBody(body)
    if (errorBody !== undefined) {
      return yield* fail(TokenResponse.endpointError(operation, status, errorBody, secrets), retryAfterMillis)
    }
    return yield* transport("Status", describeStatus(response), {
      status,
      ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {})
    })
  }).pipe(
    Effect.timeoutFail({
      duration: options.timeout,
      onTimeout: (): AttemptFailure => ({
        error: new TransportError({
          grant: operation,
          reason: "Timeout",
          description: `no complete answer within ${Duration.format(options.timeout)}`,
          maybeSent: true
        }),
        retryAfterMillis: undefined
      })
    })
  )
}

const knownErrorCodes = new Set([
  "invalid_request",
  "invalid_client",
  "unauthorized_client",
  "unsupported_token_type",
  "temporarily_unavailable",
  "server_error",
  "use_dpop_nonce",
  "invalid_dpop_proof"
])

/**
 * The `outcome` tag of a failed revocation: an RFC 7009/6749 error code (`other_error` for any other), the reason of
 * a `TransportError`, or `ConfigurationError` – a bounded set.
 *
 * @internal
 */
export const errorOutcome = (error: RevocationError): string => {
  switch (error._tag) {
    case "TokenEndpointError":
      return knownErrorCodes.has(error.error) ? error.error : "other_error"
    case "TransportError":
      return error.reason
    case "ConfigurationError":
      return error._tag
  }
}
