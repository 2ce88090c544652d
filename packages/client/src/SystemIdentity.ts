/**
 * Does a token belong to a system identity (a client acting for itself) rather than to a user?
 *
 * Authorization servers such as TetraPak's refuse to exchange such a token (RFC 8693) and say only `400 Bad Request`.
 * `TokenExchange` asks this module first and refuses before sending, with `SystemIdentityTokenError` naming the mark
 * that matched. A mark names a rule, never a claim's value or a token.
 *
 * The rules ({@link defaultClaimMarks}) are of two kinds: general ones, true whoever issued the token (TetraPak's
 * `userType: "system"`, RFC 9068's `sub` equal to `client_id`), and vendor ones, applied only to tokens whose `iss` has
 * that vendor's shape ({@link issuers}: Keycloak, Microsoft Entra ID, Okta, Auth0) – a claim that means "service
 * account" at one vendor can be an ordinary user's at another. The claims are read without verifying the token: the
 * guard saves a doomed request, it grants nothing.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Jwt from "./Jwt.js"
import { GrantTypes } from "./TokenSet.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * What the guard looks at: a `TokenSet` (its provenance, and its access token's claims when that is a JWT), or a bare
 * token.
 *
 * @since 0.1.0
 * @category models
 */
export type Subject = TokenSet | Redacted.Redacted<string> | string

/**
 * A system-identity guard: the mark that says "system identity", or `None` to let the token through.
 *
 * @since 0.1.0
 * @category models
 */
export type Guard = (subject: Subject) => Option.Option<string>

/**
 * One claim-based rule: `mark` names it in `SystemIdentityTokenError` (it must not contain a claim value).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimMark {
  readonly mark: string
  readonly test: (claims: Jwt.Claims) => boolean
}

const equalsClaim = (claims: Jwt.Claims, name: string, expected: string): boolean => {
  const value = claims[name]
  return value === expected || (Array.isArray(value) && value.includes(expected))
}

const sameStringClaims = (claims: Jwt.Claims, a: string, b: string): boolean => {
  const x = claims[a]
  const y = claims[b]
  return Predicate.isString(x) && x.length > 0 && x === y
}

const hasClaim = (claims: Jwt.Claims, name: string): boolean => claims[name] !== undefined && claims[name] !== null

/** the issuer as a URL: https (or, where `http` is allowed, http), no query, no fragment, no credentials */
const issuerUrl = (claims: Jwt.Claims, allowHttp: boolean): URL | undefined => {
  const iss = claims.iss
  if (!Predicate.isString(iss)) return undefined
  let url: URL
  try {
    url = new URL(iss)
  } catch {
    return undefined
  }
  const scheme = url.protocol === "https:" || (allowHttp && url.protocol === "http:")
  return scheme && url.search === "" && url.hash === "" && url.username === "" && url.password === "" ? url : undefined
}

/** `host` is `domain` or one of its subdomains */
const underDomain = (host: string, domain: string): boolean => host.endsWith(`.${domain}`)

/**
 * A test of a token's `iss` claim: `true` when the issuer is one of a vendor's. The vendor rules apply only to tokens
 * whose issuer passes; give your own (a custom domain) to the rule builders ({@link keycloak}, {@link entraId},
 * {@link okta}, {@link auth0}).
 *
 * @since 0.1.0
 * @category models
 */
export type IssuerTest = (claims: Jwt.Claims) => boolean

/**
 * The issuer shapes each vendor's rules are scoped to:
 *
 * - `keycloak`: `http(s)://<host>[/<path>]/realms/<realm>` (`/auth/realms/<realm>` before Keycloak 17);
 * - `entraId`: `https://login.microsoftonline.com/<tenant>/v2.0` (v2.0 tokens) and `https://sts.windows.net/<tenant>/`
 *   (v1.0 tokens);
 * - `okta`: `https://<org>.okta.com`, `.oktapreview.com` or `.okta-emea.com`, the org server or `/oauth2/<server id>`
 *   (`/oauth2/default` included);
 * - `auth0`: `https://<tenant>.auth0.com/` and `https://<tenant>.<region>.auth0.com/`. A custom domain cannot be
 *   recognised: pass its issuer to {@link auth0} (and likewise for the others).
 *
 * @since 0.1.0
 * @category constants
 */
