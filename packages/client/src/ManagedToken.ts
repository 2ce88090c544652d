/**
 * A user's token set kept valid: `get(sessionId)` hands out an access token that is valid now, refreshing it through
 * `RefreshToken` under the `Freshness` model of the cache – fresh: served; usable: served at once while one background
 * refresh runs; expired: callers wait for one shared refresh.
 *
 * - **One refresh at a time per session**, however many fibers ask: they share it (and its failure). When the
 *   `TokenStore` offers a lock (`withLock`, as `RedisTokenStore` does), the refresh runs under it and reads the store
 *   again once it holds it: one refresh per session **across instances**, and an instance that waited uses the set
 *   the other one stored (no request, so a rotated refresh token is never sent twice).
 * - **The store first**: a rotated refresh token is written to the `TokenStore` before the new access token is handed
 *   to anyone, so a crash cannot leave the store holding a refresh token the server already retired.
 * - **`invalid_grant`** (the refresh token expired, was revoked or was already used): the store is read again first –
 *   another caller or instance may hold a newer token set, which is then used. Only when nothing newer is there does
 *   the session end: it is removed and the caller gets {@link ReauthenticationRequired}.
 * - **Events** (`Refreshed`, `Rotated`, `Ended`) are where an application renews or clears its session cookie.
 *
 * @example
 * ```ts
 * import { BearerClient, ManagedToken, type TokenSet } from "@effect-oauth/client"
 * import { Effect, Redacted, Stream } from "effect"
 *
 * declare const sessionId: string
 * declare const fromSignIn: TokenSet.TokenSet // the code exchange's answer
 * declare const renewCookie: (sessionId: string, tokens: TokenSet.TokenSet) => Effect.Effect<void>
 * declare const clearCookie: (sessionId: string) => Effect.Effect<void>
 *
 * const program = Effect.gen(function* () {
 *   const tokens = yield* ManagedToken.ManagedToken
 *   // after sign-in: keep the session's token set
 *   yield* tokens.start(sessionId, fromSignIn)
 *   // on every request of that user
 *   const api = yield* BearerClient.make(tokens.source(sessionId), { origins: ["https://api.example"] })
 *   return yield* api.get("https://api.example/me")
 * })
 *
 * // where the application renews (or clears) its session cookie
 * const renewCookies = Stream.runForEach(ManagedToken.events, (event) =>
 *   ManagedToken.Event.$match(event, {
 *     Refreshed: ({ sessionId, tokenSet }) => renewCookie(Redacted.value(sessionId), tokenSet),
 *     Rotated: () => Effect.void,
 *     // the session id is Redacted: a logged event shows <redacted>
 *     Ended: ({ reason, sessionId }) => Effect.zipRight(Effect.log("session ended", reason), clearCookie(Redacted.value(sessionId)))
 *   }))
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Freshness from "./Freshness.js"
import * as InternalDPoP from "./internal/dpop.js"
import { jitterFraction } from "./internal/managedToken.js"
import * as SingleFlight from "./internal/singleFlight.js"
import { DPoPError, isInvalidGrant } from "./OAuthError.js"
import { type RefreshError, type RefreshOptions, RefreshToken } from "./RefreshToken.js"
import * as Revocation from "./Revocation.js"
import { TokenSet } from "./TokenSet.js"
import type { TokenSource } from "./TokenSource.js"
import { TokenStore, type TokenStoreError } from "./TokenStore.js"

/**
 * Why a session cannot give an access token any more.
 *
 * @since 0.1.0
 * @category models
 */
export type EndReason =
  /** the server answered `invalid_grant` to the refresh and the store held nothing newer */
  | "InvalidGrant"
  /** the access token expired and the session has no refresh token */
  | "NoRefreshToken"
  /** the application removed the session */
  | "Removed"

