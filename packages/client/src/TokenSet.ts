/**
 * The decoded answer of a token endpoint.
 *
 * Tokens are `Redacted`: a `TokenSet` can be logged, printed, put in a span or serialised with `toJSON` without a
 * token ever appearing. Times come from the Effect `Clock` of the fiber that made the request, in epoch milliseconds.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * The RFC 8693 token type URNs, and `N_A` (RFC 8693 §2.2.1: the issued token is not an access token and must never be
 * sent as a bearer token).
 *
 * @since 0.1.0
 * @category constants
 */
export const TokenTypes = {
  accessToken: "urn:ietf:params:oauth:token-type:access_token",
  refreshToken: "urn:ietf:params:oauth:token-type:refresh_token",
  idToken: "urn:ietf:params:oauth:token-type:id_token",
  jwt: "urn:ietf:params:oauth:token-type:jwt",
  saml1: "urn:ietf:params:oauth:token-type:saml1",
  saml2: "urn:ietf:params:oauth:token-type:saml2"
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type TokenTypeUrn = (typeof TokenTypes)[keyof typeof TokenTypes]

/**
 * The grant type values this library sends.
 *
 * @since 0.1.0
 * @category constants
 */
export const GrantTypes = {
  clientCredentials: "client_credentials",
  refreshToken: "refresh_token",
  authorizationCode: "authorization_code",
  tokenExchange: "urn:ietf:params:oauth:grant-type:token-exchange"
} as const

/**
 * Where a token set came from: which grant minted it, for which client, at which token endpoint. The system-identity
 * guard of `TokenExchange` reads it: a token minted by `client_credentials` belongs to a system identity.
 *
 * @since 0.1.0
 * @category models
 */
export class Provenance extends Schema.Class<Provenance>("@effect-oauth/client/Provenance")({
  grant: Schema.String,
  clientId: Schema.optional(Schema.String),
  tokenEndpoint: Schema.String
}) {}

/**
 * A decoded token response.
 *
 * - `scope` is what the server granted; when the response has no `scope`, it is the scope that was requested
 *   (RFC 6749 §5.1), and absent when none was requested either.
 * - `expiresAt` is always set: from `expires_in`, else from a JWT access token's `exp`, else from the endpoint's
 *   configured default lifetime.
 * - `extra` holds the response members this library does not model (never a token: `access_token`,
 *   `refresh_token` and `id_token` are taken out first).
 * - `jkt` (RFC 9449): the thumbprint of the DPoP key the access token is bound to, when the server answered
 *   `token_type: DPoP` to a request that carried a proof; absent for a `Bearer` token.
 * - `dpopKey`: the private key (a JWK, `Redacted`) of that binding, kept only by the token sets of user sessions (the
 *   code exchange and refresh): a session refreshes with it – on any instance – and sends its access token with it.
 *   Token sets of the cached grants (client credentials, token exchange) never carry it.
 *
 * @since 0.1.0
 * @category models
 */
export class TokenSet extends Schema.Class<TokenSet>("@effect-oauth/client/TokenSet")({
  accessToken: Schema.Redacted(Schema.String),
  tokenType: Schema.String,
  issuedAt: Schema.Number,
  expiresAt: Schema.Number,
  refreshToken: Schema.optional(Schema.Redacted(Schema.String)),
  idToken: Schema.optional(Schema.Redacted(Schema.String)),
  scope: Schema.optional(Schema.Array(Schema.String)),
  issuedTokenType: Schema.optional(Schema.String),
  extra: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  provenance: Provenance,
  jkt: Schema.optional(Schema.String),
  dpopKey: Schema.optional(Schema.Redacted(Schema.String))
}) {
  /**
   * `false` for RFC 8693 `N_A` tokens: they are not access tokens and must never be sent as bearer tokens.
   *
   * @since 0.1.0
   */
  get isAccessToken(): boolean {
    return this.tokenType.toLowerCase() !== "n_a"
  }

  /**
   * The lifetime the server granted, in milliseconds.
   *
   * @since 0.1.0
   */
  get lifetimeMillis(): number {
    return Math.max(0, this.expiresAt - this.issuedAt)
  }

  /**
   * A printable summary without any token.
   *
   * @since 0.1.0
   */
  override toString(): string {
    return `TokenSet(${this.tokenType}, grant=${this.provenance.grant}, scope=${this.scope?.join(" ") ?? "-"}, ` +
      `expiresAt=${formatTime(this.expiresAt)}${this.refreshToken ? ", refreshToken=<redacted>" : ""}` +
      `${this.jkt !== undefined ? `, jkt=${this.jkt}` : ""})`
  }

  /**
   * @since 0.1.0
   */
  toJSON(): unknown {
    return {
      _id: "TokenSet",
      accessToken: "<redacted>",
      tokenType: this.tokenType,
      issuedAt: this.issuedAt,
      expiresAt: this.expiresAt,
      ...(this.refreshToken ? { refreshToken: "<redacted>" } : {}),
      ...(this.idToken ? { idToken: "<redacted>" } : {}),
      ...(this.scope ? { scope: this.scope } : {}),
      ...(this.issuedTokenType ? { issuedTokenType: this.issuedTokenType } : {}),
      ...(this.jkt !== undefined ? { jkt: this.jkt } : {}),
      ...(this.dpopKey ? { dpopKey: "<redacted>" } : {}),
      provenance: { grant: this.provenance.grant, clientId: this.provenance.clientId, tokenEndpoint: this.provenance.tokenEndpoint }
    }
  }

  /**
   * @since 0.1.0
   */
  [Symbol.for("nodejs.util.inspect.custom")](): unknown {
    return this.toJSON()
  }
}

/** an ISO time, or the raw number when it is outside what `Date` can show: printing never throws */
const formatTime = (millis: number): string => {
  const date = new Date(millis)
  return Number.isNaN(date.getTime()) ? String(millis) : date.toISOString()
}

/**
 * The access token in clear, for the one place that must send it.
 *
 * @since 0.1.0
 * @category accessors
 */
export const accessTokenValue = (self: TokenSet): string => Redacted.value(self.accessToken)

/**
 * Encodes a token set for storage (tokens in clear: only for stores the application protects).
 *
 * @since 0.1.0
 * @category serialization
 */
export const encodeJson = Schema.encodeSync(Schema.parseJson(TokenSet))

/**
 * Decodes a stored token set.
 *
 * @since 0.1.0
 * @category serialization
 */
export const decodeJson = Schema.decodeUnknown(Schema.parseJson(TokenSet))

/**
 * The fields of {@link make}: only `accessToken` is required.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly accessToken: string | Redacted.Redacted<string>
  /** seconds from `issuedAt` (default 3,600) */
  readonly expiresIn?: number | undefined
  /** default `"Bearer"` */
  readonly tokenType?: string | undefined
  readonly scope?: ReadonlyArray<string> | undefined
  readonly refreshToken?: string | Redacted.Redacted<string> | undefined
  readonly idToken?: string | Redacted.Redacted<string> | undefined
  readonly issuedTokenType?: string | undefined
  readonly extra?: Readonly<Record<string, unknown>> | undefined
  /** the thumbprint of the DPoP key the token is bound to (with `tokenType: "DPoP"`) */
  readonly jkt?: string | undefined
  /** epoch ms (default: the Effect `Clock`'s now) */
  readonly issuedAt?: number | undefined
  /** provenance: the grant (default `client_credentials`), the client (default `test-client`), the endpoint */
  readonly grant?: string | undefined
  readonly clientId?: string | undefined
  readonly tokenEndpoint?: string | undefined
}