export const issuers: {
  readonly keycloak: IssuerTest
  readonly entraId: IssuerTest
  readonly okta: IssuerTest
  readonly auth0: IssuerTest
} = {
  keycloak: (claims) => {
    const url = issuerUrl(claims, true)
    return url !== undefined && /^(?:\/[^/]+)*\/realms\/[^/]+\/?$/.test(url.pathname)
  },
  entraId: (claims) => {
    const url = issuerUrl(claims, false)
    if (url === undefined || url.port !== "") return false
    if (url.hostname === "login.microsoftonline.com") return /^\/[^/]+\/v2\.0\/?$/.test(url.pathname)
    if (url.hostname === "sts.windows.net") return /^\/[^/]+\/?$/.test(url.pathname)
    return false
  },
  okta: (claims) => {
    const url = issuerUrl(claims, false)
    return url !== undefined && url.port === "" &&
      ["okta.com", "oktapreview.com", "okta-emea.com"].some((domain) => underDomain(url.hostname, domain)) &&
      /^(?:\/|\/oauth2\/[^/]+\/?)?$/.test(url.pathname)
  },
  auth0: (claims) => {
    const url = issuerUrl(claims, false)
    return url !== undefined && url.port === "" && underDomain(url.hostname, "auth0.com") && url.pathname === "/"
  }
}

const scoped = (issuer: IssuerTest, test: (claims: Jwt.Claims) => boolean) => (claims: Jwt.Claims): boolean =>
  issuer(claims) && test(claims)

/**
 * The rules that hold for any issuer:
 *
 * - `userType: "system"` (TetraPak: `JwtHelper.IsSystemIdentityToken`, claim name and value compared ignoring case),
 * - `sub` equal to `client_id` (RFC 9068 §2.2: a token for no resource owner has the client as its subject;
 *   oidc-provider does this).
 *
 * @since 0.1.0
 * @category constants
 */
export const generalClaimMarks: ReadonlyArray<ClaimMark> = [
  {
    mark: "claim userType=system",
    test: (claims) =>
      Object.entries(claims).some(([name, value]) =>
        name.toLowerCase() === "usertype" && Predicate.isString(value) && value.toLowerCase() === "system"
      )
  },
  { mark: "claim sub=client_id", test: (claims) => sameStringClaims(claims, "sub", "client_id") }
]

/**
 * Keycloak: the token of a client's service account has `preferred_username` `service-account-<client id>`.
 *
 * @since 0.1.0
 * @category rules
 */
export const keycloak = (issuer: IssuerTest = issuers.keycloak): ReadonlyArray<ClaimMark> => [
  {
    mark: "claim preferred_username=service-account-*",
    test: scoped(issuer, (claims) => {
      const name = claims.preferred_username
      return Predicate.isString(name) && name.startsWith("service-account-")
    })
  }
]

/**
 * Microsoft Entra ID: an app-only token has `idtyp: "app"` (an optional claim, only when configured); without it, it
 * has `roles` (application permissions) and no `scp` (delegated permissions), and its `oid` is its `sub` (the service
 * principal). A user's ID token also has `roles` and no `scp`, but an `oid` other than its `sub`: it passes.
 *
 * @since 0.1.0
 * @category rules
 */
export const entraId = (issuer: IssuerTest = issuers.entraId): ReadonlyArray<ClaimMark> => {
  const notAUser = (claims: Jwt.Claims): boolean => {
    if (claims.idtyp === "user") return false
    const { oid, sub } = claims
    return !(Predicate.isString(oid) && Predicate.isString(sub) && oid !== sub)
  }
  return [
    { mark: "claim idtyp=app", test: scoped(issuer, (claims) => equalsClaim(claims, "idtyp", "app")) },
    {
      mark: "claim roles without scp",
      test: scoped(issuer, (claims) => hasClaim(claims, "roles") && !hasClaim(claims, "scp") && notAUser(claims))
    },
    {
      mark: "claim oid=sub",
      test: scoped(issuer, (claims) => !hasClaim(claims, "scp") && notAUser(claims) && sameStringClaims(claims, "oid", "sub"))
    }
  ]
}

/**
 * Okta: a client-credentials token has the client id as `sub` and as `cid`, and no `uid` (the user's id).
 *
 * @since 0.1.0
 * @category rules
 */
export const okta = (issuer: IssuerTest = issuers.okta): ReadonlyArray<ClaimMark> => [
  {
    mark: "claim sub=cid",
    test: scoped(issuer, (claims) => sameStringClaims(claims, "sub", "cid") && !hasClaim(claims, "uid"))
  }
]

