/**
 * The one form POST to an endpoint of the authorization server. Token requests (every grant), revocation and, as they
 * come, the server's other form endpoints go through `make`: per attempt, the form body with the client
 * authentication, `Accept: application/json`, no redirect followed, a timeout, a capped body read, and the answer
 * classified – a 2xx handed to the caller's decoder; an RFC 6749 §5.2 error body a `TokenEndpointError`; anything
 * else a `TransportError` – every error built from the server's text through the one redaction step
 * (`internal/redaction`). Retries follow the request's `RetryPolicy`; a `RequestHook` may add headers per attempt,
 * observe every response and ask for one immediate resend (DPoP).
 *
 * @internal
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Random from "effect/Random"
import type * as Tracer from "effect/Tracer"
import type { Metadata } from "../AuthorizationServer.js"
import type { ClientAuth } from "../ClientAuth.js"
import * as ClientAuthModule from "../ClientAuth.js"
import type { Operation } from "../OAuthError.js"
import { ConfigurationError, TokenEndpointError, TransportError } from "../OAuthError.js"
import type { RetryPolicy } from "../RetryPolicy.js"
import * as InternalClientAuth from "./clientAuth.js"
import * as Http from "./http.js"
import * as Redaction from "./redaction.js"
import * as Retry from "./retry.js"
import * as Timer from "./timer.js"

/**
 * Which endpoint a POST goes to, and what the errors of its answer are called.
 *
 * @internal
 */
export interface Target {
  readonly operation: Operation
  /** the grant type of a token request */
  readonly grant: string | undefined
  readonly url: string
  /** for client assertions: their `aud` is the token endpoint, or the issuer when the `ClientAuth` asks for it */
  readonly issuer: string | undefined
  readonly tokenEndpoint: string
}

/**
 * What every error of a request names: the operation (and grant), the endpoint URL, the client id and how it
 * authenticated – never a secret.
 *
 * @internal
 */
export interface RequestContext {
  readonly operation: Operation
  readonly grant: string | undefined
  readonly endpoint: string
  readonly clientId: string
  readonly authMethod: string
}

/**
 * The context of a request to `target` by `auth`.
 *
 * @internal
 */
export const contextOf = (target: Target, auth: ClientAuth): RequestContext => ({
  operation: target.operation,
  grant: target.grant,
  endpoint: target.url,
  clientId: auth.clientId,
  authMethod: ClientAuthModule.methodName(auth)
})

/**
 * The fields an error takes from a request's context.
 *
 * @internal
 */
export const errorFields = (context: RequestContext) => ({
  operation: context.operation,
  ...(context.grant !== undefined ? { grant: context.grant } : {}),
  endpoint: context.endpoint,
  clientId: context.clientId,
  authMethod: context.authMethod
})

/**
 * A 2xx answer, for the caller's decoder.
 *
 * @internal
 */
export interface Success {
  readonly status: number
  readonly headers: HttpClientResponse.HttpClientResponse["headers"]
  /** the body as text (empty when the request asked not to read it) */
  readonly body: string
  /** `Clock` time at which the request was sent, epoch ms: a token's life starts no earlier */
  readonly sentAt: number
  /** the secret values the request sent, for the redaction of what the decoder builds from the body */
  readonly secrets: Redaction.Sent
  /** the request carried a `DPoP` proof (RFC 9449): only then is a `DPoP` token type understood */
  readonly dpopProof: boolean
  /** where the request went and who sent it, for the errors the decoder builds */
  readonly context: RequestContext
}

/**
 * Every way a POST can fail, besides what its decoder refuses.
 *
 * @internal
 */
export type PostError = TokenEndpointError | TransportError | ConfigurationError

/**
 * A seam for sender-constrained tokens (a DPoP layer, RFC 9449): `prepare` runs for every attempt, after the body and
 * client authentication are set, and may add headers (a `DPoP` proof for this method and URL); `observe` sees the
 * status and headers of every response before it is decoded (a `DPoP-Nonce`); when `resendOnce` answers `true` for a
 * `TokenEndpointError` (`use_dpop_nonce`), the attempt is sent once more at once, outside the retry schedule, and
 * `prepare` runs again (with the new nonce).
 *
 * @internal
 */