/**
 * The user must sign in again: the session is unknown (never started, removed, or ended before), or it just ended
 * because its refresh token was refused or missing. Carries no token and no session id.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReauthenticationRequired extends Schema.TaggedError<ReauthenticationRequired>(
  "@effect-oauth/client/ReauthenticationRequired"
)("ReauthenticationRequired", {
  reason: Schema.Literal("NoSession", "InvalidGrant", "NoRefreshToken")
}) {
  override get message(): string {
    switch (this.reason) {
      case "NoSession":
        return "sign in again: no token set is stored for this session"
      case "InvalidGrant":
        return "sign in again: the refresh token was refused (invalid_grant); the session has ended"
      case "NoRefreshToken":
        return "sign in again: the access token expired and the session has no refresh token; the session has ended"
    }
  }
}

/**
 * Every way `ManagedToken.get` can fail: the user must sign in again, the refresh request failed (a transport failure
 * or another token endpoint error: the session is kept and the next call tries again), the store failed, or the
 * session's DPoP key is not the one its tokens are bound to.
 *
 * @since 0.1.0
 * @category errors
 */
export type ManagedTokenError = ReauthenticationRequired | RefreshError | TokenStoreError | DPoPError

/**
 * What happened to a session. `Refreshed` and `Rotated` carry the new token set (tokens `Redacted`), already in the
 * store; an application that keeps tokens in its cookie renews the cookie here.
 *
 * - `Refreshed`: a refresh gave a new access token.
 * - `Rotated`: that refresh also gave a new refresh token (published right after `Refreshed`).
 * - `Ended`: the session was removed (by the application, or after `invalid_grant` / an expiry without refresh
 *   token).
 *
 * The `sessionId` is `Redacted`: it is often the value of the user's session cookie, and an event that reaches a log
 * must not hand the session out. Read it with `Redacted.value` where the cookie is renewed.
 *
 * @since 0.1.0
 * @category models
 */
export type Event = Data.TaggedEnum<{
  Refreshed: { readonly sessionId: Redacted.Redacted<string>; readonly tokenSet: TokenSet }
  Rotated: { readonly sessionId: Redacted.Redacted<string>; readonly tokenSet: TokenSet }
  Ended: { readonly sessionId: Redacted.Redacted<string>; readonly reason: EndReason }
}>

/**
 * Constructors and matchers of {@link Event}.
 *
 * @since 0.1.0
 * @category models
 */
export const Event = Data.taggedEnum<Event>()

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** when a token counts as fresh, usable or expired (defaults: `Freshness.defaults`) */
  readonly freshness?: Freshness.Options | undefined
  /** passed to every `RefreshToken.refresh` (a narrower `scope`, a `resource`) */
  readonly refresh?: RefreshOptions | undefined
  /** events kept for each subscriber that has not read them yet; past it the oldest are dropped (default 1,024) */
  readonly eventCapacity?: number | undefined
  /**
   * revokes the refresh token of a removed session at the server (RFC 7009); `layerWithRevocation` sets it from the
   * `Revocation` service in context
   */
  readonly revocation?: Revocation.Revocation.Service | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ManagedToken extends Context.Tag("@effect-oauth/client/ManagedToken")<ManagedToken, ManagedToken.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace ManagedToken {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * stores the token set of a new session (after sign-in), replacing any previous one (under the store's lock, when
     * it has one). A DPoP-bound set must keep its key (`TokenSet.dpopKey`, as the code exchange gives it): refused
     * with `DPoPError` otherwise
     */
    readonly start: (sessionId: string, tokenSet: TokenSet) => Effect.Effect<void, TokenStoreError | DPoPError>
    /** a token set whose access token is valid now, refreshed (once, shared) when needed */
    readonly get: (sessionId: string) => Effect.Effect<TokenSet, ManagedTokenError>
    /**
     * ends a session: removed from the store, `Ended` published. Waits for a refresh of it that is in flight (on other
     * instances too, when the store has a lock). With the `revocation` option (`layerWithRevocation`), the session's
     * refresh token is then revoked at the server (a failure is logged; the session is gone either way). Returns the
     * token set the store held (`None` for an unknown session): its ID token is the `id_token_hint` of an OpenID
     * Connect end-session redirect, and a caller that revokes by itself revokes its refresh token.
     */
    readonly remove: (sessionId: string) => Effect.Effect<Option.Option<TokenSet>, TokenStoreError>
    /**
     * The session as a `TokenSource`, for `BearerClient`. Its `invalidate(token)` marks that access token as rejected
     * (when it is still the session's current one): the next `get` refreshes instead of handing it out again.
     */
    readonly source: (sessionId: string) => TokenSource<ManagedTokenError>
    /** every event from the moment the stream runs */
    readonly events: Stream.Stream<Event>
    /** a subscription to the events, taken at once (nothing published after this effect is missed) */
    readonly subscribe: Effect.Effect<Queue.Dequeue<Event>, never, Scope.Scope>
  }
}