/**
 * Auth0: a machine-to-machine token has `gty: "client-credentials"` and `sub` `<client id>@clients`, the client id
 * being its `azp` (Auth0 token profile) or its `client_id` (RFC 9068 token profile).
 *
 * @since 0.1.0
 * @category rules
 */
export const auth0 = (issuer: IssuerTest = issuers.auth0): ReadonlyArray<ClaimMark> => [
  { mark: "claim gty=client-credentials", test: scoped(issuer, (claims) => equalsClaim(claims, "gty", "client-credentials")) },
  {
    mark: "claim sub=<client id>@clients",
    test: scoped(issuer, (claims) =>
      [claims.azp, claims.client_id].some((client) =>
        Predicate.isString(client) && client.length > 0 && claims.sub === `${client}@clients`
      ))
  }
]

/**
 * The claims that mark a system identity in the wild: the {@link generalClaimMarks} for any issuer, then each vendor's
 * rules for that vendor's issuers only ({@link issuers}) – so a user of one server whose claims merely resemble another
 * vendor's rule (`preferred_username: "service-account-bob"` at Okta) passes.
 *
 * | mark | issuer | source |
 * | --- | --- | --- |
 * | `claim userType=system` | any | TetraPak `JwtHelper.IsSystemIdentityToken` |
 * | `claim sub=client_id` | any | RFC 9068 §2.2 |
 * | `claim preferred_username=service-account-*` | Keycloak | Keycloak Server Administration Guide, service accounts |
 * | `claim idtyp=app`, `claim roles without scp`, `claim oid=sub` | Entra ID | Microsoft identity platform access token claims reference; protected web API: verify app roles |
 * | `claim sub=cid` (and no `uid`) | Okta | Okta OIDC & OAuth 2.0 API, access token claims |
 * | `claim gty=client-credentials`, `claim sub=<client id>@clients` | Auth0 | Auth0 access token profiles; client credentials flow |
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultClaimMarks: ReadonlyArray<ClaimMark> = [
  ...generalClaimMarks,
  ...keycloak(),
  ...entraId(),
  ...okta(),
  ...auth0()
]

/**
 * The mark for a `TokenSet` minted by a client credentials grant.
 *
 * @since 0.1.0
 * @category constants
 */
export const provenanceMark = `provenance: ${GrantTypes.clientCredentials}`

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** refuse a `TokenSet` whose provenance is a client credentials grant (default `true`) */
  readonly provenance?: boolean | undefined
  /** the claim rules for JWTs (default {@link defaultClaimMarks}); an empty list checks no claim */
  readonly claims?: ReadonlyArray<ClaimMark> | undefined
}

/**
 * Builds a guard: provenance first, then each claim rule on the (unverified) claims of a JWT. An opaque token
 * without provenance passes: the server decides.
 *
 * @example
 * ```ts
 * import { SystemIdentity } from "@effect-oauth/client"
 *
 * // the defaults, plus a house rule
 * const guard = SystemIdentity.make({
 *   claims: [...SystemIdentity.defaultClaimMarks, { mark: "claim act_as=robot", test: (c) => c.act_as === "robot" }]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Guard => {
  const provenance = options?.provenance ?? true
  const marks = options?.claims ?? defaultClaimMarks
  return (subject) => {
    // a bare token is a string or a `Redacted`; anything else is a `TokenSet` – told apart that way, not with
    // `instanceof TokenSet`: a plain object with the TokenSet fields is a TokenSet too
    const bare = typeof subject === "string" || Redacted.isRedacted(subject)
    if (!bare && provenance && subject.provenance.grant === GrantTypes.clientCredentials) {
      return Option.some(provenanceMark)
    }
    if (marks.length === 0) return Option.none()
    const token = bare ? subject : subject.accessToken
    return Option.flatMap(
      Jwt.decodeOption(token),
      (claims) => Option.map(Option.fromNullable(marks.find((rule) => rule.test(claims))), (rule) => rule.mark)
    )
  }
}

/**
 * The default guard ({@link make} with no options): the mark that says `subject` belongs to a system identity, or
 * `None`.
 *
 * @example
 * ```ts
 * import { SystemIdentity } from "@effect-oauth/client"
 * import { Option } from "effect"
 *
 * if (Option.isSome(SystemIdentity.isSystemIdentityToken(token))) {
 *   // do not try to exchange it
 * }
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isSystemIdentityToken: Guard = make()
