/**
 * @since 0.1.0
 */
export * as RedisTokenCache from "./RedisTokenCache.js"

/**
 * @since 0.1.0
 */
export * as RedisTokenStore from "./RedisTokenStore.js"

/**
 * @since 0.1.0
 */
export * as RedisReplayCache from "./RedisReplayCache.js"

/**
 * @since 0.1.0
 */
export * as RedisRotationStore from "./RedisRotationStore.js"
