/**
 * The oidc-provider configuration of the test server.
 *
 * @internal
 */
import * as crypto from "node:crypto"
import Provider, { errors } from "oidc-provider"
import type { ClientMetadata, Configuration, JWK, KoaContextWithOIDC, ResourceServer } from "oidc-provider"
import * as Fixtures from "./fixtures.js"

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
  readonly redirectUri: string
}

const secondsPerDay = 24 * 60 * 60

/** @internal */
export const resourceServerInfo = (accessTokenTtl: number): ResourceServer => ({
  scope: Fixtures.resourceScope,
  audience: Fixtures.resource,
  accessTokenFormat: "jwt",
  accessTokenTTL: accessTokenTtl,
  jwt: { sign: { alg: "RS256" } }
})

const clients = (options: ProviderOptions): Array<ClientMetadata> => [
  {
    client_id: Fixtures.clientIds.basic,
    client_secret: Fixtures.clientSecrets.basic,
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    scope: Fixtures.resourceScope
  },
  {
    client_id: Fixtures.clientIds.post,
    client_secret: Fixtures.clientSecrets.post,
    token_endpoint_auth_method: "client_secret_post",
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    scope: Fixtures.resourceScope
  },
  {
    client_id: Fixtures.clientIds.privateKeyJwt,
    token_endpoint_auth_method: "private_key_jwt",
    token_endpoint_auth_signing_alg: "RS256",
    jwks: { keys: [options.clientPublicKey] },
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    scope: Fixtures.resourceScope
  },
  {
    client_id: Fixtures.clientIds.web,
    client_secret: Fixtures.clientSecrets.web,
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    redirect_uris: [options.redirectUri],
    scope: `openid offline_access ${Fixtures.resourceScope}`
  },
  {
    client_id: Fixtures.clientIds.exchanger,
    client_secret: Fixtures.clientSecrets.exchanger,
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: [Fixtures.tokenExchangeGrantType, "client_credentials"],
    response_types: [],
    redirect_uris: [],
    scope: Fixtures.resourceScope
  }
]

/**
 * oidc-provider accepts `client_secret_basic` and `client_secret_post` interchangeably for a client registered with
 * either. The test server is strict: a `client_secret_basic` client must send the Authorization header and a
 * `client_secret_post` client must not (it then also sent `client_secret` in the body, which oidc-provider refuses
 * together with a header anyway). A mismatch fails like a wrong secret: 401 `invalid_client`.
 */
const makeStrict = (provider: Provider): void => {
  const prototype = provider.Client.prototype
  const compare = prototype.compareClientSecret
  prototype.compareClientSecret = function(this: typeof prototype, actual: string) {
    const hasAuthorizationHeader = Provider.ctx?.headers.authorization !== undefined
    if (this.clientAuthMethod === "client_secret_basic" && !hasAuthorizationHeader) return false
    if (this.clientAuthMethod === "client_secret_post" && hasAuthorizationHeader) return false
    return compare.call(this, actual)
  }
}

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** An error page without oidc-provider's "you SHOULD change renderError" notice; the error is in a `<pre>` as JSON. */
const renderError = (ctx: KoaContextWithOIDC, out: Record<string, unknown>): void => {
  ctx.type = "html"
  ctx.body = `<!DOCTYPE html><title>oidc-provider test server error</title><pre id="error">${
    escapeHtml(JSON.stringify(out))
  }</pre>`
}

/** @internal */
export interface Hooks {
  /** extra claims of an access token (used by the token exchange grant for `act`) */
  readonly extraTokenClaims?: NonNullable<Configuration["extraTokenClaims"]>
}

/** @internal */
export const makeProvider = (options: ProviderOptions, hooks: Hooks = {}): Provider => {
  const configuration: Configuration = {
    clients: clients(options),
    jwks: { keys: [options.signingKey] },
    cookies: { keys: [crypto.randomBytes(32).toString("base64url")] },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // no defaultResource: a request that names no resource gets no JWT for https://api.example
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator === Fixtures.resource) return resourceServerInfo(options.accessTokenTtl)
          throw new errors.InvalidTarget(`unknown resource indicator (this server knows only ${Fixtures.resource})`)
        }
      }
    },
    pkce: { required: () => true },
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: options.rotateRefreshToken,
    expiresWithSession: () => false,
    clientBasedCORS: () => false,
    renderError,
    ...(hooks.extraTokenClaims === undefined ? {} : { extraTokenClaims: hooks.extraTokenClaims }),
    ttl: {
      AccessToken: options.accessTokenTtl,
      ClientCredentials: options.accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: options.accessTokenTtl,
      RefreshToken: options.refreshTokenTtl,
      Interaction: 60 * 60,
      Session: secondsPerDay,
      Grant: Math.max(options.refreshTokenTtl, secondsPerDay),
      DeviceCode: 10 * 60,
      BackchannelAuthenticationRequest: 10 * 60,
      PreAuthorizedCode: 10 * 60
    }
  }
  const provider = new Provider(options.issuer, configuration)
  makeStrict(provider)
  return provider
}