const sameToken = (a: Redacted.Redacted<string> | undefined, b: Redacted.Redacted<string> | undefined): boolean =>
  a === undefined || b === undefined ? a === b : Redacted.value(a) === Redacted.value(b)

/** how many times a refresh is tried again with a newer token set found in the store after `invalid_grant` */
const maxNewerAttempts = 3

/**
 * Builds the service. Refreshes run in fibers of the enclosing scope: closing it interrupts them (and the callers
 * waiting for them).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<ManagedToken.Service, never, RefreshToken | TokenStore | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* TokenStore
    const refreshToken = yield* RefreshToken
    // when given, `remove` also revokes the session's refresh token (RFC 7009)
    const revocation = options?.revocation
    // bounded: a subscriber that stops reading loses its oldest events instead of holding memory without limit
    const pubsub = yield* Effect.acquireRelease(PubSub.sliding<Event>(options?.eventCapacity ?? 1024), PubSub.shutdown)
    const freshness = options?.freshness ?? Freshness.defaults
    const refreshOptions = options?.refresh
    /** one refresh in flight per session */
    const flights = yield* SingleFlight.make<string, TokenSet, ManagedTokenError>()
    /** the access token a resource server rejected, per session: handed out no more */
    const rejected = new Map<string, Redacted.Redacted<string>>()

    const publish = (event: Event) => PubSub.publish(pubsub, event)

    // the refresh point of a token set, computed once (a session keeps its token set for many calls)
    const refreshPoints = new WeakMap<TokenSet, { readonly sessionId: string; readonly refreshAt: number }>()
    const refreshAtOf = (sessionId: string, tokenSet: TokenSet): number => {
      const known = refreshPoints.get(tokenSet)
      if (known !== undefined && known.sessionId === sessionId) return known.refreshAt
      // the jitter is drawn from the session and the token's times: stable for one token set, spread over sessions
      const refreshAt = Freshness.refreshPoint(tokenSet, freshness, jitterFraction(sessionId, tokenSet))
      refreshPoints.set(tokenSet, { sessionId, refreshAt })
      return refreshAt
    }

    const phaseOf = (sessionId: string, tokenSet: TokenSet, now: number): Freshness.Phase => {
      if (rejected.size > 0 && sameToken(rejected.get(sessionId), tokenSet.accessToken)) return "Expired"
      return Freshness.phase(tokenSet, now, refreshAtOf(sessionId, tokenSet), freshness)
    }

    const end = (sessionId: string, reason: "InvalidGrant" | "NoRefreshToken") =>
      Effect.gen(function*() {
        yield* store.remove(sessionId)
        rejected.delete(sessionId)
        yield* publish(Event.Ended({ sessionId: Redacted.make(sessionId), reason }))
        return yield* new ReauthenticationRequired({ reason })
      })

    const loadStored = (sessionId: string) =>
      Effect.flatMap(
        store.get(sessionId),
        Option.match({
          onNone: () => Effect.fail(new ReauthenticationRequired({ reason: "NoSession" })),
          onSome: Effect.succeed
        })
      )

    /** `effect` under the store's cross-instance lock of the session, when the store has one */
    const locked = <A, E>(sessionId: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E | TokenStoreError> =>
      store.withLock !== undefined ? store.withLock(sessionId, effect) : effect

    /** the leader's work: runs once per refresh, with the store read again at each step */
    const refreshSteps = (sessionId: string): Effect.Effect<TokenSet, ManagedTokenError> => Effect.gen(function*() {
      let attempt = 0
      while (true) {
        const current = yield* loadStored(sessionId)
        const now = yield* Clock.currentTimeMillis
        const phase = phaseOf(sessionId, current, now)
        // another caller (or instance) refreshed meanwhile
        if (phase === "Fresh") return current
        if (current.refreshToken === undefined) {
          if (phase === "Usable") return current
          return yield* end(sessionId, "NoRefreshToken")
        }
        // a DPoP-bound session refreshes with its own key (a public client's refresh token is bound to it)
        const dpopKey = yield* InternalDPoP.keptKey(current)
        const result = yield* Effect.either(
          refreshToken.refresh(current.refreshToken, { ...refreshOptions, originalIdToken: current.idToken, dpopKey })
        )
        if (result._tag === "Right") {
          const fresh = result.right
          const next = fresh.refreshToken !== undefined ? fresh : new TokenSet({ ...fresh, refreshToken: current.refreshToken })
          const rotated = !sameToken(next.refreshToken, current.refreshToken)
          // the session was removed while the refresh ran: do not bring it back
          yield* loadStored(sessionId)
          // the store holds the new refresh token before anyone sees the new access token
          yield* store.set(sessionId, next)
          rejected.delete(sessionId)
          yield* Effect.annotateCurrentSpan("managed_token.rotated", rotated)
          yield* publish(Event.Refreshed({ sessionId: Redacted.make(sessionId), tokenSet: next }))
          if (rotated) yield* publish(Event.Rotated({ sessionId: Redacted.make(sessionId), tokenSet: next }))
          return next
        }
        const error = result.left
        if (!isInvalidGrant(error)) return yield* error
        // someone else may already hold a newer token set (they refreshed first, the rotation retired ours)
        const latest = yield* loadStored(sessionId)
        const newer = !sameToken(latest.refreshToken, current.refreshToken) ||
          !sameToken(latest.accessToken, current.accessToken)
        if (!newer) return yield* end(sessionId, "InvalidGrant")
        yield* Effect.annotateCurrentSpan("managed_token.newer_in_store", true)
        attempt++
        if (attempt >= maxNewerAttempts) return yield* error
      }
    })

    /**
     * One refresh across the fleet when the store has a lock: taken first, then the store is read again inside it
     * (another instance may have refreshed and rotated meanwhile – its set is used, no request is made).
     */
    const refreshNow = Effect.fn("ManagedToken.refresh")(function*(sessionId: string) {
      yield* Effect.annotateCurrentSpan("managed_token.locked", store.withLock !== undefined)
      return yield* locked(sessionId, refreshSteps(sessionId))
    })

    /** joins the refresh of `sessionId` in flight, or starts it in a fiber of the service's scope */
    const refreshShared = (sessionId: string): Effect.Effect<TokenSet, ManagedTokenError> =>
      flights.run(sessionId, () => refreshNow(sessionId))

    const getTraced = Effect.fn("ManagedToken.get")(function*(sessionId: string) {
      const current = yield* loadStored(sessionId)
      const now = yield* Clock.currentTimeMillis
      const phase = phaseOf(sessionId, current, now)
      yield* Effect.annotateCurrentSpan("managed_token.phase", phase)
      switch (phase) {
        case "Fresh":
          return current
        case "Usable": {
          yield* flights.start(
            sessionId,
            Effect.tapError(
              refreshNow(sessionId),
              (error) => Effect.logWarning("ManagedToken: background refresh failed", error._tag)
            )
          )
          return current
        }
        case "Expired":
          return yield* refreshShared(sessionId)
      }
    })

    // a fresh token set from a store that reads synchronously (memory) is handed out at once, untraced (as a cache
    // hit); everything else – a remote store, a token due for refresh – goes through the traced path
    const unsafeGet = store.unsafeGet
    const get = (sessionId: string): Effect.Effect<TokenSet, ManagedTokenError> =>
      unsafeGet === undefined ? getTraced(sessionId) : Effect.clockWith((clock) => {
        const current = unsafeGet(sessionId)
        return current !== undefined && phaseOf(sessionId, current, clock.unsafeCurrentTimeMillis()) === "Fresh"
          ? Effect.succeed(current)
          : getTraced(sessionId)
      })

    const start = Effect.fn("ManagedToken.start")(function*(sessionId: string, tokenSet: TokenSet) {
      // a DPoP-bound session must keep its key: no other instance (nor this one) could refresh it otherwise
      if (tokenSet.tokenType.toLowerCase() === "dpop" && tokenSet.dpopKey === undefined) {
        return yield* new DPoPError({
          reason: "NoKey",
          description: "the token set is DPoP-bound but keeps no key: sign in through TokenEndpoint.layerDPoP " +
            "(the code exchange keeps the key of a bound token set)"
        })
      }
      yield* InternalDPoP.keptKey(tokenSet)
      yield* flights.settled(sessionId)
      rejected.delete(sessionId)
      // under the lock: a refresh of the old set on another instance cannot write over the new sign-in
      yield* locked(sessionId, store.set(sessionId, tokenSet))
    })

    const remove = Effect.fn("ManagedToken.remove")(function*(sessionId: string) {
      yield* flights.settled(sessionId)
      rejected.delete(sessionId)
      // under the lock: waits for a refresh in flight on another instance, which then cannot bring the session back
      const removed = yield* locked(sessionId, Effect.zipLeft(store.get(sessionId), store.remove(sessionId)))
      yield* publish(Event.Ended({ sessionId: Redacted.make(sessionId), reason: "Removed" }))
      // signed out here whatever the server says: a revocation failure is logged, never a trapped session
      if (revocation !== undefined && Option.isSome(removed)) {
        yield* revocation.revoke(removed.value).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("ManagedToken: the removed session's refresh token could not be revoked").pipe(
              Effect.annotateLogs({ error: error._tag })
            )
          )
        )
      }
      return removed
    })

    const source = (sessionId: string): TokenSource<ManagedTokenError> => ({
      get: get(sessionId),
      invalidate: (token) => Effect.sync(() => void rejected.set(sessionId, token.accessToken))
    })

    return ManagedToken.of({
      start,
      get,
      remove,
      source,
      events: Stream.fromPubSub(pubsub),
      subscribe: PubSub.subscribe(pubsub)
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<ManagedToken, never, RefreshToken | TokenStore> =>
  Layer.scoped(ManagedToken, make(options))

/**
 * The service with its `revocation` option taken from the `Revocation` service in context: `remove` revokes the
 * removed session's refresh token at the server.
 *
 * @example
 * ```ts
 * import { ClientAuth, ManagedToken, Revocation } from "@effect-oauth/client"
 * import { Layer, Redacted } from "effect"
 *
 * const Sessions = ManagedToken.layerWithRevocation().pipe(
 *   Layer.provide(Revocation.layer({ auth: ClientAuth.clientSecretBasic("web", Redacted.make("s3cret")) }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithRevocation = (
  options?: Omit<Options, "revocation">
): Layer.Layer<ManagedToken, never, RefreshToken | TokenStore | Revocation.Revocation> =>
  Layer.scoped(ManagedToken, Effect.flatMap(Revocation.Revocation, (revocation) => make({ ...options, revocation })))

/**
 * The events of the `ManagedToken` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const events: Stream.Stream<Event, never, ManagedToken> = Stream.unwrap(
  Effect.map(ManagedToken, (service) => service.events)
)
