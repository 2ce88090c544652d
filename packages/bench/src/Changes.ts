/**
 * The issue-14 ratios of `@effect-oauth/client` as built at several commits, in one process and one run: every
 * commit's rows and the floors they are divided by are measured in the same interleaved rounds (`Rounds.interleave`:
 * one sample of each row in turn, commits and rows alike), so a change's before/after ratios come from the same
 * rounds, under the same load.
 *
 * The builds come from `Commits.ts` (extracted, built once, loaded next to the bench with one `effect` instance). The
 * rows are those of `pnpm bench` (`Cached.ts`, `Cold.ts`, `Coalescing.ts`), wired from each build's own modules with
 * its exports detected: a build whose API lacks a row (or has it in another shape) shows `–` there, a row that fails
 * shows `failed`, and the notes under the table say why – one row never stops the run.
 *
 * The floors are measured once per round, not per commit: `Effect.sync(() => map.get(key))` (cached rows), the same
 * POST through `HttpClient` alone with `response.json` for each platform client (cold rows), and the Effect floor
 * `Map<key, Effect.cached(fetch)>` (10,000 coalesced acquisitions).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import * as os from "node:os"
import { formatLoad, machine } from "./Bench.js"
import { audience, loop, mapFloor, subjectToken } from "./Cached.js"
import { effectFloor } from "./Coalescing.js"
import * as Commits from "./Commits.js"
import * as Library from "./Library.js"
import * as Peers from "./Peers.js"
import {
  figure,
  fixed,
  formatSpread,
  interleave,
  type InterleaveOptions,
  type Interleaved,
  type Plan,
  ratio,
  type Spread,
  type Subject
} from "./Rounds.js"
import { clientId, clientSecret, count, markdownTable, scope } from "./Section.js"
import { targets } from "./Targets.js"
import * as TokenServer from "./TokenServer.js"

export interface ChangesConfig {
  readonly cached: Plan & {
    /** calls per sample (one `runPromise` looping over them) */
    readonly batch: number
    /** unmeasured samples per row before the rounds */
    readonly warmup: number
    /** a row whose call costs more (ns) takes fewer calls per sample (see `measure`), at least `minCalls` */
    readonly slowCallNs: number
    readonly minCalls: number
  }
  readonly cold: Plan & { readonly warmup: number }
  readonly coalescing: Plan & {
    /** concurrent acquisitions of one key per run */
    readonly concurrent: number
  }
}

/**
 * Fewer rounds than `pnpm bench` (its plan for one build, times seventeen builds, would take most of an hour): 183 s
 * for the default's 17 commits on the 2-core machine, their builds already there; the spreads show what that leaves
 * uncertain.
 */
export const fullChangesConfig: ChangesConfig = {
  cached: { rounds: 10, passes: 20, batch: 1_000, warmup: 20, slowCallNs: 10_000, minCalls: 10 },
  cold: { rounds: 15, passes: 30, warmup: 100 },
  coalescing: { rounds: 8, passes: 1, gcEachSample: true, concurrent: 10_000 }
}

/** proves that it runs end to end (about half a minute for eight built commits; the numbers mean nothing) */
export const quickChangesConfig: ChangesConfig = {
  cached: { rounds: 2, passes: 3, batch: 100, warmup: 2, slowCallNs: 10_000, minCalls: 10 },
  cold: { rounds: 2, passes: 3, warmup: 3 },
  coalescing: { rounds: 2, passes: 1, gcEachSample: true, concurrent: 2_000 }
}

/** a commit's row: what `pnpm bench` measures as `subject`, divided by its `baseline` of the same round */
export const rowNames = ["acquire", "source", "cache", "exchange", "managed", "cold-undici", "cold-fetch", "coalescing"] as const
export type RowName = (typeof rowNames)[number]

interface Column {
  readonly row: RowName
  readonly title: string
  /** the rows of `pnpm bench` (and of its targets) this column is the ratio of */
  readonly subject: string
  readonly baseline: string
}

const columns: ReadonlyArray<Column> = [
  { row: "acquire", title: "cached `acquire` / floor", subject: "cached.acquire", baseline: "cached.floor" },
  { row: "source", title: "`source().get` / floor", subject: "cached.source", baseline: "cached.floor" },
  { row: "cache", title: "`getOrAcquire` / floor", subject: "cached.cache", baseline: "cached.floor" },
  { row: "exchange", title: "cached `exchange` / floor", subject: "cached.exchange", baseline: "cached.floor" },
  { row: "managed", title: "`ManagedToken.get` / floor", subject: "cached.managed", baseline: "cached.floor" },
  {
    row: "cold-undici",
    title: "cold undici: lib / `HttpClient`",
    subject: "cold.library-undici",
    baseline: "cold.platform-undici"
  },
  {
    row: "cold-fetch",
    title: "cold fetch: lib / `HttpClient`",
    subject: "cold.library-fetch",
    baseline: "cold.platform-fetch"
  },
  {
    row: "coalescing",
    title: "coalescing: lib / Effect floor",
    subject: "coalescing.library.1",
    baseline: "coalescing.effect-memo.1"
  }
]

