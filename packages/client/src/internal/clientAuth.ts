/**
 * Applying a `ClientAuth` to one token request: the headers and form parameters it adds.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import { types } from "node:util"
import type { AssertionAudience, ClientAuth, PrivateKey } from "../ClientAuth.js"
import { ConfigurationError } from "../OAuthError.js"
import * as Memo from "./memo.js"

/**
 * `application/x-www-form-urlencoded` serialisation of one string, as the WHATWG URL standard (and so
 * `URLSearchParams`) does it: UTF-8, every byte except ASCII alphanumerics and `*-._` percent-encoded, space as `+`.
 *
 * @internal
 */
export const formUrlEncode = (value: string): string =>
  encodeURIComponent(value)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+")

const utf8 = new TextEncoder()

/**
 * The value of an `Authorization` header for `client_secret_basic` (RFC 6749 §2.3.1): id and secret each
 * form-urlencoded (UTF-8), joined by `:`, base64.
 *
 * @internal
 */
export const basicAuthorization = (clientId: string, clientSecret: string): string =>
  `Basic ${Encoding.encodeBase64(`${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`)}`

/**
 * Where the request goes. A client assertion's `aud` is the token endpoint (OpenID Connect Core §9, RFC 7523 §3),
 * or the issuer when the `ClientAuth` asks for it and one is known (RFC 7523bis).
 *
 * @internal
 */
export interface Target {
  readonly issuer: string | undefined
  readonly tokenEndpoint: string
}

/**
 * What a client authentication method adds to a request, and the secret values it put on the wire (for the redaction
 * of whatever the server echoes back).
 *
 * @internal
 */
export interface Applied {
  readonly headers: Readonly<Record<string, string>>
  readonly params: Readonly<Record<string, string>>
  readonly secrets: ReadonlyArray<string>
}

/** lifetime of a client assertion, in seconds */
const assertionLifetimeSeconds = 60

const keyCache = new WeakMap<object, Promise<jose.CryptoKey | Uint8Array>>()

const importPrivateKey = (key: PrivateKey, algorithm: string): Promise<jose.CryptoKey | Uint8Array> => {
  if (typeof key === "string") return jose.importPKCS8(key, algorithm)
  if (isCryptoKey(key)) return Promise.resolve(key)
  const jwk: jose.JWK = key
  return jose.importJWK(jwk, algorithm)
}

const isCryptoKey = (key: jose.JWK | jose.CryptoKey): key is jose.CryptoKey => types.isCryptoKey(key)

/** imports a key once per `Redacted` holder (signing is cheap, parsing a PEM is not) */
const signingKey = (holder: Redacted.Redacted<PrivateKey>, algorithm: string): Promise<jose.CryptoKey | Uint8Array> => {
  const cached = keyCache.get(holder)
  if (cached) return cached
  const imported = importPrivateKey(Redacted.value(holder), algorithm)
  keyCache.set(holder, imported)
  imported.catch(() => keyCache.delete(holder))
  return imported
}

const assertion = (
  clientId: string,
  audience: string,
  algorithm: string,
  keyId: string | undefined,
  key: () => Promise<jose.CryptoKey | Uint8Array>
): Effect.Effect<string, ConfigurationError> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const iat = Math.floor(now / 1000)
    return Effect.tryPromise({
      try: async () =>
        new jose.SignJWT({})
          .setProtectedHeader(keyId === undefined ? { alg: algorithm } : { alg: algorithm, kid: keyId })
          .setIssuer(clientId)
          .setSubject(clientId)
          .setAudience(audience)
          .setJti(globalThis.crypto.randomUUID())
          .setIssuedAt(iat)
          .setExpirationTime(iat + assertionLifetimeSeconds)
          .sign(await key()),
      // the cause (jose's message) can name the key's type, never its material; still, keep only its name
      catch: (cause) =>
        new ConfigurationError({
          reason: "InvalidOptions",
          description: `cannot sign the client assertion with ${algorithm}` +
            (cause instanceof Error ? ` (${cause.name})` : "")
        })
    })
  })

