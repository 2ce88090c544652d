/**
 * HTTP pieces shared by the token endpoint and discovery: the no-redirect guard, a body reader with a size cap,
 * transport failure classification and `Retry-After` parsing.
 *
 * @internal
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"

/**
 * `fetch` follows redirects unless told otherwise, and the platform's `FetchHttpClient` reads its `RequestInit` from
 * the context of the fiber that executes the request. Running `effect` with `redirect: "manual"` makes a 3xx come back
 * as a response (Node, Deno, Bun) or as an opaque redirect with status 0 (browsers) – never followed. Other
 * `RequestInit` members are kept: `captured` (read when the service was built) and then the one in the current
 * context. The Node clients of `@effect/platform-node` never follow redirects.
 *
 * @internal
 */
export const withoutRedirects = (captured: Option.Option<globalThis.RequestInit>) => {
  const withInit = redirectsRefused(captured)
  /**
   * `effect` with `redirect: "manual"` in its context – and `parent` as its parent span, when given: one update of the
   * context for both (each `provideService` copies the fiber's context and its fiber refs)
   */
  return <A, E, R>(effect: Effect.Effect<A, E, R>, parent?: Tracer.AnySpan | undefined): Effect.Effect<A, E, R> =>
    Effect.locallyWith(effect, FiberRef.currentContext, (context) => withInit(context, parent))
}

/**
 * The change of context behind {@link withoutRedirects}: `context` with `redirect: "manual"` in its
 * `FetchHttpClient.RequestInit` (other members kept: `captured`, then the one in `context`) and `parent`, when given,
 * as its parent span. For a fiber of its own (a request's attempt) that sets it once and ends, with nothing to restore.
 *
 * @internal
 */
export const redirectsRefused = (captured: Option.Option<globalThis.RequestInit>) => {
  // the common case – no other RequestInit where the request runs – merged once, not per request
  const manual: globalThis.RequestInit = { ...Option.getOrUndefined(captured), redirect: "manual" }
  return (context: Context.Context<never>, parent?: Tracer.AnySpan | undefined): Context.Context<never> => {
    const current = Context.getOption(context, FetchHttpClient.RequestInit)
    const init = Option.isNone(current) || current.value === manual
      ? manual
      : { ...Option.getOrUndefined(captured), ...current.value, redirect: "manual" as const }
    // one copy of the context for both services (each `Context.add` copies every service)
    return parent === undefined
      ? Context.add(context, FetchHttpClient.RequestInit, init)
      : Context.merge(context, Context.add(Context.make(FetchHttpClient.RequestInit, init), Tracer.ParentSpan, parent))
  }
}

/**
 * `true` for a status that is a redirect (3xx) or a browser's opaque redirect (0).
 *
 * @internal
 */
export const isRedirect = (status: number): boolean => status === 0 || (status >= 300 && status < 400)

/**
 * Why reading a body failed.
 *
 * @internal
 */
export type ReadFailure =
  | { readonly _tag: "TooLarge"; readonly limit: number }
  | { readonly _tag: "Failed"; readonly description: string }

/**
 * Lets the connection of `response` go at once: the body is not read (or no further), and the platform client aborts
 * the request – fetch cancels the body, undici destroys it – instead of leaving the socket to a garbage collection.
 *
 * The platform aborts when the response's `stream` ends, but only a stream that has started can end: `take(0)` never
 * starts it (nothing is pulled), and an unstarted stream leaves the request to the platform's `FinalizationRegistry`,
 * that is to the next garbage collection. So the stream is started in a fiber of its own – it registers the abort and
 * waits for its first chunk – and that fiber is interrupted as soon as it has run (a chunk already there is dropped):
 * no waiting for a server that sends headers and then nothing.
 *
 * @internal
 */
export const release = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<void> =>
  Effect.flatMap(
    Effect.fork(Stream.runDrain(Stream.take(response.stream, 1))),
    // the forked fiber was scheduled first: it has started the stream when this one resumes
    (reader) => Effect.zipRight(Effect.yieldNow(), Fiber.interrupt(reader))
  ).pipe(Effect.asVoid)

/**
 * Reads a response body as UTF-8 text, counting the bytes the reader actually sees – after any `Content-Encoding`
 * the transport decodes (fetch inflates gzip and brotli; undici does not) – and failing as soon as more than
 * `maxBytes` arrived: a decompression bomb is never inflated past the cap, and its connection is released when the
 * read stops. A `Content-Length` over the cap fails before anything is read; one within it with no content coding is
 * read in one go (the bytes read are then exactly the bytes declared). A response without a body (a 204, a HEAD)
 * reads as `""`. Invalid UTF-8 becomes U+FFFD.
 *
 * @internal
 */
