/** Token sets for tests: building one from a few fields, reading its tokens, waiting until it has expired. */
import { Clock, Duration, Effect, Redacted } from "effect"
import { Provenance, TokenSet } from "../../src/TokenSet.js"

/** The fields a test cares about; the rest defaults (`Bearer`, issued at 0, living an hour, no extra fields). */
export interface TokenSetFields {
  readonly access: string
  readonly refresh?: string | undefined
  readonly idToken?: string | undefined
  readonly tokenType?: string | undefined
  readonly issuedAt?: number | undefined
  readonly lifetimeMillis?: number | undefined
  readonly scope?: ReadonlyArray<string> | undefined
  readonly issuedTokenType?: string | undefined
  /** the provenance: `grant` (required: the grant decides how a token set is treated), client and endpoint */
  readonly grant: string
  readonly clientId?: string | undefined
  readonly tokenEndpoint?: string | undefined
}

/** A `TokenSet` instance with the given fields (only those given; optional ones absent otherwise). */
export const makeTokenSet = (fields: TokenSetFields): TokenSet => {
  const issuedAt = fields.issuedAt ?? 0
  return new TokenSet({
    accessToken: Redacted.make(fields.access),
    tokenType: fields.tokenType ?? "Bearer",
    issuedAt,
    expiresAt: issuedAt + (fields.lifetimeMillis ?? 3_600_000),
    ...(fields.refresh !== undefined ? { refreshToken: Redacted.make(fields.refresh) } : {}),
    ...(fields.idToken !== undefined ? { idToken: Redacted.make(fields.idToken) } : {}),
    ...(fields.scope !== undefined ? { scope: fields.scope } : {}),
    ...(fields.issuedTokenType !== undefined ? { issuedTokenType: fields.issuedTokenType } : {}),
    extra: {},
    provenance: new Provenance({
      grant: fields.grant,
      ...(fields.clientId !== undefined ? { clientId: fields.clientId } : {}),
      tokenEndpoint: fields.tokenEndpoint ?? "https://as.example/token"
    })
  })
}

/** The access token in clear. */
export const accessTokenOf = (tokens: { readonly accessToken: Redacted.Redacted<string> }): string =>
  Redacted.value(tokens.accessToken)

/** A token (a refresh token, say) in clear, or `undefined` when there is none. */
export const revealed = (token: Redacted.Redacted<string> | undefined): string | undefined =>
  token === undefined ? undefined : Redacted.value(token)

/** Sleeps (on the Clock in use) until 100 ms after `tokens` expire. */
export const sleepUntilExpired = (tokens: TokenSet) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sleep(Duration.millis(Math.max(0, tokens.expiresAt - now) + 100)))