/** the issue's target for a column (from `Targets.ts`, the one list of them) */
const limitOf = (column: Column): number | undefined =>
  targets.find((t) => t.subject === column.subject && t.baseline === column.baseline)?.limit

// ---------------------------------------------------------------------------------------------------------------------
// a build's API, detected

/** the build's API has no such export, or not in the shape the row needs: the row shows `–` */
class Missing extends Error {}

const { member } = Commits

type Fn = (...args: ReadonlyArray<unknown>) => unknown

const isFn = (value: unknown): value is Fn => typeof value === "function"

/**
 * A layer of a loaded build. Its requirements cannot be known to the compiler (the build is another commit's): the
 * rows provide what the bench provides, and a service a build's layer still lacks fails when the layer is built.
 */
const isLayer = (value: unknown): value is Layer.Layer<unknown, unknown, never> => Layer.isLayer(value)

/** an effect of a loaded build (its requirements: as for {@link isLayer}) */
const isEffect = (value: unknown): value is Effect.Effect<unknown, unknown, never> => Effect.isEffect(value)

const isTag = (value: unknown): value is Context.Tag<unknown, unknown> => Context.isTag(value)

const exported = (build: Commits.Loaded, module: Commits.ModuleName, name: string): unknown => {
  const namespace = build.modules.get(module)
  if (namespace === undefined) throw new Missing(`no ${module} module`)
  const value = member(namespace, name)
  if (value === undefined) throw new Missing(`no ${module}.${name}`)
  return value
}

const call = (build: Commits.Loaded, module: Commits.ModuleName, name: string, ...args: ReadonlyArray<unknown>) => {
  const f = exported(build, module, name)
  if (!isFn(f)) throw new Missing(`${module}.${name} is not a function`)
  return f(...args)
}

const layerOf = (value: unknown, what: string): Layer.Layer<unknown, unknown, never> => {
  if (!isLayer(value)) throw new Missing(`${what} is not a layer`)
  return value
}

/** a layer exported as a value or as a function of its options (`TokenEndpoint.layer`, `TokenStore.layerMemory`) */
const layerExport = (build: Commits.Loaded, module: Commits.ModuleName, name: string, ...args: ReadonlyArray<unknown>) => {
  const value = exported(build, module, name)
  return layerOf(isFn(value) ? value(...args) : value, `${module}.${name}`)
}

const tagOf = (build: Commits.Loaded, module: Commits.ModuleName): Context.Tag<unknown, unknown> => {
  const tag = exported(build, module, module)
  if (!isTag(tag)) throw new Missing(`${module}.${module} is not a tag`)
  return tag
}

const hasFunctions = (value: unknown, names: ReadonlyArray<string>): boolean =>
  names.every((name) => typeof member(value, name) === "function")

/**
 * The services as the rows call them – the same calls as `pnpm bench`'s rows, so that a timed call is the same code.
 * Checked for the methods a row calls; what they return is checked on the first call (see {@link effectOf}).
 */
interface Credentials {
  readonly acquire: (options: {
    readonly scope: ReadonlyArray<string>
    readonly allowCached?: boolean
  }) => Effect.Effect<unknown, unknown>
  readonly source: (options: { readonly scope: ReadonlyArray<string> }) => unknown
}
const isCredentials = (value: unknown): value is Credentials => hasFunctions(value, ["acquire", "source"])

interface Cache {
  readonly set: (key: string, token: unknown) => Effect.Effect<unknown, unknown>
  readonly getOrAcquire: (key: string, acquire: Effect.Effect<unknown, unknown>) => Effect.Effect<unknown, unknown>
}
const isCache = (value: unknown): value is Cache => hasFunctions(value, ["set", "getOrAcquire"])

interface Source {
  readonly get: Effect.Effect<unknown, unknown>
}
const isSource = (value: unknown): value is Source => Effect.isEffect(member(value, "get"))

interface Exchange {
  readonly exchange: (request: {
    readonly subjectToken: Redacted.Redacted<string>
    readonly audience: string
  }) => Effect.Effect<unknown, unknown>
}
const isExchange = (value: unknown): value is Exchange => hasFunctions(value, ["exchange"])

interface Sessions {
  readonly start: (sessionId: string, tokenSet: unknown) => Effect.Effect<unknown, unknown>
  readonly get: (sessionId: string) => Effect.Effect<unknown, unknown>
}
const isSessions = (value: unknown): value is Sessions => hasFunctions(value, ["start", "get"])

/** a value a row is about to run: an effect, or the build's API is not what the row expects */
const effectOf = (value: unknown, what: string): Effect.Effect<unknown, unknown> => {
  if (!isEffect(value)) throw new Missing(`${what} does not return an effect`)
  return value
}

type Runtime = ManagedRuntime.ManagedRuntime<unknown, unknown>

const serviceOf = async <S>(
  runtime: Runtime,
  build: Commits.Loaded,
  module: Commits.ModuleName,
  is: (value: unknown) => value is S
): Promise<S> => {
  const service = await runtime.runPromise(tagOf(build, module))
  if (!is(service)) throw new Missing(`${module} has another shape`)
  return service
}

