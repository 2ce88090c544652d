/**
 * A real OAuth 2.0 / OpenID Connect authorization server for tests: `oidc-provider` 9 in this process, on a free
 * `127.0.0.1` port. As a scoped Effect {@link layer}, or as a plain async {@link start} / `stop`.
 *
 * What it is set up with:
 * - one resource server, `https://api.example` (scopes `api:read api:write`), whose access tokens are JWTs (RS256,
 *   `typ` at+jwt) with `aud: "https://api.example"`. There is **no default resource**: a client-credentials request
 *   without `resource` gets an opaque access token (its `scope` as requested), not a JWT for the API, so a client that
 *   forgets it does not pass by luck;
 * - clients for `client_secret_basic`, `client_secret_post` and `private_key_jwt` (client credentials), a `web` client
 *   (authorization code with PKCE S256 required, refresh tokens, rotation and reuse detection) and an `exchanger`
 *   (RFC 8693 token exchange). The server is **strict about the registered authentication method** (oidc-provider on
 *   its own accepts `client_secret_basic` and `client_secret_post` interchangeably);
 * - a token-exchange grant that validates its parameters and answers a client-credentials subject token with 400;
 * - counters of the requests each endpoint received, and a log of the token requests;
 * - a headless `signIn` that drives the login and consent pages as a browser would.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { JWK } from "jose"
import * as crypto from "node:crypto"
import * as http from "node:http"
import * as Counters from "./internal/counters.js"
import * as Fixtures from "./internal/fixtures.js"
import * as Grants from "./internal/grants.js"
import * as Headless from "./internal/headless.js"
import * as Keys from "./internal/keys.js"
import * as Notices from "./internal/notices.js"
import * as Dpop from "./internal/dpop.js"
import * as ProviderConfig from "./internal/provider.js"
import * as Listen from "./internal/listen.js"
import * as Resource from "./internal/resource.js"
import * as TokenExchange from "./internal/tokenExchange.js"

/**
 * Options of {@link start} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  /** Lifetime of access tokens of every grant (JWT and opaque), in seconds. Default 300. */
  readonly accessTokenTtl?: number | undefined
  /** Lifetime of refresh tokens, in seconds. Default 86,400. */
  readonly refreshTokenTtl?: number | undefined
  /**
   * A new refresh token on every refresh, the one sent being consumed. Reusing a consumed one answers 400
   * `invalid_grant` and revokes the whole grant (the newest refresh token dies too). Default `true`.
   */
  readonly rotateRefreshToken?: boolean | undefined
  /**
   * Where oidc-provider's own notices go – the `oidc-provider WARNING: …` and `oidc-provider NOTICE: …` lines it
   * prints while the server starts – without colours. By default the three that only say what a test server is
   * (Node 20 rather than 22, the in-memory adapter, the development login pages) are dropped and any other is
   * printed as oidc-provider prints it; `logger: (line) => console.warn(line)` shows them all. The runtime notice
   * comes once per process, when the first server loads oidc-provider. An internal error of the server (a bug, not a
   * refused request) is always printed with `console.error`.
   */
  readonly logger?: ((message: string) => void) | undefined
  /**
   * The redirect URIs of the `web` client, matched exactly by the server (default: `http://127.0.0.1:1/callback`, where
   * nothing listens – enough for the headless {@link signIn}). An application under test registers its own callback,
   * e.g. `["http://127.0.0.1:8080/callback"]`; `clients.web.redirectUri` is the first.
   */
  readonly webRedirectUris?: ReadonlyArray<string> | undefined
  /**
   * The `post_logout_redirect_uris` of the `web` client (OpenID Connect RP-Initiated Logout): where the server may send
   * the browser after signing the user out at its `end_session_endpoint` (default: none – the server then shows its
   * own "signed out" page).
   */
  readonly webPostLogoutRedirectUris?: ReadonlyArray<string> | undefined
  /**
   * The format of the access tokens the server's grants issue for `https://api.example`: `"jwt"` (RFC 9068, the
   * default) or `"opaque"` – 43 random characters an API can only read by introspection (RFC 7662, at
   * `introspectionEndpoint`, as the `resourceServer` client). The token exchange grant issues JWTs either way.
   */
  readonly accessTokenFormat?: "jwt" | "opaque" | undefined
  /**
   * DPoP (RFC 9449): every proof – at the token endpoint (every grant, the token exchange included) and at the
   * {@link TestServerInfo.protectedResource} – must carry a current server nonce; one without gets `use_dpop_nonce`
   * and the nonce in `DPoP-Nonce`. Default `false`: proofs are checked, nonces are not required (the token endpoint
   * still offers them).
   */
  readonly requireDpopNonce?: boolean | undefined
}

