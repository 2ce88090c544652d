/**
 * The one place that POSTs a grant to the token endpoint.
 *
 * CONTRACT (implementation in progress): every grant module calls `request`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as ClientAuth from "./ClientAuth.js"
import type { TokenRequestError } from "./OAuthError.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * How a failed request is retried. `"transient"`: transport failures, 408, 429 and 5xx, with exponential backoff and
 * jitter, honouring `Retry-After` up to `retryAfterCap`. `"never"`: one attempt (the refresh grant's default, since a
 * replayed rotated refresh token revokes the grant).
 *
 * @since 0.1.0
 * @category models
 */
export type RetryPolicy =
  | { readonly _tag: "Never" }
  | {
    readonly _tag: "Transient"
    /** retries after the first attempt (default 2) */
    readonly times?: number
    /** first backoff (default 100 ms), doubled each time, jittered */
    readonly base?: Duration.DurationInput
    /** the longest `Retry-After` honoured (default 10 s); a longer one fails at once */
    readonly retryAfterCap?: Duration.DurationInput
  }

/**
 * A form parameter: a string, or several (the parameter is repeated, as RFC 8707 `resource` is).
 *
 * @since 0.1.0
 * @category models
 */
export type Param = string | ReadonlyArray<string> | undefined

/**
 * @since 0.1.0
 * @category models
 */
export interface TokenRequest {
  /** `grant_type` */
  readonly grantType: string
  /** the other form parameters; `undefined` members are left out, arrays repeat the parameter */
  readonly params?: Readonly<Record<string, Param>>
  /** how the client authenticates */
  readonly auth: ClientAuth.ClientAuth
  /** the scope that was asked for: the `TokenSet.scope` when the response has none (RFC 6749 §5.1) */
  readonly requestedScope?: ReadonlyArray<string> | undefined
  /** overrides the grant's default retry policy */
  readonly retry?: RetryPolicy | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenEndpoint extends Context.Tag("@effect-oauth/client/TokenEndpoint")<
  TokenEndpoint,
  TokenEndpoint.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace TokenEndpoint {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** POSTs one grant; the `TokenSet`'s provenance names the grant, the client and the endpoint */
    readonly request: (request: TokenRequest) => Effect.Effect<TokenSet, TokenRequestError>
  }
}