/** the build's client authentication: `client_secret_basic`, as the token server expects */
const authOf = (build: Commits.Loaded): unknown =>
  call(build, "ClientAuth", "clientSecretBasic", clientId, Redacted.make(clientSecret))

/** the build's token endpoint over the bench's platform client, as `Library.ts` wires the current one */
const endpointLayer = (build: Commits.Loaded, endpoint: Peers.Endpoint, transport: Library.Transport) =>
  layerExport(build, "TokenEndpoint", "layer").pipe(
    Layer.provide(
      layerOf(
        call(build, "AuthorizationServer", "layerStatic", {
          issuer: endpoint.issuer,
          tokenEndpoint: endpoint.tokenEndpoint
        }),
        "AuthorizationServer.layerStatic"
      )
    ),
    Layer.provide(Library.httpLayer(transport))
  )

/** `layer` over a fresh `TokenCache.layerMemory` (kept in the output) and the token endpoint */
const overCache = (
  build: Commits.Loaded,
  endpoint: Peers.Endpoint,
  transport: Library.Transport,
  layer: Layer.Layer<unknown, unknown, never>
) =>
  layer.pipe(
    Layer.provideMerge(layerOf(call(build, "TokenCache", "layerMemory", { capacity: 10_000 }), "TokenCache.layerMemory")),
    Layer.provide(endpointLayer(build, endpoint, transport))
  )

/** `ClientCredentials` over a memory cache and the token endpoint (`Library.layer`) */
const credentialsLayer = (build: Commits.Loaded, endpoint: Peers.Endpoint, transport: Library.Transport) =>
  overCache(
    build,
    endpoint,
    transport,
    layerOf(call(build, "ClientCredentials", "layer", { auth: authOf(build) }), "ClientCredentials.layer")
  )

/** `TokenExchange` over a memory cache and the token endpoint */
const exchangeLayer = (build: Commits.Loaded, endpoint: Peers.Endpoint) =>
  overCache(
    build,
    endpoint,
    "fetch",
    layerOf(call(build, "TokenExchange", "layer", { auth: authOf(build) }), "TokenExchange.layer")
  )

/**
 * `ManagedToken` over `RefreshToken`, a memory `TokenStore` and the token endpoint (`Library.cachedLayer`); the empty
 * fixed key set only where the build has `Jwks` (before it, `RefreshToken` needed none).
 */
const sessionsLayer = (build: Commits.Loaded, endpoint: Peers.Endpoint) => {
  const refresh = layerOf(call(build, "RefreshToken", "layer", { auth: authOf(build) }), "RefreshToken.layer")
  const refreshWithKeys = build.modules.has("Jwks")
    ? refresh.pipe(Layer.provide(layerOf(call(build, "Jwks", "layerKeys", { keys: [] }), "Jwks.layerKeys")))
    : refresh
  return layerExport(build, "ManagedToken", "layer").pipe(
    Layer.provide(refreshWithKeys),
    Layer.provide(layerExport(build, "TokenStore", "layerMemory")),
    Layer.provide(endpointLayer(build, endpoint, "fetch"))
  )
}

/** a token set as sign-in returns it (an hour to live, a refresh token), made with the build's own classes */
const signedIn = (build: Commits.Loaded, endpoint: Peers.Endpoint): unknown => {
  const construct = (name: string, fields: Readonly<Record<string, unknown>>): unknown => {
    const Class = exported(build, "TokenSet", name)
    if (typeof Class !== "function") throw new Missing(`TokenSet.${name} is not a class`)
    return Reflect.construct(Class, [fields])
  }
  const now = Date.now()
  return construct("TokenSet", {
    accessToken: Redacted.make(randomBytes(600).toString("base64url")),
    tokenType: "Bearer",
    issuedAt: now,
    expiresAt: now + 3_600_000,
    refreshToken: Redacted.make(randomBytes(32).toString("base64url")),
    extra: {},
    provenance: construct("Provenance", {
      grant: "authorization_code",
      clientId: endpoint.clientId,
      tokenEndpoint: endpoint.tokenEndpoint
    })
  })
}

// ---------------------------------------------------------------------------------------------------------------------
// the sections

/** a row of one commit: measured, or why not (`missing`: the API lacks it; `failed`: it threw) */
type Outcome =
  | { readonly _tag: "measured"; readonly ratio: Spread | undefined }
  | { readonly _tag: "missing"; readonly reason: string }
  | { readonly _tag: "failed"; readonly reason: string }

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split("\n")[0]!

interface Entry {
  readonly id: string
  /** the commit's row it measures; `undefined` for a floor */
  readonly row: { readonly commit: string; readonly row: RowName } | undefined
  /** calls per sample (cached rows; 1 for a request or a coalescing run) */
  calls: number
  run: () => Promise<unknown>
  /** the same subject with another number of calls per sample (cached rows) */
  readonly resize: ((calls: number) => () => Promise<unknown>) | undefined
}

