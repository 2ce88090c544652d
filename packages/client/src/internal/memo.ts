/**
 * A bounded memo keyed by value, for work done again and again on the same inputs (a cache key built from a request's
 * shape, the claims of a subject token): at most `capacity` entries, the oldest inserted dropped first. A memo on
 * object identity would miss every call that builds a fresh options object; this one does not.
 *
 * @internal
 */
export interface Memo<V> {
  readonly get: (key: string) => V | undefined
  readonly set: (key: string, value: V) => void
}

/**
 * The bound a caller asked for, made usable: at least 1, a whole number; `fallback` when none was given or it is not a
 * finite number (NaN would make a bound vanish: `size > NaN` is never true).
 *
 * @internal
 */
export const capacityOf = (requested: number | undefined, fallback: number): number =>
  requested !== undefined && Number.isFinite(requested) ? Math.max(1, Math.floor(requested)) : fallback

/** @internal */
export const make = <V>(capacity: number): Memo<V> => {
  const entries = new Map<string, V>()
  return {
    get: (key) => entries.get(key),
    set: (key, value) => {
      if (entries.size >= capacity && !entries.has(key)) {
        const oldest = entries.keys().next()
        if (!oldest.done) entries.delete(oldest.value)
      }
      entries.set(key, value)
    }
  }
}

const credentialIds = new WeakMap<object, string>()
let nextCredentialId = 0

/**
 * A short id that tells one object from another by identity (stable for the object's life, within this process): for
 * the parts of a memo key that are objects.
 *
 * @internal
 */
export const identity = (value: object): string => {
  let id = credentialIds.get(value)
  if (id === undefined) {
    id = `#${nextCredentialId++};`
    credentialIds.set(value, id)
  }
  return id
}
