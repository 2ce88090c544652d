/**
 * Reading a JWT without verifying it: its claims and its protected header, through `jose`.
 *
 * Nothing here checks a signature, an issuer or an expiry. Use it to look *at* a token this process already holds
 * (is it a JWT, when does it expire, does it belong to a system identity), never to decide whether to trust one.
 * Error messages never contain the token.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import { decodeJwt, decodeProtectedHeader, errors } from "jose"
import { MalformedJwtError } from "./OAuthError.js"

/**
 * The claims set of a JWT, as it was sent. Claims are `unknown` because nothing was verified or validated: check the
 * type of a claim before using it (or use {@link expiration}).
 *
 * @since 0.1.0
 * @category models
 */
export type Claims = { readonly [name: string]: unknown }

/**
 * The protected (JOSE) header of a JWT, as it was sent.
 *
 * @since 0.1.0
 * @category models
 */
export type Header = { readonly [name: string]: unknown }

const clear = (token: string | Redacted.Redacted<string>): string =>
  Redacted.isRedacted(token) ? Redacted.value(token) : token

const decodeEither = (
  token: string | Redacted.Redacted<string>
): Either.Either<{ readonly header: Header; readonly claims: Claims }, MalformedJwtError> => {
  const value = clear(token)
  let claims: Claims
  try {
    claims = decodeJwt(value)
  } catch (cause) {
    // jose's messages are fixed sentences that never quote the token
    return Either.left(
      new MalformedJwtError({
        description: cause instanceof errors.JOSEError ? cause.message : "not a JWT in JWS compact serialization"
      })
    )
  }
  try {
    const header: Header = decodeProtectedHeader(value)
    return Either.right({ header, claims })
  } catch {
    return Either.left(new MalformedJwtError({ description: "the protected header is not a base64url JSON object" }))
  }
}

/**
 * The claims of a JWT (JWS compact serialization), without verifying its signature. Fails with `MalformedJwtError`
 * when the token is not three base64url segments with a JSON object header and a JSON object payload; the error never
 * contains the token.
 *
 * @example
 * ```ts
 * import { Jwt } from "@effect-oauth/client"
 * import { Effect } from "effect"
 *
 * const subject = Jwt.decode(token).pipe(Effect.map((claims) => claims.sub))
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (token: string | Redacted.Redacted<string>): Effect.Effect<Claims, MalformedJwtError> =>
  Either.match(decodeEither(token), {
    onLeft: Effect.fail,
    onRight: ({ claims }) => Effect.succeed(claims)
  })

/**
 * The protected header of a JWT, without verifying anything.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeHeader = (token: string | Redacted.Redacted<string>): Effect.Effect<Header, MalformedJwtError> =>
  Either.match(decodeEither(token), {
    onLeft: Effect.fail,
    onRight: ({ header }) => Effect.succeed(header)
  })

/**
 * The claims of a JWT, or `None` for anything that is not one (an opaque token, say).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeOption = (token: string | Redacted.Redacted<string>): Option.Option<Claims> =>
  Either.match(decodeEither(token), {
    onLeft: () => Option.none(),
    onRight: ({ claims }) => Option.some(claims)
  })

/**
 * `true` when the token decodes as a JWT (JWS compact serialization). Says nothing about its signature.
 *
 * @since 0.1.0
 * @category guards
 */
export const isJwt = (token: string | Redacted.Redacted<string>): boolean => Either.isRight(decodeEither(token))

/**
 * The `exp` claim in epoch milliseconds, when it is present and a finite number.
 *
 * @since 0.1.0
 * @category accessors
 */
export const expiration = (claims: Claims): Option.Option<number> => {
  const exp = claims.exp
  return Predicate.isNumber(exp) && Number.isFinite(exp) ? Option.some(exp * 1000) : Option.none()
}