const audienceOf = (assertionAudience: AssertionAudience, target: Target): string =>
  assertionAudience === "issuer" && target.issuer !== undefined ? target.issuer : target.tokenEndpoint

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/**
 * What a method that signs nothing per request (Basic, post, none) adds: the same for every request, so computed once
 * per `ClientAuth` value (`undefined` for the assertion methods, whose JWT is new every time).
 *
 * @internal
 */
export const staticApplied = (auth: ClientAuth): Either.Either<Applied, ConfigurationError> | undefined => {
  if (auth._tag === "ClientSecretJwt" || auth._tag === "PrivateKeyJwt") return undefined
  let applied = staticCache.get(auth)
  if (applied === undefined) {
    applied = computeStatic(auth)
    staticCache.set(auth, applied)
  }
  return applied
}

const staticCache = new WeakMap<ClientAuth, Either.Either<Applied, ConfigurationError>>()

const computeStatic = (
  auth: ClientAuth & { readonly _tag: "ClientSecretBasic" | "ClientSecretPost" | "None" }
): Either.Either<Applied, ConfigurationError> => {
  switch (auth._tag) {
    case "ClientSecretBasic": {
      if (auth.encoding === "rfc7617" && auth.clientId.includes(":")) {
        return Either.left(
          new ConfigurationError({
            reason: "InvalidOptions",
            description: "a client id containing ':' cannot be sent with the rfc7617 Basic encoding (RFC 7617 §2)"
          })
        )
      }
      return Either.try({
        try: (): Applied => {
          const secret = Redacted.value(auth.clientSecret)
          const joined = auth.encoding === "rfc7617"
            ? `${auth.clientId}:${secret}`
            : `${formUrlEncode(auth.clientId)}:${formUrlEncode(secret)}`
          const credentials = Encoding.encodeBase64(joined)
          const header = `Basic ${credentials}`
          // what a server may echo: the secret (in any encoding: the redaction step derives them), the credentials
          // before base64 (as sent, and as the server decoded them) and after (both: a server that decoded them may
          // base64 them again), and the whole header value
          const decoded = `${auth.clientId}:${secret}`
          return {
            headers: { authorization: header },
            params: {},
            secrets: [secret, joined, decoded, credentials, Encoding.encodeBase64(decoded), header]
          }
        },
        // encodeURIComponent refuses a lone surrogate: such a string has no UTF-8 form
        catch: () =>
          new ConfigurationError({
            reason: "InvalidOptions",
            description: "the client id or secret is not well-formed Unicode"
          })
      })
    }
    case "ClientSecretPost":
      return Either.right({
        headers: {},
        params: { client_id: auth.clientId, client_secret: Redacted.value(auth.clientSecret) },
        secrets: [Redacted.value(auth.clientSecret)]
      })
    case "None":
      return Either.right({ headers: {}, params: { client_id: auth.clientId }, secrets: [] })
  }
}

/**
 * The headers and form parameters that authenticate `auth` at `target`.
 *
 * @internal
 */
export const apply = (auth: ClientAuth, target: Target): Effect.Effect<Applied, ConfigurationError> => {
  switch (auth._tag) {
    case "ClientSecretBasic":
    case "ClientSecretPost":
    case "None":
      // the one cached result of a static method (the form POST reads it through `staticApplied` directly)
      return staticApplied(auth) ?? computeStatic(auth)
    case "ClientSecretJwt":
      return Effect.map(
        assertion(
          auth.clientId,
          audienceOf(auth.assertionAudience, target),
          auth.algorithm,
          undefined,
          () => Promise.resolve(utf8.encode(Redacted.value(auth.clientSecret)))
        ),
        (jwt): Applied => ({
          headers: {},
          params: { client_id: auth.clientId, client_assertion_type: assertionType, client_assertion: jwt },
          secrets: [jwt]
        })
      )
    case "PrivateKeyJwt":
      return Effect.map(
        assertion(
          auth.clientId,
          audienceOf(auth.assertionAudience, target),
          auth.algorithm,
          auth.keyId,
          () => signingKey(auth.privateKey, auth.algorithm)
        ),
        (jwt): Applied => ({
          headers: {},
          params: { client_id: auth.clientId, client_assertion_type: assertionType, client_assertion: jwt },
          secrets: [jwt]
        })
      )
  }
}

