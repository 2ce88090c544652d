/**
 * The small interface everything downstream consumes, as Go's `oauth2.TokenSource`: `get` a valid token, and
 * `invalidate` a token a resource server rejected.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { TokenRequestError } from "./OAuthError.js"
import type { TokenCache } from "./TokenCache.js"
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

/**
 * A source served through a `TokenCache`, as Go's `ReuseTokenSource`: `get` answers from the cache under `key` (fresh:
 * at once; usable: at once, with one background renewal; otherwise one shared acquisition through `self.get`), and
 * `invalidate(token)` drops the cached token only if it is still that one, then tells `self`. `key` is computed on
 * the first use and kept (a cache key names one request shape); a failure to compute it is a failure of `get`, and
 * leaves nothing to invalidate.
 *
 * @example
 * ```ts
 * import { CacheKey, TokenCache, TokenSource } from "@effect-oauth/client"
 * import type { OAuthError, TokenSet } from "@effect-oauth/client"
 * import { Effect } from "effect"
 *
 * declare const requestAToken: Effect.Effect<TokenSet.TokenSet, OAuthError.TokenRequestError>
 *
 * const source = Effect.map(TokenCache.TokenCache, (cache) =>
 *   TokenSource.fromEffect(requestAToken).pipe(
 *     TokenSource.cached(cache, CacheKey.make({ grant: "client_credentials", clientId: "orders" }, cache.hash))
 *   ))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const cached = <EK = never>(
  cache: TokenCache.Service,
  key: string | Effect.Effect<string, EK>
) =>
(self: TokenSource<TokenRequestError>): TokenSource<TokenRequestError | EK> => {
  // once the key is known, `get` is the cache's own effect for it: built once, run by every call
  let known: { readonly key: string; readonly get: Effect.Effect<TokenSet, TokenRequestError> } | undefined =
    typeof key === "string" ? { key, get: cache.getOrAcquire(key, self.get) } : undefined
  const first: Effect.Effect<TokenSet, TokenRequestError | EK> = typeof key === "string"
    ? cache.getOrAcquire(key, self.get)
    : Effect.flatMap(key, (computed) => {
      known = { key: computed, get: cache.getOrAcquire(computed, self.get) }
      return known.get
    })
  return {
    get get() {
      return known !== undefined ? known.get : first
    },
    invalidate: (token) =>
      Effect.suspend(() =>
        known === undefined
          ? self.invalidate(token)
          : Effect.zipRight(cache.invalidate(known.key, token), self.invalidate(token))
      )
  }
}