export interface RequestHook {
  readonly prepare: (
    request: HttpClientRequest.HttpClientRequest
  ) => Effect.Effect<HttpClientRequest.HttpClientRequest, PostError>
  readonly observe?: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<void>
  readonly resendOnce?: (error: TokenEndpointError) => boolean
}

/**
 * One request.
 *
 * @internal
 */
export interface Post<A, E extends { readonly _tag: string }> {
  readonly target: Target
  /** the form pairs, in order; a pair whose name the client authentication also sets is replaced by the latter's */
  readonly form: ReadonlyArray<readonly [string, string]>
  readonly auth: ClientAuth
  readonly retry: RetryPolicy
  /** `false`: a 2xx body is not read (dropped, the connection released) and `Success.body` is empty */
  readonly readSuccessBody?: boolean | undefined
  /** decodes a 2xx answer */
  readonly decode: (success: Success) => Either.Either<A, E>
  /** called once per attempt with its outcome (see {@link outcomeOf}), in place (no effect to run) */
  readonly countAttempt?: ((outcome: string) => void) | undefined
  /** the span of the request (its caller's): the parent of the platform's HTTP spans */
  readonly span?: Tracer.AnySpan | undefined
}

/**
 * Options shared by every request of one service.
 *
 * @internal
 */
export interface Options {
  /** one attempt, sending and reading */
  readonly timeout: Duration.Duration
  /** one request, every attempt and every wait between them included */
  readonly deadline: Duration.Duration
  readonly maxResponseBytes: number
  readonly hook?: RequestHook | undefined
  readonly backoff: BackoffOptions
}

/**
 * How long an endpoint that answered 429 or 503 is left alone.
 *
 * @internal
 */
export interface BackoffOptions {
  /** the longest `Retry-After` believed (default 5 minutes) */
  readonly retryAfterCap: Duration.Duration
  /** the first wait without a `Retry-After` (default 1 s), doubled at each further 429/503, jittered ±20% */
  readonly base: Duration.Duration
  /** the longest wait without a `Retry-After` (default 5 minutes) */
  readonly max: Duration.Duration
}

/** @internal */
export const backoffDefaults: BackoffOptions = {
  retryAfterCap: Duration.minutes(5),
  base: Duration.seconds(1),
  max: Duration.minutes(5)
}

/**
 * The defaults of every service that posts (`TokenEndpoint.defaults` shows them).
 *
 * @internal
 */
export const defaults = {
  timeout: Duration.seconds(30),
  deadline: Duration.seconds(60),
  maxResponseBytes: 1024 * 1024
} as const

/**
 * The backoff as a service's options give it.
 *
 * @internal
 */
export interface BackoffInput {
  readonly retryAfterCap?: Duration.DurationInput | undefined
  readonly base?: Duration.DurationInput | undefined
  readonly max?: Duration.DurationInput | undefined
}

/**
 * The options of a service that posts to one endpoint of the server with its own client authentication
 * (`Revocation`, `Introspection`): each service states its own defaults.
 *
 * @internal
 */
export interface ServiceOptions {
  /** how this client authenticates at the endpoint (as at the token endpoint) */
  readonly auth: ClientAuth
  /** the retry policy (default `RetryPolicy.transient()`: these requests are idempotent) */
  readonly retry?: RetryPolicy | undefined
  /** how long one attempt may take, sending and reading */
  readonly timeout?: Duration.DurationInput | undefined
  /** how long one request may take, retries included */
  readonly deadline?: Duration.DurationInput | undefined
  /** the largest response body read, in bytes (default 1 MiB); a larger one fails as `BodyTooLarge` */
  readonly maxResponseBytes?: number | undefined
  /** after a 429 or 503, how long the endpoint is left alone (as `TokenEndpoint.Options.backoff`) */
  readonly backoff?: BackoffInput | undefined
}

/**
 * A service's options (`TokenEndpoint`'s, `Revocation`'s) resolved with the {@link defaults}.
 *
 * @internal
 */
export const resolveOptions = (input: {
  readonly timeout?: Duration.DurationInput | undefined
  readonly deadline?: Duration.DurationInput | undefined
  readonly maxResponseBytes?: number | undefined
  readonly hook?: RequestHook | undefined
  readonly backoff?: BackoffInput | undefined
} | undefined): Options => ({
  timeout: Duration.decode(input?.timeout ?? defaults.timeout),
  deadline: Duration.decode(input?.deadline ?? defaults.deadline),
  maxResponseBytes: input?.maxResponseBytes ?? defaults.maxResponseBytes,
  hook: input?.hook,
  backoff: {
    retryAfterCap: Duration.decode(input?.backoff?.retryAfterCap ?? backoffDefaults.retryAfterCap),
    base: Duration.decode(input?.backoff?.base ?? backoffDefaults.base),
    max: Duration.decode(input?.backoff?.max ?? backoffDefaults.max)
  }
})

