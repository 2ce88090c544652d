/**
 * oidc-provider's notices: dropped by default when they only say what a test server is, handed to `logger` when one
 * is given; the console is left as it was; a revocation prints no "you SHOULD change" notice.
 */
import * as TestServer from "@effect-oauth/test-server"
import { afterEach, describe, expect, it, vi } from "@effect/vitest"

afterEach(() => {
  vi.restoreAllMocks()
})

const oidcLines = (spy: { readonly mock: { readonly calls: ReadonlyArray<ReadonlyArray<unknown>> } }) =>
  spy.mock.calls.flat().filter((arg) => typeof arg === "string" && arg.includes("oidc-provider"))

describe("oidc-provider's notices", () => {
  it("by default a start prints none of them, and leaves console.warn and console.info as they were", async () => {
    const warn = vi.spyOn(console, "warn")
    const info = vi.spyOn(console, "info")
    const server = await TestServer.start()
    try {
      expect(console.warn).toBe(warn)
      expect(console.info).toBe(info)
      expect(oidcLines(warn)).toEqual([])
      expect(oidcLines(info)).toEqual([])

      // revoking an opaque access token (no resource): oidc-provider's default allowedPolicy would print a NOTICE here
      const { clientId, clientSecret } = server.clients.post
      const form = (params: Record<string, string>) => ({
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ ...params, client_id: clientId, client_secret: clientSecret })
      })
      const issued = await fetch(server.tokenEndpoint, form({ grant_type: "client_credentials", scope: "api:read" }))
      const body: unknown = await issued.json()
      const token = typeof body === "object" && body !== null ? Reflect.get(body, "access_token") : undefined
      if (typeof token !== "string") return expect.fail(`no access token: ${JSON.stringify(body)}`)
      const revoked = await fetch(`${server.issuer}/token/revocation`, form({ token, token_type_hint: "access_token" }))
      expect(revoked.status).toBe(200)
      expect(server.requestCount("revocation")).toBe(1)
      expect(oidcLines(warn)).toEqual([])
      expect(oidcLines(info)).toEqual([])
    } finally {
      await server.stop()
    }
  })

  it("a logger receives each notice of the start, without colours, and nothing reaches the console", async () => {
    const warn = vi.spyOn(console, "warn")
    const lines: Array<string> = []
    const server = await TestServer.start({ logger: (line) => lines.push(line) })
    await server.stop()
    expect(lines).toEqual(expect.arrayContaining([
      expect.stringMatching(/^oidc-provider WARNING: a quick start development-only in-memory adapter is used/),
      expect.stringMatching(/^oidc-provider WARNING: a quick start development-only feature devInteractions is enabled/)
    ]))
    expect(lines.every((line) => line.startsWith("oidc-provider ") && !line.includes("\x1b["))).toBe(true)
    expect(oidcLines(warn)).toEqual([])
    expect(console.warn).toBe(warn)
  })

  it("a logger that prints with console.warn itself shows them (and does not loop)", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {})
    const server = await TestServer.start({ logger: (line) => console.warn(line) })
    await server.stop()
    expect(oidcLines(warn)).toEqual(expect.arrayContaining([
      expect.stringMatching(/^oidc-provider WARNING: a quick start development-only in-memory adapter is used/)
    ]))
  })
})
