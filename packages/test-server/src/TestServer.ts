/**
 * A real OAuth 2.0 / OpenID Connect authorization server for tests: `oidc-provider` (OpenID-certified) in this
 * process, on a free 127.0.0.1 port. As a scoped Effect `Layer`, or as a plain async `start` / `stop`.
 *
 * What it is set up with:
 * - one resource server, `https://api.example` (scopes `api:read api:write`), whose access tokens are JWTs (RS256)
 *   with `aud: "https://api.example"`. There is **no default resource**: a request without `resource` gets an opaque
 *   access token, so a client that forgets it does not pass by luck;
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
import * as Jose from "jose"
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import Provider, { errors } from "oidc-provider"

/**
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  /** access token lifetime, seconds (default 300) */
  readonly accessTokenTtl?: number | undefined
  /** refresh token lifetime, seconds (default 86,400) */
  readonly refreshTokenTtl?: number | undefined
  /** a new refresh token on every refresh; reusing a rotated one revokes the grant (default true) */
  readonly rotateRefreshToken?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RegisteredClient {
  readonly clientId: string
  readonly clientSecret: string
}

/**
 * One request the token endpoint received.
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenRequestRecord {
  readonly grantType: string | undefined
  /** whether the request carried an `Authorization` header (a `client_secret_post` client must not send one) */
  readonly authorizationHeader: boolean
  readonly status: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TestServerInfo {
  /** `http://127.0.0.1:<port>` */
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly authorizationEndpoint: string
  readonly jwksUri: string
  /** the resource server whose access tokens are JWTs */
  readonly resource: "https://api.example"
  readonly clients: {
    /** `client_secret_basic` only; client credentials */
    readonly basic: RegisteredClient
    /** `client_secret_post` only; client credentials */
    readonly post: RegisteredClient
    /** `private_key_jwt` (RS256); client credentials */
    readonly privateKeyJwt: {
      readonly clientId: string
      readonly privateKey: JsonWebKey
      readonly keyId: string
      readonly algorithm: "RS256"
    }
    /** `client_secret_basic`; authorization code (PKCE S256 required) and refresh token; scopes `openid
     * offline_access api:read api:write` */
    readonly web: RegisteredClient & { readonly redirectUri: string }
    /** `client_secret_basic`; token exchange and client credentials */
    readonly exchanger: RegisteredClient
  }
  /**
   * Requests received by endpoint (`"token"`, `"authorization"`, `"jwks"`, `"discovery"`, `"interaction"`, …) and,
   * for the token endpoint, by grant too: `"token:client_credentials"`, `"token:refresh_token"`, …
   */
  readonly requestCount: (key: string) => number
  /** the token endpoint's requests since the last reset, oldest first */
  readonly tokenRequests: () => ReadonlyArray<TokenRequestRecord>
  readonly resetCounts: () => void
  /**
   * Headless sign-in: drives login and consent for `authorizationUrl` (built by the client under test) as user
   * `accountId` (default `"alice"`). Resolves with the redirect to the client's `redirect_uri` (it carries `code`,
   * `state` and `iss`).
   */
  readonly signIn: (authorizationUrl: string, options?: { readonly accountId?: string }) => Promise<string>
  readonly stop: () => Promise<void>
}

/**
 * @since 0.1.0
 * @category constants
 */
export const resource = "https://api.example" as const

/**
 * @since 0.1.0
 * @category constants
 */
export const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"

const tokenTypes = {
  accessToken: "urn:ietf:params:oauth:token-type:access_token",
  jwt: "urn:ietf:params:oauth:token-type:jwt",
  refreshToken: "urn:ietf:params:oauth:token-type:refresh_token",
  idToken: "urn:ietf:params:oauth:token-type:id_token",
  saml1: "urn:ietf:params:oauth:token-type:saml1",
  saml2: "urn:ietf:params:oauth:token-type:saml2"
}
const knownTokenTypes = new Set(Object.values(tokenTypes))

// VSCHAR specials: a client that sends them in a Basic header without form-urlencoding them first is refused
const secret = (name: string) => `${name}-s3cr:t%+ &=~!*'()`

const listen = (server: http.Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address !== null && typeof address === "object") resolve(address.port)
      else reject(new Error("the test server has no TCP address"))
    })
  })

