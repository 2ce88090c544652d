/**
 * The one redaction step for text that comes back from a server: every error this library builds from an answer of
 * the authorization server (an error body's description or URI, the excerpt of a malformed body) goes through here,
 * so that a server echoing what it was sent cannot put a secret into a message, a log or a span.
 *
 * @internal
 */

/** form parameters whose values are secrets a server might echo back in an error */
const secretParams: ReadonlySet<string> = new Set([
  "refresh_token",
  "code",
  "code_verifier",
  "subject_token",
  "actor_token",
  "client_secret",
  "client_assertion",
  "password",
  "token"
])

/** shorter values are not looked for: replacing them would mangle ordinary words */
const minEchoLength = 8

/**
 * The secret values a request sent: its secret-bearing form parameters and `more` (what the client authentication put
 * on the wire, a token sent for revocation), at least 8 characters long, longest first.
 *
 * @internal
 */
export const sentSecrets = (
  pairs: Iterable<readonly [string, string]>,
  more: Iterable<string> = []
): ReadonlyArray<string> => {
  const values = new Set<string>()
  for (const [name, value] of pairs) if (secretParams.has(name) && value.length >= minEchoLength) values.add(value)
  for (const value of more) if (value.length >= minEchoLength) values.add(value)
  return [...values].sort((a, b) => b.length - a.length)
}

/**
 * `text` with every occurrence of one of `secrets` (what the request sent) replaced by `<redacted>`.
 *
 * @internal
 */
export const withoutEchoes = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text
  for (const secret of secrets) out = out.split(secret).join("<redacted>")
  return out
}

/** member names whose values are never copied anywhere: tokens, secrets, codes, assertions (not `token_type`) */
const sensitiveName = /token|secret|assertion|code|password|key/i
const sensitive = { test: (name: string): boolean => sensitiveName.test(name) && !/_(type|types|in)$/i.test(name) }

const redactJson = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(redactJson)
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [name, member] of Object.entries(value)) {
      out[name] = sensitive.test(name) && member !== null ? "<redacted>" : redactJson(member)
    }
    return out
  }
  return value
}

/**
 * The start of a body with the value of every sensitive member replaced by `<redacted>`: JSON members, form-encoded
 * pairs, anything that looks like a JWT, and every echo of `secrets`.
 *
 * @internal
 */
export const excerpt = (body: string, secrets: ReadonlyArray<string> = [], max = 300): string => {
  let text: string
  try {
    text = JSON.stringify(redactJson(JSON.parse(body)))
  } catch {
    text = body
      .replace(/("[^"]*"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\s]+)/g, (all, name: string, _value: string) =>
        sensitive.test(name) ? `${name}"<redacted>"` : all)
      .replace(/(^|[&?\s])([^=&\s]+)=([^&\s]*)/g, (all, lead: string, name: string) =>
        sensitive.test(name) ? `${lead}${name}=<redacted>` : all)
  }
  text = withoutEchoes(text, secrets).replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, "<redacted>")
  return text.length > max ? `${text.slice(0, max)}…` : text
}
