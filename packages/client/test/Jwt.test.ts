import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Redacted } from "effect"
import { UnsecuredJWT } from "jose"
import * as Jwt from "../src/Jwt.js"

// a JWT written out by hand: {"alg":"none","typ":"JWT"} . {"sub":"alice","exp":1700000000,"scope":"api:read"}
const handWritten = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0" +
  ".eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMCwic2NvcGUiOiJhcGk6cmVhZCJ9."

describe("Jwt", () => {
  it.effect("decodes the claims of a JWT without verifying it", () =>
    Effect.gen(function*() {
      const claims = yield* Jwt.decode(handWritten)
      expect(claims).toEqual({ sub: "alice", exp: 1700000000, scope: "api:read" })
      expect(yield* Jwt.decodeHeader(handWritten)).toEqual({ alg: "none", typ: "JWT" })
      expect(Jwt.expiration(claims)).toEqual(Option.some(1_700_000_000_000))
    }))

  it.effect("accepts a Redacted token and a jose-built JWT", () =>
    Effect.gen(function*() {
      const token = new UnsecuredJWT({ sub: "bob", client_id: "web", aud: ["a", "b"] }).encode()
      const claims = yield* Jwt.decode(Redacted.make(token))
      expect(claims).toEqual({ sub: "bob", client_id: "web", aud: ["a", "b"] })
      expect(Jwt.isJwt(Redacted.make(token))).toBe(true)
    }))

  const malformed: ReadonlyArray<readonly [string, string]> = [
    ["opaque", "d2VsbC1rbm93bi1vcGFxdWUtdG9rZW4tdmFsdWU"],
    ["two segments", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0"],
    ["payload not base64url", "eyJhbGciOiJub25lIn0.!!!secret-ish-payload!!!.sig"],
    ["payload not JSON", "eyJhbGciOiJub25lIn0.bm90LWpzb24.sig"],
    ["payload a JSON array", "eyJhbGciOiJub25lIn0.WzEsMl0.sig"],
    ["header not JSON", "bm90LWpzb24.eyJzdWIiOiJ4In0.sig"],
    ["JWE (five segments)", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y2lwaGVy.dGFn"],
    ["empty", ""]
  ]
  for (const [name, token] of malformed) {
    it.effect(`MalformedJwtError for ${name}, without the token in the message`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Jwt.decode(token))
        expect(error._tag).toBe("MalformedJwtError")
        if (token.length > 0) {
          expect(error.message).not.toContain(token)
          for (const segment of token.split(".").filter((s) => s.length >= 8)) {
            expect(error.message).not.toContain(segment)
          }
        }
        expect(Jwt.decodeOption(token)).toEqual(Option.none())
        expect(Jwt.isJwt(token)).toBe(false)
        expect(Either.isLeft(yield* Effect.either(Jwt.decodeHeader(token)))).toBe(true)
      }))
  }

  it("expiration ignores a missing or non-numeric exp", () => {
    expect(Jwt.expiration({})).toEqual(Option.none())
    expect(Jwt.expiration({ exp: "1700000000" })).toEqual(Option.none())
    expect(Jwt.expiration({ exp: 120 })).toEqual(Option.some(120_000))
  })
})