/**
 * What tells one client authentication from another in a cache key: its public parts, and a hash of its secret or
 * key (made with the cache's own hash function, so no secret appears in a key). Kept per `ClientAuth` value and hash
 * function: a long-lived credential is hashed once, not on every call.
 *
 * @internal
 */
export interface Fingerprint {
  readonly extra: Readonly<Record<string, string | undefined>>
  readonly secretHash: string | undefined
}

const fingerprints = new WeakMap<(value: string) => string, WeakMap<ClientAuth, Fingerprint>>()
const cryptoKeyIds = new WeakMap<object, number>()
let nextCryptoKeyId = 0

const sortedJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v)

const keyMaterial = (key: PrivateKey): { readonly secret?: string; readonly id?: string } => {
  if (typeof key === "string") return { secret: key.trim() }
  if (isCryptoKey(key)) {
    // a non-extractable key cannot be read: it is told apart by identity (within this process only)
    let id = cryptoKeyIds.get(key)
    if (id === undefined) {
      id = nextCryptoKeyId++
      cryptoKeyIds.set(key, id)
    }
    return { id: `cryptokey#${id}` }
  }
  return { secret: sortedJson(key) }
}

/** @internal */
export const fingerprint = (auth: ClientAuth, hash: (value: string) => string): Fingerprint => {
  let byAuth = fingerprints.get(hash)
  if (byAuth === undefined) {
    byAuth = new WeakMap()
    fingerprints.set(hash, byAuth)
  }
  const cached = byAuth.get(auth)
  if (cached !== undefined) return cached
  let result: { readonly extra: Readonly<Record<string, string | undefined>>; readonly secret: string | undefined }
  switch (auth._tag) {
    case "ClientSecretBasic":
    case "ClientSecretPost":
      result = { extra: { auth: auth._tag }, secret: Redacted.value(auth.clientSecret) }
      break
    case "ClientSecretJwt":
      result = { extra: { auth: auth._tag, alg: auth.algorithm }, secret: Redacted.value(auth.clientSecret) }
      break
    case "PrivateKeyJwt": {
      const material = keyMaterial(Redacted.value(auth.privateKey))
      result = {
        extra: { auth: auth._tag, alg: auth.algorithm, kid: auth.keyId, key: material.id },
        secret: material.secret
      }
      break
    }
    case "None":
      result = { extra: { auth: auth._tag }, secret: undefined }
      break
  }
  const fp: Fingerprint = {
    extra: result.extra,
    secretHash: result.secret === undefined ? undefined : hash(result.secret)
  }
  byAuth.set(auth, fp)
  return fp
}

/**
 * A string that tells client authentications apart by value – the method, the client id, and the secret or key (by
 * identity for a non-extractable `CryptoKey`) – for memo keys held in this process only (never printed, never stored).
 *
 * @internal
 */
export const valueId = (auth: ClientAuth): string => {
  const parts = (...values: ReadonlyArray<string>) => values.map((value) => `${value.length}:${value}`).join("|")
  switch (auth._tag) {
    case "ClientSecretBasic":
      return parts("b", auth.encoding, auth.clientId, Redacted.value(auth.clientSecret))
    case "ClientSecretPost":
      return parts("p", auth.clientId, Redacted.value(auth.clientSecret))
    case "ClientSecretJwt":
      return parts("j", auth.algorithm, auth.assertionAudience, auth.clientId, Redacted.value(auth.clientSecret))
    case "PrivateKeyJwt": {
      const key = Redacted.value(auth.privateKey)
      return parts(
        "k",
        auth.algorithm,
        auth.assertionAudience,
        auth.keyId ?? "",
        auth.clientId,
        typeof key === "string" ? key : Memo.identity(key)
      )
    }
    case "None":
      return parts("n", auth.clientId)
  }
}