/**
 * A client registered with a shared secret.
 *
 * @since 0.1.0
 * @category models
 */
export interface RegisteredClient {
  readonly clientId: string
  /**
   * Contains ASCII specials (`:`, `%`, `+`, space, `&`, `=`, `~`, `!`, `*`, `'`, `(`, `)`): in a Basic header it must
   * be form-urlencoded before base64 (RFC 6749 §2.3.1), or the server refuses it.
   */
  readonly clientSecret: string
}

/**
 * A client registered for `private_key_jwt` with an RS256 key pair generated when the server starts.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrivateKeyJwtClient {
  readonly clientId: string
  /** the private key as a JWK (`kty` RSA, with `kid`, `alg` RS256 and `use` sig) */
  readonly privateKey: JWK
  /** the `kid` the public key is registered under; put it in the client assertion's header */
  readonly keyId: string
  readonly algorithm: "RS256"
}

/**
 * One request the protected resource received.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResourceRequestRecord {
  readonly method: string
  /** the path and query */
  readonly path: string
  /** the `Authorization` scheme, lower-case (`"dpop"`, `"bearer"`), or `"none"` */
  readonly scheme: string
  /** 200, or 401 */
  readonly status: number
  /** the `error` of a refusal (`invalid_dpop_proof`, `use_dpop_nonce`, `invalid_token`, `invalid_request`) */
  readonly error: string | undefined
  /** the accepted proof's `nonce`, when it had one */
  readonly nonce: string | undefined
}

/**
 * A small protected resource on its own loopback port, for DPoP: it checks proofs with `jose` alone (independently of
 * any client library) and answers with what the token says.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProtectedResourceInfo {
  /**
   * `http://127.0.0.1:<port>`: any path, any method. It accepts the server's JWT access tokens for
   * `https://api.example`, as `Authorization: DPoP <token>` with one `DPoP` proof of the key in the token's `cnf.jkt`,
   * or as `Bearer` when the token is not bound, and answers 200 `{ sub, client_id, scope, jkt, method, path }`; anything
   * else is 401 with `WWW-Authenticate` and a JSON error body.
   */
  readonly url: string
  /** requests received since the start or the last `resetCounts()` */
  readonly requestCount: () => number
  /** the requests received, oldest first */
  readonly requests: () => ReadonlyArray<ResourceRequestRecord>
}

/**
 * One request the token endpoint received.
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenRequestRecord {
  /** the `grant_type` parameter, if the request had one */
  readonly grantType: string | undefined
  /** whether the request carried an `Authorization` header (a `client_secret_post` client must not send one) */
  readonly authorizationHeader: boolean
  /** the HTTP status the server answered */
  readonly status: number
}

/**
 * Options of a headless sign-in.
 *
 * @since 0.1.0
 * @category models
 */
export interface SignInOptions {
  /** The account that signs in: any string (no password is checked); it becomes the tokens' `sub`. Default `"alice"`. */
  readonly accountId?: string
}

