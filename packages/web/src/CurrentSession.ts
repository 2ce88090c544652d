/**
 * The signed-in user of the request, provided by `WebAuth`'s middleware to every route behind it: who it is (the
 * claims of the ID token the sign-in or the latest refresh verified), and a `TokenSource` for `BearerClient`, so that
 * a handler calls an API as the user – the access token refreshed once per session however many requests ask at once.
 *
 * @example
 * ```ts
 * import { BearerClient } from "@effect-oauth/client"
 * import { CurrentSession } from "@effect-oauth/web"
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const orders = Effect.gen(function*() {
 *   const session = yield* CurrentSession.CurrentSession
 *   const api = yield* BearerClient.make(session.tokens, { origins: ["https://api.example"] })
 *   const response = yield* api.get("https://api.example/orders")
 *   return yield* HttpServerResponse.json({ user: session.subject, orders: yield* response.json })
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { Claims } from "@effect-oauth/client/Jwt"
import type { ManagedTokenError } from "@effect-oauth/client/ManagedToken"
import type { TokenSource } from "@effect-oauth/client/TokenSource"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 * @category tags
 */
export class CurrentSession extends Context.Tag("@effect-oauth/web/CurrentSession")<
  CurrentSession,
  CurrentSession.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace CurrentSession {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** the user: the ID token's `sub` */
    readonly subject: string
    /**
     * the claims of the session's ID token – verified at sign-in (signature, issuer, audience, nonce) and at every
     * refresh that brought a new one (same user, OpenID Connect Core §12.2)
     */
    readonly claims: Claims
    /**
     * the session's access token, for `BearerClient.make(session.tokens, { origins })`: valid when handed out,
     * refreshed through `ManagedToken` (once per session, shared); `invalidate` after a 401 makes the next `get`
     * refresh. Fails with `ReauthenticationRequired` when the session ended meanwhile (the middleware then answers
     * as for a request without a session).
     */
    readonly tokens: TokenSource<ManagedTokenError>
    /** when the user signed in (epoch milliseconds) */
    readonly signedInAt: number
    /** when the session ends at the latest, however active the user is: its absolute lifetime (epoch milliseconds) */
    readonly expiresAt: number
  }
}

/**
 * The user's `sub`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const subject: Effect.Effect<string, never, CurrentSession> = Effect.map(CurrentSession, (s) => s.subject)