/**
 * An RFC 6749 §5.2 error body: a JSON object whose `error` is a string.
 *
 * @internal
 */
export interface ErrorBody {
  readonly error: string
  readonly errorDescription: string | undefined
  readonly errorUri: string | undefined
}

/**
 * The JSON object in `body`, if it is one.
 *
 * @internal
 */
export const parseObject = (body: string): Record<string, unknown> | undefined => {
  try {
    const parsed: unknown = JSON.parse(body)
    if (!Predicate.isRecord(parsed)) return undefined
    // the object JSON.parse made is the caller's alone: used as it is, not copied – less a `__proto__` member, which
    // any copy or decoder assigning it would make the prototype of what it builds
    if (Object.hasOwn(parsed, "__proto__")) delete parsed["__proto__"]
    return parsed
  } catch {
    return undefined
  }
}

/**
 * The OAuth error body in `json`, if it is one.
 *
 * @internal
 */
export const asErrorBody = (json: Record<string, unknown>): ErrorBody | undefined =>
  typeof json.error === "string" && json.error.length > 0
    ? {
      error: json.error,
      errorDescription: typeof json.error_description === "string" ? json.error_description : undefined,
      errorUri: typeof json.error_uri === "string" ? json.error_uri : undefined
    }
    : undefined

/**
 * The OAuth error body in `body`, if it is one.
 *
 * @internal
 */
export const parseErrorBody = (body: string): ErrorBody | undefined => {
  const json = parseObject(body)
  return json === undefined ? undefined : asErrorBody(json)
}

/**
 * A `TokenEndpointError` from an error body, through the redaction step: every echo of what the request sent
 * (`secrets`) in its description or URI becomes `<redacted>`.
 *
 * @internal
 */
export const endpointError = (
  context: RequestContext,
  status: number,
  body: ErrorBody,
  sent: Redaction.Sent
): TokenEndpointError => {
  const secrets = sent.values()
  return new TokenEndpointError({
    ...errorFields(context),
    status,
    error: Redaction.fromServer(body.error, secrets),
    ...(body.errorDescription !== undefined
      ? { errorDescription: Redaction.fromServer(body.errorDescription, secrets) }
      : {}),
    ...(body.errorUri !== undefined ? { errorUri: Redaction.fromServer(body.errorUri, secrets) } : {})
  })
}

