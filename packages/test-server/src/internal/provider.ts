/**
 * The oidc-provider configuration of the test server: clients, the resource server, lifetimes, strictness.
 *
 * @internal
 */
import * as crypto from "node:crypto"
import type Provider from "oidc-provider"
import type { ClientMetadata, Configuration, ErrorOut, JWK, KoaContextWithOIDC, ResourceServer } from "oidc-provider"
import * as Fixtures from "./fixtures.js"
import type { OidcModule } from "./notices.js"

/** @internal */
export interface ProviderOptions {
  readonly issuer: string
  readonly accessTokenTtl: number
  readonly refreshTokenTtl: number
  readonly rotateRefreshToken: boolean
  /** private signing key of the server (RS256), with `kid`, `alg` and `use` */
  readonly signingKey: JWK
  /** public key of the private_key_jwt client, with `kid`, `alg` and `use` */
  readonly clientPublicKey: JWK
  /** extra claims of an access token (the token exchange grant's `act`) */
  readonly extraTokenClaims: NonNullable<Configuration["extraTokenClaims"]>
  /** the web client's registered redirect URIs */
  readonly webRedirectUris: ReadonlyArray<string>
  /** the web client's registered post-logout redirect URIs (OpenID Connect RP-Initiated Logout) */
  readonly webPostLogoutRedirectUris: ReadonlyArray<string>
  /** the secret of the DPoP nonces (32 bytes) */
  readonly dpopNonceSecret: Buffer
  /** every DPoP proof must carry a current nonce */
  readonly requireDpopNonce: boolean
}

const secondsPerDay = 24 * 60 * 60

/** The one resource server: JWT access tokens (RS256, `typ` at+jwt) for `https://api.example`. @internal */
export const resourceServerInfo = (accessTokenTtl: number): ResourceServer => ({
  scope: Fixtures.resourceScope,
  audience: Fixtures.resource,
  accessTokenFormat: "jwt",
  accessTokenTTL: accessTokenTtl,
  jwt: { sign: { alg: "RS256" } }
})

const clientCredentialsOnly = {
  response_types: [],
  redirect_uris: [],
  scope: Fixtures.resourceScope
} as const

const clients = (options: ProviderOptions): Array<ClientMetadata> => [
  {
    client_id: Fixtures.clientIds.basic,
    client_secret: Fixtures.clientSecrets.basic,
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["client_credentials"],
    ...clientCredentialsOnly
  },
  {
    client_id: Fixtures.clientIds.post,
    client_secret: Fixtures.clientSecrets.post,
    token_endpoint_auth_method: "client_secret_post",
    grant_types: ["client_credentials"],
    ...clientCredentialsOnly
  },
  {
    client_id: Fixtures.clientIds.privateKeyJwt,
    token_endpoint_auth_method: "private_key_jwt",
    token_endpoint_auth_signing_alg: "RS256",
    jwks: { keys: [options.clientPublicKey] },
    grant_types: ["client_credentials"],
    ...clientCredentialsOnly
  },
  {
    client_id: Fixtures.clientIds.web,
    client_secret: Fixtures.clientSecrets.web,
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    redirect_uris: [...options.webRedirectUris],
    post_logout_redirect_uris: [...options.webPostLogoutRedirectUris],
    scope: `openid offline_access ${Fixtures.resourceScope}`
  },
  {
    // a public client (RFC 9449 §5: its refresh tokens are bound to the DPoP key of the sign-in)
    client_id: Fixtures.clientIds.publicWeb,
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    redirect_uris: [...options.webRedirectUris],
    scope: `openid offline_access ${Fixtures.resourceScope}`
  },
  {
    client_id: Fixtures.clientIds.exchanger,
    client_secret: Fixtures.clientSecrets.exchanger,
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: [Fixtures.tokenExchangeGrant, "client_credentials"],
    ...clientCredentialsOnly
  }
]

/**
 * oidc-provider accepts `client_secret_basic` and `client_secret_post` interchangeably for a client registered with
 * either. The test server is strict: a `client_secret_basic` client must send a Basic Authorization header and a
 * `client_secret_post` client must send none. A mismatch fails like a wrong secret: 401 `invalid_client`.
 */
