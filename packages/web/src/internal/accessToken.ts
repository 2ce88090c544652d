/**
 * What `ApiAuth` reads from a verified token's claims (a JWT's, or an introspection answer's – the same names), and
 * the descriptions of its refusals: fixed sentences that never quote the token or a claim's value.
 *
 * @internal
 */
import type { Claims } from "@effect-oauth/client/Jwt"
import type { JwtVerificationError } from "@effect-oauth/client/OAuthError"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"

/**
 * A JWT verification failure as the `error_description` of an `invalid_token`.
 *
 * @internal
 */
export const jwtRefusal = (error: JwtVerificationError): string => {
  const claim = error.claim !== undefined && /^[a-z_]{1,32}$/.test(error.claim) ? error.claim : "a"
  switch (error.reason) {
    case "Malformed":
      return "the access token is not a well-formed JWT"
    case "Algorithm":
      return "the access token's alg is not accepted"
    case "UnknownKey":
      return "the access token is signed with a key the authorization server does not publish"
    case "InvalidSignature":
      return "the access token's signature does not verify"
    case "Expired":
      return "the access token has expired"
    case "NotYetValid":
      return "the access token is not valid yet"
    case "Issuer":
      return "the access token is from another issuer"
    case "Audience":
      return "the access token is not for this API"
    case "Subject":
      return "the access token's subject is not accepted"
    case "Type":
      return "the access token is not an RFC 9068 access token (typ)"
    case "MissingClaim":
      return `the access token has no ${claim} claim`
    case "Claim":
      return `the access token's ${claim} claim is invalid`
  }
}

/** @internal */
export const stringClaim = (claims: Claims, name: string): string | undefined => {
  const value = claims[name]
  return Predicate.isString(value) ? value : undefined
}

/** @internal */
export const numberClaim = (claims: Claims, name: string): number | undefined => {
  const value = claims[name]
  return Predicate.isNumber(value) && Number.isFinite(value) ? value : undefined
}

const audiences = (claims: Claims): ReadonlyArray<string> => {
  const aud = claims["aud"]
  return Predicate.isString(aud) ? [aud] : Array.isArray(aud) ? aud.filter(Predicate.isString) : []
}

/**
 * The checks of an active introspection answer that `Jwks.verify` makes of a JWT: `iss` (when present), `aud`, `exp`,
 * `nbf`, and an access token's `token_type`.
 *
 * @internal
 */
export const checkIntrospected = (
  claims: Claims,
  expected: { readonly issuer: string; readonly audience: string; readonly now: number; readonly tolerance: number }
): Either.Either<void, string> => {
  const iss = stringClaim(claims, "iss")
  if (iss !== undefined && iss !== expected.issuer) return Either.left("the access token is from another issuer")
  if (!audiences(claims).includes(expected.audience)) return Either.left("the access token is not for this API")
  const exp = numberClaim(claims, "exp")
  if (exp !== undefined && expected.now >= exp * 1000 + expected.tolerance) return Either.left("the access token has expired")
  const nbf = numberClaim(claims, "nbf")
  if (nbf !== undefined && expected.now < nbf * 1000 - expected.tolerance) {
    return Either.left("the access token is not valid yet")
  }
  const type = stringClaim(claims, "token_type")?.toLowerCase()
  if (type !== undefined && type !== "bearer" && type !== "dpop") return Either.left("the token is not an access token")
  return Either.void
}

/**
 * The key a token is bound to: `cnf.jkt`; `Left` for a confirmation this API cannot check (mTLS, …).
 *
 * @internal
 */
export const binding = (claims: Claims): Either.Either<string | undefined, string> => {
  const cnf = claims["cnf"]
  if (cnf === undefined) return Either.right(undefined)
  const jkt = Predicate.isRecord(cnf) ? cnf["jkt"] : undefined
  return Predicate.isString(jkt) && jkt.length > 0
    ? Either.right(jkt)
    : Either.left("the access token is bound to a key this API cannot check (cnf)")
}

/** `scope`, split; none when it is not a string @internal */
export const scopes = (claims: Claims): ReadonlyArray<string> => {
  const scope = claims["scope"]
  return Predicate.isString(scope) ? scope.split(" ").filter((s) => s.length > 0) : []
}

/**
 * The origin of `value`, when it is one (`https://api.example`, no path, query or fragment).
 *
 * @internal
 */
export const parseOrigin = (value: string): Either.Either<string, string> => {
  try {
    const url = new URL(value)
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username !== "" || url.password !== "") {
      return Either.left("origin must be an http(s) origin without credentials")
    }
    if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "") {
      return Either.left("origin must be an origin (https://api.example): no path, query or fragment")
    }
    return Either.right(url.origin)
  } catch {
    return Either.left("origin is not an absolute URL")
  }
}
