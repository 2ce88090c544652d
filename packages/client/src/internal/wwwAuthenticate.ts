/**
 * A parser for the `WWW-Authenticate` response header (RFC 9110 §11.6.1):
 *
 * ```
 * WWW-Authenticate = 1#challenge
 * challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 * auth-param       = token BWS "=" BWS ( token / quoted-string )
 * ```
 *
 * Several challenges may share one header (a client joins repeated headers with ", "), so a comma ends either an
 * auth-param or a challenge: a token followed by `=` continues the current challenge, any other token starts the next.
 *
 * @internal
 */

/** @internal */
export interface Challenge {
  /** as sent; compare case-insensitively */
  readonly scheme: string
  /** parameter names lower-cased; the first occurrence of a name wins */
  readonly params: Readonly<Record<string, string>>
  readonly token68?: string
}

const isTchar = (c: string): boolean => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/.test(c)
const isWs = (c: string | undefined): boolean => c === " " || c === "\t"
const token68Pattern = /[A-Za-z0-9\-._~+/]+=*/y

/** @internal */
export const parse = (header: string): ReadonlyArray<Challenge> => {
  const n = header.length
  let i = 0
  const skipWs = () => {
    while (i < n && isWs(header[i])) i++
  }
  const skipWsAndCommas = () => {
    while (i < n && (isWs(header[i]) || header[i] === ",")) i++
  }
  const readToken = (): string => {
    const start = i
    while (i < n && isTchar(header[i]!)) i++
    return header.slice(start, i)
  }
  const readQuoted = (): string => {
    // header[i] === '"'
    i++
    let out = ""
    while (i < n && header[i] !== "\"") {
      if (header[i] === "\\" && i + 1 < n) i++
      out += header[i]
      i++
    }
    i++ // closing quote (or past the end)
    return out
  }

  const challenges: Array<Challenge> = []
  while (true) {
    skipWsAndCommas()
    if (i >= n) break
    const scheme = readToken()
    if (scheme === "") {
      i++ // not a token: skip the character
      continue
    }
    const params: Record<string, string> = {}
    let token68: string | undefined
    if (isWs(header[i])) {
      skipWs()
      token68Pattern.lastIndex = i
      const m = token68Pattern.exec(header)
      if (m !== null) {
        const after = i + m[0].length
        let j = after
        while (j < n && isWs(header[j])) j++
        // `abc=` followed by a value is an auth-param; followed by a comma or the end it is a token68
        if (j >= n || header[j] === ",") {
          token68 = m[0]
          i = j
        }
      }
      if (token68 === undefined) {
        while (true) {
          const save = i
          skipWsAndCommas()
          const name = readToken()
          if (name === "") {
            i = save
            break
          }
          skipWs()
          if (header[i] !== "=") {
            i = save // the next challenge's scheme
            break
          }
          i++
          skipWs()
          const value = header[i] === "\"" ? readQuoted() : readToken()
          const key = name.toLowerCase()
          if (!(key in params)) params[key] = value
          skipWs()
          if (header[i] !== ",") break
        }
      }
    }
    challenges.push(token68 === undefined ? { scheme, params } : { scheme, params, token68 })
    // skip anything malformed up to the next comma
    while (i < n && header[i] !== ",") i++
  }
  return challenges
}

/**
 * Whether a 401 says the token sent with `scheme` (`bearer`, or `dpop` for a DPoP-bound token, RFC 9449 §7.1) was
 * rejected: a challenge of that scheme with `error="invalid_token"` or with no `error` – or no `WWW-Authenticate`.
 *
 * @internal
 */
export const tokenRejected = (header: string | undefined, scheme: "bearer" | "dpop"): boolean => {
  if (header === undefined || header.trim() === "") return true
  const challenge = parse(header).find((c) => c.scheme.toLowerCase() === scheme)
  if (challenge === undefined) return false
  const error = challenge.params["error"]
  return error === undefined || error === "invalid_token"
}

/**
 * Whether a 401 asks for a DPoP nonce (RFC 9449 §9): a `DPoP` challenge with `error="use_dpop_nonce"`.
 *
 * @internal
 */
export const dpopNonceRequired = (header: string | undefined): boolean =>
  header !== undefined &&
  parse(header).some((c) => c.scheme.toLowerCase() === "dpop" && c.params["error"] === "use_dpop_nonce")