/** the rows of one section while they are set up and measured */
class SectionRows {
  readonly entries = new Map<string, Entry>()
  readonly outcomes = new Map<string, Map<RowName, Outcome>>()
  /** subjects that threw (in their warm-up or a round): not sampled any more, reported as failed */
  readonly failures = new Map<string, string>()
  private readonly disposers: Array<() => Promise<void>> = []

  /** a runtime disposed when the section ends */
  runtime(layer: Layer.Layer<unknown, unknown, never>): Runtime {
    const runtime = ManagedRuntime.make(layer)
    this.disposers.push(() => runtime.dispose())
    return runtime
  }

  onDispose(dispose: () => Promise<void>): void {
    this.disposers.push(dispose)
  }

  floor(id: string, run: () => Promise<unknown>, calls = 1): void {
    this.entries.set(id, { id, row: undefined, calls, run, resize: undefined })
  }

  add(commit: string, row: RowName, run: () => Promise<unknown>): void {
    const id = `${commit}/${row}`
    this.entries.set(id, { id, row: { commit, row }, calls: 1, run, resize: undefined })
  }

  /** a row whose sample is `calls` calls, and which can be resized (see {@link measure}) */
  addBatched(commit: string, row: RowName, calls: number, make: (calls: number) => () => Promise<unknown>): void {
    const id = `${commit}/${row}`
    this.entries.set(id, { id, row: { commit, row }, calls, run: make(calls), resize: make })
  }

  /** one sample; a failure marks the subject failed (the section goes on) and the time it took is not used */
  async sample(id: string): Promise<void> {
    const entry = this.entries.get(id)
    if (entry === undefined || this.failures.has(id)) return
    try {
      await entry.run()
    } catch (error) {
      this.failures.set(id, firstLine(error))
    }
  }

  /** the subjects of the rounds: every entry that has not failed */
  subjects(): Array<Subject> {
    return [...this.entries.values()]
      .filter((entry) => !this.failures.has(entry.id))
      .map((entry) => ({ id: entry.id, label: entry.id, run: () => this.sample(entry.id) }))
  }

  /** runs a commit's set-up of some rows; the rows it did not add are missing or failed, with the reason */
  async settle(commit: string, rows: ReadonlyArray<RowName>, setup: () => Promise<void>): Promise<void> {
    try {
      await setup()
    } catch (error) {
      const outcome: Outcome = error instanceof Missing
        ? { _tag: "missing", reason: error.message }
        : { _tag: "failed", reason: firstLine(error) }
      for (const row of rows) {
        if (!this.entries.has(`${commit}/${row}`)) this.set(commit, row, outcome)
      }
    }
  }

  private set(commit: string, row: RowName, outcome: Outcome): void {
    const outcomes = this.outcomes.get(commit) ?? new Map<RowName, Outcome>()
    outcomes.set(row, outcome)
    this.outcomes.set(commit, outcomes)
  }

  /** each row's ratio per call to its floor, or why it has none */
  conclude(measurements: Interleaved, baselineOf: (row: RowName) => string): void {
    for (const entry of this.entries.values()) {
      if (entry.row === undefined) {
        const failure = this.failures.get(entry.id)
        if (failure !== undefined) throw new Error(`the floor ${entry.id} failed: ${failure}`)
        continue
      }
      const failure = this.failures.get(entry.id)
      const baseline = this.entries.get(baselineOf(entry.row.row))
      this.set(
        entry.row.commit,
        entry.row.row,
        failure !== undefined || baseline === undefined
          ? { _tag: "failed", reason: failure ?? "no floor" }
          : { _tag: "measured", ratio: ratio(measurements, entry.id, baseline.id, baseline.calls / entry.calls) }
      )
    }
  }

  /**
   * `after / before` per call in each round, with its spread, for a row both commits measured (`undefined` when one of
   * them did not): the change's own effect, taken between samples of the same rounds.
   */
  versus(measurements: Interleaved, before: string, after: string, row: RowName): Spread | undefined {
    const b = this.entries.get(`${before}/${row}`)
    const a = this.entries.get(`${after}/${row}`)
    if (b === undefined || a === undefined || this.failures.has(b.id) || this.failures.has(a.id)) return undefined
    return ratio(measurements, a.id, b.id, b.calls / a.calls)
  }

  async dispose(): Promise<void> {
    for (const dispose of this.disposers.splice(0)) await dispose().catch(() => undefined)
  }
}

interface SectionContext {
  readonly builds: ReadonlyArray<Commits.Loaded>
  readonly endpoint: Peers.Endpoint
  readonly server: TokenServer.TokenServer
  readonly log: (line: string) => void
  /** what the section saw that a reader of the table must know (requests where none were expected, …) */
  readonly notes: Array<string>
}

interface MeasureOptions extends Plan {
  /** unmeasured samples per subject before the rounds (the server's counts reset before and read after them) */
  readonly warmup: number
  /** the requests a row may send in its warm-up (`undefined`: any number) */
  readonly expectedRequests: number | undefined
  /**
   * a resizable row whose first sample shows a call costing more than this (ns) takes fewer calls per sample, so
   * that a few slow rows (old commits) do not take most of the section's time: `calls × slowCallNs / its cost`, at
   * least `minCalls`; its ratio stays per call
   */
  readonly slowCallNs?: number | undefined
  readonly minCalls?: number | undefined
  readonly before?: InterleaveOptions["before"]
  readonly after?: InterleaveOptions["after"]
}