/**
 * A running test server: its endpoints, its registered clients, request counters, the headless sign-in and `stop`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestServerInfo {
  /** `http://127.0.0.1:<port>` */
  readonly issuer: string
  /** `<issuer>/token` */
  readonly tokenEndpoint: string
  /** `<issuer>/auth` */
  readonly authorizationEndpoint: string
  /** `<issuer>/jwks`: the public key that signs ID tokens and JWT access tokens */
  readonly jwksUri: string
  /**
   * `<issuer>/token/introspection` (RFC 7662): the `resourceServer` client may introspect every token, any other
   * client only its own (for another's token the answer is `{ active: false }`). A JWT is refused with 400
   * `unsupported_token_type` (oidc-provider does not store them): introspect opaque and refresh tokens.
   */
  readonly introspectionEndpoint: string
  /**
   * `<issuer>/session/end`: OpenID Connect RP-Initiated Logout. It asks the user to confirm (a form with "Yes, sign me
   * out"), then redirects to the `post_logout_redirect_uri` when it is one of `webPostLogoutRedirectUris`.
   */
  readonly endSessionEndpoint: string
  /** The resource server whose access tokens are JWTs: `aud` = this, scopes `api:read api:write`. */
  readonly resource: "https://api.example"
  readonly clients: {
    /** `svc-basic`: `client_secret_basic` only; grant `client_credentials`; scopes `api:read api:write` */
    readonly basic: RegisteredClient
    /** `svc-post`: `client_secret_post` only; grant `client_credentials`; scopes `api:read api:write` */
    readonly post: RegisteredClient
    /** `svc-pkjwt`: `private_key_jwt` (RS256) only; grant `client_credentials`; scopes `api:read api:write` */
    readonly privateKeyJwt: PrivateKeyJwtClient
    /**
     * `web-app`: `client_secret_basic` only; grants `authorization_code` (PKCE S256 required) and `refresh_token`
     * (always issued, rotated unless `rotateRefreshToken: false`); scopes `openid offline_access api:read api:write`.
     * Its redirect URI is the first of the `webRedirectUris` option – by default `http://127.0.0.1:1/callback`, where
     * nothing listens; its post-logout redirect URIs are `webPostLogoutRedirectUris`.
     */
    readonly web: RegisteredClient & {
      readonly redirectUri: string
      readonly redirectUris: ReadonlyArray<string>
      readonly postLogoutRedirectUris: ReadonlyArray<string>
    }
    /**
     * `web-public`: a public client (`token_endpoint_auth_method: none`, no secret); grants `authorization_code`
     * (PKCE S256 required) and `refresh_token` (always issued, rotated); scopes as `web`; redirect URIs as `web`. With
     * DPoP its refresh tokens are bound to the key of the sign-in (RFC 9449 §5): a refresh with another key is 400
     * `invalid_grant`.
     */
    readonly publicWeb: { readonly clientId: string; readonly redirectUri: string }
    /**
     * `svc-exchanger`: `client_secret_basic` only; grants token exchange (RFC 8693) and `client_credentials`; scopes
     * `api:read api:write`
     */
    readonly exchanger: RegisteredClient
    /**
     * `api-rs`: `client_secret_basic` only; no grant – the protected API's own client, which introspects the tokens it
     * receives (any token of any client)
     */
    readonly resourceServer: RegisteredClient
  }
  /**
   * Requests received since the start (or the last {@link TestServerInfo.resetCounts}) under `key`: `"all"`; by
   * endpoint `"token"`, `"authorization"`, `"resume"`, `"interaction"`, `"jwks"`, `"discovery"`, `"userinfo"`,
   * `"revocation"`, `"introspection"`, `"other"` (no endpoint); and token requests by grant: `"token:client_credentials"`,
   * `"token:authorization_code"`, `"token:refresh_token"`, `"token:urn:ietf:params:oauth:grant-type:token-exchange"`,
   * `"token:?"` (no `grant_type`). A request is counted before its response is sent. Unknown keys count 0.
   */
  readonly requestCount: (key: string) => number
  /** The token endpoint's requests since the start or the last reset, oldest first. */
  readonly tokenRequests: () => ReadonlyArray<TokenRequestRecord>
  /** Sets every counter back to 0 and empties the token-request log and the protected resource's. */
  readonly resetCounts: () => void
  /** The protected resource that checks DPoP proofs (and Bearer tokens) on its own port. */
  readonly protectedResource: ProtectedResourceInfo
  /** `dpop_signing_alg_values_supported`: `ES256`, `EdDSA`, `Ed25519`, `RS256` (not `PS256`). */
  readonly dpopSigningAlgorithms: ReadonlyArray<string>
  /**
   * Revokes every grant `accountId` consented to, with its refresh tokens, access tokens and codes – as an
   * administrator would. The next refresh of any of them is 400 `invalid_grant`; JWT access tokens already issued stay
   * valid for their resource server until they expire (they are not looked up). Resolves with the number of grants
   * revoked.
   */
  readonly revokeGrants: (accountId: string) => Promise<number>
  /**
   * Headless sign-in: drives the login and consent pages for `authorizationUrl` (built by the client under test) as
   * `accountId` (default `"alice"`) and resolves with the URL the server then redirects to – the client's
   * `redirect_uri` with `code`, `state` and `iss` (or `error`). Follows only redirects within the issuer's origin.
   * Rejects with an `Error` that says where the flow stopped (with the server's `error` when it showed one).
   */
  readonly signIn: (authorizationUrl: string, options?: SignInOptions) => Promise<string>
  /** Stops the server and closes its open connections. Idempotent. */
  readonly stop: () => Promise<void>
}

