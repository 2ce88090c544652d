/**
 * The retry `Schedule` of a token request.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import type { TokenRequestError } from "../OAuthError.js"
import { isTransient } from "../OAuthError.js"
import type { RetryPolicy } from "../RetryPolicy.js"

/**
 * One failed attempt: the error, and the server's `Retry-After` (ms) when it sent one – also for a
 * `TokenEndpointError` (a 503 `temporarily_unavailable`), which has no field for it.
 *
 * @internal
 */
export interface AttemptFailure<E = TokenRequestError> {
  readonly error: E
  readonly retryAfterMillis: number | undefined
}

/**
 * The defaults of a `Transient` policy.
 *
 * @internal
 */
export const transientDefaults = {
  times: 2,
  base: Duration.millis(100),
  retryAfterCap: Duration.seconds(10)
} as const

/**
 * `true` when the failure is worth another attempt under a `Transient` policy whose `Retry-After` cap is `capMillis`.
 *
 * @internal
 */
export const isRetryable = (failure: AttemptFailure<unknown>, capMillis: number): boolean =>
  isTransient(failure.error) && (failure.retryAfterMillis === undefined || failure.retryAfterMillis <= capMillis)

/**
 * The schedule for `policy`: none for `Never`; for `Transient`, exponential backoff with jitter, at most `times`
 * retries, only while the failure is transient, and never sooner than the server's `Retry-After` (a `Retry-After`
 * over the cap stops the retries at once).
 *
 * @internal
 */
export const schedule = (policy: RetryPolicy): Schedule.Schedule<unknown, AttemptFailure<unknown>> => {
  if (policy._tag === "Never") return Schedule.stop
  const times = policy.times ?? transientDefaults.times
  const base = Duration.decode(policy.base ?? transientDefaults.base)
  const capMillis = Duration.toMillis(Duration.decode(policy.retryAfterCap ?? transientDefaults.retryAfterCap))
  return Schedule.exponential(base).pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(times)),
    Schedule.zipRight(Schedule.identity<AttemptFailure<unknown>>()),
    Schedule.whileInput((failure: AttemptFailure<unknown>) => isRetryable(failure, capMillis)),
    Schedule.modifyDelay((failure, delay) =>
      failure.retryAfterMillis === undefined ? delay : Duration.max(delay, Duration.millis(failure.retryAfterMillis))
    )
  )
}