/** Warms every subject up (resizing slow rows first), then measures the ones that did not fail in interleaved rounds. */
const measure = async (ctx: SectionContext, rows: SectionRows, options: MeasureOptions): Promise<Interleaved> => {
  const resized: Array<string> = []
  for (const entry of rows.entries.values()) {
    await ctx.server.reset()
    if (entry.resize !== undefined && options.slowCallNs !== undefined) {
      // the cost of a call: the fastest of three small samples (the first one is mostly the JIT's)
      const minCalls = options.minCalls ?? 1
      const probeCalls = Math.min(entry.calls, 5 * minCalls)
      const probe = entry.resize(probeCalls)
      let perCall = Number.POSITIVE_INFINITY
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now()
        await probe()
        perCall = Math.min(perCall, ((performance.now() - t0) * 1e6) / probeCalls)
      }
      if (perCall > options.slowCallNs) {
        entry.calls = Math.max(minCalls, Math.floor((entry.calls * options.slowCallNs) / perCall))
        entry.run = entry.resize(entry.calls)
        if (entry.row !== undefined) resized.push(`\`${entry.row.commit}\` ${entry.row.row} ${count(entry.calls)}`)
      }
    }
    for (let i = 0; i < options.warmup; i++) await rows.sample(entry.id)
    const stats = await ctx.server.stats()
    if (stats.rejected > 0 && !rows.failures.has(entry.id)) {
      rows.failures.set(entry.id, `the token endpoint rejected ${stats.rejected} of its requests`)
    }
    if (entry.row !== undefined && options.expectedRequests !== undefined && stats.requests !== options.expectedRequests) {
      ctx.notes.push(
        `\`${entry.row.commit}\` ${entry.row.row}: ${count(stats.requests)} request(s) reached the endpoint in its ` +
          `warm-up (expected ${count(options.expectedRequests)})`
      )
    }
  }
  if (resized.length > 0) {
    ctx.notes.push(
      `calls per sample of the rows whose call costs more than ${fixed((options.slowCallNs ?? 0) / 1e3, 0)} µs ` +
        `(ratios stay per call): ${resized.join(", ")}`
    )
  }
  const log = (line: string) => ctx.log(line.length > 160 ? `${line.slice(0, 160)} …` : line)
  return interleave(rows.subjects(), { ...options, log })
}

const cachedSection = async (ctx: SectionContext, config: ChangesConfig["cached"]) => {
  const rows = new SectionRows()
  const n = config.batch
  const missing = Effect.dieMessage("the warm entry was missing")
  const subject = subjectToken(Math.floor(Date.now() / 1000))
  /** a row of `calls` calls of `f` per sample in one `runPromise`, as in `Cached.ts` */
  const batched = (commit: string, row: RowName, runtime: Runtime, f: () => Effect.Effect<unknown, unknown>) =>
    rows.addBatched(commit, row, n, (calls) => {
      const program = loop(calls, f)
      return () => runtime.runPromise(program)
    })
  try {
    const floor = mapFloor(n)
    rows.floor("cached.floor", () => Effect.runPromise(floor), n)
    for (const build of ctx.builds) {
      const c = build.short
      await rows.settle(c, ["acquire", "source", "cache"], async () => {
        const runtime = rows.runtime(credentialsLayer(build, ctx.endpoint, "fetch"))
        const cc = await serviceOf(runtime, build, "ClientCredentials", isCredentials)
        const request = { scope: Library.scopeOf(scope) }
        const token = await runtime.runPromise(effectOf(cc.acquire(request), "ClientCredentials.acquire"))
        // a fresh options object and a fresh scope array on every call
        effectOf(cc.acquire({ scope: ["api:read"] }), "ClientCredentials.acquire")
        batched(c, "acquire", runtime, () => cc.acquire({ scope: ["api:read"] }))
        await rows.settle(c, ["source"], async () => {
          const source = cc.source(request)
          if (!isSource(source)) throw new Missing("ClientCredentials.source(…) has no effect `get`")
          // `get` read on every call, as a user reads it (it may change once the source has run)
          batched(c, "source", runtime, () => source.get)
        })
        await rows.settle(c, ["cache"], async () => {
          const cache = await serviceOf(runtime, build, "TokenCache", isCache)
          await runtime.runPromise(effectOf(cache.set("bench-key", token), "TokenCache.set"))
          effectOf(cache.getOrAcquire("bench-key", missing), "TokenCache.getOrAcquire")
          batched(c, "cache", runtime, () => cache.getOrAcquire("bench-key", missing))
        })
      })
      await rows.settle(c, ["exchange"], async () => {
        const runtime = rows.runtime(exchangeLayer(build, ctx.endpoint))
        const exchange = await serviceOf(runtime, build, "TokenExchange", isExchange)
        // one realistic subject token, exchanged once before the rounds: every timed exchange is a hit
        await runtime.runPromise(
          effectOf(exchange.exchange({ subjectToken: Redacted.make(subject), audience }), "TokenExchange.exchange")
        )
        // the same subject string, a fresh `Redacted` and a fresh request on every call
        batched(c, "exchange", runtime, () => exchange.exchange({ subjectToken: Redacted.make(subject), audience }))
      })
      await rows.settle(c, ["managed"], async () => {
        const runtime = rows.runtime(sessionsLayer(build, ctx.endpoint))
        const sessions = await serviceOf(runtime, build, "ManagedToken", isSessions)
        const sessionId = randomBytes(32).toString("base64url")
        await runtime.runPromise(effectOf(sessions.start(sessionId, signedIn(build, ctx.endpoint)), "ManagedToken.start"))
        effectOf(sessions.get(sessionId), "ManagedToken.get")
        batched(c, "managed", runtime, () => sessions.get(sessionId))
      })
    }
    // every cached row is a hit: nothing reaches the endpoint in a warm-up
    const measurements = await measure(ctx, rows, { ...config, expectedRequests: 0 })
    rows.conclude(measurements, () => "cached.floor")
    return { rows, measurements }
  } finally {
    await rows.dispose()
  }
}