/** the error codes of RFC 6749, 7009, 8628, 8693 and 9449: a bounded set of metric tags */
const knownErrorCodes: ReadonlySet<string> = new Set([
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "unsupported_token_type",
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

/**
 * The `outcome` tag of a failure: a known OAuth error code (`other_error` for any other), the reason of a
 * `TransportError`, or the error's tag – a bounded set.
 *
 * @internal
 */
export const outcomeOf = (error: { readonly _tag: string }): string =>
  error instanceof TokenEndpointError
    ? knownErrorCodes.has(error.error) ? error.error : "other_error"
    : error instanceof TransportError
    ? error.reason
    : error._tag

/**
 * The outcome of a finished request, for its counter and span: `onSuccess`'s for a success, {@link outcomeOf} for a
 * failure, `interrupted_or_defect` otherwise.
 *
 * @internal
 */
export const exitOutcome = <A, E extends { readonly _tag: string }>(
  exit: Exit.Exit<A, E>,
  onSuccess: (value: A) => string
): string =>
  Exit.match(exit, {
    onSuccess,
    onFailure: (cause) =>
      Option.match(Cause.failureOption(cause), { onNone: () => "interrupted_or_defect", onSome: outcomeOf })
  })

/**
 * A request about one token – RFC 7009 §2.1 revocation, RFC 7662 §2.1 introspection – to the endpoint the server's
 * metadata names for it: `token`, then `token_type_hint` when given; `ConfigurationError` `MissingEndpoint` when the
 * metadata names none. The endpoint goes on the current span as `oauth.<operation>_endpoint`.
 *
 * @internal
 */
export const tokenRequest = <A, E extends { readonly _tag: string }>(
  post: <A2, E2 extends { readonly _tag: string }>(request: Post<A2, E2>) => Effect.Effect<A2, E2 | PostError>,
  metadata: Metadata,
  request: Omit<Post<A, E>, "target" | "form"> & {
    readonly operation: "revocation" | "introspection"
    readonly token: Redacted.Redacted<string>
    readonly hint: string | undefined
  }
): Effect.Effect<A, E | PostError> => {
  const { hint, operation, token, ...rest } = request
  const url = operation === "revocation" ? metadata.revocationEndpoint : metadata.introspectionEndpoint
  if (url === undefined) {
    return Effect.fail(
      new ConfigurationError({
        reason: "MissingEndpoint",
        description: `the authorization server names no ${operation}_endpoint`
      })
    )
  }
  const form: Array<readonly [string, string]> = [["token", Redacted.value(token)]]
  if (hint !== undefined) form.push(["token_type_hint", hint])
  return Effect.zipRight(
    Effect.annotateCurrentSpan(`oauth.${operation}_endpoint`, url),
    post({
      ...rest,
      target: { operation, grant: undefined, url, issuer: metadata.issuer, tokenEndpoint: metadata.tokenEndpoint },
      form
    })
  )
}

/** the form: the request's pairs (those the client authentication sets are left out), then the authentication's */
const formBody = (
  pairs: ReadonlyArray<readonly [string, string]>,
  authParams: Readonly<Record<string, string>>
): Array<[string, string]> => {
  const out: Array<[string, string]> = []
  for (const [name, value] of pairs) if (!(name in authParams)) out.push([name, value])
  for (const [name, value] of Object.entries(authParams)) out.push([name, value])
  return out
}

const describeStatus = (status: number, headers: Headers.Headers, sent: Redaction.Sent): string => {
  const type = headers["content-type"]?.split(";")[0]?.trim()
  return `HTTP ${status} without an OAuth error body${
    type ? ` (${Redaction.fromServer(type, sent.values()).slice(0, 60)})` : ""
  }`
}

/**
 * Form pairs from parameters: `undefined` is left out, an array repeats its parameter.
 *
 * @internal
 */
export const pairs = (
  params: Readonly<Record<string, string | ReadonlyArray<string> | undefined>> | undefined
): Array<[string, string]> => {
  const out: Array<[string, string]> = []
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value === undefined) continue
    if (typeof value === "string") out.push([name, value])
    else for (const item of value) out.push([name, item])
  }
  return out
}

/**
 * The rate-limit memory of one endpoint and client: after a 429 or 503 nothing is sent before `openAt`.
 */
interface Gate {
  readonly openAt: number
  /** consecutive 429/503 answers: the exponent of the backoff when the server names no `Retry-After` */
  readonly strikes: number
}

/**
 * The POST of a service, over the `HttpClient` in context (and the `FetchHttpClient.RequestInit` there, kept with
 * `redirect: "manual"`). It remembers rate limits per endpoint URL and client: after a 429 or 503, no request goes
 * there before the server's `Retry-After` (capped by `backoff.retryAfterCap`) or, without one, a jittered exponential
 * backoff; a request in that window fails at once with `TransportError` `RateLimited`.
 *
 * @internal
 */
export const make = (
  options: Options
): Effect.Effect<
  <A, E extends { readonly _tag: string }>(request: Post<A, E>) => Effect.Effect<A, E | PostError>,
  never,
  HttpClient.HttpClient | Scope.Scope
> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    // one timer for the timeouts of every request of the service (see internal/timer)
    const timer = yield* Timer.make
    const refuseRedirects = Http.redirectsRefused(yield* Effect.serviceOption(FetchHttpClient.RequestInit))
    const { hook, maxResponseBytes: maxBytes, timeout } = options
    const backoff = options.backoff
    const gates = new Map<string, Gate>()

    /** the wait a 429/503 imposes: the server's `Retry-After` (capped), else 1 s doubling per strike, jittered */
    const closeGate = (key: string, retryAfterMillis: number | undefined) =>
      Effect.gen(function*() {
        const strikes = (gates.get(key)?.strikes ?? 0) + 1
        const capMillis = Duration.toMillis(backoff.retryAfterCap)
        // whole milliseconds: the retry that waits exactly this long must find the gate open
        const waitMillis = Math.ceil(
          retryAfterMillis !== undefined
            ? Math.min(retryAfterMillis, capMillis)
            : Math.min(
              Duration.toMillis(backoff.base) * 2 ** Math.min(strikes - 1, 30) * (yield* Random.nextRange(0.8, 1.2)),
              Duration.toMillis(backoff.max)
            )
        )
        gates.set(key, { openAt: (yield* Clock.currentTimeMillis) + waitMillis, strikes })
        return waitMillis
      })

    /** the request without its body, per endpoint URL and static client authentication: immutable, so shared */
    const baseRequests = new WeakMap<InternalClientAuth.Applied, Map<string, HttpClientRequest.HttpClientRequest>>()
    const newBaseRequest = (url: string, applied: InternalClientAuth.Applied) =>
      HttpClientRequest.setHeaders(HttpClientRequest.acceptJson(HttpClientRequest.post(url)), applied.headers)
    const baseRequest = (url: string, applied: InternalClientAuth.Applied, shared: boolean) => {
      if (!shared) return newBaseRequest(url, applied)
      let byUrl = baseRequests.get(applied)
      if (byUrl === undefined) {
        byUrl = new Map()
        baseRequests.set(applied, byUrl)
      }
      let base = byUrl.get(url)
      if (base === undefined) {
        base = newBaseRequest(url, applied)
        // bounded: a service posts to a handful of endpoints
        if (byUrl.size >= 16) byUrl.clear()
        byUrl.set(url, base)
      }
      return base
    }

    const attempt = <A, E extends { readonly _tag: string }>(
      request: Post<A, E>,
      limit: { readonly timeout: Duration.Duration; readonly description: string },
      /** the request's `Clock` (read once per request) */
      clock: Clock.Clock
    ): Effect.Effect<A, Retry.AttemptFailure<E | PostError>> => {
      const { target } = request
      const gateKey = `${target.url} ${request.auth.clientId}`
      const count = request.countAttempt
      const context = contextOf(target, request.auth)
      // every way out of an attempt is counted here, once: a failure by its outcome, a success below, a timeout by
      // the timer's failure
      const fail = (
        error: E | PostError,
        retryAfterMillis?: number
      ): Effect.Effect<never, Retry.AttemptFailure<E | PostError>> => {
        count?.(outcomeOf(error))
        return Effect.fail({ error, retryAfterMillis })
      }
      const failTransport = transportFailure(context)
      const transport: typeof failTransport = (reason, description, extra) => {
        count?.(reason)
        return failTransport(reason, description, extra)
      }
      const succeed = (value: A): Effect.Effect<A> => {
        count?.("success")
        return Effect.succeed(value)
      }
      const staticAuth = InternalClientAuth.staticApplied(request.auth)

      // the attempt runs on a fiber of its own (the timer's child), which ends with it: its context is set once for
      // the platform client – `redirect: "manual"`, the request's span as the parent of the HTTP spans – and never
      // restored (a scoped change, `Effect.locallyWith`, costs some twenty steps per request)
      const enter = FiberRef.update(FiberRef.currentContext, (context) => refuseRedirects(context, request.span))
      type Attempted = Effect.Effect<A, Retry.AttemptFailure<E | PostError>>
      // the steps as plain continuations, not a generator: a request's common path allocates and runs as little as
      // it can (see packages/bench, section 2)

      /** the answer: classified, its body read (capped) and decoded */
      const answered = (
        response: HttpClientResponse.HttpClientResponse,
        headers: Headers.Headers,
        retryAfterMillis: number | undefined,
        secrets: Redaction.Sent,
        sentAt: number,
        dpopProof: boolean
      ): Attempted => {
        const status = response.status
        const ok = status >= 200 && status < 300
        if (ok && request.readSuccessBody === false) {
          return Effect.zipRight(
            Http.release(response),
            Effect.suspend(() =>
              Either.match(request.decode({ status, headers, body: "", sentAt, secrets, dpopProof, context }), {
                onLeft: (error) => fail(error),
                onRight: succeed
              })
            )
          )
        }
        return Effect.flatMap(
          Effect.catchAll(Http.readBodyCapped(response, maxBytes, headers), (failure) =>
            failure._tag === "TooLarge"
              ? transport("BodyTooLarge", `the response body is larger than ${failure.limit} bytes`, { status })
              : transport("RequestError", failure.description, {
                status,
                ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {})
              })),
          (body): Attempted => {
            if (ok) {
              return Either.match(request.decode({ status, headers, body, sentAt, secrets, dpopProof, context }), {
                onLeft: (error) => fail(error, retryAfterMillis),
                onRight: succeed
              })
            }
            const errorBody = parseErrorBody(body)
            if (errorBody !== undefined) {
              return fail(endpointError(context, status, errorBody, secrets), retryAfterMillis)
            }
            return transport("Status", describeStatus(status, headers, secrets), {
              status,
              ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {})
            })
          }
        )
      }

      /** a response: a redirect refused, a 429/503 remembered, the rest answered */
      const received = (
        response: HttpClientResponse.HttpClientResponse,
        gate: Gate | undefined,
        secrets: Redaction.Sent,
        sentAt: number,
        dpopProof: boolean
      ): Attempted => {
        const status = response.status
        if (Http.isRedirect(status)) {
          // counted once the body is dropped (an attempt timed out while dropping it counts as a timeout only)
          return Effect.zipRight(
            Http.discardBody(response),
            Effect.suspend(() =>
              transport(
                "Redirect",
                `HTTP ${status}: the ${target.operation} endpoint redirected; redirects are never followed`,
                { status }
              )
            )
          )
        }
        // built anew by every read of `response.headers`: read once
        const headers = response.headers
        const retryAfterMillis = Http.parseRetryAfter(headers["retry-after"], clock.unsafeCurrentTimeMillis())
        if (status === 429 || status === 503) {
          // remembered for every later request to this endpoint and client, and the wait of this request's retry
          return Effect.flatMap(
            closeGate(gateKey, retryAfterMillis),
            (wait) => answered(response, headers, wait, secrets, sentAt, dpopProof)
          )
        }
        if (gate !== undefined) gates.delete(gateKey)
        return answered(response, headers, retryAfterMillis, secrets, sentAt, dpopProof)
      }

      /** the request, as the client authentication and the hook made it, sent */
      const send = (
        httpRequest: HttpClientRequest.HttpClientRequest,
        form: ReadonlyArray<readonly [string, string]>,
        applied: InternalClientAuth.Applied,
        gate: Gate | undefined
      ): Attempted => {
        const proof = httpRequest.headers["dpop"]
        const dpopProof = proof !== undefined
        // what a server might echo back in an error: the secret-bearing form values, the authentication's secrets and
        // a DPoP proof
        const secrets = Redaction.sent(form, proof === undefined ? applied.secrets : [...applied.secrets, proof])
        const sentAt = clock.unsafeCurrentTimeMillis()
        return Effect.flatMap(
          Effect.catchAll(Http.executeRedacted(httpRequest, client.execute), (error) => {
            const { description, maybeSent } = Http.classifyRequestError(error)
            return transport("RequestError", description, { maybeSent })
          }),
          (response) =>
            hook?.observe
              ? Effect.zipRight(
                hook.observe(response),
                Effect.suspend(() => received(response, gate, secrets, sentAt, dpopProof))
              )
              : received(response, gate, secrets, sentAt, dpopProof)
        )
      }

      /** the form and the request with the client authentication, then the hook's headers */
      const authenticated = (applied: InternalClientAuth.Applied, gate: Gate | undefined): Attempted => {
        const form = formBody(request.form, applied.params)
        const httpRequest = HttpClientRequest.bodyUrlParams(
          baseRequest(target.url, applied, staticAuth !== undefined),
          form
        )
        return hook
          ? Effect.flatMap(
            Effect.catchAll(hook.prepare(httpRequest), (error) => fail(error)),
            (prepared) => send(prepared, form, applied, gate)
          )
          : send(httpRequest, form, applied, gate)
      }

      return Effect.flatMap(enter, (): Attempted => {
        const gate = gates.size === 0 ? undefined : gates.get(gateKey)
        if (gate !== undefined) {
          const waitMillis = gate.openAt - clock.unsafeCurrentTimeMillis()
          if (waitMillis > 0) {
            return transport(
              "RateLimited",
              `not sent: the ${target.operation} endpoint asked to wait (HTTP 429/503); ${
                Math.ceil(waitMillis / 1000)
              } s left`,
              { retryAfterMillis: waitMillis, maybeSent: false }
            )
          }
        }
        // Basic, post and none: the same headers and parameters every time; an assertion is signed per request
        if (staticAuth === undefined) {
          return Effect.flatMap(
            Effect.catchAll(InternalClientAuth.apply(request.auth, target), (error) => fail(error)),
            (applied) => authenticated(applied, gate)
          )
        }
        return Either.isLeft(staticAuth) ? fail(staticAuth.left) : authenticated(staticAuth.right, gate)
      }).pipe((effect) =>
        timer.timeout(effect, limit.timeout, clock, (): Retry.AttemptFailure<E | PostError> => {
          count?.("Timeout")
          return { error: timeoutError(context, limit.description), retryAfterMillis: undefined }
        })
      )
    }

    const withResend = <A, E>(
      once: Effect.Effect<A, Retry.AttemptFailure<E>>
    ): Effect.Effect<A, Retry.AttemptFailure<E>> => {
      const resendOnce = hook?.resendOnce
      if (resendOnce === undefined) return once
      return Effect.catchIf(
        once,
        (failure) => failure.error instanceof TokenEndpointError && resendOnce(failure.error),
        () => once
      )
    }

    const deadlineMillis = Duration.toMillis(options.deadline)
    const deadlineDescription = `no answer within the deadline of ${Duration.format(options.deadline)} (retries included)`
    const attemptDescription = `no complete answer within ${Duration.format(timeout)}`
    // a request that succeeds at once – the common case – pays for one timeout (the attempt's, or the deadline when
    // that is shorter) and no retry machinery; the schedule and the deadline's timer start only after a failure
    const first = deadlineMillis < Duration.toMillis(timeout)
      ? { timeout: options.deadline, description: deadlineDescription }
      : { timeout, description: attemptDescription }
    const later = { timeout, description: attemptDescription }

    const sent = <A, E extends { readonly _tag: string }>(request: Post<A, E>): Effect.Effect<A, E | PostError> =>
      Effect.clockWith((clock) => {
        const startedAt = clock.unsafeCurrentTimeMillis()
        return withResend(attempt(request, first, clock)).pipe(
          Effect.catchAll((failure) => {
            const context = contextOf(request.target, request.auth)
            const deadlineError = () => timeoutError(context, deadlineDescription)
            if (request.retry._tag === "Never" || refusedByGate(failure.error)) return Effect.fail(failure.error)
            // the retries, as if the schedule had seen the first failure itself: the first run replays it (no request)
            let replayed = false
            const again = Effect.suspend(() => {
              if (replayed) return withResend(attempt(request, later, clock))
              replayed = true
              return Effect.fail(failure)
            })
            return Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const left = deadlineMillis - (now - startedAt)
              if (left <= 0) return Effect.fail(deadlineError())
              return again.pipe(
                // a request the rate-limit gate refused was not sent: it fails at once (its `retryAfterMillis` says
                // when the gate opens), never kept waiting for the gate by the retry schedule – its caller decides
                Effect.retry({ schedule: Retry.schedule(request.retry), while: (failure) => !refusedByGate(failure.error) }),
                Effect.mapError((failure) => failure.error),
                (retries) => timer.timeout(retries, Duration.millis(left), clock, deadlineError)
              )
            })
          })
        )
      })

    return sent
  })

/** a `RateLimited` failure: refused by the gate before sending */
const refusedByGate = (error: unknown): boolean => error instanceof TransportError && error.reason === "RateLimited"

const timeoutError = (context: RequestContext, description: string): TransportError =>
  new TransportError({
    ...errorFields(context),
    reason: "Timeout",
    description,
    maybeSent: true
  })

/**
 * A failed attempt with no usable answer, for the request `target` (its operation, and the grant of a token request).
 *
 */
const transportFailure = (context: RequestContext) =>
(
  reason: TransportError["reason"],
  description: string,
  extra: { readonly status?: number; readonly retryAfterMillis?: number; readonly maybeSent?: boolean } = {}
): Effect.Effect<never, { readonly error: TransportError; readonly retryAfterMillis: number | undefined }> =>
  Effect.fail({
    error: new TransportError({
      ...errorFields(context),
      reason,
      description,
      maybeSent: extra.maybeSent ?? true,
      ...(extra.status !== undefined ? { status: extra.status } : {}),
      ...(extra.retryAfterMillis !== undefined ? { retryAfterMillis: extra.retryAfterMillis } : {})
    }),
    retryAfterMillis: extra.retryAfterMillis
  })
