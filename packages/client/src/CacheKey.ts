/**
 * Cache keys for token caches: one deterministic string for everything that changes the token a request returns.
 *
 * - Inputs that mean the same request give the same key: scopes and resources are split on whitespace (scopes),
 *   sorted and deduplicated; an absent list and an empty one are the same; extra discriminators are sorted by name.
 * - Different requests give different keys: the parts are JSON-encoded in a fixed order, so no choice of values can
 *   make two different inputs collide (`["a b"]` and `["a", "b"]` as resources stay apart, and no separator can be
 *   injected).
 * - A DPoP-bound token is keyed by its key: `jkt`, the key's thumbprint (RFC 7638), is a part of its own, so a token
 *   bound to one key is never served to a caller that signs with another (nor to one that sends no proof). Without it
 *   a key is exactly as before.
 * - No secret or token in clear: whatever must influence the key without being readable (a subject token, an actor
 *   token, a per-call client secret) goes in `secrets` and enters the key through the `hash` given – the cache's own
 *   (`TokenCache.Service.hash`), so that a shared store can make it a keyed hash.
 *
 * @example
 * ```ts
 * import { CacheKey } from "@effect-oauth/client"
 * import { Redacted } from "effect"
 *
 * const key = CacheKey.make({
 *   endpoint: "https://issuer.example/token",
 *   clientId: "orders",
 *   grant: "urn:ietf:params:oauth:grant-type:token-exchange",
 *   scope: ["api:write", "api:read", "api:read"],
 *   resource: "https://api.example",
 *   secrets: { subjectToken: Redacted.make("eyJ…") }
 * }, CacheKey.sha256)
 * // effect-oauth/v1["https://issuer.example/token","orders","urn:…:token-exchange",["api:read","api:write"],
 * //   ["https://api.example"],[],[],[["subjectToken","<sha256 base64url>"]]]
 * ```
 *
 * @since 0.1.0
 */
import * as Redacted from "effect/Redacted"
import { createHash, createHmac } from "node:crypto"

/**
 * @since 0.1.0
 * @category models
 */
export interface Parts {
  /** the token endpoint (or any name of the authorization server) */
  readonly endpoint?: string | undefined
  /** the client the token is issued to */
  readonly clientId?: string | undefined
  /** the `grant_type` */
  readonly grant: string
  /** requested scopes: split on whitespace, sorted, deduplicated */
  readonly scope?: string | ReadonlyArray<string> | undefined
  /** RFC 8707 resource indicators: sorted, deduplicated */
  readonly resource?: string | ReadonlyArray<string> | undefined
  /** RFC 8693 audiences: sorted, deduplicated */
  readonly audience?: string | ReadonlyArray<string> | undefined
  /** other request parameters that change the token (e.g. `requested_token_type`), sorted by name */
  readonly extra?: Readonly<Record<string, string | undefined>> | undefined
  /** values that must change the key but never appear in it (subject/actor tokens, per-call secrets): hashed */
  readonly secrets?: Readonly<Record<string, string | Redacted.Redacted<string> | undefined>> | undefined
  /**
   * values already hashed with the same `hash` (to hash a long-lived secret once, not on every call): they enter the
   * key exactly as the same value given in `secrets` would; use each name in one of the two records only
   */
  readonly hashes?: Readonly<Record<string, string | undefined>> | undefined
  /** the thumbprint of the DPoP key the token is bound to (RFC 9449), when requests prove possession of one */
  readonly jkt?: string | undefined
}

/**
 * The prefix of every key this module makes (bumped if the encoding ever changes).
 *
 * @since 0.1.0
 * @category constants
 */
export const prefix = "effect-oauth/v1"

/**
 * SHA-256 of a secret or token, base64url without padding: lets a value influence a key without being readable in
 * it – but anyone who reads the key can test guesses of a weak secret against it offline. A cache's own `hash` is
 * keyed ({@link hmacSha256}); this one is for keys that never leave the process, and for tests.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sha256 = (secretOrToken: string): string =>
  createHash("sha256").update(secretOrToken, "utf8").digest("base64url")

/**
 * HMAC-SHA-256 of a secret or token under `key`, base64url without padding: a keyed hash, so that whoever reads the
 * keys (a Redis key list) cannot test guesses of a weak client secret against them. `TokenCache.layerMemory` uses a
 * random key per process; a shared store uses one key for its whole fleet (so that every instance computes the same
 * keys).
 *
 * @since 0.1.0
 * @category constructors
 */
export const hmacSha256 = (key: Uint8Array) => (secretOrToken: string): string =>
  createHmac("sha256", key).update(secretOrToken, "utf8").digest("base64url")

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const sortedUnique = (values: ReadonlyArray<string>): Array<string> =>
  Array.from(new Set(values)).sort(compare)

const list = (value: string | ReadonlyArray<string> | undefined): Array<string> =>
  value === undefined ? [] : sortedUnique(typeof value === "string" ? [value] : value)

/**
 * Normalises a scope: every entry split on whitespace, empty entries dropped, sorted (by code unit) and
 * deduplicated.
 *
 * @since 0.1.0
 * @category utils
 */
export const normalizeScope = (scope: string | ReadonlyArray<string> | undefined): Array<string> => {
  if (scope === undefined) return []
  const entries = typeof scope === "string" ? [scope] : scope
  // the common case – entries already single, non-empty, sorted and distinct (`["api:read"]`) – is checked, not
  // rebuilt: a split on a regular expression, a set and a sort cost more than the request's other key work
  let ordered = true
  for (let i = 0; i < entries.length && ordered; i++) {
    const entry = entries[i]
    ordered = entry.length > 0 && !whitespace.test(entry) && (i === 0 || entries[i - 1] < entry)
  }
  if (ordered) return entries.slice()
  return sortedUnique(entries.flatMap((entry) => entry.split(/\s+/)).filter((s) => s.length > 0))
}

const whitespace = /\s/

const entries = <V>(
  record: Readonly<Record<string, V | undefined>> | undefined,
  f: (value: V) => string
): Array<[string, string]> => {
  if (record === undefined) return []
  const out: Array<[string, string]> = []
  for (const name of Object.keys(record).sort(compare)) {
    const value = record[name]
    if (value !== undefined) out.push([name, f(value)])
  }
  return out
}

/**
 * The cache key of a request. Deterministic, injective over the normalised parts, and free of secrets: `hash` (the
 * cache's) turns each of `secrets` into its part of the key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (parts: Parts, hash: (secretOrToken: string) => string): string => {
  const hashOf = (value: string | Redacted.Redacted<string>) => hash(typeof value === "string" ? value : Redacted.value(value))
  const key: Array<unknown> = [
    parts.endpoint ?? null,
    parts.clientId ?? null,
    parts.grant,
    normalizeScope(parts.scope),
    list(parts.resource),
    list(parts.audience),
    entries(parts.extra, (value) => value),
    parts.hashes === undefined
      ? entries(parts.secrets, hashOf)
      : [...entries(parts.secrets, hashOf), ...entries(parts.hashes, (value) => value)].sort(([a], [b]) => compare(a, b))
  ]
  // a ninth part only when bound: the keys of Bearer requests stay what they were (a shared cache keeps its entries)
  if (parts.jkt !== undefined) key.push(["jkt", parts.jkt])
  return prefix + JSON.stringify(key)
}
