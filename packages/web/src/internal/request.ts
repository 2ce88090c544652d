/**
 * What the web package reads from a request – each rule once: the base URL and whether it may be plain http, which
 * requests are navigations, the cross-site check of state-changing requests, and the `returnTo` of a sign-in.
 *
 * @internal
 */
import type * as Headers from "@effect/platform/Headers"
import * as Either from "effect/Either"

/** @internal */
export interface BaseUrl {
  /** `https://app.example` (no trailing slash, no path) */
  readonly origin: string
  /** `false` only for plain http on a loopback host: cookies then lose `Secure` and the `__Host-` prefix */
  readonly secure: boolean
}

const loopbackV4 = /^127(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/** the IP literals 127.0.0.0/8 and ::1, and the exact name `localhost` (as the client package decides loopback) */
const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || loopbackV4.test(hostname)

/**
 * The application's base URL: an origin (`https://app.example`, or `http://` on a loopback host for development),
 * with no path, query or fragment – the routes live at its root and the cookies are `__Host-` (`Path=/`, no
 * `Domain`).
 *
 * @internal
 */
export const parseBaseUrl = (value: string): Either.Either<BaseUrl, string> => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return Either.left("baseUrl is not an absolute URL")
  }
  if (url.username !== "" || url.password !== "") return Either.left("baseUrl carries credentials")
  if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "") {
    return Either.left("baseUrl must be an origin (https://app.example): the routes live at its root")
  }
  if (url.protocol === "https:") return Either.right({ origin: url.origin, secure: true })
  if (url.protocol === "http:" && isLoopback(url.hostname)) return Either.right({ origin: url.origin, secure: false })
  return Either.left(
    "baseUrl must be https (plain http only on a loopback host – 127.0.0.0/8, [::1], localhost – for development)"
  )
}

const header = (headers: Headers.Headers, name: string): string | undefined => {
  const value = headers[name]
  return value === undefined || value === "" ? undefined : value
}

/**
 * A top-level navigation of the browser (a link, the address bar, a reload): `Sec-Fetch-Mode: navigate`, or – from a
 * client that sends no fetch metadata – an `Accept` that asks for HTML and not JSON. Everything else (a `fetch`, an
 * `XMLHttpRequest`, a client asking for `application/json`) is an API request.
 *
 * @internal
 */
export const isNavigation = (headers: Headers.Headers): boolean => {
  const mode = header(headers, "sec-fetch-mode")
  const accept = (header(headers, "accept") ?? "").toLowerCase()
  if (accept.includes("application/json")) return false
  if (mode !== undefined) return mode === "navigate"
  return accept.includes("text/html")
}

/** @internal */
export const isStateChanging = (method: string): boolean => !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase())

/**
 * How state-changing requests are checked (see `WebAuth.CsrfOptions`).
 *
 * @internal
 */
export interface CsrfPolicy {
  readonly mode: "origin" | "header"
  /** lower case */
  readonly header: string
}

/**
 * The cross-site check of a state-changing request (a request that changes nothing passes):
 *
 * - a browser's `Sec-Fetch-Site` must be `same-origin` (`same-site` is another origin: another port, another
 *   subdomain – its cookies arrive, so it must not pass);
 * - without it, `Origin` must be the application's origin;
 * - without either (an old browser, a script), the required header must be there – a cross-site page cannot add a
 *   custom header without a CORS preflight the application never grants;
 * - `mode: "header"` requires the header in every case (Duende's `X-CSRF: 1`), on top of the two checks above.
 *
 * @internal
 */
export const crossSiteCheck = (
  method: string,
  headers: Headers.Headers,
  origin: string,
  policy: CsrfPolicy
): Either.Either<void, string> => {
  if (!isStateChanging(method)) return Either.void
  const site = header(headers, "sec-fetch-site")
  const requestOrigin = header(headers, "origin")
  const hasHeader = header(headers, policy.header) !== undefined
  if (site !== undefined && site !== "same-origin") {
    return Either.left(`Sec-Fetch-Site is ${JSON.stringify(site.slice(0, 40))}, not same-origin`)
  }
  if (requestOrigin !== undefined && requestOrigin !== origin) return Either.left("Origin is another origin")
  if (policy.mode === "header" && !hasHeader) return Either.left(`the ${policy.header} header is missing`)
  if (site === undefined && requestOrigin === undefined && !hasHeader) {
    return Either.left(`neither Sec-Fetch-Site, Origin nor the ${policy.header} header says this request is same-origin`)
  }
  return Either.void
}

/**
 * A sign-in's `returnTo`: a path on this origin (`/orders?id=1#top`), returned as path, query and fragment. Anything
 * else – another origin, a scheme-relative `//host`, a backslash (`/\host`, which browsers read as `//host`), a
 * control character, more than 2,048 characters – is refused: no open redirect.
 *
 * @internal
 */
export const safeReturnTo = (value: string, origin: string): Either.Either<string, string> => {
  if (value.length > 2048) return Either.left("returnTo is longer than 2048 characters")
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return Either.left("returnTo contains a backslash or a control character")
  if (!value.startsWith("/") || value.startsWith("//")) return Either.left("returnTo must be a path on this site")
  let url: URL
  try {
    url = new URL(value, origin)
  } catch {
    return Either.left("returnTo is not a path")
  }
  if (url.origin !== origin) return Either.left("returnTo must be a path on this site")
  return Either.right(`${url.pathname}${url.search}${url.hash}`)
}
