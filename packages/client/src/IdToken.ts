/**
 * OpenID Connect ID token validation: an ID token is verified, or it is not kept.
 *
 * `validate(idToken, options)` checks what OpenID Connect Core 1.0 §3.1.3.7 asks of an ID token from the token
 * endpoint, and §12.2 of one from a refresh:
 *
 * 1. a signed JWT (a JWE – an encrypted ID token – is not supported: `Malformed`);
 * 2. its signature, against the issuer's key set (`Jwks`), with an allowed asymmetric algorithm (`Algorithm`,
 *    `UnknownKey`, `Signature`); HMAC-signed ID tokens (§3.1.3.7 item 8) are refused;
 * 3. `iss`, `sub`, `aud`, `exp`, `iat` present (OIDC Core §2; `MissingClaim`), `iss` exactly the issuer (`Issuer`),
 *    `aud` containing the client id (`Audience`);
 * 4. several audiences: `azp` present; `azp` present: equal to the client id (`AuthorizedParty`);
 * 5. `exp` not past and `nbf` (when present) not in the future, `iat` not in the future – each with the clock
 *    tolerance (`Expired`, `NotYetValid`, `IssuedAt`); `sub` a non-empty string (`Subject`);
 * 6. `nonce` – when one is given (the code flow's, from the authorization request) – present and equal (`Nonce`);
 * 7. `auth_time` a number when present; required with `maxAge` or `requireAuthTime`, and not older than `maxAge`
 *    (`AuthTime`);
 * 8. on refresh (`original`: the ID token of the original authentication, §12.2): the same `iss` (`Issuer`), `sub`
 *    (`Subject`), `aud` (`Audience`) and `azp` – absent if it was absent (`AuthorizedParty`) –, an `auth_time` (when
 *    present) equal to the original's (`AuthTime`), and an `iat` not before the original's (`IssuedAt`). §12.2 says
 *    nothing of `nonce`: a refreshed ID token's `nonce` is checked only when `nonce` is given.
 *
 * Times come from the Effect `Clock`. Failures are `IdTokenError` with a `reason` (and `claim`, never a value), or the
 * `JwksError` of a key set that could not be fetched. Nothing is printed with the token in it.
 *
 * @example
 * ```ts
 * import { IdToken, Jwks } from "@effect-oauth/client"
 * import type { TokenSet } from "@effect-oauth/client/TokenSet"
 * import { Effect } from "effect"
 *
 * // after the code exchange: the ID token is verified before the token set is kept
 * const checked = (tokens: TokenSet, nonce: string) =>
 *   Effect.gen(function*() {
 *     const jwks = yield* Jwks.Jwks
 *     if (tokens.idToken === undefined) return tokens
 *     const claims = yield* IdToken.validate(tokens.idToken, {
 *       jwks,
 *       issuer: "https://login.example",
 *       clientId: "web",
 *       nonce
 *     })
 *     yield* Effect.log(`signed in: ${claims.sub}`)
 *     return tokens
 *   })
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import type * as Jwks from "./Jwks.js"
import * as Jwt from "./Jwt.js"
import type { JwksError, JwtVerificationError } from "./OAuthError.js"
import { IdTokenError } from "./OAuthError.js"

/**
 * The claims of a validated ID token: the five OIDC Core §2 requires, typed, and every other claim as sent.
 *
 * @since 0.1.0
 * @category models
 */
export type Claims = Jwt.Claims & {
  readonly iss: string
  readonly sub: string
  readonly aud: string | ReadonlyArray<string>
  readonly exp: number
  readonly iat: number
}

/**
 * Every way a validation can fail: the ID token is refused, or the key set could not be had.
 *
 * @since 0.1.0
 * @category errors
 */
export type ValidationError = IdTokenError | JwksError

/**
 * @since 0.1.0
 * @category models
 */
