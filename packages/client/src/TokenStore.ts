/**
 * A port: where the token sets of user sessions live, by session id. `ManagedToken` reads and writes it; an
 * application picks the adapter – `layerMemory` here (one process), `RedisTokenStore` from `@effect-oauth/redis`
 * (shared by every instance, with a cross-instance lock so that a session is refreshed once across the fleet).
 *
 * A store holds refresh tokens in clear (the memory store keeps `TokenSet`s, whose tokens are `Redacted`; a remote
 * store serialises them with `TokenSet.encodeJson`): keep it as private as the sessions themselves.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { TokenSet } from "./TokenSet.js"

/**
 * A store could not be read or written (a remote store that is down, a stored value that no longer decodes). The
 * description never carries a token or a session id.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>("@effect-oauth/client/TokenStoreError")(
  "TokenStoreError",
  {
    operation: Schema.Literal("get", "set", "remove", "lock"),
    description: Schema.String
  }
) {
  override get message(): string {
    return `token store ${this.operation}: ${this.description}`
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@effect-oauth/client/TokenStore")<TokenStore, TokenStore.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace TokenStore {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** the token set of a session, if there is one */
    readonly get: (sessionId: string) => Effect.Effect<Option.Option<TokenSet>, TokenStoreError>
    /** stores (or replaces) the token set of a session */
    readonly set: (sessionId: string, tokenSet: TokenSet) => Effect.Effect<void, TokenStoreError>
    /** forgets a session; removing an unknown session is not an error */
    readonly remove: (sessionId: string) => Effect.Effect<void, TokenStoreError>
    /**
     * Optional, for the hot path of `ManagedToken.get`: the token set of a session read synchronously, when the store
     * can (a store in memory); `undefined` for none. A remote store leaves it out.
     */
    readonly unsafeGet?: ((sessionId: string) => TokenSet | undefined) | undefined
    /**
     * Optional: runs `effect` while holding the session's lock, shared by every instance that uses the same store,
     * and releases it however `effect` ends. `ManagedToken` refreshes under it (re-reading the store once the lock
     * is held), so a session is refreshed once across the fleet, not once per process. A store shared by one
     * process only (such as `layerMemory`) leaves it out: `ManagedToken` already coalesces within a process.
     *
     * Fails with a `TokenStoreError` (operation `"lock"`) when the lock cannot be taken – the store is down, or
     * another holder kept it past its time limit.
     */
    readonly withLock?: <A, E, R>(
      sessionId: string,
      effect: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | TokenStoreError, R>
  }
}

/**
 * A store in this process's memory: for a single instance, tests and the demo. Sessions stay until removed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<TokenStore.Service> = Effect.sync(() => {
  const sessions = new Map<string, TokenSet>()
  return TokenStore.of({
    get: (sessionId) => Effect.sync(() => Option.fromNullable(sessions.get(sessionId))),
    set: (sessionId, tokenSet) => Effect.sync(() => void sessions.set(sessionId, tokenSet)),
    remove: (sessionId) => Effect.sync(() => void sessions.delete(sessionId)),
    unsafeGet: (sessionId) => sessions.get(sessionId)
  })
})

/**
 * A store in this process's memory, as a layer (see {@link makeMemory}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (): Layer.Layer<TokenStore> => Layer.effect(TokenStore, makeMemory)
