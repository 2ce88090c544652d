/**
 * A port: what presenting a refresh token led to, kept a short while – **the window**, 60 seconds by default – under a
 * keyed hash of that refresh token. For sessions whose token set the user agent holds (a sealed cookie) instead of a
 * `TokenStore`: a browser keeps sending the *old* cookie on requests that were already under way when a refresh
 * rotated the refresh token, and the server must not present that spent token again (its reuse detection would revoke
 * the whole grant). A request presenting it within the window is given the rotation's result instead.
 *
 * - **`Rotated`**: the token set the refresh returned (its new refresh token included) – what a request presenting
 *   the old one continues with.
 * - **`Ended`**: presenting it ended the session (`invalid_grant`, a sign-out): a request presenting it within the
 *   window is no session, and nothing is sent to the server.
 * - **Keys** are chosen by the caller and must never be a token: `@effect-oauth/web` uses `web-rotation:` +
 *   HMAC-SHA-256 of the old refresh token under a key derived from its cookie secret.
 * - **The window** is the store's: an outcome is served from its `set` until `window` has passed (the Effect `Clock`
 *   for the memory store, Redis's `PX` for `RedisRotationStore`), and never after.
 * - **`withLock`** (optional, as `TokenStore`'s): a store shared by several instances offers a lock per key, so that
 *   one old refresh token is refreshed once across the fleet; `ManagedToken` takes it and reads the store again once
 *   it holds it.
 *
 * `layerMemory` keeps outcomes in this process (one instance); `RedisRotationStore` (`@effect-oauth/redis`) shares
 * them, encrypted at rest, with every instance.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { TokenSet } from "./TokenSet.js"
import type { TokenStoreError } from "./TokenStore.js"

/**
 * What presenting one refresh token led to.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = Data.TaggedEnum<{
  /** the refresh rotated it: continue with this token set */
  Rotated: { readonly tokenSet: TokenSet }
  /** the session it belonged to ended: no session, and no request */
  Ended: {}
}>

/**
 * Constructors and matchers of {@link Outcome}.
 *
 * @since 0.1.0
 * @category models
 */
export const Outcome = Data.taggedEnum<Outcome>()

/**
 * The default window: 60 seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultWindow: Duration.Duration = Duration.seconds(60)

/**
 * @since 0.1.0
 * @category tags
 */
export class RotationStore extends Context.Tag("@effect-oauth/client/RotationStore")<
  RotationStore,
  RotationStore.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace RotationStore {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** how long an outcome is served after it was set */
    readonly window: Duration.Duration
    /** the outcome stored under `key`, while its window lasts */
    readonly get: (key: string) => Effect.Effect<Option.Option<Outcome>, TokenStoreError>
    /** stores (or replaces) the outcome of `key`, for the window from now */
    readonly set: (key: string, outcome: Outcome) => Effect.Effect<void, TokenStoreError>
    /** Optional: `get` read synchronously, for a store in memory (`undefined` for none); a remote store leaves it out */
    readonly unsafeGet?: ((key: string) => Outcome | undefined) | undefined
    /**
     * Optional: runs `effect` holding the lock of `key`, shared by every instance using the same store (see
     * `TokenStore.Service.withLock`). A store of one process leaves it out.
     */
    readonly withLock?: <A, E, R>(
      key: string,
      effect: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | TokenStoreError, R>
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** how long an outcome is served (default 60 seconds) */
  readonly window?: Duration.DurationInput | undefined
}

/**
 * A store in this process's memory, for one instance: outcomes expire after the window (the Effect `Clock`: a
 * `TestClock` moves it), and expired ones are dropped as new ones arrive, so it holds one window's rotations at most.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options?: MemoryOptions): Effect.Effect<RotationStore.Service> =>
  Effect.clockWith((clock) =>
    Effect.sync(() => {
      const window = Duration.decode(options?.window ?? defaultWindow)
      const windowMillis = Duration.toMillis(window)
      /** in order of expiry: every entry lives one window from its (latest) set */
      const entries = new Map<string, { readonly outcome: Outcome; readonly until: number }>()
      const read = (key: string): Outcome | undefined => {
        const entry = entries.get(key)
        return entry !== undefined && clock.unsafeCurrentTimeMillis() < entry.until ? entry.outcome : undefined
      }
      return RotationStore.of({
        window,
        get: (key) => Effect.sync(() => Option.fromNullable(read(key))),
        set: (key, outcome) =>
          Effect.sync(() => {
            const now = clock.unsafeCurrentTimeMillis()
            for (const [k, entry] of entries) {
              if (entry.until > now) break
              entries.delete(k)
            }
            entries.delete(key)
            entries.set(key, { outcome, until: now + windowMillis })
          }),
        unsafeGet: read
      })
    })
  )

/**
 * A store in this process's memory, as a layer (see {@link makeMemory}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<RotationStore> =>
  Layer.effect(RotationStore, makeMemory(options))

const OutcomeJson = Schema.parseJson(Schema.Union(
  Schema.TaggedStruct("Rotated", { tokenSet: TokenSet }),
  Schema.TaggedStruct("Ended", {})
))

/**
 * Encodes an outcome for a remote store (its tokens in clear: only for a store that encrypts, or one the application
 * protects).
 *
 * @since 0.1.0
 * @category serialization
 */
export const encodeJson = (outcome: Outcome): string =>
  Schema.encodeSync(OutcomeJson)(
    Outcome.$match(outcome, {
      Rotated: ({ tokenSet }) => ({ _tag: "Rotated" as const, tokenSet }),
      Ended: () => ({ _tag: "Ended" as const })
    })
  )

/**
 * Decodes a stored outcome.
 *
 * @since 0.1.0
 * @category serialization
 */
export const decodeJson = (json: string): Effect.Effect<Outcome, ParseResult.ParseError> =>
  Effect.map(
    Schema.decodeUnknown(OutcomeJson)(json),
    (decoded) => decoded._tag === "Rotated" ? Outcome.Rotated({ tokenSet: decoded.tokenSet }) : Outcome.Ended()
  )
