import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as util from "node:util"
import { Provenance, TokenSet } from "../src/TokenSet.js"
import * as TokenSetModule from "../src/TokenSet.js"

const make = (expiresAt: number) =>
  new TokenSet({
    accessToken: Redacted.make("at-5ecret-value"),
    refreshToken: Redacted.make("rt-5ecret-value"),
    idToken: Redacted.make("id-5ecret-value"),
    tokenType: "Bearer",
    issuedAt: 1_700_000_000_000,
    expiresAt,
    scope: ["api:read"],
    extra: {},
    provenance: new Provenance({ grant: "client_credentials", clientId: "svc", tokenEndpoint: "https://as.example/token" })
  })

describe("TokenSet", () => {
  it("prints, inspects and serialises without any token", () => {
    const token = make(1_700_000_060_000)
    expect(String(token)).toBe(
      "TokenSet(Bearer, grant=client_credentials, scope=api:read, expiresAt=2023-11-14T22:14:20.000Z, refreshToken=<redacted>)"
    )
    for (const text of [String(token), JSON.stringify(token), util.inspect(token, { depth: 5 })]) {
      expect(text).not.toContain("5ecret")
    }
  })

  it("prints an expiry outside Date's range as a number instead of throwing", () => {
    expect(String(make(9e15))).toBe(
      "TokenSet(Bearer, grant=client_credentials, scope=api:read, expiresAt=9000000000000000, refreshToken=<redacted>)"
    )
  })

  it("N_A (RFC 8693 §2.2.1) is not an access token; its lifetime is expiresAt - issuedAt", () => {
    const na = new TokenSet({ ...make(1_700_000_060_000), tokenType: "N_A" })
    expect(na.isAccessToken).toBe(false)
    expect(make(1_700_000_060_000).isAccessToken).toBe(true)
    expect(na.lifetimeMillis).toBe(60_000)
  })

  it.effect("round-trips through encodeJson / decodeJson for stores", () =>
    Effect.gen(function*() {
      const token = make(1_700_000_060_000)
      const decoded = yield* TokenSetModule.decodeJson(TokenSetModule.encodeJson(token))
      expect(Redacted.value(decoded.accessToken)).toBe("at-5ecret-value")
      expect(decoded.refreshToken && Redacted.value(decoded.refreshToken)).toBe("rt-5ecret-value")
      expect(decoded.expiresAt).toBe(1_700_000_060_000)
      expect(decoded.provenance.grant).toBe("client_credentials")
    }))
})
