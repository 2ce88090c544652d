/**
 * A cookie value too long for one cookie, split into several – and put back together as one. Browsers keep at most
 * 4,096 bytes of name and value per cookie; a cookie-only session (the sealed token set) may be longer.
 *
 * - One cookie, `<name>`, when the value fits ({@link chunkSize} characters): the sealed value as it is.
 * - Otherwise `<name>` holds `<count>~` and the first part, and `<name>.1`, `<name>.2`, … the rest. A sealed value
 *   (a JWE in compact form: base64url and dots) never contains `~`, so the two forms cannot be confused; and since the
 *   first chunk says how many there are, a stale chunk left by a longer value is never joined in.
 * - At most {@link maxChunks} chunks: a longer value is refused (request headers beyond 16 KB are refused by Node's
 *   HTTP server by default).
 *
 * The parts are joined and the whole is opened (and authenticated) as one: a part from another value fails the
 * whole.
 *
 * @internal
 */
import * as Option from "effect/Option"

/** the most value characters in one cookie: with its name and attributes, within the 4,096 bytes browsers keep */
export const chunkSize = 3_800

/** the most cookies one value is split into */
export const maxChunks = 3

/** the name of chunk `index` of the cookie `name`: `name`, `name.1`, `name.2` */
export const chunkName = (name: string, index: number): string => (index === 0 ? name : `${name}.${index}`)

/** the cookie values of `value`'s chunks, in order; `None` when it needs more than {@link maxChunks} */
export const split = (value: string): Option.Option<ReadonlyArray<string>> => {
  if (value.length <= chunkSize) return Option.some([value])
  const parts: Array<string> = []
  for (let i = 0; i < value.length; i += chunkSize) parts.push(value.slice(i, i + chunkSize))
  if (parts.length > maxChunks) return Option.none()
  parts[0] = `${parts.length}~${parts[0]}`
  return Option.some(parts)
}

const counted = /^([2-9])~/

/** the value the chunks of `name` among `cookies` hold, joined; `None` when absent or a chunk is missing */
export const join = (cookies: Readonly<Record<string, string>>, name: string): Option.Option<string> => {
  const first = cookies[name]
  if (first === undefined || first === "") return Option.none()
  const count = counted.exec(first)
  if (count === null) return Option.some(first)
  const n = Number(count[1])
  if (n > maxChunks) return Option.none()
  let value = first.slice(count[0].length)
  for (let i = 1; i < n; i++) {
    const part = cookies[chunkName(name, i)]
    if (part === undefined || part === "") return Option.none()
    value += part
  }
  return Option.some(value)
}

/** the chunk names of `name` among `cookies` from `from` on: stale ones, to clear when `from` chunks are written */
export const staleNames = (cookies: Readonly<Record<string, string>>, name: string, from: number): ReadonlyArray<string> => {
  const stale: Array<string> = []
  for (let i = Math.max(1, from); i < maxChunks; i++) {
    if (cookies[chunkName(name, i)] !== undefined) stale.push(chunkName(name, i))
  }
  if (from === 0 && cookies[name] !== undefined) stale.unshift(name)
  return stale
}