const coldSection = async (ctx: SectionContext, config: ChangesConfig["cold"]) => {
  const rows = new SectionRows()
  try {
    const transports: ReadonlyArray<Library.Transport> = ["undici", "fetch"]
    for (const transport of transports) {
      const platform = await Library.platformPost(ctx.endpoint, transport)
      rows.onDispose(() => platform.runtime.dispose())
      rows.floor(`cold.platform-${transport}`, () => platform.runtime.runPromise(platform.post(scope)))
    }
    const cold = { scope: Library.scopeOf(scope), allowCached: false }
    for (const build of ctx.builds) {
      for (const transport of transports) {
        const row: RowName = `cold-${transport}`
        await rows.settle(build.short, [row], async () => {
          const runtime = rows.runtime(credentialsLayer(build, ctx.endpoint, transport))
          const cc = await serviceOf(runtime, build, "ClientCredentials", isCredentials)
          effectOf(cc.acquire(cold), "ClientCredentials.acquire")
          rows.add(build.short, row, () => runtime.runPromise(cc.acquire(cold)))
        })
      }
    }
    // every sample is one request
    const measurements = await measure(ctx, rows, { ...config, expectedRequests: undefined })
    rows.conclude(measurements, (row) => (row === "cold-undici" ? "cold.platform-undici" : "cold.platform-fetch"))
    return { rows, measurements }
  } finally {
    await rows.dispose()
  }
}

const coalescingSection = async (ctx: SectionContext, config: ChangesConfig["coalescing"]) => {
  const rows = new SectionRows()
  const total = config.concurrent
  const raw = Peers.rawFetch(ctx.endpoint)
  rows.floor("coalescing.effect-memo", () => effectFloor(raw, total, [scope]))
  const request = Library.scopeOf(scope)
  for (const build of ctx.builds) {
    await rows.settle(build.short, ["coalescing"], async () => {
      const tag = tagOf(build, "ClientCredentials")
      // the exports the layer needs are there (it is built per run below)
      credentialsLayer(build, ctx.endpoint, "fetch")
      const acquisitions = Effect.flatMap(tag, (cc) =>
        isCredentials(cc)
          ? Library.concurrently(total, () => cc.acquire({ scope: request }))
          : Effect.dieMessage("ClientCredentials has another shape"))
      // a fresh cache (the whole layer, built inside the run) per run, as `Library.coalesced` does
      rows.add(build.short, "coalescing", () =>
        Effect.runPromise(acquisitions.pipe(Effect.provide(credentialsLayer(build, ctx.endpoint, "fetch")))))
    })
  }
  /** requests that reached the endpoint in each run, by subject */
  const requests = new Map<string, Array<number>>()
  // one unmeasured run each, one request per run (one key)
  const measurements = await measure(ctx, rows, {
    ...config,
    warmup: 1,
    expectedRequests: 1,
    before: () => ctx.server.reset(),
    after: async (id) => {
      const stats = await ctx.server.stats()
      if (stats.rejected > 0 && !rows.failures.has(id)) {
        rows.failures.set(id, `the token endpoint rejected ${stats.rejected} of its requests`)
      }
      requests.set(id, [...(requests.get(id) ?? []), stats.requests])
    }
  })
  for (const [id, seen] of requests) {
    const row = rows.entries.get(id)?.row
    if (row !== undefined && seen.some((r) => r !== 1)) {
      ctx.notes.push(
        `\`${row.commit}\` coalescing: ${seen.join(", ")} request(s) per run of ${count(total)} acquisitions ` +
          "(expected 1)"
      )
    }
  }
  rows.conclude(measurements, () => "coalescing.effect-memo")
  return { rows, measurements }
}

// ---------------------------------------------------------------------------------------------------------------------
// the run

/** a change: the library as built at `before` and at `after` (anything `git rev-parse` takes: `060ccd4^`, `HEAD`) */
export interface Change {
  readonly before: string
  readonly after: string
}