export interface ValidateOptions {
  /** the issuer's key set */
  readonly jwks: Jwks.Jwks.Service
  /** the issuer identifier (from discovery): `iss` must be exactly this */
  readonly issuer: string
  /** this client's id: `aud` must contain it, `azp` (when present) must be it */
  readonly clientId: string
  /** the `nonce` of the authorization request (code flow): the ID token must carry exactly this one */
  readonly nonce?: string | undefined
  /**
   * On refresh (OIDC Core §12.2): the ID token of the original authentication – the token, or its claims. Its
   * signature and expiry are not checked again (it was validated when it was received); its `iss`, `sub`, `aud`,
   * `azp`, `auth_time` and `iat` are compared.
   */
  readonly original?: Redacted.Redacted<string> | string | Jwt.Claims | undefined
  /** the `max_age` of the authorization request: `auth_time` must be present and no older */
  readonly maxAge?: Duration.DurationInput | undefined
  /** `auth_time` must be present (the client registered `require_auth_time`) */
  readonly requireAuthTime?: boolean | undefined
  /** leeway for `exp`, `nbf`, `iat` and `auth_time` (default 30 seconds) */
  readonly clockTolerance?: Duration.DurationInput | undefined
  /** the algorithms accepted (default: the key set's allow-list), e.g. the client's `id_token_signed_response_alg` */
  readonly algorithms?: ReadonlyArray<Jwks.Algorithm> | undefined
}

