/**
 * @since 0.1.0
 */
export * as ApiAuth from "./ApiAuth.js"
export * as ApiAuthError from "./ApiAuthError.js"
export * as CurrentSession from "./CurrentSession.js"
export * as VerifiedToken from "./VerifiedToken.js"
export * as WebAuth from "./WebAuth.js"
/**
 * @since 0.1.0
 */
export * as WebAuthApi from "./WebAuthApi.js"
