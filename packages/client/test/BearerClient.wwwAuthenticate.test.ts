import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { parse, tokenRejected } from "../src/internal/wwwAuthenticate.js"

describe("WWW-Authenticate parsing", () => {
  it("reads RFC 6750 examples", () => {
    expect(parse("Bearer realm=\"example\"")).toEqual([{ scheme: "Bearer", params: { realm: "example" } }])
    expect(parse(
      "Bearer realm=\"example\",\n error=\"invalid_token\",\n error_description=\"The access token expired\""
        .replace(/\n/g, "")
    )).toEqual([{
      scheme: "Bearer",
      params: { realm: "example", error: "invalid_token", error_description: "The access token expired" }
    }])
  })

  it("reads several challenges in one header, token68, bare schemes and escapes", () => {
    expect(parse("Basic realm=\"a, b\", Bearer error=invalid_token, Negotiate abc+/==, DPoP")).toEqual([
      { scheme: "Basic", params: { realm: "a, b" } },
      { scheme: "Bearer", params: { error: "invalid_token" } },
      { scheme: "Negotiate", params: {}, token68: "abc+/==" },
      { scheme: "DPoP", params: {} }
    ])
    expect(parse("Bearer realm=\"say \\\"hi\\\"\" , ERROR = \"invalid_token\"")).toEqual([
      { scheme: "Bearer", params: { realm: "say \"hi\"", error: "invalid_token" } }
    ])
    expect(parse("Bearer error=\"first\", error=\"second\"")).toEqual([{ scheme: "Bearer", params: { error: "first" } }])
    expect(parse("")).toEqual([])
    expect(parse(" , ,")).toEqual([])
  })

  it("decides which 401s mean the bearer token was rejected", () => {
    expect(tokenRejected(undefined, "bearer")).toBe(true)
    expect(tokenRejected("Bearer", "bearer")).toBe(true)
    expect(tokenRejected("Bearer realm=\"api\"", "bearer")).toBe(true)
    expect(tokenRejected("bearer realm=\"api\", error=\"invalid_token\"", "bearer")).toBe(true)
    expect(tokenRejected("Basic realm=\"x\", Bearer error=\"invalid_token\"", "bearer")).toBe(true)
    expect(tokenRejected("Bearer error=\"insufficient_scope\", scope=\"api:admin\"", "bearer")).toBe(false)
    expect(tokenRejected("Bearer error=\"invalid_request\"", "bearer")).toBe(false)
    expect(tokenRejected("Basic realm=\"x\"", "bearer")).toBe(false)
    expect(tokenRejected("DPoP error=\"invalid_token\"", "bearer")).toBe(false)
  })

  const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9!#$%&'*+\-.^_`|~]{0,8}$/)
  const value = fc.string({ maxLength: 12 }).filter((s) => !/[\r\n]/.test(s))
  const challenge = fc.record({
    scheme: token,
    params: fc.uniqueArray(fc.tuple(token, value, fc.boolean()), {
      maxLength: 4,
      selector: ([name]) => name.toLowerCase()
    })
  })
  const quote = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`
  const isToken = (s: string) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(s)

  it.prop(
    "a formatted list of challenges parses back to the same schemes and parameters",
    { challenges: fc.array(challenge, { minLength: 1, maxLength: 4 }), spaces: fc.constantFrom("", " ", "  ") },
    ({ challenges, spaces }) => {
      const header = challenges.map(({ params, scheme }) =>
        params.length === 0 ? scheme : `${scheme} ${
          params.map(([name, v, quoted]) =>
            `${name}${spaces}=${spaces}${quoted || !isToken(v) ? quote(v) : v}`
          ).join(`${spaces},${spaces}`)
        }`
      ).join(`,${spaces}`)
      expect(parse(header)).toEqual(challenges.map(({ params, scheme }) => ({
        scheme,
        params: Object.fromEntries(params.map(([name, v]) => [name.toLowerCase(), v]))
      })))
    }
  )
})