/**
 * The resource whose access tokens are JWTs.
 *
 * @since 0.1.0
 * @category constants
 */
export const resource: "https://api.example" = Fixtures.resource

/**
 * The RFC 8693 grant type the `exchanger` client is registered for.
 *
 * @since 0.1.0
 * @category constants
 */
export const tokenExchangeGrant: string = Fixtures.tokenExchangeGrant

/**
 * Starts a test server on a free `127.0.0.1` port. For code that does not use Effect; with Effect, use {@link layer}.
 *
 * @example
 * ```ts
 * import * as TestServer from "@effect-oauth/test-server"
 *
 * // RFC 6749 §2.3.1: form-urlencode id and secret, then base64
 * const form = (s: string) => new URLSearchParams({ s }).toString().slice(2)
 *
 * const server = await TestServer.start()
 * const { clientId, clientSecret } = server.clients.basic
 * const response = await fetch(server.tokenEndpoint, {
 *   method: "POST",
 *   headers: { authorization: `Basic ${btoa(`${form(clientId)}:${form(clientSecret)}`)}` },
 *   body: new URLSearchParams({ grant_type: "client_credentials", resource: server.resource, scope: "api:read" })
 * })
 * // 200 { access_token: "<JWT, aud https://api.example>", token_type: "Bearer", expires_in: 300, scope: "api:read" }
 * await server.stop()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = async (options: StartOptions = {}): Promise<TestServerInfo> => {
  const accessTokenTtl = options.accessTokenTtl ?? 300
  const refreshTokenTtl = options.refreshTokenTtl ?? 86_400
  const webRedirectUris = options.webRedirectUris === undefined || options.webRedirectUris.length === 0
    ? [Fixtures.redirectUri]
    : [...options.webRedirectUris]
  const webPostLogoutRedirectUris = [...(options.webPostLogoutRedirectUris ?? [])]

  // node:http first: the issuer must name the port
  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503
    res.end()
  }
  const server = http.createServer((req, res) => handler(req, res))
  const { port, stop: stopServer } = await Listen.listen(server, "the test server")
  const issuer = `http://127.0.0.1:${port}`

  let resource: Resource.ProtectedResource | undefined
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= Promise.all([stopServer(), resource?.stop()]).then(() => undefined)
    return stopped
  }

  try {
    const requireDpopNonce = options.requireDpopNonce ?? false
    const [signing, clientKey] = await Promise.all([Keys.generate("signing-1"), Keys.generate("client-key-1")])
    resource = await Resource.start({ issuer, verificationKey: signing.publicJwk, requireNonce: requireDpopNonce })
    const protectedResource = resource
    const oidc = await Notices.load(options.logger)
    // one secret for the token endpoint's DPoP nonces: oidc-provider's grants and the token exchange share them
    const dpopNonceSecret = crypto.randomBytes(32)
    const exchange = TokenExchange.make({
      issuer,
      verificationKey: signing.publicJwk,
      accessTokenTtl,
      dpopNonces: Dpop.nonces(dpopNonceSecret, "DPoP"),
      requireDpopNonce
    })
    const provider = Notices.routed(options.logger, () =>
      ProviderConfig.make(oidc, {
        issuer,
        accessTokenTtl,
        refreshTokenTtl,
        rotateRefreshToken: options.rotateRefreshToken ?? true,
        signingKey: signing.privateJwk,
        clientPublicKey: clientKey.publicJwk,
        extraTokenClaims: exchange.extraTokenClaims,
        webRedirectUris,
        webPostLogoutRedirectUris,
        accessTokenFormat: options.accessTokenFormat ?? "jwt",
        dpopNonceSecret,
        requireDpopNonce
      }))
    exchange.register(provider, oidc.errors)
    const counters = Counters.install(provider)
    const grants = Grants.install(provider)
    // an internal error of the server (not a refused request) is a bug here: make it visible
    provider.on("server_error", (ctx, error) => {
      console.error(`@effect-oauth/test-server: server_error on ${ctx.method} ${ctx.path}:`, error)
    })
    handler = provider.callback()

    return {
      issuer,
      tokenEndpoint: `${issuer}/token`,
      authorizationEndpoint: `${issuer}/auth`,
      jwksUri: `${issuer}/jwks`,
      introspectionEndpoint: `${issuer}/token/introspection`,
      endSessionEndpoint: `${issuer}/session/end`,
      resource: Fixtures.resource,
      clients: {
        basic: { clientId: Fixtures.clientIds.basic, clientSecret: Fixtures.clientSecrets.basic },
        post: { clientId: Fixtures.clientIds.post, clientSecret: Fixtures.clientSecrets.post },
        privateKeyJwt: {
          clientId: Fixtures.clientIds.privateKeyJwt,
          privateKey: clientKey.privateJwk,
          keyId: clientKey.keyId,
          algorithm: "RS256"
        },
        web: {
          clientId: Fixtures.clientIds.web,
          clientSecret: Fixtures.clientSecrets.web,
          redirectUri: webRedirectUris[0] ?? Fixtures.redirectUri,
          redirectUris: webRedirectUris,
          postLogoutRedirectUris: webPostLogoutRedirectUris
        },
        publicWeb: { clientId: Fixtures.clientIds.publicWeb, redirectUri: webRedirectUris[0] ?? Fixtures.redirectUri },
        exchanger: { clientId: Fixtures.clientIds.exchanger, clientSecret: Fixtures.clientSecrets.exchanger },
        resourceServer: {
          clientId: Fixtures.clientIds.resourceServer,
          clientSecret: Fixtures.clientSecrets.resourceServer
        }
      },
      requestCount: counters.get,
      tokenRequests: counters.tokenRequests,
      resetCounts: () => {
        counters.reset()
        protectedResource.reset()
      },
      protectedResource: {
        url: protectedResource.url,
        requestCount: protectedResource.requestCount,
        requests: protectedResource.requests
      },
      dpopSigningAlgorithms: [...Fixtures.dpopSigningAlgorithms],
      revokeGrants: grants.revoke,
      signIn: (authorizationUrl, signInOptions) =>
        Headless.signIn({ issuer, authorizationUrl, accountId: signInOptions?.accountId ?? "alice" }),
      stop
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * The running test server, provided by {@link layer}.
 *
 * @since 0.1.0
 * @category tags
 */