/**
 * Starts a server; `stop` closes it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = async (options: StartOptions = {}): Promise<TestServerInfo> => {
  const accessTokenTtl = options.accessTokenTtl ?? 300
  const refreshTokenTtl = options.refreshTokenTtl ?? 86_400

  const counts = new Map<string, number>()
  let tokenLog: Array<TokenRequestRecord> = []
  const count = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)

  // node:http first: the issuer must name the port
  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503
    res.end()
  }
  const server = http.createServer((req, res) => handler(req, res))
  const port = await listen(server)
  const issuer = `http://127.0.0.1:${port}`

  const { privateKey: signingPrivate } = await Jose.generateKeyPair("RS256", { extractable: true })
  const signingJwk = { ...(await Jose.exportJWK(signingPrivate)), kid: "signing-1", alg: "RS256", use: "sig" }
  const { privateKey: clientPrivate, publicKey: clientPublic } = await Jose.generateKeyPair("RS256", {
    extractable: true
  })
  const clientKeyId = "client-key-1"
  const clientPrivateJwk = { ...(await Jose.exportJWK(clientPrivate)), kid: clientKeyId, alg: "RS256" }
  const clientPublicJwk = { ...(await Jose.exportJWK(clientPublic)), kid: clientKeyId, alg: "RS256", use: "sig" }

  const clients = {
    basic: { clientId: "svc-basic", clientSecret: secret("basic") },
    post: { clientId: "svc-post", clientSecret: secret("post") },
    privateKeyJwt: { clientId: "svc-pkjwt", privateKey: clientPrivateJwk, keyId: clientKeyId, algorithm: "RS256" as const },
    web: { clientId: "web-app", clientSecret: secret("web"), redirectUri: "http://127.0.0.1:1/callback" },
    exchanger: { clientId: "svc-exchanger", clientSecret: secret("exchanger") }
  }

  const resourceServerInfo = {
    scope: "api:read api:write",
    audience: resource,
    accessTokenFormat: "jwt" as const,
    accessTokenTTL: accessTokenTtl,
    jwt: { sign: { alg: "RS256" as const } }
  }

  // the actor of an exchanged token, for its `act` claim
  const actors = new WeakMap<object, string>()

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clients.basic.clientId,
        client_secret: clients.basic.clientSecret,
        token_endpoint_auth_method: "client_secret_basic",
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
        scope: "api:read api:write"
      },
      {
        client_id: clients.post.clientId,
        client_secret: clients.post.clientSecret,
        token_endpoint_auth_method: "client_secret_post",
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
        scope: "api:read api:write"
      },
      {
        client_id: clients.privateKeyJwt.clientId,
        token_endpoint_auth_method: "private_key_jwt",
        token_endpoint_auth_signing_alg: "RS256",
        jwks: { keys: [clientPublicJwk] },
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
        scope: "api:read api:write"
      },
      {
        client_id: clients.web.clientId,
        client_secret: clients.web.clientSecret,
        token_endpoint_auth_method: "client_secret_basic",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        redirect_uris: [clients.web.redirectUri],
        scope: "openid offline_access api:read api:write"
      },
      {
        client_id: clients.exchanger.clientId,
        client_secret: clients.exchanger.clientSecret,
        token_endpoint_auth_method: "client_secret_basic",
        grant_types: [tokenExchangeGrant, "client_credentials"],
        response_types: [],
        redirect_uris: [],
        scope: "api:read api:write"
      }
    ],
    jwks: { keys: [signingJwk] },
    scopes: ["openid", "offline_access", "api:read", "api:write"],
    clientAuthMethods: ["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt", "none"],
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator === resource) return resourceServerInfo
          throw new errors.InvalidTarget()
        }
      }
    },
    pkce: { required: () => true },
    rotateRefreshToken: options.rotateRefreshToken ?? true,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    expiresWithSession: () => false,
    findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
    extraTokenClaims: (_ctx, token) => {
      const actor = actors.get(token)
      return actor === undefined ? undefined : { act: { sub: actor } }
    },
    ttl: {
      AccessToken: accessTokenTtl,
      ClientCredentials: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3_600,
      RefreshToken: refreshTokenTtl,
      Interaction: 600,
      Session: 86_400,
      Grant: refreshTokenTtl
    }
  })

  // strict about the registered method: basic clients must use the header, post clients must not
  const compare = provider.Client.prototype.compareClientSecret
  provider.Client.prototype.compareClientSecret = function(this: InstanceType<typeof provider.Client>, actual: string) {
    const header = Provider.ctx?.get("authorization") ?? ""
    const basic = /^basic /i.test(header)
    if (this.tokenEndpointAuthMethod === "client_secret_basic" && !basic) return Promise.resolve(false)
    if (this.tokenEndpointAuthMethod === "client_secret_post" && header !== "") return Promise.resolve(false)
    return compare.call(this, actual)
  }

  provider.use(async (ctx, next) => {
    await next()
    const route = ctx.oidc?.route ?? (ctx.path.startsWith("/interaction") ? "interaction" : ctx.path)
    count(route)
    if (route === "token") {
      const grantType = ctx.oidc?.params?.["grant_type"]
      const grant = typeof grantType === "string" ? grantType : undefined
      count(`token:${grant ?? "?"}`)
      tokenLog.push({ grantType: grant, authorizationHeader: ctx.get("authorization") !== "", status: ctx.status })
    }
  })

  const verifyOwnToken = async (token: string) => {
    const jwks = Jose.createLocalJWKSet({ keys: [{ ...clientPublicJwk }, publicOf(signingJwk)] })
    return Jose.jwtVerify(token, jwks, { issuer }).then((r) => r.payload, () => undefined)
  }

  provider.registerGrantType(
    tokenExchangeGrant,
    async (ctx) => {
      const params = ctx.oidc.params ?? {}
      const str = (name: string): string | undefined => {
        const v = params[name]
        return typeof v === "string" && v !== "" ? v : undefined
      }
      const list = (name: string): Array<string> => {
        const v = params[name]
        return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []
      }
      const client = ctx.oidc.client
      if (client === undefined) throw new errors.InvalidClient()
      const subjectToken = str("subject_token")
      const subjectTokenType = str("subject_token_type")
      if (subjectToken === undefined) throw new errors.InvalidRequest("missing required parameter 'subject_token'")
      if (subjectTokenType === undefined) throw new errors.InvalidRequest("missing required parameter 'subject_token_type'")
      if (!knownTokenTypes.has(subjectTokenType)) throw new errors.InvalidRequest("unsupported subject_token_type")
      if (subjectTokenType !== tokenTypes.accessToken && subjectTokenType !== tokenTypes.jwt) {
        throw new errors.InvalidRequest("only access tokens can be exchanged here")
      }
      const actorToken = str("actor_token")
      const actorTokenType = str("actor_token_type")
      if (actorToken !== undefined && actorTokenType === undefined) {
        throw new errors.InvalidRequest("actor_token_type is required with actor_token")
      }
      if (actorToken === undefined && actorTokenType !== undefined) {
        throw new errors.InvalidRequest("actor_token_type must not be sent without actor_token")
      }
      if (actorTokenType !== undefined && !knownTokenTypes.has(actorTokenType)) {
        throw new errors.InvalidRequest("unsupported actor_token_type")
      }
      const requested = str("requested_token_type")
      if (requested !== undefined && requested !== tokenTypes.accessToken && requested !== tokenTypes.jwt) {
        throw new errors.InvalidRequest("unsupported requested_token_type")
      }
      for (const target of [...list("audience"), ...list("resource")]) {
        if (target !== resource) throw new errors.InvalidTarget(`unknown target ${target}`)
      }
      const subject = await verifyOwnToken(subjectToken)
      if (subject === undefined || typeof subject.sub !== "string") {
        throw new errors.InvalidGrant("subject_token is invalid or expired")
      }
      // a client-credentials token has no user: servers answer such an exchange with a bare 400
      if (subject.sub === subject["client_id"]) {
        throw new errors.InvalidRequest("subject_token belongs to a system identity and cannot be exchanged")
      }
      let actorSub: string | undefined
      if (actorToken !== undefined) {
        const actor = await verifyOwnToken(actorToken)
        if (actor === undefined || typeof actor.sub !== "string") {
          throw new errors.InvalidGrant("actor_token is invalid or expired")
        }
        actorSub = actor.sub
      }
      const allowed = new Set(resourceServerInfo.scope.split(" "))
      const subjectScopes = new Set(typeof subject["scope"] === "string" ? subject["scope"].split(" ") : [])
      const scopeParam = str("scope")
      const scopes = scopeParam === undefined ? [...subjectScopes].filter((s) => allowed.has(s)) : scopeParam.split(" ")
      for (const s of scopes) {
        if (!allowed.has(s)) throw new errors.InvalidScope("requested scope is not allowed", s)
      }
      // a grant of its own, as every token the provider issues has one
      const grant = new provider.Grant({ accountId: subject.sub, clientId: client.clientId })
      grant.addResourceScope(resource, scopes.join(" "))
      const grantId = await grant.save()
      const at = new provider.AccessToken({
        accountId: subject.sub,
        client,
        grantId,
        gty: "token_exchange",
        scope: scopes.join(" ")
      })
      at.resourceServer = new provider.ResourceServer(resource, resourceServerInfo)
      if (actorSub !== undefined) actors.set(at, actorSub)
      const value = await at.save()
      ctx.body = {
        access_token: value,
        issued_token_type: requested ?? tokenTypes.accessToken,
        token_type: "Bearer",
        expires_in: at.expiration,
        scope: scopes.join(" ")
      }
    },
    ["subject_token", "subject_token_type", "actor_token", "actor_token_type", "audience", "resource", "scope",
      "requested_token_type"],
    ["audience", "resource"]
  )

  // the provider's own noise ("Unsupported runtime", dev interactions) is not the test's business
  provider.on("server_error", () => {})
  handler = provider.callback()

  const signIn = (authorizationUrl: string, signInOptions?: { readonly accountId?: string }) =>
    headlessSignIn(issuer, authorizationUrl, signInOptions?.accountId ?? "alice")

  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    authorizationEndpoint: `${issuer}/auth`,
    jwksUri: `${issuer}/jwks`,
    resource,
    clients,
    requestCount: (key) => counts.get(key) ?? 0,
    tokenRequests: () => tokenLog.slice(),
    resetCounts: () => {
      counts.clear()
      tokenLog = []
    },
    signIn,
    stop
  }
}

const publicOf = (jwk: Jose.JWK): Jose.JWK => {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = jwk
  return rest
}

/** the first `<form>` of a page: its action and its hidden inputs */
const parseForm = (html: string): { action: string; fields: Record<string, string> } | undefined => {
  const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(html)
  if (form === null) return undefined
  const fields: Record<string, string> = {}
  for (const input of form[2]!.matchAll(/<input[^>]*>/gi)) {
    const name = /name="([^"]+)"/i.exec(input[0])
    const value = /value="([^"]*)"/i.exec(input[0])
    if (name !== null) fields[name[1]!] = value?.[1] ?? ""
  }
  return { action: form[1]!.replace(/&amp;/g, "&"), fields }
}

