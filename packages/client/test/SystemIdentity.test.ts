import { describe, expect, it } from "@effect/vitest"
import { Option, Redacted } from "effect"
import { UnsecuredJWT } from "jose"
import * as SystemIdentity from "../src/SystemIdentity.js"
import type { TokenSet } from "../src/TokenSet.js"
import { makeTokenSet } from "./support/tokens.js"

const jwt = (claims: Record<string, unknown>): string => new UnsecuredJWT(claims).encode()

const tokenSet = (accessToken: string, grant: string): TokenSet =>
  makeTokenSet({ access: accessToken, grant, clientId: "svc", tokenEndpoint: "https://issuer.example/token" })

// a user's access token as RFC 9068 servers issue it: none of the marks
const userClaims = {
  iss: "https://issuer.example",
  sub: "alice",
  client_id: "web",
  aud: "https://api.example",
  scope: "openid api:read",
  preferred_username: "alice@example.com",
  idtyp: "user",
  gty: "authorization_code",
  userType: "human",
  exp: 1_700_000_000
}

describe("SystemIdentity.isSystemIdentityToken", () => {
  const marked: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    ["TetraPak userType", { sub: "x1", userType: "system" }, "claim userType=system"],
    ["Auth0 gty", { sub: "abc@clients", gty: "client-credentials" }, "claim gty=client-credentials"],
    ["Entra ID idtyp", { sub: "00000000-aaaa", idtyp: "app", oid: "00000000-aaaa" }, "claim idtyp=app"],
    ["RFC 9068 / oidc-provider sub = client_id", { sub: "svc-client", client_id: "svc-client" }, "claim sub=client_id"],
    ["Okta sub = cid", { sub: "0oa1bcd", cid: "0oa1bcd" }, "claim sub=cid"],
    [
      "Keycloak service account",
      { sub: "f2a1", preferred_username: "service-account-orders", azp: "orders" },
      "claim preferred_username=service-account-*"
    ]
  ]
  for (const [name, claims, mark] of marked) {
    it(`${name} → ${mark}`, () => {
      expect(SystemIdentity.isSystemIdentityToken(jwt(claims))).toEqual(Option.some(mark))
      expect(SystemIdentity.isSystemIdentityToken(Redacted.make(jwt(claims)))).toEqual(Option.some(mark))
      // also inside a TokenSet minted by a user grant
      expect(SystemIdentity.isSystemIdentityToken(tokenSet(jwt(claims), "authorization_code"))).toEqual(Option.some(mark))
    })
  }

  it("a TokenSet minted by client_credentials is refused by its provenance, even with an opaque token", () => {
    expect(SystemIdentity.isSystemIdentityToken(tokenSet("2YotnFZFEjr1zCsicMWpAA", "client_credentials"))).toEqual(
      Option.some("provenance: client_credentials")
    )
    expect(SystemIdentity.isSystemIdentityToken(tokenSet(jwt(userClaims), "client_credentials"))).toEqual(
      Option.some("provenance: client_credentials")
    )
  })

  it("a user token that carries none of the marks passes", () => {
    expect(SystemIdentity.isSystemIdentityToken(jwt(userClaims))).toEqual(Option.none())
    expect(SystemIdentity.isSystemIdentityToken(Redacted.make(jwt(userClaims)))).toEqual(Option.none())
    expect(SystemIdentity.isSystemIdentityToken(tokenSet(jwt(userClaims), "authorization_code"))).toEqual(Option.none())
    expect(SystemIdentity.isSystemIdentityToken(tokenSet(jwt(userClaims), "refresh_token"))).toEqual(Option.none())
  })

  it("near misses pass: the marks are exact", () => {
    const pass = (claims: Record<string, unknown>) =>
      expect(SystemIdentity.isSystemIdentityToken(jwt(claims))).toEqual(Option.none())
    pass({ sub: "alice", client_id: "alice2" })
    pass({ sub: "", client_id: "" })
    pass({ sub: "0oa1", cid: "0oa2" })
    pass({ sub: "alice", preferred_username: "my-service-account-alice" })
    pass({ sub: "alice", gty: "password" })
    pass({ sub: "alice", userType: "System user" })
  })

  it("an opaque token without provenance passes: the server decides", () => {
    expect(SystemIdentity.isSystemIdentityToken("2YotnFZFEjr1zCsicMWpAA")).toEqual(Option.none())
    expect(SystemIdentity.isSystemIdentityToken(Redacted.make("2YotnFZFEjr1zCsicMWpAA"))).toEqual(Option.none())
    expect(SystemIdentity.isSystemIdentityToken(tokenSet("2YotnFZFEjr1zCsicMWpAA", "authorization_code"))).toEqual(
      Option.none()
    )
  })
})

describe("SystemIdentity.make", () => {
  it("takes other claim rules", () => {
    const guard = SystemIdentity.make({
      claims: [{ mark: "claim act_as=robot", test: (claims) => claims.act_as === "robot" }]
    })
    expect(guard(jwt({ sub: "r2", act_as: "robot" }))).toEqual(Option.some("claim act_as=robot"))
    // the default rules are replaced, not added to
    expect(guard(jwt({ sub: "svc", client_id: "svc" }))).toEqual(Option.none())
  })

  it("can ignore provenance, or every claim", () => {
    const claimsOnly = SystemIdentity.make({ provenance: false })
    expect(claimsOnly(tokenSet("2YotnFZFEjr1zCsicMWpAA", "client_credentials"))).toEqual(Option.none())
    expect(claimsOnly(tokenSet(jwt({ sub: "svc", client_id: "svc" }), "client_credentials"))).toEqual(
      Option.some("claim sub=client_id")
    )
    const provenanceOnly = SystemIdentity.make({ claims: [] })
    expect(provenanceOnly(jwt({ sub: "svc", client_id: "svc" }))).toEqual(Option.none())
    expect(provenanceOnly(tokenSet("opaque-token-value", "client_credentials"))).toEqual(
      Option.some("provenance: client_credentials")
    )
  })
})

describe("SystemIdentity with a plain-object TokenSet", () => {
  // structurally a TokenSet (it type-checks without a cast) but not an instance of the class
  const plain = (accessToken: string, grant: string): TokenSet => ({
    accessToken: Redacted.make(accessToken),
    tokenType: "Bearer",
    issuedAt: 0,
    expiresAt: 3_600_000,
    extra: {},
    provenance: { grant, clientId: "svc", tokenEndpoint: "https://issuer.example/token" },
    isAccessToken: true,
    lifetimeMillis: 3_600_000,
    toJSON: () => ({ _id: "TokenSet" })
  })

  it("is refused by its client_credentials provenance", () => {
    expect(SystemIdentity.isSystemIdentityToken(plain("2YotnFZFEjr1zCsicMWpAA", "client_credentials"))).toEqual(
      Option.some("provenance: client_credentials")
    )
  })

  it("has its access token's claims checked, and a user's passes", () => {
    expect(SystemIdentity.isSystemIdentityToken(plain(jwt({ sub: "x1", userType: "system" }), "authorization_code")))
      .toEqual(Option.some("claim userType=system"))
    expect(SystemIdentity.isSystemIdentityToken(plain(jwt(userClaims), "authorization_code"))).toEqual(Option.none())
  })
})
