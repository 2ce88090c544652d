/**
 * The cookie secrets and everything derived from them – each fact once:
 *
 * - **the secrets**, decoded and checked once: base64url, 32 bytes or more, the newest first. The newest seals every
 *   cookie; every one opens.
 * - **keys per purpose**, derived with HKDF-SHA-256 (no salt, 32 bytes) from each secret: one seals session cookies,
 *   one seals cookie-only sessions (the token set itself), one seals pending sign-ins, one hashes session ids for the
 *   `TokenStore`, one hashes refresh tokens for the `RotationStore`. A value sealed for one purpose does not open for
 *   another.
 * - **sealing**: a JWE (`dir`, `A256GCM`, through `jose`) whose protected header names the secret (`kid`: a
 *   fingerprint, never the secret) – encrypted and authenticated, so the browser can neither read nor alter it.
 * - **the keyed hash** of a session id: HMAC-SHA-256 under the key derived from the secret that was newest when the
 *   session began (the session cookie names that secret), so the store key of a session stays where it is when a
 *   new secret is put in front.
 * - **the keyed hash** of a refresh token (cookie-only sessions): HMAC-SHA-256 under the key derived from the secret
 *   that sealed the cookie carrying it, so that every instance presented that cookie computes the same
 *   `RotationStore` key – and nobody who reads the store can test a token against it.
 *
 * @internal
 */
import * as CacheKey from "@effect-oauth/client/CacheKey"
import { ConfigurationError } from "@effect-oauth/client/OAuthError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Jose from "jose"
import { hkdfSync, randomBytes, webcrypto } from "node:crypto"

/**
 * A secret of the package (a cookie secret, a DPoP nonce secret): base64url (no padding, no spaces inside) of 32 random
 * bytes or more; the reason it is refused names `name`, never the value.
 *
 * @internal
 */
export const decodeSecret = (name: string, secret: Redacted.Redacted<string>): Either.Either<Uint8Array, string> => {
  const value = Redacted.value(secret).trim()
  if (!/^[A-Za-z0-9_-]+$/.test(value)) return Either.left(`${name} is not base64url`)
  const bytes = new Uint8Array(Buffer.from(value, "base64url"))
  return bytes.length >= 32
    ? Either.right(bytes)
    : Either.left(`${name} must be 32 random bytes or more (base64url); it has ${bytes.length}`)
}

/** what a sealed value is for: each has its own key */
export type Purpose = "session" | "tokens" | "pending"

/** one secret's derived keys */
interface DerivedKeys {
  /** the fingerprint the `kid` header carries */
  readonly id: string
  /** the AES-256-GCM keys, imported once (jose would import raw bytes again on every seal and open) */
  readonly session: webcrypto.CryptoKey
  readonly tokens: webcrypto.CryptoKey
  readonly pending: webcrypto.CryptoKey
  /** HMAC-SHA-256 (base64url) of a session id, the `TokenStore` key of the session */
  readonly hashSessionId: (sessionId: string) => string
  /** HMAC-SHA-256 (base64url) of a refresh token, the `RotationStore` key of its rotation */
  readonly hashRefreshToken: (refreshToken: string) => string
}

/** @internal */
export interface Sealer {
  /** the fingerprint of the newest secret: a session begun now hashes its id under it */
  readonly newestId: string
  /** `payload` as JSON, sealed with the newest secret's key for `purpose` */
  readonly seal: (purpose: Purpose, payload: unknown) => Effect.Effect<string>
  /** the JSON a value sealed for `purpose` holds, and the fingerprint of the secret that opened it; `None` otherwise */
  readonly open: (
    purpose: Purpose,
    value: string
  ) => Effect.Effect<Option.Option<{ readonly payload: unknown; readonly secretId: string }>>
  /** the store key of a session: the keyed hash of its id under the secret `secretId` names, if that is still known */
  readonly storeKey: (secretId: string, sessionId: string) => Option.Option<string>
  /** the rotation key of a refresh token: its keyed hash under the secret `secretId` names, if that is still known */
  readonly rotationKey: (secretId: string, refreshToken: string) => Option.Option<string>
}

const info = (label: string) => `effect-oauth/web ${label} v1`

