/**
 * Does a token belong to a system identity (a client acting for itself) rather than to a user?
 *
 * Authorization servers such as TetraPak's refuse to exchange such a token (RFC 8693) and say only `400 Bad Request`.
 * `TokenExchange` asks this module first and refuses before sending, with `SystemIdentityTokenError` naming the mark
 * that matched. A mark names a rule, never a claim's value or a token.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Jwt from "./Jwt.js"
import { GrantTypes } from "./TokenSet.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * What the guard looks at: a `TokenSet` (its provenance, and its access token's claims when that is a JWT), or a bare
 * token.
 *
 * @since 0.1.0
 * @category models
 */
export type Subject = TokenSet | Redacted.Redacted<string> | string

/**
 * A system-identity guard: the mark that says "system identity", or `None` to let the token through.
 *
 * @since 0.1.0
 * @category models
 */
export type Guard = (subject: Subject) => Option.Option<string>

/**
 * One claim-based rule: `mark` names it in `SystemIdentityTokenError` (it must not contain a claim value).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimMark {
  readonly mark: string
  readonly test: (claims: Jwt.Claims) => boolean
}

const equalsClaim = (claims: Jwt.Claims, name: string, expected: string): boolean => {
  const value = claims[name]
  return value === expected || (Array.isArray(value) && value.includes(expected))
}

const sameStringClaims = (claims: Jwt.Claims, a: string, b: string): boolean => {
  const x = claims[a]
  const y = claims[b]
  return Predicate.isString(x) && x.length > 0 && x === y
}

/**
 * The claims that mark a system identity in the wild:
 *
 * - `userType: "system"` (TetraPak),
 * - `gty: "client-credentials"` (Auth0),
 * - `idtyp: "app"` (Microsoft Entra ID, when that optional claim is configured),
 * - `sub` equal to `client_id` (RFC 9068 §2.2, oidc-provider) or to `cid` (Okta),
 * - `preferred_username` starting with `service-account-` (Keycloak).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultClaimMarks: ReadonlyArray<ClaimMark> = [
  { mark: "claim userType=system", test: (claims) => equalsClaim(claims, "userType", "system") },
  { mark: "claim gty=client-credentials", test: (claims) => equalsClaim(claims, "gty", "client-credentials") },
  { mark: "claim idtyp=app", test: (claims) => equalsClaim(claims, "idtyp", "app") },
  { mark: "claim sub=client_id", test: (claims) => sameStringClaims(claims, "sub", "client_id") },
  { mark: "claim sub=cid", test: (claims) => sameStringClaims(claims, "sub", "cid") },
  {
    mark: "claim preferred_username=service-account-*",
    test: (claims) => {
      const name = claims.preferred_username
      return Predicate.isString(name) && name.startsWith("service-account-")
    }
  }
]

/**
 * The mark for a `TokenSet` minted by a client credentials grant.
 *
 * @since 0.1.0
 * @category constants
 */
export const provenanceMark = `provenance: ${GrantTypes.clientCredentials}`

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** refuse a `TokenSet` whose provenance is a client credentials grant (default `true`) */
  readonly provenance?: boolean | undefined
  /** the claim rules for JWTs (default {@link defaultClaimMarks}); an empty list checks no claim */
  readonly claims?: ReadonlyArray<ClaimMark> | undefined
}

/**
 * Builds a guard: provenance first, then each claim rule on the (unverified) claims of a JWT. An opaque token
 * without provenance passes: the server decides.
 *
 * @example
 * ```ts
 * import { SystemIdentity } from "@effect-oauth/client"
 *
 * // the defaults, plus a house rule
 * const guard = SystemIdentity.make({
 *   claims: [...SystemIdentity.defaultClaimMarks, { mark: "claim act_as=robot", test: (c) => c.act_as === "robot" }]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Guard => {
  const provenance = options?.provenance ?? true
  const marks = options?.claims ?? defaultClaimMarks
  return (subject) => {
    // a bare token is a string or a `Redacted`; anything else is a `TokenSet` – told apart that way, not with
    // `instanceof TokenSet`: a plain object with the TokenSet fields is a TokenSet too
    const bare = typeof subject === "string" || Redacted.isRedacted(subject)
    if (!bare && provenance && subject.provenance.grant === GrantTypes.clientCredentials) {
      return Option.some(provenanceMark)
    }
    if (marks.length === 0) return Option.none()
    const token = bare ? subject : subject.accessToken
    return Option.flatMap(
      Jwt.decodeOption(token),
      (claims) => Option.map(Option.fromNullable(marks.find((rule) => rule.test(claims))), (rule) => rule.mark)
    )
  }
}

/**
 * The default guard ({@link make} with no options): the mark that says `subject` belongs to a system identity, or
 * `None`.
 *
 * @example
 * ```ts
 * import { SystemIdentity } from "@effect-oauth/client"
 * import { Option } from "effect"
 *
 * if (Option.isSome(SystemIdentity.isSystemIdentityToken(token))) {
 *   // do not try to exchange it
 * }
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isSystemIdentityToken: Guard = make()
