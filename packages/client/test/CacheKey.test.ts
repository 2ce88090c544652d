import { describe, expect, it } from "@effect/vitest"
import * as CacheKey from "../src/CacheKey.js"
import { FastCheck as fc, Redacted } from "effect"

// a scope token: printable, no whitespace (RFC 6749 §3.3)
const scopeToken = fc.stringMatching(/^[!#-\[\]-~]{1,8}$/)
const text = fc.string({ minLength: 0, maxLength: 12 })
// secrets and tokens long enough that finding one inside a key could not be chance
const secret = fc.string({ minLength: 16, maxLength: 40, unit: "grapheme" })

const request = fc.record({
  endpoint: fc.option(text, { nil: undefined }),
  clientId: fc.option(text, { nil: undefined }),
  grant: fc.constantFrom("client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange", "a b", ""),
  scope: fc.uniqueArray(scopeToken, { maxLength: 4 }),
  resource: fc.uniqueArray(text, { maxLength: 3 }),
  audience: fc.uniqueArray(text, { maxLength: 2 }),
  extra: fc.dictionary(fc.constantFrom("requested_token_type", "actor", "x"), text, { maxKeys: 3 }),
  secrets: fc.dictionary(fc.constantFrom("subjectToken", "actorToken", "clientSecret"), secret, { maxKeys: 3 })
})
type Request = typeof request extends fc.Arbitrary<infer A> ? A : never

/** the same request written differently: lists permuted and with duplicates, secrets as Redacted */
const rewrite = (r: Request, seed: number): CacheKey.Parts => {
  const shuffle = <A>(xs: ReadonlyArray<A>): Array<A> => {
    const out = [...xs, ...xs.slice(0, seed % (xs.length + 1))]
    for (let i = out.length - 1; i > 0; i--) {
      const j = (seed * (i + 7)) % (i + 1)
      const tmp = out[i]!
      out[i] = out[j]!
      out[j] = tmp
    }
    return out
  }
  return {
    endpoint: r.endpoint,
    clientId: r.clientId,
    grant: r.grant,
    scope: seed % 2 === 0 ? shuffle(r.scope) : shuffle(r.scope).join(" "),
    resource: shuffle(r.resource),
    audience: shuffle(r.audience),
    extra: Object.fromEntries(shuffle(Object.entries(r.extra))),
    secrets: Object.fromEntries(Object.entries(r.secrets).reverse().map(([k, v]) => [k, Redacted.make(v)]))
  }
}

const sorted = (xs: ReadonlyArray<string>) => [...new Set(xs)].sort()
/** the test's own idea of "the same request" (not computed with the code under test) */
const sameRequest = (a: Request, b: Request): boolean =>
  a.endpoint === b.endpoint && a.clientId === b.clientId && a.grant === b.grant &&
  JSON.stringify(sorted(a.scope)) === JSON.stringify(sorted(b.scope)) &&
  JSON.stringify(sorted(a.resource)) === JSON.stringify(sorted(b.resource)) &&
  JSON.stringify(sorted(a.audience)) === JSON.stringify(sorted(b.audience)) &&
  JSON.stringify(Object.entries(a.extra).sort()) === JSON.stringify(Object.entries(b.extra).sort()) &&
  JSON.stringify(Object.entries(a.secrets).sort()) === JSON.stringify(Object.entries(b.secrets).sort())

describe("CacheKey", () => {
  it("normalizeScope: split on whitespace, empty entries dropped, sorted by code unit, deduplicated", () => {
    expect(CacheKey.normalizeScope(undefined)).toEqual([])
    expect(CacheKey.normalizeScope("")).toEqual([])
    expect(CacheKey.normalizeScope("api:read")).toEqual(["api:read"])
    expect(CacheKey.normalizeScope(["api:read"])).toEqual(["api:read"])
    expect(CacheKey.normalizeScope(["a", "b"])).toEqual(["a", "b"])
    // each case the already-normal fast path must refuse
    expect(CacheKey.normalizeScope(["b", "a"])).toEqual(["a", "b"])
    expect(CacheKey.normalizeScope(["a", "a"])).toEqual(["a"])
    expect(CacheKey.normalizeScope(["", "a"])).toEqual(["a"])
    expect(CacheKey.normalizeScope(["a b", "a"])).toEqual(["a", "b"])
    expect(CacheKey.normalizeScope(" b  a ")).toEqual(["a", "b"])
    expect(CacheKey.normalizeScope(["x\u00a0y"])).toEqual(["x", "y"])
    expect(CacheKey.normalizeScope(["x\ty\nz"])).toEqual(["x", "y", "z"])
    expect(CacheKey.normalizeScope(["B", "a"])).toEqual(["B", "a"])
    expect(CacheKey.normalizeScope(["a", "B"])).toEqual(["B", "a"])
    // a new array: the caller's is never handed back to be changed
    const given = ["a", "b"]
    const normal = CacheKey.normalizeScope(given)
    normal.push("c")
    expect(given).toEqual(["a", "b"])
  })

  it.prop(
    "normalizeScope agrees with the rule on any list of entries",
    { entries: fc.array(fc.oneof(scopeToken, fc.stringMatching(/^[ \ta-c]{0,5}$/)), { maxLength: 5 }) },
    ({ entries }) => {
      // the rule, written out here: every whitespace run separates, nothing empty, each once, code-unit order
      const words = new Set<string>()
      for (const entry of entries) for (const word of entry.split(/[ \t]+/)) if (word !== "") words.add(word)
      const expected = [...words].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      expect(CacheKey.normalizeScope(entries)).toEqual(expected)
    }
  )

  it("sha256 is SHA-256, base64url without padding (known vector); a Redacted secret is hashed by its value", () => {
    // sha256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
    expect(CacheKey.sha256("abc")).toBe("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0")
    expect(CacheKey.make({ grant: "g", secrets: { s: Redacted.make("abc") } }, CacheKey.sha256)).toBe(
      CacheKey.make({ grant: "g", secrets: { s: "abc" } }, CacheKey.sha256)
    )
  })

  it("the hash given turns each secret into its part of the key", () => {
    expect(CacheKey.make({ grant: "g", secrets: { s: "abc" } }, (value) => `h(${value.length})`)).toBe(
      "effect-oauth/v1[null,null,\"g\",[],[],[],[],[[\"s\",\"h(3)\"]]]"
    )
  })

  it("a key written out by hand", () => {
    expect(
      CacheKey.make({
        endpoint: "https://as.example/token",
        clientId: "orders",
        grant: "client_credentials",
        scope: ["api:write", "api:read api:write"],
        resource: "https://api.example",
        secrets: { subjectToken: "abc" }
      }, CacheKey.sha256)
    ).toBe(
      "effect-oauth/v1[\"https://as.example/token\",\"orders\",\"client_credentials\",[\"api:read\",\"api:write\"]," +
        "[\"https://api.example\"],[],[],[[\"subjectToken\",\"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0\"]]]"
    )
  })

  it("a value given pre-hashed in `hashes` enters the key exactly as in `secrets`", () => {
    const viaSecrets = CacheKey.make({ grant: "g", secrets: { b: "abc", a: "x" } }, CacheKey.sha256)
    const viaHashes = CacheKey.make({
      grant: "g",
      secrets: { a: "x" },
      hashes: { b: "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0" }
    }, CacheKey.sha256)
    expect(viaHashes).toBe(viaSecrets)
  })

  it("no separator can be injected: parts that join to the same text stay apart", () => {
    const a = CacheKey.make({ grant: "g", clientId: "a\",\"b" }, CacheKey.sha256)
    const b = CacheKey.make({ grant: "g", clientId: "a", endpoint: "b" }, CacheKey.sha256)
    expect(a).not.toBe(b)
    expect(CacheKey.make({ grant: "g", resource: ["a b"] }, CacheKey.sha256)).not.toBe(CacheKey.make({ grant: "g", resource: ["a", "b"] }, CacheKey.sha256))
    expect(CacheKey.make({ grant: "g", resource: ["a"] }, CacheKey.sha256)).not.toBe(CacheKey.make({ grant: "g", audience: ["a"] }, CacheKey.sha256))
    expect(CacheKey.make({ grant: "g", clientId: "" }, CacheKey.sha256)).not.toBe(CacheKey.make({ grant: "g" }, CacheKey.sha256))
  })

  it.prop(
    "equal requests give equal keys (lists permuted, duplicated, scope as one string)",
    { r: request, seed: fc.nat(1000) },
    ({ r, seed }) => {
      expect(CacheKey.make(rewrite(r, seed), CacheKey.sha256)).toBe(CacheKey.make(rewrite(r, seed + 1), CacheKey.sha256))
    }
  )

  it.prop("different requests give different keys", { a: request, b: request }, ({ a, b }) => {
    const ka = CacheKey.make(rewrite(a, 3), CacheKey.sha256)
    const kb = CacheKey.make(rewrite(b, 4), CacheKey.sha256)
    expect(ka === kb).toBe(sameRequest(a, b))
  })

  it.prop("a request and a copy with one part changed give different keys", {
    r: request,
    part: fc.constantFrom("endpoint", "clientId", "scope", "resource", "audience", "extra", "secrets"),
    value: fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !/\s/.test(s))
  }, ({ part, r, value }) => {
    const changed: Request = {
      ...r,
      ...(part === "endpoint" ? { endpoint: (r.endpoint ?? "") + value } : {}),
      ...(part === "clientId" ? { clientId: (r.clientId ?? "") + value } : {}),
      ...(part === "scope" ? { scope: r.scope.includes(value) ? r.scope.filter((s) => s !== value) : [...r.scope, value] } : {}),
      ...(part === "resource" ? { resource: r.resource.includes(value) ? r.resource.filter((s) => s !== value) : [...r.resource, value] } : {}),
      ...(part === "audience" ? { audience: r.audience.includes(value) ? r.audience.filter((s) => s !== value) : [...r.audience, value] } : {}),
      ...(part === "extra" ? { extra: { ...r.extra, x: (r.extra["x"] ?? "") + value } } : {}),
      ...(part === "secrets" ? { secrets: { ...r.secrets, clientSecret: (r.secrets["clientSecret"] ?? "0123456789abcdef") + value } } : {})
    }
    expect(CacheKey.make(rewrite(changed, 1), CacheKey.sha256)).not.toBe(CacheKey.make(rewrite(r, 2), CacheKey.sha256))
  })

  it.prop("no secret or token appears in any key", { r: request }, ({ r }) => {
    const key = CacheKey.make(rewrite(r, 5), CacheKey.sha256)
    for (const value of Object.values(r.secrets)) {
      expect(key.includes(value)).toBe(false)
      expect(key.includes(JSON.stringify(value).slice(1, -1))).toBe(false)
    }
  })
})
