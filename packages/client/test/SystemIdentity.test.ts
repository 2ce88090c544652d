import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc, Option, Redacted } from "effect"
import { UnsecuredJWT } from "jose"
import * as Fs from "node:fs"
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

// issuers of each vendor's shape
const KEYCLOAK = "https://sso.example.com/realms/orders"
const KEYCLOAK_LEGACY = "https://sso.example.com/auth/realms/orders"
const ENTRA_V2 = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
const ENTRA_V1 = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"
const OKTA = "https://acme.okta.com/oauth2/default"
const OKTA_CUSTOM_SERVER = "https://acme.oktapreview.com/oauth2/aus1a2b3c4d5e6f7g8h9"
const OKTA_EMEA_ORG = "https://acme.okta-emea.com"
const AUTH0 = "https://acme.auth0.com/"
const AUTH0_REGION = "https://acme.eu.auth0.com/"

/** client-credentials (app-only, service-account) token shapes as each vendor documents them */
const systemTokens: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
  ["TetraPak userType (any issuer)", { iss: "https://login.tetrapak.example", sub: "x1", userType: "system" }, "claim userType=system"],
  ["TetraPak, compared ignoring case as its JwtHelper does", { sub: "x1", UserType: "SYSTEM" }, "claim userType=system"],
  ["RFC 9068 / oidc-provider sub = client_id (any issuer)", { iss: "https://as.example", sub: "svc", client_id: "svc" }, "claim sub=client_id"],
  [
    "Keycloak service account",
    { iss: KEYCLOAK, sub: "5c1c4e0a-63f4-4a2b-9a8e-0d4f5b7c1e2d", azp: "orders-job", preferred_username: "service-account-orders-job", client_id: "orders-job", typ: "Bearer" },
    "claim preferred_username=service-account-*"
  ],
  [
    "Keycloak (before 17: /auth) service account",
    { iss: KEYCLOAK_LEGACY, sub: "5c1c4e0a", azp: "orders-job", preferred_username: "service-account-orders-job", clientId: "orders-job" },
    "claim preferred_username=service-account-*"
  ],
  [
    "Entra ID v2 app-only with the optional idtyp claim",
    { iss: ENTRA_V2, sub: "b3a7c1d2", oid: "b3a7c1d2", azp: "6731de76", roles: ["Orders.Read.All"], idtyp: "app", ver: "2.0" },
    "claim idtyp=app"
  ],
  [
    "Entra ID v2 app-only without idtyp: roles, no scp",
    { iss: ENTRA_V2, sub: "b3a7c1d2", oid: "b3a7c1d2", azp: "6731de76", roles: ["Orders.Read.All"], ver: "2.0" },
    "claim roles without scp"
  ],
  [
    "Entra ID v1 app-only without idtyp: roles, no scp",
    { iss: ENTRA_V1, sub: "b3a7c1d2", oid: "b3a7c1d2", appid: "6731de76", roles: ["Orders.Read.All"], ver: "1.0" },
    "claim roles without scp"
  ],
  [
    "Entra ID app-only without idtyp and without any role: oid = sub, no scp",
    { iss: ENTRA_V2, sub: "b3a7c1d2", oid: "b3a7c1d2", azp: "6731de76", ver: "2.0" },
    "claim oid=sub"
  ],
  ["Okta client credentials (default server)", { iss: OKTA, sub: "0oa1bcd2efGh3", cid: "0oa1bcd2efGh3", scp: ["orders.read"] }, "claim sub=cid"],
  ["Okta client credentials (custom server, preview)", { iss: OKTA_CUSTOM_SERVER, sub: "0oa9", cid: "0oa9" }, "claim sub=cid"],
  ["Okta client credentials (org server, EMEA)", { iss: OKTA_EMEA_ORG, sub: "0oa9", cid: "0oa9" }, "claim sub=cid"],
  [
    "Auth0 machine-to-machine",
    { iss: AUTH0, sub: "Xk3p9q@clients", azp: "Xk3p9q", gty: "client-credentials", aud: "https://api.example" },
    "claim gty=client-credentials"
  ],
  ["Auth0 (regional domain) without gty: sub = azp@clients", { iss: AUTH0_REGION, sub: "Xk3p9q@clients", azp: "Xk3p9q" }, "claim sub=<client id>@clients"],
  [
    "Auth0 RFC 9068 token profile: sub = client_id@clients",
    { iss: AUTH0, sub: "Xk3p9q@clients", client_id: "Xk3p9q", aud: "https://api.example" },
    "claim sub=<client id>@clients"
  ]
]