/** `before..after`, or one commit (compared with its first parent: `c` is `c^..c`) */
export const parseChange = (arg: string): Change => {
  const parts = arg.split("..")
  if (parts.length === 1 && arg !== "") return { before: `${arg}^`, after: arg }
  if (parts.length === 2 && parts[0] !== "" && parts[1] !== "") return { before: parts[0]!, after: parts[1]! }
  throw new Error(`${arg}: not a commit or a range before..after`)
}

/**
 * The default: issue 14's performance commits on main, each against its first parent, and all of it – the bench's
 * first results (`6ff3842`, before any of them) against `HEAD`.
 */
export const issue14Changes: ReadonlyArray<Change> = [
  ...["060ccd4", "c9050dc", "cb46ad6", "babc3a1", "c0bf71d", "0da3639"].map(parseChange),
  // the cold request's second pass
  ...["2916fb7", "4549e68", "390af4c", "3e96b40", "358551f", "cd393f8"].map(parseChange),
  { before: "ad5aa95", after: "cd393f8" },
  { before: "6ff3842", after: "HEAD" }
]

export interface ChangesOptions {
  /** the changes to compare (default {@link issue14Changes}); a commit in several of them is built and measured once */
  readonly changes?: ReadonlyArray<Change> | undefined
  readonly quick?: boolean | undefined
  /** progress lines (default: none) */
  readonly log?: ((line: string) => void) | undefined
}

export interface CommitResult {
  readonly commit: Commits.Commit
  /** per row, its ratio to the floor; a commit whose build failed has none (see `error`) */
  readonly rows: ReadonlyMap<RowName, Outcome>
  readonly error?: string | undefined
}

export interface ChangeResult {
  readonly before: Commits.Commit
  readonly after: Commits.Commit
  /** per row: `after / before` per call, per round, with its spread (`undefined` when either side has no figure) */
  readonly versus: ReadonlyMap<RowName, Spread | undefined>
}

export interface ChangesResult {
  readonly mode: "full" | "quick"
  /** every commit measured, once each */
  readonly commits: ReadonlyArray<CommitResult>
  readonly changes: ReadonlyArray<ChangeResult>
  readonly notes: ReadonlyArray<string>
  readonly markdown: string
  readonly durationSeconds: number
}

const truncate = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

const cellOf = (result: CommitResult | undefined, row: RowName): string => {
  if (result === undefined || result.error !== undefined) return "not built"
  const outcome = result.rows.get(row)
  if (outcome === undefined) return "–"
  switch (outcome._tag) {
    case "measured":
      return formatSpread(outcome.ratio)
    case "missing":
      return "–"
    case "failed":
      return "failed"
  }
}

