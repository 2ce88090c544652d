/**
 * Runs the demo program itself – the real test server, the real API, every step – with its output captured, and
 * checks that each step happened and said what it should.
 */
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Output from "../src/Output.js"
import { program, sessionId } from "../src/program.js"

describe("pnpm demo", () => {
  it.live("runs every step against the test server and the API, printing no token", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      yield* program.pipe(Effect.provide(Output.layerBuffer(lines)), Effect.provide(FetchHttpClient.layer))
      const text = lines.join("\n")

      // every step heading, in order
      const headings = lines.filter((l) => /^\n\[\d\]/.test(l)).map((l) => l.trim().slice(0, 3))
      expect(headings).toEqual(["[1]", "[2]", "[3]", "[4]", "[5]", "[6]"])

      // 1: one client_credentials request for two acquires
      expect(text).toContain("again -> the same token (cache hit)")
      expect(text).toMatch(/client_credentials requests at the server: 0 -> 1 -> 1 \(the second acquire sent none\)/)

      // 2: the API rejects an anonymous call and names the machine caller
      expect(text).toContain(
        `GET /orders without a token -> 401, WWW-Authenticate: Bearer realm="api", DPoP realm="api", algs="ES256 EdDSA"`
      )
      expect(text).toMatch(/GET \/orders with BearerClient -> 200, the API saw sub=(\S+) client_id=\1 scope="api:read"/)

      // 3: alice signed in and got a refresh token
      expect(text).toMatch(/exchangeCode\(callback\) -> TokenSet\(Bearer, grant=authorization_code, .*refreshToken=<redacted>\)/)
      expect(text).toMatch(/claims: sub=alice /)

      // 4: one refresh for ten callers, the refresh token rotated, the store holds the new one, events published
      expect(text).toContain(`10 concurrent get("${sessionId}") -> 1 refresh_token request, all got the same new access token`)
      const rotation = /refresh token (#\S+) -> (#\S+) \(rotated\); the store holds (#\S+)/.exec(text)
      expect(rotation).not.toBeNull()
      expect(rotation![1]).not.toEqual(rotation![2])
      expect(rotation![3]).toEqual(rotation![2])
      expect(text).toContain(`event Refreshed(${sessionId})`)
      expect(text).toContain(`event Rotated(${sessionId})`)

      // 5: the reports API verified alice's token, exchanged it once, and the orders API saw alice via the exchanger
      expect(text).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/report with alice's access token -> 200/)
      expect(text).toMatch(/the reports API verified it \(ApiAuth\.middleware\): sub=alice client_id=web-app scope="[^"]*api:read[^"]*"/)
      expect(text).toMatch(/exchanged it as client svc-exchanger \(token-exchange requests at the server: 0 -> 1\)/)
      expect(text).toContain(`the orders API saw sub=alice client_id=svc-exchanger scope="api:read": alice, on behalf of the reports API`)

      // 6: the guard's typed error, and no request reached the server
      expect(text).toContain("exchange(the token from step 1) -> SystemIdentityTokenError: ")
      expect(text).toContain("(provenance: client_credentials)")
      expect(text).toContain("exchange(the same token as a bare string) -> SystemIdentityTokenError: ")
      expect(text).toMatch(/token-exchange requests at the server: (\d+) -> \1 \(refused before sending\)/)

      expect(text).toMatch(/All 6 steps done in [\d.]+ s\./)
      // no JWT (three base64url segments) in the output
      expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)
    }))
})