/** user tokens as each vendor issues them: none is a system identity */
const userTokens: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ["Keycloak user", { iss: KEYCLOAK, sub: "0d4f5b7c", azp: "web", preferred_username: "alice", scope: "openid profile" }],
  ["Entra ID v2 user access token", { iss: ENTRA_V2, sub: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", oid: "00000000-0000-0000-66f3-3332eca7ea81", scp: "Orders.Read", roles: ["Admin"], idtyp: "user" }],
  ["Entra ID v1 user access token", { iss: ENTRA_V1, sub: "pairwise-sub", oid: "user-oid", scp: "user_impersonation", upn: "alice@contoso.example" }],
  ["Entra ID user ID token (roles, no scp, oid ≠ sub)", { iss: ENTRA_V2, sub: "pairwise-sub", oid: "user-oid", aud: "6731de76", roles: ["Admin"] }],
  ["Okta user", { iss: OKTA, sub: "alice@example.com", uid: "00u1abcd", cid: "0oaWebApp", scp: ["openid"] }],
  ["Auth0 user", { iss: AUTH0, sub: "auth0|64b0c1d2e3", azp: "WebApp123", scope: "openid profile" }]
]

/** user tokens that merely resemble another vendor's rule */
const lookalikes: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ["preferred_username service-account-bob at Okta", { iss: OKTA, sub: "bob@example.com", uid: "00u2", cid: "web", preferred_username: "service-account-bob" }],
  ["preferred_username service-account-bob at Entra ID", { iss: ENTRA_V2, sub: "pairwise", oid: "bob-oid", scp: "User.Read", preferred_username: "service-account-bob" }],
  ["preferred_username service-account-bob at Auth0", { iss: AUTH0, sub: "auth0|bob", azp: "web", preferred_username: "service-account-bob" }],
  ["preferred_username service-account-bob at an unknown issuer", { iss: "https://as.example", sub: "bob", preferred_username: "service-account-bob" }],
  ["preferred_username service-account-bob without an issuer", { sub: "bob", preferred_username: "service-account-bob" }],
  ["roles without scp, oid = sub at Keycloak", { iss: KEYCLOAK, sub: "u1", oid: "u1", roles: ["admin"], preferred_username: "alice" }],
  ["idtyp app at Okta", { iss: OKTA, sub: "alice@example.com", uid: "00u1", cid: "web", idtyp: "app" }],
  ["sub = cid at Keycloak", { iss: KEYCLOAK, sub: "web", cid: "web", preferred_username: "web" }],
  ["sub = cid with a uid at Okta (a user whose login is the client id)", { iss: OKTA, sub: "web", cid: "web", uid: "00u3" }],
  ["gty client-credentials at Keycloak", { iss: KEYCLOAK, sub: "u1", preferred_username: "alice", gty: "client-credentials" }],
  ["sub = azp@clients at Okta", { iss: OKTA, sub: "web@clients", azp: "web", uid: "00u4", cid: "web" }]
]

/** issuers that look like a vendor's and are not */
const notTheVendor: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ["okta.com as a prefix of another domain", { iss: "https://acme.okta.com.evil.example/oauth2/default", sub: "0oa9", cid: "0oa9" }],
  ["a domain ending in okta.com without the dot", { iss: "https://evilokta.com/oauth2/default", sub: "0oa9", cid: "0oa9" }],
  ["Okta over plain http", { iss: "http://acme.okta.com/oauth2/default", sub: "0oa9", cid: "0oa9" }],
  ["Okta with another path", { iss: "https://acme.okta.com/api/v1", sub: "0oa9", cid: "0oa9" }],
  ["auth0.com as a prefix", { iss: "https://acme.auth0.com.evil.example/", sub: "x", gty: "client-credentials" }],
  ["Auth0 with a path", { iss: "https://acme.auth0.com/tenant/", sub: "x", gty: "client-credentials" }],
  ["microsoftonline.com lookalike", { iss: "https://login.microsoftonline.com.evil.example/t/v2.0", sub: "a", oid: "a", roles: ["r"] }],
  ["Entra v2 host without /v2.0", { iss: "https://login.microsoftonline.com/t/", sub: "a", oid: "a", roles: ["r"] }],
  ["Keycloak realms with a deeper path", { iss: "https://sso.example.com/realms/orders/extra", sub: "s", preferred_username: "service-account-x" }],
  ["an issuer with a query", { iss: `${KEYCLOAK}?x=1`, sub: "s", preferred_username: "service-account-x" }],
  ["an issuer that is not a URL", { iss: "realms/orders", sub: "s", preferred_username: "service-account-x" }]
]