export const compare = async (options: ChangesOptions): Promise<ChangesResult> => {
  const mode = options.quick === true ? "quick" : "full"
  const config = mode === "quick" ? quickChangesConfig : fullChangesConfig
  const log = options.log ?? (() => {})
  const started = performance.now()
  const loadBefore = os.loadavg()
  const wanted = options.changes ?? issue14Changes
  if (wanted.length === 0) throw new Error("no changes to compare")
  // every commit once, in the order the changes name them
  const commits: Array<Commits.Commit> = []
  const commitOf = (ref: string): Commits.Commit => {
    const commit = Commits.resolve(ref)
    const known = commits.find((c) => c.sha === commit.sha)
    if (known !== undefined) return known
    commits.push(commit)
    return commit
  }
  const pairs = wanted.map((change) => ({ before: commitOf(change.before), after: commitOf(change.after) }))

  const results = new Map<string, CommitResult>()
  const builds: Array<Commits.Loaded> = []
  for (const commit of commits) {
    try {
      builds.push(await Commits.load(Commits.prepare(commit, log)))
    } catch (error) {
      results.set(commit.sha, { commit, rows: new Map(), error: firstLine(error) })
      log(`${commit.short}: ${firstLine(error)}`)
    }
  }
  const buildSeconds = (performance.now() - started) / 1e3
  log(`${builds.length} build(s) loaded (${fixed(buildSeconds, 0)} s)`)

  const server = await TokenServer.start({ clientId, clientSecret })
  const notes: Array<string> = []
  const floors: Array<string> = []
  const outcomes = new Map<string, Map<RowName, Outcome>>()
  const sections: Array<{ readonly rows: SectionRows; readonly measurements: Interleaved }> = []
  try {
    const endpoint: Peers.Endpoint = { issuer: server.issuer, tokenEndpoint: server.tokenEndpoint, clientId, clientSecret }
    const ctx: SectionContext = { builds, endpoint, server, log, notes }
    const merge = (section: { readonly rows: SectionRows; readonly measurements: Interleaved }) => {
      sections.push(section)
      for (const [commit, byRow] of section.rows.outcomes) {
        const all = outcomes.get(commit) ?? new Map<RowName, Outcome>()
        for (const [row, outcome] of byRow) all.set(row, outcome)
        outcomes.set(commit, all)
      }
    }

    log("cached rows")
    const cached = await cachedSection(ctx, config.cached)
    merge(cached)
    floors.push(`\`Effect.sync(() => map.get(key))\` ${fixed(figure(cached.measurements, "cached.floor") / config.cached.batch, 1)} ns/call`)

    log("cold rows")
    const cold = await coldSection(ctx, config.cold)
    merge(cold)
    floors.push(
      `\`HttpClient\` alone: undici ${fixed(figure(cold.measurements, "cold.platform-undici") / 1e3, 1)} µs, ` +
        `fetch ${fixed(figure(cold.measurements, "cold.platform-fetch") / 1e3, 1)} µs per request`
    )

    log("coalescing rows")
    const coalescing = await coalescingSection(ctx, config.coalescing)
    merge(coalescing)
    floors.push(
      `Effect floor ${fixed(figure(coalescing.measurements, "coalescing.effect-memo") / 1e6, 1)} ms per ` +
        `${count(config.coalescing.concurrent)} acquisitions`
    )
  } finally {
    await server.stop()
  }
  for (const build of builds) {
    results.set(build.sha, { commit: build, rows: outcomes.get(build.short) ?? new Map() })
  }
  const measured = commits.map((c) => results.get(c.sha)!)
  const changes: Array<ChangeResult> = pairs.map(({ before, after }) => ({
    before,
    after,
    versus: new Map(rowNames.map((row) => {
      const section = sections.find((s) => s.rows.entries.has(`${after.short}/${row}`))
      return [row, section?.rows.versus(section.measurements, before.short, after.short, row)]
    }))
  }))
  const durationSeconds = (performance.now() - started) / 1e3
  const loadAfter = os.loadavg()
  const env = machine()

  const reasons: Array<string> = []
  for (const result of measured) {
    if (result.error !== undefined) reasons.push(`\`${result.commit.short}\`: not built – ${result.error}`)
    for (const row of rowNames) {
      const outcome = result.rows.get(row)
      if (outcome !== undefined && outcome._tag !== "measured") {
        reasons.push(`\`${result.commit.short}\` ${row}: ${outcome._tag === "missing" ? "–" : "failed"} – ${outcome.reason}`)
      }
    }
  }
  const titleOf = (column: Column) => {
    const limit = limitOf(column)
    return limit === undefined ? column.title : `${column.title} (target ≤ ${fixed(limit, 2)}×)`
  }
  const table = markdownTable(
    ["change", "row", "before", "after", "after / before"],
    changes.flatMap(({ before, after, versus }) =>
      columns.map((column) => [
        `\`${before.short}\` → \`${after.short}\``,
        titleOf(column),
        cellOf(results.get(before.sha), column.row),
        cellOf(results.get(after.sha), column.row),
        formatSpread(versus.get(column.row))
      ])
    )
  )
  const named = (commit: Commits.Commit) => (commit.sha.startsWith(commit.ref) ? "" : ` (${commit.ref})`)
  const markdown = [
    "# effect-oauth: the issue-14 ratios per change",
    "",
    `Written by \`pnpm bench:changes\`${mode === "quick" ? " (quick configuration: the numbers mean nothing)" : ""}.`,
    "",
    `- date: ${new Date().toISOString()}; machine: ${env.cpu}, ${env.cores} cores, ${env.platform}; Node ${env.node}`,
    `- load average (1/5/15 min) at start ${formatLoad(loadBefore)}, at end ${formatLoad(loadAfter)}`,
    `- one process, every commit's client built from its own sources and loaded next to the others; all commits' ` +
    `rows and the floors measured in the same interleaved rounds (one sample of each row in turn): cached ` +
    `${config.cached.rounds} rounds × ${config.cached.passes} samples of ${count(config.cached.batch)} calls, cold ` +
    `${config.cold.rounds} × ${config.cold.passes} requests, coalescing ${config.coalescing.rounds} × ` +
    `${config.coalescing.passes} run(s) of ${count(config.coalescing.concurrent)} acquisitions of one key (fresh ` +
    "cache per run, a full GC before each)",
    "- before, after: the row's ratio to its floor (cached rows: `Effect.sync(() => map.get(key))`; cold rows: the " +
    "same POST through `HttpClient` alone, same client; coalescing: the Effect floor), the median of the per-round " +
    "ratios with their min–max; after / before: the after row over the before row in each round, per call, median " +
    "and min–max (below 1: the change made the row faster)",
    `- floors (median): ${floors.join("; ")}`,
    `- whole run: ${fixed(durationSeconds, 0)} s (of which builds and loading ${fixed(buildSeconds, 0)} s)`,
    "",
    table,
    "",
    "`–`: the commit's API has no such row (or not in this shape); `failed`: the row threw; `not built`: see below.",
    "",
    "Commits:",
    "",
    ...commits.map((commit) => `- \`${commit.short}\`${named(commit)} ${truncate(commit.subject, 110)}`),
    ...(reasons.length + notes.length === 0 ? [] : ["", "Notes:", "", ...[...reasons, ...notes].map((line) => `- ${line}`)]),
    ""
  ].join("\n")
  return { mode, commits: measured, changes, notes: [...reasons, ...notes], markdown, durationSeconds }
}