export const readBodyCapped = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number,
  /** the response's headers, when the caller holds them: each read of `response.headers` builds them anew */
  headers: Headers.Headers = response.headers
): Effect.Effect<string, ReadFailure> => {
  const declared = headers["content-length"]
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    return Effect.zipRight(release(response), Effect.fail<ReadFailure>({ _tag: "TooLarge", limit: maxBytes }))
  }
  const encoding = headers["content-encoding"]
  if (declared !== undefined && /^\d+$/.test(declared) && (encoding === undefined || /^\s*identity\s*$/i.test(encoding))) {
    // no content coding: the bytes read are the bytes on the wire, and the HTTP layer reads exactly the declared
    // length (within the cap, checked above) – one read, no stream machinery; the count is still checked in bytes
    return Effect.mapError(
      response.arrayBuffer,
      (error): ReadFailure => ({ _tag: "Failed", description: describeResponseError(error) })
    ).pipe(
      Effect.flatMap((buffer) =>
        buffer.byteLength > maxBytes
          ? Effect.fail<ReadFailure>({ _tag: "TooLarge", limit: maxBytes })
          : Effect.succeed(decoder.decode(buffer))
      )
    )
  }
  return Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return response.stream.pipe(
      Stream.catchAll((error) =>
        // no body at all (a 204): nothing to read
        error.reason === "EmptyBody"
          ? Stream.empty
          : Stream.fail<ReadFailure>({ _tag: "Failed", description: describeResponseError(error) })
      ),
      Stream.runForEach((chunk) => {
        size += chunk.byteLength
        if (size > maxBytes) return Effect.fail<ReadFailure>({ _tag: "TooLarge", limit: maxBytes })
        chunks.push(chunk)
        return Effect.void
      }),
      Effect.map(() => {
        if (chunks.length === 1) return decoder.decode(chunks[0])
        const all = new Uint8Array(size)
        let offset = 0
        for (const chunk of chunks) {
          all.set(chunk, offset)
          offset += chunk.byteLength
        }
        return decoder.decode(all)
      })
    )
  })
}

const decoder = new TextDecoder()

/**
 * Reads and drops at most 64 KiB of a body (a redirect's, a 401's before a replay), then lets the connection go:
 * whatever is left is never read.
 *
 * @internal
 */
export const discardBody = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<void> =>
  Effect.ignore(readBodyCapped(response, 64 * 1024))

const describeResponseError = (error: HttpClientError.ResponseError): string =>
  `the response body could not be read (${error.reason}${causeCode(error.cause) ? `, ${causeCode(error.cause)}` : ""})`

/**
 * Error codes that say the request never left this machine (or never reached the server's HTTP layer): the
 * connection was refused or never established, the name did not resolve, TLS failed before any byte of HTTP.
 */
const notSentCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_INVALID_URL",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
])

/** the first `code` found along an error's `cause` chain (fetch wraps undici's error in a `TypeError`) */
const causeCode = (cause: unknown): string | undefined => {
  let current: unknown = cause
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    if ("code" in current && typeof current.code === "string") return current.code
    if ("errors" in current && Array.isArray(current.errors)) {
      for (const inner of current.errors) {
        const code = causeCode(inner)
        if (code) return code
      }
    }
    current = "cause" in current ? current.cause : undefined
  }
  return undefined
}

/**
 * The message of the innermost error along the `cause` chain (`bad port` under fetch's `fetch failed`), when it is
 * short: what a transport says of itself, never the request.
 */
const innermostMessage = (cause: unknown): string | undefined => {
  let current: unknown = cause
  let message: string | undefined
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    message = current.message
    current = current.cause
  }
  return message !== undefined && message.length > 0 && message.length <= 80 && !/[\u0000-\u001f]/.test(message)
    ? message
    : undefined
}

/**
 * A transport failure described without the request (its URL may carry parameters; its body carries secrets).
 *
 * @internal
 */
export const classifyRequestError = (
  error: HttpClientError.HttpClientError
): { readonly description: string; readonly maybeSent: boolean } => {
  if (error._tag === "RequestError") {
    if (error.reason !== "Transport") {
      return { description: `the request could not be built (${error.reason})`, maybeSent: false }
    }
    const code = causeCode(error.cause)
    const detail = code ?? innermostMessage(error.cause)
    return {
      description: detail !== undefined ? `the request failed (${detail})` : "the request failed",
      maybeSent: code === undefined || !notSentCodes.has(code)
    }
  }
  return { description: describeResponseError(error), maybeSent: true }
}

