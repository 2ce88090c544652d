/**
 * @since 0.1.0
 */
export * as RedisTokenCache from "./RedisTokenCache.js"
