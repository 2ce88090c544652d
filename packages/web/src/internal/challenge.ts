/**
 * The HTTP side of an API's authentication, each rule once: reading the `Authorization` header (RFC 6750 §2.1,
 * RFC 9449 §7.1) and writing the `WWW-Authenticate` challenge of a refusal (RFC 6750 §3, RFC 9449 §7.1 and §9).
 *
 * @internal
 */
import type { ApiAuthError, Scheme } from "../ApiAuthError.js"

/**
 * The credentials of a request: none (no `Authorization`, or a scheme other than `Bearer` / `DPoP` – RFC 6750 §3.1:
 * no error code then), a token, or a `Bearer` / `DPoP` header whose value is not one token.
 *
 * @internal
 */
export type Credentials =
  | { readonly _tag: "None" }
  | { readonly _tag: "Malformed"; readonly scheme: Scheme }
  | { readonly _tag: "Token"; readonly scheme: Scheme; readonly token: string }

/** RFC 6750 §2.1 `b64token` (RFC 9449 §7.1 uses the same syntax) */
const token68 = /^[A-Za-z0-9\-._~+/]+=*$/

const none: Credentials = { _tag: "None" }

/**
 * The credentials in an `Authorization` header value. Schemes are case-insensitive (RFC 9110 §11.1); one or more
 * spaces separate scheme and token.
 *
 * @internal
 */
export const parseAuthorization = (value: string | undefined): Credentials => {
  if (value === undefined) return none
  const space = value.indexOf(" ")
  const name = (space === -1 ? value : value.slice(0, space)).toLowerCase()
  const scheme: Scheme | undefined = name === "bearer" ? "Bearer" : name === "dpop" ? "DPoP" : undefined
  if (scheme === undefined) return none
  const token = space === -1 ? "" : value.slice(space + 1).replace(/^ +/, "")
  return token68.test(token) ? { _tag: "Token", scheme, token } : { _tag: "Malformed", scheme }
}

/**
 * What a challenge names besides the error: the realm, the schemes the API accepts, the DPoP algorithms.
 *
 * @internal
 */
export interface ChallengeOptions {
  readonly realm: string | undefined
  /** `false` when the API accepts DPoP only */
  readonly bearer: boolean
  /** RFC 9449 §7.1 `algs` */
  readonly dpopAlgorithms: ReadonlyArray<string>
}

/** an RFC 9110 quoted-string */
const quoted = (value: string): string => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`

const challenge = (scheme: Scheme, params: ReadonlyArray<readonly [string, string]>): string =>
  params.length === 0 ? scheme : `${scheme} ${params.map(([name, value]) => `${name}=${quoted(value)}`).join(", ")}`

/**
 * The `WWW-Authenticate` value for `error`, or none (a 503 says nothing against the credentials):
 *
 * - no credentials (401 without `error`): one challenge per scheme the API accepts – `Bearer, DPoP algs="ES256 …"`;
 * - any other refusal: one challenge, in the scheme the request used, with `error`, `error_description` and, for
 *   `insufficient_scope`, `scope`; a DPoP challenge also names `algs`.
 *
 * `realm` comes first when the API has one.
 *
 * @internal
 */
export const render = (options: ChallengeOptions, error: ApiAuthError): string | undefined => {
  if (error._tag === "AuthenticationUnavailable") return undefined
  const realm: Array<readonly [string, string]> = options.realm === undefined ? [] : [["realm", options.realm]]
  const algs: ReadonlyArray<readonly [string, string]> = [["algs", options.dpopAlgorithms.join(" ")]]
  if (error._tag === "Unauthorized" && error.error === undefined) {
    const offered: Array<string> = []
    if (options.bearer) offered.push(challenge("Bearer", realm))
    offered.push(challenge("DPoP", [...realm, ...algs]))
    return offered.join(", ")
  }
  const scheme = schemeOf(options, error)
  const params: Array<readonly [string, string]> = [...realm]
  if (error.error !== undefined) params.push(["error", error.error])
  if (error.description !== undefined) params.push(["error_description", error.description])
  if (error._tag === "InsufficientScope") params.push(["scope", error.scope])
  return challenge(scheme, scheme === "DPoP" ? [...params, ...algs] : params)
}

/** the scheme of a refusal's one challenge: the presented one, else Bearer when accepted, else DPoP */
const schemeOf = (options: ChallengeOptions, error: Exclude<ApiAuthError, { readonly _tag: "AuthenticationUnavailable" }>): Scheme =>
  error.scheme ?? (options.bearer ? "Bearer" : "DPoP")

/**
 * Whether {@link render}'s challenge for `error` includes a DPoP one – the challenge a `DPoP-Nonce` header goes with.
 *
 * @internal
 */
export const challengesDPoP = (options: ChallengeOptions, error: ApiAuthError): boolean =>
  error._tag !== "AuthenticationUnavailable" &&
  ((error._tag === "Unauthorized" && error.error === undefined) || schemeOf(options, error) === "DPoP")
