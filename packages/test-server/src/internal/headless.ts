/**
 * Headless sign-in through oidc-provider's development interactions (a login form, then a consent form), the way a
 * browser would: `fetch` with `redirect: "manual"` and a cookie jar.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"

/** @internal */
export interface SignInRequest {
  readonly issuer: string
  readonly authorizationUrl: string
  readonly accountId: string
}

const maxSteps = 16

interface Form {
  readonly action: string
  readonly fields: ReadonlyMap<string, string>
  /** the names of every input, hidden or not */
  readonly inputs: ReadonlySet<string>
}

const decodeEntities = (value: string): string =>
  value
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCharCode(parseInt(code, 16)))
    .replace(/&quot;/g, "\"")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")

const attribute = (tag: string, name: string): string | undefined => {
  const match = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, "i").exec(tag)
  return match === null ? undefined : decodeEntities(match[1] ?? match[2] ?? "")
}

/** the first `<form>` of a page: its action, its hidden fields and the names of all its inputs */
const parseForm = (html: string): Form | undefined => {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html)
  if (form === null) return undefined
  const action = attribute(form[1] ?? "", "action")
  if (action === undefined) return undefined
  const fields = new Map<string, string>()
  const inputs = new Set<string>()
  for (const [input] of (form[2] ?? "").matchAll(/<input\b[^>]*>/gi)) {
    const name = attribute(input, "name")
    if (name === undefined) continue
    inputs.add(name)
    if (attribute(input, "type")?.toLowerCase() === "hidden") fields.set(name, attribute(input, "value") ?? "")
  }
  return { action, fields, inputs }
}

/** the error the server's error page shows (`<pre id="error">` with the error object as JSON) */
const pageError = (html: string): string | undefined => {
  const match = /<pre id="error">([\s\S]*?)<\/pre>/i.exec(html)
  if (match === null) return undefined
  try {
    const out: unknown = JSON.parse(decodeEntities(match[1] ?? ""))
    if (typeof out === "object" && out !== null && "error" in out) {
      const description = "error_description" in out ? `: ${String(out.error_description)}` : ""
      return `${String(out.error)}${description}`
    }
  } catch {
    // not the test server's error page
  }
  return undefined
}

class CookieJar {
  readonly #cookies = new Map<string, string>()
  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";", 1)[0] ?? ""
      const eq = pair.indexOf("=")
      if (eq <= 0) continue
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      // an expired cookie (oidc-provider clears the interaction cookie this way) is removed
      if (/;\s*expires=Thu, 01 Jan 1970/i.test(line) || /;\s*max-age=0\b/i.test(line)) this.#cookies.delete(name)
      else this.#cookies.set(name, value)
    }
  }
  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join("; ")
  }
}

/** where a step is, without query (a redirect's query may carry a code) */
const where = (url: URL): string => `${url.origin}${url.pathname}`

/**
 * Drives the flow from `authorizationUrl` through the login and consent pages. Follows only the provider's own
 * redirects (same origin as the issuer); the first redirect to another origin ends the flow and its URL is returned
 * (the client's redirect URI with `code`, `state`, `iss` – or `error`). It must match the `redirect_uri` of the
 * authorization URL when that has one.
 *
 * @internal
 */
export const signIn = async (request: SignInRequest): Promise<string> => {
  const origin = new URL(request.issuer).origin
  const start = new URL(request.authorizationUrl)
  if (start.origin !== origin) {
    throw new Error(`sign-in: the authorization URL is not on the issuer ${origin}`)
  }
  const redirectUri = start.searchParams.get("redirect_uri")
  const jar = new CookieJar()

  let next: { url: URL; body?: URLSearchParams } = { url: start }
  for (let step = 0; step < maxSteps; step++) {
    const response = await fetch(next.url, {
      method: next.body === undefined ? "GET" : "POST",
      redirect: "manual",
      headers: {
        accept: "text/html",
        cookie: jar.header(),
        ...(next.body === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" })
      },
      ...(next.body === undefined ? {} : { body: next.body })
    })
    jar.store(response)
    const location = response.headers.get("location")
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel()
      const target = new URL(location, next.url)
      if (target.origin === origin) {
        next = { url: target }
        continue
      }
      if (redirectUri !== null && !target.href.startsWith(redirectUri)) {
        throw new Error(`sign-in: redirected to ${where(target)}, not to the redirect_uri ${redirectUri}`)
      }
      return target.href
    }
    const html = await response.text()
    const form = response.status === 200 ? parseForm(html) : undefined
    if (form === undefined) {
      const error = pageError(html)
      throw new Error(
        `sign-in stopped at ${where(next.url)} with HTTP ${response.status}${error === undefined ? "" : ` (${error})`}`
      )
    }
    const action = new URL(form.action, next.url)
    if (action.origin !== origin) {
      // e.g. response_mode=form_post: the result would be POSTed to the client, which is not a redirect
      throw new Error(`sign-in: the page at ${where(next.url)} posts to ${where(action)}, outside the issuer`)
    }
    const body = new URLSearchParams([...form.fields])
    if (form.inputs.has("login")) {
      body.set("login", request.accountId)
      // any password: the development login does not check it
      body.set("password", randomUUID())
    }
    next = { url: action, body }
  }
  throw new Error(`sign-in did not reach the redirect_uri within ${maxSteps} steps`)
}
