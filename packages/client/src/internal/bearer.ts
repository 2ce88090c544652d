/**
 * Helpers of `BearerClient`: origin parsing and matching, request rebuilding, replay rules.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type { HttpMethod } from "@effect/platform/HttpMethod"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { isLoopback } from "./http.js"

/** @internal */
export const replayHeader = "x-effect-oauth-replay"

/**
 * Parses the configured origins: each must be a bare `scheme://host[:port]` (a trailing `/` is accepted), `https`, or
 * `http` on a loopback host. Returns the normalised origins (`URL.origin`: lower-case host, default port dropped) or a
 * description of the first bad entry (never more than its scheme and host).
 *
 * @internal
 */
export const parseOrigins = (origins: ReadonlyArray<string>): Either.Either<ReadonlySet<string>, string> => {
  const out = new Set<string>()
  for (const origin of origins) {
    let url: URL
    try {
      url = new URL(origin)
    } catch {
      return Either.left(`not a URL: an origin must look like https://api.example`)
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      return Either.left(`origin scheme ${url.protocol} is not http(s)`)
    }
    if (url.protocol === "http:" && !isLoopback(url.hostname)) {
      return Either.left(`plain-http origin ${url.origin} is off loopback: a bearer token would travel in clear`)
    }
    if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
      return Either.left(`${url.origin}: an origin has no path, query, fragment or credentials`)
    }
    out.add(url.origin)
  }
  return Either.right(out)
}

/**
 * The request's URL (with its query and fragment), when it is absolute, parses and has an origin.
 *
 * @internal
 */
export const requestUrl = (request: HttpClientRequest.HttpClientRequest): Option.Option<URL> =>
  Option.filter(HttpClientRequest.toUrl(request), (url) => url.origin !== "null")

/**
 * A copy of the request with its headers replaced.
 *
 * @internal
 */
export const withHeaders = (
  request: HttpClientRequest.HttpClientRequest,
  headers: Headers.Headers
): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.make(request.method)(request.url, {
    urlParams: request.urlParams,
    hash: Option.getOrUndefined(request.hash),
    headers,
    body: request.body
  })

/** @internal */
export const hasReplayMarker = (request: HttpClientRequest.HttpClientRequest): boolean => replayHeader in request.headers

/** @internal */
export const stripReplayMarker = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
  hasReplayMarker(request) ? withHeaders(request, Headers.remove(request.headers, replayHeader)) : request

/**
 * The request with its token: `Authorization: Bearer <token>`, or `Authorization: DPoP <token>` with the `DPoP` proof
 * (RFC 9449 §7.1); the replay marker removed.
 *
 * @internal
 */
export const authorize = (
  request: HttpClientRequest.HttpClientRequest,
  token: string,
  proof?: string
): HttpClientRequest.HttpClientRequest => {
  const headers = Headers.remove(request.headers, replayHeader)
  return withHeaders(
    request,
    proof === undefined
      ? Headers.set(headers, "authorization", `Bearer ${token}`)
      : Headers.setAll(headers, { authorization: `DPoP ${token}`, dpop: proof })
  )
}

const idempotent: ReadonlySet<HttpMethod> = new Set<HttpMethod>(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])

/** @internal */
export const isIdempotent = (method: HttpMethod): boolean => idempotent.has(method)

/**
 * A body can be sent twice when it is held in memory: empty, bytes, a string or form data. A stream was consumed by
 * the first send.
 *
 * @internal
 */
export const isReplayableBody = (request: HttpClientRequest.HttpClientRequest): boolean => {
  const body = request.body
  switch (body._tag) {
    case "Empty":
    case "Uint8Array":
    case "FormData":
      return true
    case "Raw":
      return typeof body.body === "string" || body.body instanceof Uint8Array
    case "Stream":
      return false
  }
}