const headlessSignIn = async (issuer: string, authorizationUrl: string, accountId: string): Promise<string> => {
  const origin = new URL(issuer).origin
  const cookies = new Map<string, string>()
  const remember = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";")
      const eq = pair!.indexOf("=")
      cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1))
    }
  }
  const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join("; ")

  let next: { url: string; method: "GET" | "POST"; body?: URLSearchParams } = { url: authorizationUrl, method: "GET" }
  for (let step = 0; step < 12; step++) {
    const res = await fetch(next.url, {
      method: next.method,
      redirect: "manual",
      headers: {
        cookie: cookieHeader(),
        ...(next.body ? { "content-type": "application/x-www-form-urlencoded" } : {})
      },
      ...(next.body ? { body: next.body } : {})
    })
    remember(res)
    const location = res.headers.get("location")
    if (res.status >= 300 && res.status < 400 && location !== null) {
      const target = new URL(location, next.url)
      // the client's redirect_uri: done, nothing needs to listen there
      if (target.origin !== origin) return target.href
      next = { url: target.href, method: "GET" }
      continue
    }
    const html = await res.text()
    const form = parseForm(html)
    if (res.status !== 200 || form === undefined) {
      throw new Error(`sign-in stopped at ${new URL(next.url).pathname} with HTTP ${res.status}`)
    }
    const body = new URLSearchParams(form.fields)
    if (form.fields["prompt"] === "login" || /name="login"/.test(html)) {
      body.set("prompt", "login")
      body.set("login", accountId)
      body.set("password", randomUUID())
    } else {
      body.set("prompt", form.fields["prompt"] ?? "consent")
    }
    next = { url: new URL(form.action, next.url).href, method: "POST", body }
  }
  throw new Error("sign-in did not reach the redirect_uri within 12 steps")
}

/**
 * The running server, in an Effect program.
 *
 * @since 0.1.0
 * @category tags
 */
export class TestServer extends Context.Tag("@effect-oauth/test-server/TestServer")<TestServer, TestServerInfo>() {}

/**
 * Starts a server when the layer is built and stops it when its scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: StartOptions): Layer.Layer<TestServer> =>
  Layer.scoped(
    TestServer,
    Effect.acquireRelease(Effect.promise(() => start(options)), (info) => Effect.promise(() => info.stop()))
  )

/**
 * Headless sign-in (see `TestServerInfo.signIn`) as an Effect.
 *
 * @since 0.1.0
 * @category accessors
 */
export const signIn = (
  authorizationUrl: string,
  options?: { readonly accountId?: string }
): Effect.Effect<string, Error, TestServer> =>
  Effect.flatMap(TestServer, (server) =>
    Effect.tryPromise({
      try: () => server.signIn(authorizationUrl, options),
      catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
    }))
