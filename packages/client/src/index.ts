/**
 * @since 0.1.0
 */
export * as AuthorizationServer from "./AuthorizationServer.js"
/**
 * @since 0.1.0
 */
export * as ClientAuth from "./ClientAuth.js"
/**
 * @since 0.1.0
 */
export * as OAuthError from "./OAuthError.js"
/**
 * @since 0.1.0
 */
export * as RetryPolicy from "./RetryPolicy.js"

/**
 * @since 0.1.0
 */
export * as TokenEndpoint from "./TokenEndpoint.js"
/**
 * @since 0.1.0
 */
export * as TokenSet from "./TokenSet.js"
/**
 * @since 0.1.0
 */
export * as TokenSource from "./TokenSource.js"
/**
 * @since 0.1.0
 */
export * as CacheKey from "./CacheKey.js"
/**
 * @since 0.1.0
 */
export * as Freshness from "./Freshness.js"
/**
 * @since 0.1.0
 */
export * as TokenCache from "./TokenCache.js"
/**
 * @since 0.1.0
 */
export * as Jwt from "./Jwt.js"
/**
 * @since 0.1.0
 */
export * as Jwks from "./Jwks.js"
/**
 * @since 0.1.0
 */
export * as IdToken from "./IdToken.js"
/**
 * @since 0.1.0
 */
export * as SystemIdentity from "./SystemIdentity.js"
/**
 * @since 0.1.0
 */
export * as TokenExchange from "./TokenExchange.js"
/**
 * @since 0.1.0
 */
export * as BearerClient from "./BearerClient.js"
/**
 * @since 0.1.0
 */
export * as ClientCredentials from "./ClientCredentials.js"
/**
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.js"
/**
 * @since 0.1.0
 */
export * as RefreshToken from "./RefreshToken.js"
/**
 * @since 0.1.0
 */
export * as AuthorizationCode from "./AuthorizationCode.js"
/**
 * @since 0.1.0
 */
export * as ManagedToken from "./ManagedToken.js"
/**
 * @since 0.1.0
 */
export * as Revocation from "./Revocation.js"
/**
 * @since 0.1.0
 */
export * as RotationStore from "./RotationStore.js"

/**
 * @since 0.1.0
 */
export * as Introspection from "./Introspection.js"

/**
 * @since 0.1.0
 */
export * as ReplayCache from "./ReplayCache.js"

/**
 * @since 0.1.0
 */
export * as Testing from "./Testing.js"
/**
 * @since 0.1.0
 */
export * as DPoP from "./DPoP.js"
