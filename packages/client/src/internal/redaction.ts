/**
 * The one redaction step for text that comes back from a server: every error this library builds from an answer of
 * the authorization server (an error body's `error`, description or URI, the excerpt of a malformed body, a content
 * type) goes through {@link fromServer}, so that a server echoing what it was sent cannot put a secret into a message,
 * a log or a span – in any encoding it was sent in – nor a control character into a terminal.
 *
 * @internal
 */
import { formUrlEncode } from "./clientAuth.js"

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

const lowerHex = (encoded: string): string => encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())

/**
 * Every form in which `value` travels or may come back: as it is, form-urlencoded (as in a body or a Basic header,
 * RFC 6749 §2.3.1), percent-encoded (as in a URL), each with upper- and lower-case hex.
 *
 * @internal
 */
export const encodings = (value: string): ReadonlyArray<string> => {
  const out = new Set([value])
  try {
    const form = formUrlEncode(value)
    const percent = encodeURIComponent(value)
    for (const encoded of [form, percent]) {
      out.add(encoded)
      out.add(lowerHex(encoded))
    }
  } catch {
    // a lone surrogate has no UTF-8 form: it was never sent encoded
  }
  return [...out]
}

/**
 * The secret values a request sent, in every encoding (see {@link encodings}): its secret-bearing form parameters and
 * `more` (what the client authentication put on the wire – a Basic header's secret, its credentials before and after
 * base64, the whole header value –, a token sent for revocation), each at least 8 characters long, longest first.
 *
 * @internal
 */
export const sentSecrets = (
  pairs: Iterable<readonly [string, string]>,
  more: Iterable<string> = []
): ReadonlyArray<string> => {
  const values = new Set<string>()
  const add = (value: string) => {
    for (const form of encodings(value)) if (form.length >= minEchoLength) values.add(form)
  }
  for (const [name, value] of pairs) if (secretParams.has(name)) add(value)
  for (const value of more) add(value)
  return [...values].sort((a, b) => b.length - a.length)
}

/**
 * What a request sent, for the redaction of what comes back: its secret values in every encoding, computed on first
 * use – only an answer that becomes an error needs them, so a successful request never pays for the encodings.
 *
 * @internal
 */
export interface Sent {
  readonly values: () => ReadonlyArray<string>
}

/**
 * The {@link Sent} of a request's form pairs and the authentication's secrets (see {@link sentSecrets}).
 *
 * @internal
 */
export const sent = (pairs: Iterable<readonly [string, string]>, more: Iterable<string> = []): Sent => {
  let values: ReadonlyArray<string> | undefined
  return { values: () => (values ??= sentSecrets(pairs, more)) }
}

/**
 * `text` with every occurrence of one of `secrets` (what the request sent) replaced by `<redacted>`.
 *
 * @internal
 */
export const withoutEchoes = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join("<redacted>")
  return out
}

/** C0 and C1 controls, DEL, and the bidirectional overrides and isolates that reorder what a terminal shows */
const unprintable = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g

/**
 * Text from a server, made safe to keep in an error: every echo of what the request sent (`secrets`, in every
 * encoding) replaced by `<redacted>`, and every control character (CR, LF, ESC …) by U+FFFD.
 *
 * @internal
 */
export const fromServer = (text: string, secrets: ReadonlyArray<string>): string =>
  withoutEchoes(withoutEchoes(text, secrets).replace(unprintable, "\uFFFD"), secrets)

/** member names whose values are never copied anywhere: tokens, secrets, codes, assertions (not `token_type`) */
const sensitiveName = /token|secret|assertion|code|password|key/i
const sensitive = { test: (name: string): boolean => sensitiveName.test(name) && !/_(type|types|in)$/i.test(name) }

const redactJson = (value: unknown, secrets: ReadonlyArray<string>): unknown => {
  if (typeof value === "string") return fromServer(value, secrets)
  if (Array.isArray(value)) return value.map((item) => redactJson(item, secrets))
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [name, member] of Object.entries(value)) {
      out[fromServer(name, secrets)] = sensitive.test(name) && member !== null ? "<redacted>" : redactJson(member, secrets)
    }
    return out
  }
  return value
}

/**
 * The start of a body with the value of every sensitive member replaced by `<redacted>` (JSON members, form-encoded
 * pairs, anything that looks like a JWT), every echo of `secrets` too, and control characters replaced.
 *
 * @internal
 */
export const excerpt = (body: string, secrets: ReadonlyArray<string> = [], max = 300): string => {
  let text: string
  try {
    text = JSON.stringify(redactJson(JSON.parse(body), secrets))
  } catch {
    text = fromServer(body, secrets)
      .replace(/("[^"]*"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\s]+)/g, (all, name: string, _value: string) =>
        sensitive.test(name) ? `${name}"<redacted>"` : all)
      .replace(/(^|[&?\s])([^=&\s]+)=([^&\s]*)/g, (all, lead: string, name: string) =>
        sensitive.test(name) ? `${lead}${name}=<redacted>` : all)
  }
  text = fromServer(text, secrets).replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, "<redacted>")
  return text.length > max ? `${text.slice(0, max)}…` : text
}