export class TestServer extends Context.Tag("@effect-oauth/test-server/TestServer")<TestServer, TestServerInfo>() {}

/**
 * A test server as a scoped layer: started when the layer is built, stopped when its scope closes. A failure to start
 * is a defect.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as TestServer from "@effect-oauth/test-server"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* TestServer.TestServer
 *   return server.tokenEndpoint
 * }).pipe(Effect.provide(TestServer.layer({ accessTokenTtl: 60 })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: StartOptions): Layer.Layer<TestServer> =>
  Layer.scoped(
    TestServer,
    Effect.acquireRelease(Effect.promise(() => start(options)), (server) => Effect.promise(() => server.stop()))
  )

/**
 * Headless sign-in on the {@link TestServer} in context (see {@link TestServerInfo.signIn}); fails with the `Error`
 * that says where the flow stopped.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as TestServer from "@effect-oauth/test-server"
 *
 * // `url`: an authorization URL for the web client (PKCE S256, state, resource https://api.example)
 * const callback = (url: string) =>
 *   TestServer.signIn(url, { accountId: "bob" }).pipe(
 *     Effect.map((redirect) => new URL(redirect).searchParams.get("code"))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const signIn = (
  authorizationUrl: string,
  options?: SignInOptions
): Effect.Effect<string, Error, TestServer> =>
  Effect.flatMap(TestServer, (server) =>
    Effect.tryPromise({
      try: () => server.signIn(authorizationUrl, options),
      catch: (cause) => (cause instanceof Error ? cause : new Error("headless sign-in failed", { cause }))
    }))