const makeStrict = (oidc: OidcModule, provider: Provider): void => {
  const prototype = provider.Client.prototype
  const compare = prototype.compareClientSecret
  prototype.compareClientSecret = function(this: typeof prototype, actual: string) {
    const header = oidc.default.ctx?.get("authorization") ?? ""
    if (this.clientAuthMethod === "client_secret_basic" && !/^basic /i.test(header)) return false
    if (this.clientAuthMethod === "client_secret_post" && header !== "") return false
    return compare.call(this, actual)
  }
}

const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/**
 * The RP-Initiated Logout confirmation page: oidc-provider's `form` (it carries the CSRF token and posts to the
 * confirm endpoint) with a "yes" and a "no" button, without the default page's notice and web-font import (a test
 * browser reaches nothing but loopback).
 */
const logoutSource = (ctx: KoaContextWithOIDC, form: string): void => {
  ctx.type = "html"
  ctx.body = `<!DOCTYPE html><title>Sign out?</title><h1>Sign out of the test server?</h1>${form}` +
    `<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>` +
    `<button type="submit" form="op.logoutForm">No, stay signed in</button>`
}

/** the page after a logout that named no post_logout_redirect_uri */
const postLogoutSuccessSource = (ctx: KoaContextWithOIDC): void => {
  ctx.type = "html"
  ctx.body = `<!DOCTYPE html><title>Signed out</title><h1 id="signed-out">Signed out of the test server</h1>`
}

/**
 * An error page without oidc-provider's "you SHOULD change renderError" notice: the error object as JSON in
 * `<pre id="error">`, which the headless sign-in reports.
 */
const renderError = (ctx: KoaContextWithOIDC, out: ErrorOut): void => {
  ctx.type = "html"
  ctx.body = `<!DOCTYPE html><title>test server error</title><pre id="error">${escapeHtml(JSON.stringify(out))}</pre>`
}

/**
 * A provider for `issuer`. No `defaultResource`: a request that names no resource gets no access token for
 * `https://api.example` – client credentials then get an opaque token (with the requested scope: the API scopes are
 * also registered as plain scopes), a code or refresh request of a grant with `openid` gets an opaque (userinfo)
 * token. `useGrantedResource` stays off for the same reason.
 *
 * @internal
 */
export const make = (oidc: OidcModule, options: ProviderOptions): Provider => {
  const { default: OidcProvider, errors } = oidc
  const provider = new OidcProvider(options.issuer, {
    clients: clients(options),
    jwks: { keys: [options.signingKey] },
    cookies: { keys: [crypto.randomBytes(32).toString("base64url")] },
    scopes: ["openid", "offline_access", "api:read", "api:write"],
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      // DPoP (RFC 9449) for the provider's own grants; the token exchange checks proofs itself (tokenExchange.ts)
      dPoP: {
        enabled: true,
        nonceSecret: options.dpopNonceSecret,
        requireNonce: () => options.requireDpopNonce
      },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      revocation: {
        enabled: true,
        // oidc-provider's default policy, given here because the default prints a "you SHOULD change it" notice on
        // every revocation: a client revokes only its own tokens
        allowedPolicy: (_ctx, client, token) => {
          if (token.clientId === client.clientId) return true
          if (client.clientAuthMethod === "none") return false
          throw new errors.InvalidRequest("client is not authorized to revoke the presented token")
        }
      },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator === Fixtures.resource) return resourceServerInfo(options.accessTokenTtl)
          throw new errors.InvalidTarget(`unknown resource (this server knows only ${Fixtures.resource})`)
        }
      }
    },
    enabledJWA: { dPoPSigningAlgValues: [...Fixtures.dpopSigningAlgorithms] },
    pkce: { required: () => true },
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: options.rotateRefreshToken,
    expiresWithSession: () => false,
    clientBasedCORS: () => false,
    renderError,
    extraTokenClaims: options.extraTokenClaims,
    ttl: {
      AccessToken: options.accessTokenTtl,
      ClientCredentials: options.accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      RefreshToken: options.refreshTokenTtl,
      Interaction: 60 * 60,
      Session: secondsPerDay,
      Grant: Math.max(options.refreshTokenTtl, secondsPerDay),
      DeviceCode: 10 * 60,
      BackchannelAuthenticationRequest: 10 * 60,
      PreAuthorizedCode: 10 * 60
    }
  })
  makeStrict(oidc, provider)
  return provider
}
