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
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
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
 * How `client_secret_basic` puts the id and secret in the header:
 *
 * - `"rfc6749"` (the default): each is form-urlencoded (UTF-8) before they are joined by `:` and base64-encoded, as
 *   RFC 6749 §2.3.1 requires – `:`, `%`, `+`, space and non-ASCII characters are then unambiguous;
 * - `"rfc7617"`: joined as they are (UTF-8) and base64-encoded, as plain HTTP Basic (RFC 7617) does. For servers that
 *   do not form-decode the credentials (many deployed ones: a secret with `: % + & = ~ ! * ' ( )` or a space fails
 *   there with `invalid_client` under `"rfc6749"`). An id containing `:` cannot be sent this way (RFC 7617 §2): a
 *   `ConfigurationError`. Against such a server, `client_secret_post` works too.
 *
 * No automatic fallback: it would double the requests and hide a misconfiguration.
 *
 * @since 0.1.0
 * @category models
 */
export type BasicEncoding = "rfc6749" | "rfc7617"

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
  /**
   * `client_secret_basic`: id and secret in an HTTP Basic header – each form-urlencoded first (`"rfc6749"`, RFC 6749
   * §2.3.1), or as they are (`"rfc7617"`, for servers that do not decode them)
   */
  ClientSecretBasic: {
    readonly clientId: string
    readonly clientSecret: Redacted.Redacted<string>
    readonly encoding: BasicEncoding
  }
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
export const clientSecretBasic = (
  clientId: string,
  clientSecret: Redacted.Redacted<string>,
  options?: { readonly encoding?: BasicEncoding | undefined }
): ClientAuth => ClientSecretBasic({ clientId, clientSecret, encoding: options?.encoding ?? "rfc6749" })

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
 * The registered name of the method (RFC 7591 `token_endpoint_auth_method`): `client_secret_basic`,
 * `client_secret_post`, `client_secret_jwt`, `private_key_jwt` or `none`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const methodName = (self: ClientAuth): string => {
  switch (self._tag) {
    case "ClientSecretBasic":
      return "client_secret_basic"
    case "ClientSecretPost":
      return "client_secret_post"
    case "ClientSecretJwt":
      return "client_secret_jwt"
    case "PrivateKeyJwt":
      return "private_key_jwt"
    case "None":
      return "none"
  }
}

/**
 * The client id, whatever the method.
 *
 * @since 0.1.0
 * @category accessors
 */
export const clientId = (self: ClientAuth): string => self.clientId

/**
 * A client authentication from the environment:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `OAUTH_CLIENT_ID` | the client id (required) |
 * | `OAUTH_CLIENT_AUTH_METHOD` | `client_secret_basic` (default), `client_secret_post`, `client_secret_jwt`, `private_key_jwt` or `none` |
 * | `OAUTH_CLIENT_SECRET` | the secret (`Config.redacted`), for the three `client_secret_*` methods |
 * | `OAUTH_CLIENT_PRIVATE_KEY` | a PKCS#8 PEM (`Config.redacted`), for `private_key_jwt` |
 * | `OAUTH_CLIENT_KEY_ID` | the `kid` of that key (optional) |
 * | `OAUTH_CLIENT_SIGNING_ALG` | the assertion's algorithm (default `RS256` for `private_key_jwt`, `HS256` for `client_secret_jwt`) |
 * | `OAUTH_CLIENT_BASIC_ENCODING` | `rfc6749` (default) or `rfc7617`, for `client_secret_basic` (see {@link BasicEncoding}) |
 *
 * Every service that authenticates the client (`ClientCredentials`, `RefreshToken`, `AuthorizationCode`,
 * `Revocation`) reads it in its `layerConfig`. Nest it for several clients: `Config.nested(ClientAuth.config,
 * "ORDERS")` reads `ORDERS_OAUTH_CLIENT_ID`, …
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<ClientAuth> = Config.all({
  clientId: Config.string("OAUTH_CLIENT_ID"),
  method: Config.literal(
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none"
  )("OAUTH_CLIENT_AUTH_METHOD").pipe(Config.withDefault("client_secret_basic" as const)),
  secret: Config.option(Config.redacted("OAUTH_CLIENT_SECRET")),
  privateKey: Config.option(Config.redacted("OAUTH_CLIENT_PRIVATE_KEY")),
  keyId: Config.option(Config.string("OAUTH_CLIENT_KEY_ID")),
  algorithm: Config.option(Config.string("OAUTH_CLIENT_SIGNING_ALG")),
  encoding: Config.literal("rfc6749", "rfc7617")("OAUTH_CLIENT_BASIC_ENCODING").pipe(
    Config.withDefault("rfc6749" as const)
  )
}).pipe(
  Config.mapOrFail(({ algorithm, clientId, encoding, keyId, method, privateKey, secret }) => {
    const missing = (name: string) =>
      Either.left(ConfigError.MissingData([name], `${name} is required when OAUTH_CLIENT_AUTH_METHOD is ${method}`))
    switch (method) {
      case "client_secret_basic":
        if (encoding === "rfc7617" && clientId.includes(":")) {
          return Either.left(
            ConfigError.InvalidData(["OAUTH_CLIENT_ID"], "a client id with ':' cannot be sent with rfc7617 Basic encoding")
          )
        }
        return Option.isSome(secret)
          ? Either.right(clientSecretBasic(clientId, secret.value, { encoding }))
          : missing("OAUTH_CLIENT_SECRET")
      case "client_secret_post":
        return Option.isSome(secret)
          ? Either.right(clientSecretPost(clientId, secret.value))
          : missing("OAUTH_CLIENT_SECRET")
      case "client_secret_jwt": {
        if (Option.isNone(secret)) return missing("OAUTH_CLIENT_SECRET")
        const alg = Option.getOrElse(algorithm, () => "HS256")
        return alg === "HS256" || alg === "HS384" || alg === "HS512"
          ? Either.right(clientSecretJwt(clientId, secret.value, { algorithm: alg }))
          : Either.left(
            ConfigError.InvalidData(["OAUTH_CLIENT_SIGNING_ALG"], "client_secret_jwt signs with HS256, HS384 or HS512")
          )
      }
      case "private_key_jwt": {
        if (Option.isNone(privateKey)) return missing("OAUTH_CLIENT_PRIVATE_KEY")
        const alg = Option.getOrElse(algorithm, () => "RS256")
        return Either.right(
          privateKeyJwt(
            clientId,
            privateKey.value,
            Option.isSome(keyId) ? { algorithm: alg, keyId: keyId.value } : { algorithm: alg }
          )
        )
      }
      case "none":
        return Either.right(none(clientId))
    }
  })
)