describe("SystemIdentity.isSystemIdentityToken", () => {
  for (const [name, claims, mark] of systemTokens) {
    it(`${name} → ${mark}`, () => {
      expect(SystemIdentity.isSystemIdentityToken(jwt(claims))).toEqual(Option.some(mark))
      expect(SystemIdentity.isSystemIdentityToken(Redacted.make(jwt(claims)))).toEqual(Option.some(mark))
      // also inside a TokenSet minted by a user grant
      expect(SystemIdentity.isSystemIdentityToken(tokenSet(jwt(claims), "authorization_code"))).toEqual(Option.some(mark))
    })
  }

  for (const [name, claims] of [...userTokens, ...lookalikes, ...notTheVendor]) {
    it(`passes: ${name}`, () => {
      expect(SystemIdentity.isSystemIdentityToken(jwt(claims))).toEqual(Option.none())
    })
  }

  it.prop(
    "a Keycloak service account is refused at any host and realm, its claims at a non-vendor issuer pass",
    {
      host: fc.domain(),
      realm: fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/),
      client: fc.stringMatching(/^[a-z0-9-]{1,24}$/)
    },
    ({ client, host, realm }) => {
      const claims = { sub: "f2a1", azp: client, preferred_username: `service-account-${client}` }
      expect(SystemIdentity.isSystemIdentityToken(jwt({ ...claims, iss: `https://${host}/realms/${realm}` })))
        .toEqual(Option.some("claim preferred_username=service-account-*"))
      expect(SystemIdentity.isSystemIdentityToken(jwt({ ...claims, iss: `https://${host}/${realm}` }))).toEqual(Option.none())
    }
  )

  it.prop(
    "no vendor rule fires for an issuer outside the vendors' domains",
    { iss: fc.webUrl({ withQueryParameters: true, withFragments: true }), id: fc.stringMatching(/^[A-Za-z0-9]{1,16}$/) },
    ({ id, iss }) => {
      const host = new URL(iss).hostname
      fc.pre(![".okta.com", ".oktapreview.com", ".okta-emea.com", ".auth0.com"].some((d) => host.endsWith(d)))
      fc.pre(!["login.microsoftonline.com", "sts.windows.net"].includes(host) && !/\/realms\/[^/]+\/?$/.test(new URL(iss).pathname))
      // every vendor's mark at once, none of the general ones
      const claims = {
        iss,
        sub: id,
        oid: id,
        cid: id,
        azp: "c",
        roles: ["r"],
        idtyp: "app",
        gty: "client-credentials",
        preferred_username: `service-account-${id}`
      }
      expect(SystemIdentity.isSystemIdentityToken(jwt(claims))).toEqual(Option.none())
    }
  )

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

describe("SystemIdentity rule table", () => {
  it("the README's token-exchange section lists every default rule, with the issuers it applies to and a source", () => {
    const readme = Fs.readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
    const section = readme.slice(
      readme.indexOf("<!-- section:token-exchange -->"),
      readme.indexOf("<!-- /section:token-exchange -->")
    )
    const rows = section.split("\n").filter((line) => line.trimStart().startsWith("| `claim "))
    expect(rows.map((row) => row.trim().split(" | ")[0]!.replace(/^\| /, ""))).toEqual(
      SystemIdentity.defaultClaimMarks.map(({ mark }) => `\`${mark}\``)
    )
    for (const row of rows) expect(row).toMatch(/\]\(https:\/\/[^)]+\)/)
  })
})
