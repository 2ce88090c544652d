/**
 * @since 0.1.0
 */
export * as CurrentSession from "./CurrentSession.js"
export * as WebAuth from "./WebAuth.js"
/**
 * @since 0.1.0
 */
export * as WebAuthApi from "./WebAuthApi.js"