/**
 * `Retry-After` (RFC 9110 §10.2.3) in milliseconds from `now`: delay-seconds or an HTTP-date.
 *
 * @internal
 */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * Why a document could not be fetched (`getDocument`).
 *
 * @internal
 */
export interface GetFailure {
  readonly _tag: "RequestError" | "Timeout" | "Redirect" | "Status" | "BodyTooLarge"
  readonly description: string
  readonly status?: number | undefined
}

/**
 * GETs a document of the authorization server (a discovery document, a key set): `accept`, no redirect followed, a
 * timeout over sending and reading, a capped body read (decoded bytes), a 200 required; the body as text. Every early
 * exit releases the connection.
 *
 * @internal
 */
export const getDocument = (
  client: HttpClient.HttpClient,
  noRedirects: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
  url: string,
  options: { readonly accept: string; readonly timeout: Duration.Duration; readonly maxBytes: number }
): Effect.Effect<string, GetFailure> =>
  Effect.gen(function*() {
    const response = yield* client.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("accept", options.accept)))
      .pipe(
        noRedirects,
        Effect.mapError((error): GetFailure => ({ _tag: "RequestError", description: classifyRequestError(error).description }))
      )
    const status = response.status
    if (status !== 200) {
      yield* discardBody(response)
      return yield* Effect.fail<GetFailure>(
        isRedirect(status)
          ? { _tag: "Redirect", description: `HTTP ${status}, a redirect (never followed)`, status }
          : { _tag: "Status", description: `HTTP ${status}`, status }
      )
    }
    return yield* readBodyCapped(response, options.maxBytes).pipe(
      Effect.mapError((failure): GetFailure =>
        failure._tag === "TooLarge"
          ? { _tag: "BodyTooLarge", description: `the document is larger than ${failure.limit} bytes`, status }
          : { _tag: "RequestError", description: failure.description, status }
      )
    )
  }).pipe(
    Effect.timeoutFail({
      duration: options.timeout,
      onTimeout: (): GetFailure => ({
        _tag: "Timeout",
        description: `no complete answer within ${Duration.format(options.timeout)}`
      })
    })
  )

/**
 * Sends `request` through `execute` with its credential headers (`authorization`, `dpop`) among the names the platform
 * redacts in its spans: the list in force is changed only when a header the request carries is missing from it (the
 * platform's default list has `authorization`), so a request with nothing to add pays nothing.
 *
 * @internal
 */
export const executeRedacted = <A, E, R>(
  request: HttpClientRequest.HttpClientRequest,
  execute: (request: HttpClientRequest.HttpClientRequest) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const names = fiber.getFiberRef(Headers.currentRedactedNames)
    let missing: Array<string> | undefined
    for (const name of credentialHeaders) {
      if (request.headers[name] !== undefined && !names.includes(name)) (missing ??= []).push(name)
    }
    return missing === undefined
      ? execute(request)
      : Effect.locally(execute(request), Headers.currentRedactedNames, [...names, ...missing])
  })

const credentialHeaders = ["authorization", "dpop"]

/**
 * `true` when `hostname` (a `URL`'s, which writes IPv4 in dotted decimal and IPv6 in brackets) is a loopback host: an
 * IP literal in `127.0.0.0/8` or `::1`, or exactly the name `localhost`. Other names under `.localhost` are not: a
 * resolver may send them anywhere (RFC 6761 only asks it not to). The one test of loopback for every plain-http
 * exception (endpoints, bearer origins).
 *
 * @internal
 */
export const isLoopback = (hostname: string): boolean => {
  const host = hostname.toLowerCase()
  return host === "localhost" || host === "[::1]" || host === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/**
 * Checks an endpoint URL: absolute, https – or plain http on a loopback host. Returns a message when refused.
 *
 * @internal
 */
export const checkEndpoint = (
  url: string,
  allowInsecure: boolean
): { readonly _tag: "Ok"; readonly url: URL } | {
  readonly _tag: "Invalid" | "Insecure"
  readonly description: string
} => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return { _tag: "Invalid", description: `not an absolute URL: ${JSON.stringify(url.slice(0, 200))}` }
  }
  if (parsed.protocol === "https:") return { _tag: "Ok", url: parsed }
  if (parsed.protocol === "http:") {
    if (allowInsecure || isLoopback(parsed.hostname)) return { _tag: "Ok", url: parsed }
    return {
      _tag: "Insecure",
      description: `${parsed.origin} uses plain http off loopback: credentials and tokens would travel in clear`
    }
  }
  return { _tag: "Invalid", description: `unsupported scheme ${parsed.protocol} in ${parsed.origin}` }
}