/**
 * The default clock tolerance.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultClockTolerance: Duration.Duration = Duration.seconds(30)

const required = ["iss", "sub", "aud", "exp", "iat"] as const

const refuse = (reason: IdTokenError["reason"], description: string, claim?: string) =>
  Effect.fail(new IdTokenError({ reason, description, ...(claim !== undefined ? { claim } : {}) }))

const fromVerification = (error: JwtVerificationError): IdTokenError => {
  const claim = error.claim !== undefined ? { claim: error.claim } : {}
  switch (error.reason) {
    case "Malformed":
    case "Algorithm":
    case "UnknownKey":
    case "Issuer":
    case "Audience":
    case "Expired":
    case "NotYetValid":
    case "MissingClaim":
      return new IdTokenError({ reason: error.reason, description: error.description, ...claim })
    case "InvalidSignature":
      return new IdTokenError({ reason: "Signature", description: error.description })
    case "Subject":
      return new IdTokenError({ reason: "Subject", description: error.description, ...claim })
    case "Type":
    case "Claim":
      // a required numeric claim with the wrong type (`exp: "soon"`), or another claim `jose` refused
      return new IdTokenError({ reason: "Malformed", description: error.description, ...claim })
  }
}

const audiences = (aud: unknown): ReadonlyArray<string> | undefined =>
  Predicate.isString(aud)
    ? [aud]
    : Array.isArray(aud) && aud.every(Predicate.isString)
    ? aud
    : undefined

const sameSet = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean =>
  a.length === b.length && a.every((x) => b.includes(x)) && b.every((x) => a.includes(x))

const originalClaims = (
  original: Redacted.Redacted<string> | string | Jwt.Claims
): Either.Either<Jwt.Claims, IdTokenError> => {
  if (typeof original !== "string" && !Redacted.isRedacted(original)) return Either.right(original)
  const decoded = Jwt.decodeOption(original)
  return Option.isSome(decoded)
    ? Either.right(decoded.value)
    : Either.left(new IdTokenError({ reason: "Malformed", description: "the original ID token is not a JWT" }))
}

/**
 * Validates an ID token (OpenID Connect Core 1.0 §3.1.3.7; §12.2 with `original`) and returns its claims.
 *
 * @example
 * ```ts
 * import { IdToken, Jwks } from "@effect-oauth/client"
 * import type { TokenSet } from "@effect-oauth/client/TokenSet"
 * import { Effect } from "effect"
 *
 * // after a refresh: the new ID token must be for the same user, client and issuer
 * const refreshed = (jwks: Jwks.Jwks.Service, before: TokenSet, after: TokenSet) =>
 *   after.idToken === undefined
 *     ? Effect.void
 *     : IdToken.validate(after.idToken, {
 *       jwks,
 *       issuer: "https://login.example",
 *       clientId: "web",
 *       ...(before.idToken !== undefined ? { original: before.idToken } : {})
 *     })
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const validate: (
  idToken: Redacted.Redacted<string> | string,
  options: ValidateOptions
) => Effect.Effect<Claims, ValidationError> = Effect.fn("IdToken.validate")(function*(
  idToken: Redacted.Redacted<string> | string,
  options: ValidateOptions
) {
  const token = Redacted.isRedacted(idToken) ? Redacted.value(idToken) : idToken
  if (token.split(".").length === 5) {
    return yield* refuse("Malformed", "an encrypted ID token (JWE) is not supported")
  }
  const tolerance = Duration.decode(options.clockTolerance ?? defaultClockTolerance)
  const toleranceSeconds = Duration.toMillis(tolerance) / 1000
  const { claims } = yield* options.jwks.verify(token, {
    issuer: options.issuer,
    audience: options.clientId,
    requiredClaims: required,
    clockTolerance: tolerance,
    ...(options.algorithms !== undefined ? { algorithms: options.algorithms } : {})
  }).pipe(
    Effect.catchTag("JwtVerificationError", (error) => Effect.fail(fromVerification(error)))
  )
  const now = (yield* Clock.currentTimeMillis) / 1000

  // present (checked by `verify`) – now their types
  const { aud, exp, iat, iss, sub } = claims
  if (!Predicate.isString(iss)) return yield* refuse("Issuer", "iss is not a string", "iss")
  if (!Predicate.isString(sub) || sub.length === 0) {
    return yield* refuse("Subject", "sub is not a non-empty string", "sub")
  }
  const audience = audiences(aud)
  if (audience === undefined) return yield* refuse("Audience", "aud is not a string or an array of strings", "aud")
  if (!Predicate.isNumber(exp)) return yield* refuse("Malformed", "exp is not a number", "exp")
  if (!Predicate.isNumber(iat)) return yield* refuse("Malformed", "iat is not a number", "iat")

  // §3.1.3.7 items 4 and 5
  const azp = claims.azp
  if (audience.length > 1 && azp === undefined) {
    return yield* refuse("AuthorizedParty", "aud has several audiences and there is no azp", "azp")
  }
  if (azp !== undefined && azp !== options.clientId) {
    return yield* refuse("AuthorizedParty", "azp is not this client's id", "azp")
  }

  // item 10
  if (iat > now + toleranceSeconds) return yield* refuse("IssuedAt", "iat is in the future", "iat")

  // item 11
  if (options.nonce !== undefined) {
    const nonce = claims.nonce
    if (nonce === undefined) return yield* refuse("Nonce", "the ID token has no nonce", "nonce")
    if (nonce !== options.nonce) {
      return yield* refuse("Nonce", "the nonce is not the one of the authorization request", "nonce")
    }
  }

  // item 13
  const authTime = claims.auth_time
  if (authTime !== undefined && !Predicate.isNumber(authTime)) {
    return yield* refuse("AuthTime", "auth_time is not a number", "auth_time")
  }
  if (authTime === undefined && (options.maxAge !== undefined || options.requireAuthTime === true)) {
    return yield* refuse("AuthTime", "auth_time is required and absent", "auth_time")
  }
  if (options.maxAge !== undefined && authTime !== undefined) {
    const maxAge = Duration.toMillis(Duration.decode(options.maxAge)) / 1000
    if (authTime + maxAge < now - toleranceSeconds) {
      return yield* refuse("AuthTime", "the end-user authenticated longer ago than maxAge", "auth_time")
    }
  }

  // §12.2
  if (options.original !== undefined) {
    const original = yield* originalClaims(options.original)
    if (original.iss !== iss) return yield* refuse("Issuer", "iss is not the original ID token's", "iss")
    if (original.sub !== sub) return yield* refuse("Subject", "sub is not the original ID token's", "sub")
    const originalAudience = audiences(original.aud)
    if (originalAudience === undefined || !sameSet(originalAudience, audience)) {
      return yield* refuse("Audience", "aud is not the original ID token's", "aud")
    }
    if (original.azp !== azp) {
      return yield* refuse(
        "AuthorizedParty",
        original.azp === undefined ? "azp is present and was absent in the original ID token" : "azp is not the original ID token's",
        "azp"
      )
    }
    if (authTime !== undefined && original.auth_time !== undefined && original.auth_time !== authTime) {
      return yield* refuse("AuthTime", "auth_time is not the original authentication's", "auth_time")
    }
    if (Predicate.isNumber(original.iat) && iat < original.iat) {
      return yield* refuse("IssuedAt", "iat is before the original ID token's", "iat")
    }
  }

  const validated: Claims = { ...claims, iss, sub, aud: Predicate.isString(aud) ? aud : audience, exp, iat }
  return validated
})
