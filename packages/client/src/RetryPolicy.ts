/**
 * How a request to an endpoint of the authorization server is retried when it fails.
 *
 * - `never`: one attempt. The default of `refresh_token` (a replayed rotated refresh token revokes the whole grant)
 *   and `authorization_code` (a code is single-use).
 * - `transient(options?)`: transport failures (except `Redirect` and `BodyTooLarge`) and HTTP 408, 429 and 5xx are
 *   retried with exponential backoff and jitter, never sooner than the server's `Retry-After`, and not at all when
 *   that is longer than `retryAfterCap`. The default of every other grant, and of revocation.
 *
 * @example
 * ```ts
 * import { RetryPolicy, TokenEndpoint } from "@effect-oauth/client"
 *
 * const Endpoint = TokenEndpoint.layer({
 *   retry: { client_credentials: RetryPolicy.transient({ times: 4, base: "200 millis" }) }
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"

/**
 * @since 0.1.0
 * @category models
 */
export type RetryPolicy =
  | { readonly _tag: "Never" }
  | {
    readonly _tag: "Transient"
    /** retries after the first attempt (default 2) */
    readonly times?: number | undefined
    /** first backoff (default 100 ms), doubled each time, jittered */
    readonly base?: Duration.DurationInput | undefined
    /** the longest `Retry-After` honoured (default 10 s); a longer one fails at once */
    readonly retryAfterCap?: Duration.DurationInput | undefined
  }

/**
 * One attempt only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const never: RetryPolicy = { _tag: "Never" }

/**
 * Options of {@link transient}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransientOptions {
  readonly times?: number | undefined
  readonly base?: Duration.DurationInput | undefined
  readonly retryAfterCap?: Duration.DurationInput | undefined
}

/**
 * Retry transient failures (transport errors except `Redirect` and `BodyTooLarge`; HTTP 408, 429, 5xx) with
 * exponential backoff and jitter, never sooner than the server's `Retry-After`, and not at all when that is longer
 * than `retryAfterCap`. Defaults: `times` 2, `base` 100 ms, `retryAfterCap` 10 s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const transient = (options?: TransientOptions): RetryPolicy => ({ _tag: "Transient", ...options })

/**
 * The default policy of a grant: {@link never} for `refresh_token` and `authorization_code`, {@link transient} with
 * its defaults for every other grant.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultFor = (grantType: string): RetryPolicy =>
  grantType === "refresh_token" || grantType === "authorization_code" ? never : transient()
