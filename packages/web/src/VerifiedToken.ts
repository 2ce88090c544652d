/**
 * The access token of the request, verified by `ApiAuth` and provided to every handler behind its middleware: who it
 * stands for (`subject`, `clientId`, `scope`, the `claims` of the JWT or of the introspection answer), how it came
 * (`scheme`, the DPoP key it is bound to), and the token itself – `Redacted` – for the next hop: a `TokenExchange` with
 * it as the subject token, to call a downstream API on the user's behalf.
 *
 * @example
 * ```ts
 * import { BearerClient, TokenExchange } from "@effect-oauth/client"
 * import { VerifiedToken } from "@effect-oauth/web"
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // behind ApiAuth.middleware: the caller's token, exchanged for one the downstream API accepts
 * const stock = Effect.gen(function*() {
 *   yield* VerifiedToken.requireScope("orders:read")
 *   const caller = yield* VerifiedToken.VerifiedToken
 *   const exchange = yield* TokenExchange.TokenExchange
 *   const tokens = exchange.source({ subjectToken: caller.token, resource: "https://stock.example", scope: ["stock:read"] })
 *   const stockApi = yield* BearerClient.make(tokens, { origins: ["https://stock.example"] })
 *   const response = yield* stockApi.get("https://stock.example/levels")
 *   return yield* HttpServerResponse.json({ user: caller.subject, stock: yield* response.json })
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { Claims } from "@effect-oauth/client/Jwt"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { InsufficientScope, Scheme } from "./ApiAuthError.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class VerifiedToken extends Context.Tag("@effect-oauth/web/VerifiedToken")<
  VerifiedToken,
  VerifiedToken.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace VerifiedToken {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** the access token as the request carried it: the subject token of a `TokenExchange` */
    readonly token: Redacted.Redacted<string>
    /** `jwt`: an RFC 9068 JWT verified against the server's key set; `opaque`: read by introspection (RFC 7662) */
    readonly format: "jwt" | "opaque"
    /** how the request presented it */
    readonly scheme: Scheme
    /** the JWT's claims, or the introspection answer's members (the same names: `sub`, `scope`, `client_id`, …) */
    readonly claims: Claims
    /** `sub`: the user (or, for a client-credentials token, the client) */
    readonly subject: string | undefined
    /** `client_id`: the client the token was issued to */
    readonly clientId: string | undefined
    /** `scope`, split */
    readonly scope: ReadonlyArray<string>
    /** `exp`, in epoch milliseconds */
    readonly expiresAt: number | undefined
    /** the JWK SHA-256 thumbprint of the DPoP key the token is bound to (`cnf.jkt`), proven by this request */
    readonly jkt: string | undefined
    /**
     * Succeeds when the token holds every one of `scope`; otherwise fails with `InsufficientScope` (403, its
     * `scope` all of them) – and, in an `HttpApi` application, sets the response's `WWW-Authenticate` to say so.
     */
    readonly requireScope: (...scope: ReadonlyArray<string>) => Effect.Effect<void, InsufficientScope>
  }
}

/**
 * Requires every one of `scope` of the request's token (see `VerifiedToken.Service.requireScope`): a route's scopes.
 *
 * @since 0.1.0
 * @category accessors
 */
export const requireScope = (...scope: ReadonlyArray<string>): Effect.Effect<void, InsufficientScope, VerifiedToken> =>
  Effect.flatMap(VerifiedToken, (token) => token.requireScope(...scope))

/**
 * The token's `sub`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const subject: Effect.Effect<string | undefined, never, VerifiedToken> = Effect.map(
  VerifiedToken,
  (token) => token.subject
)
