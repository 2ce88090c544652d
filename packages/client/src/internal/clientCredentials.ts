import * as Redacted from "effect/Redacted"
import { types } from "node:util"
import type * as ClientAuth from "../ClientAuth.js"
import * as CacheKey from "../CacheKey.js"
import { GrantTypes } from "../TokenSet.js"

/** what distinguishes one client authentication from another in a cache key: public parts and a secret's hash */
interface Fingerprint {
  readonly extra: Readonly<Record<string, string | undefined>>
  readonly secretHash: string | undefined
}

const fingerprints = new WeakMap<ClientAuth.ClientAuth, Fingerprint>()
const cryptoKeyIds = new WeakMap<object, number>()
let nextCryptoKeyId = 0

const sortedJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v)

const keyMaterial = (key: ClientAuth.PrivateKey): { readonly secret?: string; readonly id?: string } => {
  if (typeof key === "string") return { secret: key.trim() }
  if (types.isCryptoKey(key)) {
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
export const fingerprint = (auth: ClientAuth.ClientAuth): Fingerprint => {
  const cached = fingerprints.get(auth)
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
    secretHash: result.secret === undefined ? undefined : CacheKey.hash(result.secret)
  }
  fingerprints.set(auth, fp)
  return fp
}

/** @internal */
export const cacheKey = (request: {
  readonly endpoint: string | undefined
  readonly auth: ClientAuth.ClientAuth
  readonly scope: ReadonlyArray<string>
  readonly resource: string | ReadonlyArray<string> | undefined
}): string => {
  const fp = fingerprint(request.auth)
  return CacheKey.make({
    endpoint: request.endpoint,
    clientId: request.auth.clientId,
    grant: GrantTypes.clientCredentials,
    scope: request.scope,
    resource: request.resource,
    extra: fp.extra,
    hashes: { credential: fp.secretHash }
  })
}
