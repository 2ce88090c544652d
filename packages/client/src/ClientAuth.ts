/**
 * How a client authenticates at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2, OpenID Connect Core §9).
 * Secrets and keys are `Redacted`; nothing here prints them. `TokenEndpoint` applies the method to every request:
 *
 * - `clientSecretBasic`: `Authorization: Basic base64(formUrlEncode(id) ":" formUrlEncode(secret))`, UTF-8, as
 *   RFC 6749 §2.3.1 requires (`:`, `%`, `+`, space and non-ASCII characters are encoded before base64);
 * - `clientSecretPost`: `client_id` and `client_secret` in the form body, no `Authorization` header;
 * - `clientSecretJwt` / `privateKeyJwt`: `client_assertion_type` `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
 *   and a `client_assertion` signed with `jose`: `iss` = `sub` = the client id, `aud` = the token endpoint URL
 *   (OpenID Connect Core §9, RFC 7523 §3; Okta and Entra ID refuse anything else) unless `assertionAudience:
 *   "issuer"` asks for the issuer (RFC 7523bis; the token endpoint when none is known), a random `jti`, `iat` from
 *   the Effect `Clock`, `exp` 60 seconds later – a fresh one for every attempt;
 * - `none`: only `client_id` in the body (a public client).
 *
 * @example
 * ```ts
 * import { ClientAuth } from "@effect-oauth/client"
 * import { Config, Effect } from "effect"
 *
 * const basic = Effect.map(Config.redacted("OAUTH_CLIENT_SECRET"), (secret) =>
 *   ClientAuth.clientSecretBasic("orders-service", secret))
 *
 * const signed = Effect.map(Config.redacted("OAUTH_PRIVATE_KEY_PEM"), (pem) =>
 *   ClientAuth.privateKeyJwt("orders-service", pem, { algorithm: "ES256", keyId: "2024-01" }))
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Redacted from "effect/Redacted"
import type { CryptoKey, JWK } from "jose"

/**
 * A private key for `private_key_jwt`: a PEM (PKCS#8) string, a JWK, or a `CryptoKey`.
 *
 * @since 0.1.0
 * @category models
 */
export type PrivateKey = string | JWK | CryptoKey

/**
 * What a client assertion's `aud` names: `"tokenEndpoint"` (the default) the token endpoint URL, as OpenID Connect
 * Core §9 and RFC 7523 §3 say and Okta and Entra ID require; `"issuer"` the issuer identifier, as RFC 7523bis
 * recommends (the token endpoint when the `AuthorizationServer` knows no issuer).
 *
 * @since 0.1.0
 * @category models
 */
export type AssertionAudience = "tokenEndpoint" | "issuer"

/**
 * @since 0.1.0
 * @category models
 */
export type ClientAuth = Data.TaggedEnum<{
  /** `client_secret_basic`: id and secret, each form-urlencoded, in an HTTP Basic header (RFC 6749 §2.3.1) */
  ClientSecretBasic: { readonly clientId: string; readonly clientSecret: Redacted.Redacted<string> }
  /** `client_secret_post`: `client_id` and `client_secret` in the form body */
  ClientSecretPost: { readonly clientId: string; readonly clientSecret: Redacted.Redacted<string> }
  /** `client_secret_jwt`: an HS256 assertion signed with the secret (RFC 7523) */
  ClientSecretJwt: {
    readonly clientId: string
    readonly clientSecret: Redacted.Redacted<string>
    readonly algorithm: "HS256" | "HS384" | "HS512"
    readonly assertionAudience: AssertionAudience
  }
  /** `private_key_jwt`: an assertion signed with the client's private key (RFC 7523) */
  PrivateKeyJwt: {
    readonly clientId: string
    readonly privateKey: Redacted.Redacted<PrivateKey>
    readonly algorithm: string
    readonly keyId: string | undefined
    readonly assertionAudience: AssertionAudience
  }
  /** `none`: a public client; only `client_id` is sent */
  None: { readonly clientId: string }
}>

const { ClientSecretBasic, ClientSecretJwt, ClientSecretPost, None, PrivateKeyJwt, $is, $match } = Data.taggedEnum<
  ClientAuth
>()

export {
  /**
   * @since 0.1.0
   * @category guards
   */
  $is as is,
  /**
   * @since 0.1.0
   * @category pattern matching
   */
  $match as match
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const clientSecretBasic = (clientId: string, clientSecret: Redacted.Redacted<string>): ClientAuth =>
  ClientSecretBasic({ clientId, clientSecret })

/**
 * @since 0.1.0
 * @category constructors
 */
export const clientSecretPost = (clientId: string, clientSecret: Redacted.Redacted<string>): ClientAuth =>
  ClientSecretPost({ clientId, clientSecret })

/**
 * @since 0.1.0
 * @category constructors
 */
export const clientSecretJwt = (
  clientId: string,
  clientSecret: Redacted.Redacted<string>,
  options?: { readonly algorithm?: "HS256" | "HS384" | "HS512"; readonly assertionAudience?: AssertionAudience }
): ClientAuth =>
  ClientSecretJwt({
    clientId,
    clientSecret,
    algorithm: options?.algorithm ?? "HS256",
    assertionAudience: options?.assertionAudience ?? "tokenEndpoint"
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const privateKeyJwt = (
  clientId: string,
  privateKey: Redacted.Redacted<PrivateKey>,
  options?: { readonly algorithm?: string; readonly keyId?: string; readonly assertionAudience?: AssertionAudience }
): ClientAuth =>
  PrivateKeyJwt({
    clientId,
    privateKey,
    algorithm: options?.algorithm ?? "RS256",
    keyId: options?.keyId,
    assertionAudience: options?.assertionAudience ?? "tokenEndpoint"
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const none = (clientId: string): ClientAuth => None({ clientId })

/**
 * The client id, whatever the method.
 *
 * @since 0.1.0
 * @category accessors
 */
export const clientId = (self: ClientAuth): string => self.clientId
