/**
 * The few pages the package answers with itself (a refused sign-in, a refused cross-site request, a server that is
 * unreachable): plain HTML, every text escaped, never a token, a code, a state or a session id in them.
 *
 * @internal
 */

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** @internal */
export const page = (title: string, message: string, link?: { readonly href: string; readonly text: string }): string =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
  `<body><h1>${escapeHtml(title)}</h1><p id="message">${escapeHtml(message)}</p>` +
  (link === undefined ? "" : `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>`) +
  `</body></html>`

/**
 * The JSON refusals of the session middleware (`error`, `error_description`): one wording for `WebAuth`'s answers and
 * `WebAuthApi`'s schemas.
 *
 * @internal
 */
export const refusals = {
  NoSession: { error: "login_required", description: "no session, or the session ended: sign in again" },
  CrossSite: { error: "cross_site_request", description: "this request did not come from this site" },
  Unavailable: { error: "temporarily_unavailable", description: "the session cannot be checked right now" }
} as const