const derive = (secret: Uint8Array, label: string, length = 32): Uint8Array =>
  new Uint8Array(hkdfSync("sha256", secret, new Uint8Array(0), info(label), length))

/** an AES-256-GCM key for `dir` + `A256GCM`, not extractable */
const importKey = (bytes: Uint8Array): Promise<webcrypto.CryptoKey> =>
  webcrypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"])

const deriveKeys = (secret: Uint8Array): Effect.Effect<DerivedKeys> =>
  Effect.promise(async () => ({
    id: Jose.base64url.encode(derive(secret, "key id", 6)),
    session: await importKey(derive(secret, "session cookie")),
    tokens: await importKey(derive(secret, "token set cookie")),
    pending: await importKey(derive(secret, "pending sign-in cookie")),
    hashSessionId: CacheKey.hmacSha256(derive(secret, "session id hash")),
    hashRefreshToken: CacheKey.hmacSha256(derive(secret, "refresh token hash"))
  }))

const invalid = (description: string) => new ConfigurationError({ reason: "InvalidOptions", description })

/**
 * Decodes the secrets (newest first) once: a `ConfigurationError` names the one at fault by its position, never by
 * its value.
 *
 * @internal
 */
export const make = (
  secrets: Redacted.Redacted<string> | ReadonlyArray<Redacted.Redacted<string>>
): Effect.Effect<Sealer, ConfigurationError> =>
  Effect.gen(function*() {
    const given = Redacted.isRedacted(secrets) ? [secrets] : secrets
    if (given.length === 0) return yield* invalid("cookieSecrets lists no secret")
    const keys: Array<DerivedKeys> = []
    for (const [i, secret] of given.entries()) {
      const name = `cookieSecrets[${i}]`
      const bytes = yield* Either.mapLeft(decodeSecret(name, secret), invalid)
      keys.push(yield* deriveKeys(bytes))
    }
    const newest = keys[0]
    if (newest === undefined) return yield* invalid("cookieSecrets lists no secret")
    const byId = new Map(keys.map((k) => [k.id, k] as const))
    if (byId.size !== keys.length) return yield* invalid("cookieSecrets lists a secret twice")

    const seal: Sealer["seal"] = (purpose, payload) =>
      Effect.promise(() =>
        new Jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
          .setProtectedHeader({ alg: "dir", enc: "A256GCM", kid: newest.id })
          .encrypt(newest[purpose])
      )

    const open: Sealer["open"] = (purpose, value) =>
      Effect.promise(async () => {
        try {
          // the key chosen by the header's kid as jose reads the header (once)
          let secretId = ""
          const { plaintext } = await Jose.compactDecrypt(value, (header) => {
            const key = typeof header.kid === "string" ? byId.get(header.kid) : undefined
            if (key === undefined) throw new Error("no such secret")
            secretId = key.id
            return key[purpose]
          }, {
            keyManagementAlgorithms: ["dir"],
            contentEncryptionAlgorithms: ["A256GCM"]
          })
          const payload: unknown = JSON.parse(new TextDecoder().decode(plaintext))
          return Option.some({ payload, secretId })
        } catch {
          return Option.none()
        }
      })

    return {
      newestId: newest.id,
      seal,
      open,
      storeKey: (secretId, sessionId) =>
        Option.map(Option.fromNullable(byId.get(secretId)), (key) => `web-session:${key.hashSessionId(sessionId)}`),
      rotationKey: (secretId, refreshToken) =>
        Option.map(Option.fromNullable(byId.get(secretId)), (key) => `web-rotation:${key.hashRefreshToken(refreshToken)}`)
    }
  })

/**
 * A new session id: 32 random bytes, base64url. Never derived from anything, never reused: every sign-in gets one.
 *
 * @internal
 */
export const newSessionId = (): string => randomBytes(32).toString("base64url")

/**
 * A short fingerprint of `state` for the pending sign-in cookie's name (SHA-256, 16 base64url characters): several
 * tabs signing in at once each have their own cookie, and the callback finds the one its `state` names.
 *
 * @internal
 */
export const stateFingerprint = (state: string): string => CacheKey.sha256(state).slice(0, 16)