const redacted = (value: string | Redacted.Redacted<string>): Redacted.Redacted<string> =>
  Redacted.isRedacted(value) ? value : Redacted.make(value)

/**
 * A token set with defaults – for tests and fakes: issued now (the Effect `Clock`, so a `TestClock` moves it), living
 * an hour, a `Bearer` token from `client_credentials`.
 *
 * @example
 * ```ts
 * import { TokenSet } from "@effect-oauth/client"
 * import { Effect } from "effect"
 *
 * const token = TokenSet.make({ accessToken: "t1", expiresIn: 300, scope: ["api:read"] })
 * // Effect<TokenSet>: issuedAt from the Clock, expiresAt 300 s later
 * const program = Effect.map(token, (t) => `${t}`)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: MakeOptions): Effect.Effect<TokenSet> =>
  Effect.map(
    options.issuedAt === undefined ? Clock.currentTimeMillis : Effect.succeed(options.issuedAt),
    (issuedAt) =>
      new TokenSet({
        accessToken: redacted(options.accessToken),
        tokenType: options.tokenType ?? "Bearer",
        issuedAt,
        expiresAt: issuedAt + (options.expiresIn ?? 3600) * 1000,
        ...(options.refreshToken !== undefined ? { refreshToken: redacted(options.refreshToken) } : {}),
        ...(options.idToken !== undefined ? { idToken: redacted(options.idToken) } : {}),
        ...(options.scope !== undefined ? { scope: [...options.scope] } : {}),
        ...(options.issuedTokenType !== undefined ? { issuedTokenType: options.issuedTokenType } : {}),
        ...(options.jkt !== undefined ? { jkt: options.jkt } : {}),
        extra: { ...options.extra },
        provenance: new Provenance({
          grant: options.grant ?? GrantTypes.clientCredentials,
          clientId: options.clientId ?? "test-client",
          tokenEndpoint: options.tokenEndpoint ?? "https://as.example/token"
        })
      })
  )
