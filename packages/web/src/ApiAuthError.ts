/**
 * Why `ApiAuth` refused a request – each a `Schema.TaggedError` with the HTTP status RFC 6750 §3.1 and RFC 9449 §7
 * give it (an `HttpApi` annotation, so that an `HttpApi` application documents and answers it), and what the
 * `WWW-Authenticate` challenge needs: the RFC `error` code, its `error_description`, the required `scope`, and the
 * scheme the request used (`Bearer` or `DPoP`).
 *
 * | error | status | when |
 * | --- | --- | --- |
 * | `Unauthorized` | 401 | no access token (no `error`), or `invalid_token` (expired, wrong `aud` / `iss`, bad signature, inactive, a bound token sent as `Bearer`, the proof's key not the bound one), `invalid_dpop_proof`, `use_dpop_nonce` |
 * | `InsufficientScope` | 403 | `insufficient_scope`: the token lacks a scope the route requires (`scope` names them all) |
 * | `InvalidRequest` | 400 | `invalid_request`: an `Authorization` header that is not `Bearer <token>` / `DPoP <token>` syntax |
 * | `AuthenticationUnavailable` | 503 | the key set, the introspection endpoint or the replay cache could not be used: the token may be fine |
 *
 * Descriptions are fixed sentences: none quotes the token, a claim's value or the server's answer.
 *
 * @since 0.1.0
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"

/**
 * The `Authorization` scheme of a request: `Bearer` (RFC 6750) or `DPoP` (RFC 9449).
 *
 * @since 0.1.0
 * @category models
 */
export const Scheme = Schema.Literal("Bearer", "DPoP")

/**
 * @since 0.1.0
 * @category models
 */
export type Scheme = typeof Scheme.Type

const description = Schema.optionalWith(Schema.String, { exact: true }).pipe(Schema.fromKey("error_description"))
const scheme = Schema.optionalWith(Scheme, { exact: true })

/**
 * 401: no access token (`error` absent, RFC 6750 §3.1), or an unusable one.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("@effect-oauth/web/ApiAuthError/Unauthorized")(
  "Unauthorized",
  {
    error: Schema.optionalWith(Schema.Literal("invalid_token", "invalid_dpop_proof", "use_dpop_nonce"), { exact: true }),
    description,
    scheme
  },
  HttpApiSchema.annotations({ status: 401 })
) {
  override get message(): string {
    return `401 ${this.error ?? "no access token"}${this.description !== undefined ? `: ${this.description}` : ""}`
  }
}

/**
 * 403 `insufficient_scope`: the token is valid, but lacks a scope the route requires. `scope` is every scope the route
 * requires, space-separated (RFC 6750 §3.1).
 *
 * @since 0.1.0
 * @category errors
 */
export class InsufficientScope extends Schema.TaggedError<InsufficientScope>(
  "@effect-oauth/web/ApiAuthError/InsufficientScope"
)(
  "InsufficientScope",
  {
    error: Schema.Literal("insufficient_scope"),
    description,
    scope: Schema.String,
    scheme
  },
  HttpApiSchema.annotations({ status: 403 })
) {
  override get message(): string {
    return `403 insufficient_scope: requires ${this.scope}`
  }
}

/**
 * 400 `invalid_request`: the request's credentials are malformed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@effect-oauth/web/ApiAuthError/InvalidRequest")(
  "InvalidRequest",
  {
    error: Schema.Literal("invalid_request"),
    description,
    scheme
  },
  HttpApiSchema.annotations({ status: 400 })
) {
  override get message(): string {
    return `400 invalid_request${this.description !== undefined ? `: ${this.description}` : ""}`
  }
}

/**
 * 503: the token could not be checked – the key set could not be fetched, the introspection endpoint did not answer
 * usably, the replay cache failed. Says nothing against the token; no `WWW-Authenticate` (a client must not drop its
 * token for it).
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthenticationUnavailable extends Schema.TaggedError<AuthenticationUnavailable>(
  "@effect-oauth/web/ApiAuthError/AuthenticationUnavailable"
)(
  "AuthenticationUnavailable",
  {
    error: Schema.Literal("temporarily_unavailable"),
    description
  },
  HttpApiSchema.annotations({ status: 503 })
) {
  override get message(): string {
    return `503 temporarily_unavailable${this.description !== undefined ? `: ${this.description}` : ""}`
  }
}

/**
 * Every refusal, as one schema (the `failure` of the `HttpApi` middleware).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ApiAuthError = Schema.Union(Unauthorized, InsufficientScope, InvalidRequest, AuthenticationUnavailable)

/**
 * @since 0.1.0
 * @category models
 */
export type ApiAuthError = typeof ApiAuthError.Type

/**
 * The HTTP status of a refusal.
 *
 * @since 0.1.0
 * @category accessors
 */
export const status = (error: ApiAuthError): number => {
  switch (error._tag) {
    case "Unauthorized":
      return 401
    case "InsufficientScope":
      return 403
    case "InvalidRequest":
      return 400
    case "AuthenticationUnavailable":
      return 503
  }
}

/**
 * `true` for a refusal of `ApiAuth`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isApiAuthError = (u: unknown): u is ApiAuthError =>
  u instanceof Unauthorized || u instanceof InsufficientScope || u instanceof InvalidRequest ||
  u instanceof AuthenticationUnavailable
