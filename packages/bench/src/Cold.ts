/**
 * Section 2, cold: one client-credentials request per sample against the child-process token endpoint, through the
 * library (both platform clients) and its peers, with the references that split the library's gap to a hand-written
 * `fetch` into the platform client's cost, the streamed capped body read's, and the library's own.
 */
import * as Library from "./Library.js"
import * as Peers from "./Peers.js"
import { figure, fixed, formatSpread, interleave, ratio, type Subject, times } from "./Rounds.js"
import { scope, type Section, type SectionContext, selected } from "./Section.js"

interface ColdSubject extends Subject {
  /** the row's "HttpClient alone" and "streamed reference" rows (same client), when it has them */
  readonly platform?: string | undefined
  readonly streamed?: string | undefined
}

export const coldSection = async (ctx: SectionContext): Promise<Section> => {
  const { config, endpoint, server, log } = ctx
  const raw = Peers.rawFetch(endpoint)
  const oidc = Peers.openidClient(endpoint)
  const viaFetch = await Library.runtime(endpoint, "fetch")
  const viaUndici = await Library.runtime(endpoint, "undici")
  const platformFetch = await Library.platformPost(endpoint, "fetch")
  const platformUndici = await Library.platformPost(endpoint, "undici")
  try {
    const cold = { scope: Library.scopeOf(scope), allowCached: false }
    const all: ReadonlyArray<ColdSubject> = [
      { id: "cold.fetch", label: "hand-written `fetch` POST (baseline)", run: () => raw(scope) },
      {
        id: "cold.platform-fetch",
        label: "`HttpClient` alone, `FetchHttpClient.layer`, `response.json`",
        run: () => platformFetch.runtime.runPromise(platformFetch.post(scope))
      },
      {
        id: "cold.streamed-fetch",
        label: "streamed reference: `HttpClient` alone, `FetchHttpClient.layer`, capped streamed read",
        run: () => platformFetch.runtime.runPromise(platformFetch.postStreamed(scope)),
        platform: "cold.platform-fetch"
      },
      {
        id: "cold.library-fetch",
        label: "library, `FetchHttpClient.layer`",
        run: () => viaFetch.runtime.runPromise(viaFetch.cc.acquire(cold)),
        platform: "cold.platform-fetch",
        streamed: "cold.streamed-fetch"
      },
      {
        id: "cold.platform-undici",
        label: "`HttpClient` alone, `NodeHttpClient.layerUndici`, `response.json`",
        run: () => platformUndici.runtime.runPromise(platformUndici.post(scope))
      },
      {
        id: "cold.streamed-undici",
        label: "streamed reference: `HttpClient` alone, `NodeHttpClient.layerUndici`, capped streamed read",
        run: () => platformUndici.runtime.runPromise(platformUndici.postStreamed(scope)),
        platform: "cold.platform-undici"
      },
      {
        id: "cold.library-undici",
        label: "library, `NodeHttpClient.layerUndici`",
        run: () => viaUndici.runtime.runPromise(viaUndici.cc.acquire(cold)),
        platform: "cold.platform-undici",
        streamed: "cold.streamed-undici"
      },
      { id: "cold.openid-client", label: "openid-client `clientCredentialsGrant`", run: () => oidc(scope) }
    ]
    // a library row is compared with its own client's references: measure them with it
    const chosen = new Set(selected(all, ctx.only, ["cold.fetch"]).flatMap((s) => [s.id, s.platform, s.streamed]))
    const subjects = all.filter((s) => chosen.has(s.id))
    for (const subject of subjects) {
      for (let i = 0; i < config.cold.warmup; i++) await subject.run()
    }
    await server.reset()
    const measurements = await ctx.around(() => interleave(subjects, { ...config.cold, gc: config.gc, log }))
    const stats = await server.stats()
    if (stats.rejected > 0) throw new Error(`the token endpoint rejected ${stats.rejected} requests`)
    const against = (id: string, baseline: string | undefined) =>
      baseline === undefined ? "–" : formatSpread(ratio(measurements, id, baseline))
    return {
      name: "cold",
      title: "2. Cold acquire",
      note: "One client-credentials request per sample (`allowCached: false` for the library) to a `node:http` " +
        "token endpoint in a child process answering fixed JSON with an 800-byte access token; same " +
        "`client_secret_basic` header and form for every subject (the endpoint rejects anything else). " +
        `${config.cold.rounds} rounds of ${config.cold.passes} requests per row, taken in turns (one request of each ` +
        "row, then again); µs/request is the median of the rounds' medians; a ratio is the median of the per-round ratios to a row " +
        "of the same round (min–max over the rounds). For each platform client: the same POST through `HttpClient` " +
        "alone (body read with `response.json`), then the streamed reference (the same POST, the body read the way " +
        "the library reads it: `response.stream`, bytes counted against a 1 MiB cap, UTF-8 decoded once, " +
        "`JSON.parse`), then the library. `HttpClient` alone vs raw fetch is the platform's cost, streamed vs " +
        "`HttpClient` alone the streamed read's, the library vs the streamed reference the library's own work " +
        "(client authentication, spans, retry and timeout, response validation).",
      columns: [
        "subject",
        "µs/request (median)",
        "vs raw fetch",
        "vs `HttpClient` alone (same client)",
        "vs streamed reference (same client)"
      ],
      rows: subjects.map((s) => ({
        id: s.id,
        cells: [
          s.label,
          fixed(figure(measurements, s.id) / 1e3, 1),
          s.id === "cold.fetch" ? times(1) : against(s.id, "cold.fetch"),
          against(s.id, s.platform),
          against(s.id, s.streamed)
        ]
      })),
      measurements
    }
  } finally {
    await viaFetch.runtime.dispose()
    await viaUndici.runtime.dispose()
    await platformFetch.runtime.dispose()
    await platformUndici.runtime.dispose()
  }
}
