/**
 * The small interface everything downstream consumes, as Go's `oauth2.TokenSource`: `get` a valid token, and
 * `invalidate` a token a resource server rejected.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { TokenRequestError } from "./OAuthError.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface TokenSource<E = TokenRequestError> {
  /** a token that is valid now (cached, refreshed or newly acquired, as the source decides) */
  readonly get: Effect.Effect<TokenSet, E>
  /**
   * Drops `token` if, and only if, it is still the current one: a 401 on an old token cannot throw away a newer one.
   * The next `get` then acquires a new token.
   */
  readonly invalidate: (token: TokenSet) => Effect.Effect<void>
}

/**
 * A source that always answers with the same token set and ignores invalidation: for tests and fixed tokens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const succeed = (token: TokenSet): TokenSource<never> => ({
  get: Effect.succeed(token),
  invalidate: () => Effect.void
})

/**
 * A source built from an effect that acquires a token, with no caching.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEffect = <E>(get: Effect.Effect<TokenSet, E>): TokenSource<E> => ({
  get,
  invalidate: () => Effect.void
})
