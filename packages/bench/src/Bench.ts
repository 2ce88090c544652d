/**
 * The whole benchmark: four sections, each a ratio taken in the same run against a baseline measured next to it.
 *
 * Timed rows of a section are measured in interleaved rounds (baseline, subject, subject, …, then again), so that a
 * burst of load from elsewhere on the machine hits every row of a round alike; a row's figure is the median of its
 * per-round medians and its ratio the median of its per-round ratios to the baseline of the same round.
 */
import * as TokenCache from "@effect-oauth/client/TokenCache"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as Library from "./Library.js"
import { time, type Budget } from "./Measure.js"
import { measureMemory, type MemoryResult } from "./Memory.js"
import * as Peers from "./Peers.js"
import * as TokenServer from "./TokenServer.js"

export interface RunOptions {
  /** a tiny configuration that proves the bench runs end to end (seconds, numbers meaningless) */
  readonly quick?: boolean
  /** progress lines (default: none) */
  readonly log?: (line: string) => void
}

export interface Config {
  readonly rounds: number
  /** acquisitions per sample in the cached section */
  readonly batch: number
  readonly cachedBudget: Budget
  readonly coldBudget: Budget
  /** unmeasured requests per subject before the cold section (JIT, connection pools) */
  readonly coldWarmup: number
  /** concurrent acquisitions per run in the coalescing section */
  readonly concurrent: number
  /** the same for openid-client, which sends one request per acquisition */
  readonly concurrentUncoalesced: number
  /** openid-client's requests in flight at once (10,000 sockets at once run out of file descriptors) */
  readonly maxInFlight: number
  readonly coalescingBudget: Budget
  readonly uncoalescedBudget: Budget
  readonly memory: { readonly tokens: number; readonly capacity: number; readonly inserted: number }
}

export const fullConfig: Config = {
  rounds: 3,
  batch: 1_000,
  cachedBudget: { minSamples: 30, minTimeMs: 700 },
  coldBudget: { minSamples: 100, minTimeMs: 1_000 },
  coldWarmup: 300,
  concurrent: 10_000,
  concurrentUncoalesced: 10_000,
  maxInFlight: 1_000,
  coalescingBudget: { minSamples: 5, minTimeMs: 0 },
  uncoalescedBudget: { minSamples: 2, minTimeMs: 0 },
  memory: { tokens: 100_000, capacity: 10_000, inserted: 100_000 }
}

export const quickConfig: Config = {
  rounds: 1,
  batch: 100,
  cachedBudget: { minSamples: 3, minTimeMs: 10 },
  coldBudget: { minSamples: 5, minTimeMs: 10 },
  coldWarmup: 5,
  concurrent: 10_000,
  concurrentUncoalesced: 500,
  maxInFlight: 100,
  coalescingBudget: { minSamples: 1, minTimeMs: 0 },
  uncoalescedBudget: { minSamples: 1, minTimeMs: 0 },
  memory: { tokens: 5_000, capacity: 1_000, inserted: 5_000 }
}

/** One row of a result table: `cells` in the order of the section's columns. */
export interface Row {
  readonly id: string
  readonly cells: ReadonlyArray<string>
}

export interface Section {
  readonly title: string
  readonly note: string
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Row>
}

export interface CoalescingResult {
  readonly subject: "library" | "promise-memo" | "effect-memo" | "openid-client"
  readonly keys: number
  readonly acquires: number
  /** requests that reached the token endpoint in one run */
  readonly requests: number
  /** distinct scopes the endpoint saw in one run */
  readonly distinctKeys: number
  readonly wallMs: number
}

export interface Results {
  readonly mode: "full" | "quick"
  readonly environment: Environment
  readonly sections: ReadonlyArray<Section>
  readonly coalescing: ReadonlyArray<CoalescingResult>
  readonly memory: MemoryResult
  readonly markdown: string
}

export interface Environment {
  readonly date: string
  readonly node: string
  readonly cpu: string
  readonly cores: number
  readonly platform: string
  readonly loadBefore: ReadonlyArray<number>
  readonly loadAfter: ReadonlyArray<number>
  readonly mitata: string
  readonly openidClient: string
  /** the commit measured (with "+ changes" when the working tree differs from it), when run from a git checkout */
  readonly commit: string
  readonly durationSeconds: number
}

const clientId = "bench-client"
const clientSecret = "bench-secret"
const scope = "api:read"
/** the 100 scopes of the spread scenario: `api:read s0` … `api:read s99` */
const spreadScopes = Array.from({ length: 100 }, (_, i) => `${scope} s${i}`)

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const fixed = (value: number, digits: number): string =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
const ratio = (value: number): string => `${fixed(value, 2)}×`
const count = (value: number): string => value.toLocaleString("en-US")
const megabytes = (bytes: number): string => `${fixed(bytes / 1_048_576, 1)} MB`

interface Subject {
  readonly id: string
  readonly label: string
  readonly run: () => unknown
}

interface RoundResult {
  readonly id: string
  readonly label: string
  /** median of the per-round medians, ns per call of `run` */
  readonly p50: number
  /** median of the per-round ratios to the first subject */
  readonly ratio: number
}

/** Interleaved rounds: the first subject is the baseline of each round. */
const rounds = async (
  subjects: ReadonlyArray<Subject>,
  budget: Budget,
  count: number,
  log: (line: string) => void
): Promise<ReadonlyArray<RoundResult>> => {
  const p50s = subjects.map((): Array<number> => [])
  const ratios = subjects.map((): Array<number> => [])
  for (let round = 0; round < count; round++) {
    let baseline = 0
    for (let i = 0; i < subjects.length; i++) {
      const subject = subjects[i]!
      const timing = await time(subject.run, budget)
      if (i === 0) baseline = timing.p50
      p50s[i]!.push(timing.p50)
      ratios[i]!.push(timing.p50 / baseline)
      log(`  round ${round + 1}/${count} ${subject.id}: ${fixed(timing.p50 / 1e3, 1)} µs/sample (${timing.samples})`)
    }
  }
  return subjects.map((subject, i) => ({
    id: subject.id,
    label: subject.label,
    p50: median(p50s[i]!),
    ratio: median(ratios[i]!)
  }))
}

const cachedSection = async (
  endpoint: Peers.Endpoint,
  config: Config,
  log: (line: string) => void
): Promise<Section> => {
  const { cc, runtime } = await Library.runtime(endpoint, "fetch")
  try {
    const request = { scope: Library.scopeOf(scope) }
    await runtime.runPromise(cc.acquire(request))
    const source = cc.source(request)
    const n = config.batch
    const map = new Map<string, string>([["key", "token"]])
    const floor = Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* Effect.sync(() => map.get("key"))
    })
    const acquire = Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* cc.acquire({ scope: request.scope })
    })
    const sourceGet = Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* source.get
    })
    // the cache's own hit path, with a key computed once: what `acquire` adds on top of it is its own work
    const cache = await runtime.runPromise(TokenCache.TokenCache)
    const token = await runtime.runPromise(cc.acquire(request))
    await runtime.runPromise(cache.set("bench-key", token))
    const missing = Effect.dieMessage("the warm entry was missing")
    const cacheHit = Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* cache.getOrAcquire("bench-key", missing)
    })
    const results = await rounds([
      { id: "cached.floor", label: "floor: `Effect.sync(() => map.get(key))`", run: () => runtime.runPromise(floor) },
      {
        id: "cached.cache",
        label: "`TokenCache.getOrAcquire(key)`, key computed once",
        run: () => runtime.runPromise(cacheHit)
      },
      {
        id: "cached.acquire",
        label: "`ClientCredentials.acquire({ scope })`",
        run: () => runtime.runPromise(acquire)
      },
      {
        id: "cached.source",
        label: "`ClientCredentials.source({ scope }).get`",
        run: () => runtime.runPromise(sourceGet)
      }
    ], config.cachedBudget, config.rounds, log)
    return {
      title: "1. Cached acquire",
      note: `Warm \`TokenCache.layerMemory\`, ${count(n)} calls per sample inside one \`runPromise\`; ns per call is ` +
        `the median sample divided by ${count(n)}. The floor is the same loop over a plain \`Map\` lookup.`,
      columns: ["subject", "ns/call (median)", "vs floor"],
      rows: results.map((r) => ({ id: r.id, cells: [r.label, fixed(r.p50 / n, 1), ratio(r.ratio)] }))
    }
  } finally {
    await runtime.dispose()
  }
}

const coldSection = async (
  endpoint: Peers.Endpoint,
  server: TokenServer.TokenServer,
  config: Config,
  log: (line: string) => void
): Promise<Section> => {
  const raw = Peers.rawFetch(endpoint)
  const oidc = Peers.openidClient(endpoint)
  const viaFetch = await Library.runtime(endpoint, "fetch")
  const viaUndici = await Library.runtime(endpoint, "undici")
  const platformFetch = await Library.platformPost(endpoint, "fetch")
  const platformUndici = await Library.platformPost(endpoint, "undici")
  try {
    const cold = { scope: Library.scopeOf(scope), allowCached: false }
    const subjects: ReadonlyArray<Subject> = [
      { id: "cold.fetch", label: "hand-written `fetch` POST (baseline)", run: () => raw(scope) },
      {
        id: "cold.library-fetch",
        label: "library, `FetchHttpClient.layer`",
        run: () => viaFetch.runtime.runPromise(viaFetch.cc.acquire(cold))
      },
      {
        id: "cold.library-undici",
        label: "library, `NodeHttpClient.layerUndici`",
        run: () => viaUndici.runtime.runPromise(viaUndici.cc.acquire(cold))
      },
      { id: "cold.openid-client", label: "openid-client `clientCredentialsGrant`", run: () => oidc(scope) },
      {
        id: "cold.platform-fetch",
        label: "for reference: the same POST through `HttpClient` alone, `FetchHttpClient.layer`",
        run: () => platformFetch.runtime.runPromise(platformFetch.post(scope))
      },
      {
        id: "cold.platform-undici",
        label: "for reference: the same POST through `HttpClient` alone, `NodeHttpClient.layerUndici`",
        run: () => platformUndici.runtime.runPromise(platformUndici.post(scope))
      }
    ]
    for (const subject of subjects) {
      for (let i = 0; i < config.coldWarmup; i++) await subject.run()
    }
    await server.reset()
    const results = await rounds(subjects, config.coldBudget, config.rounds, log)
    const stats = await server.stats()
    if (stats.rejected > 0) throw new Error(`the token endpoint rejected ${stats.rejected} requests`)
    return {
      title: "2. Cold acquire",
      note: "One client-credentials request per sample (`allowCached: false` for the library) to a `node:http` " +
        "token endpoint in a child process answering fixed JSON with an 800-byte access token; same " +
        "`client_secret_basic` header and form for every subject (the endpoint rejects anything else). " +
        "Goal: the library within 5% of the hand-written `fetch`. The two reference rows send the same POST " +
        "through the platform `HttpClient` without the library: the gap between them and the library rows is the " +
        "library's own work (client authentication, spans, retry and timeout, capped body read, decoding).",
      columns: ["subject", "µs/request (median)", "vs raw fetch"],
      rows: results.map((r) => ({ id: r.id, cells: [r.label, fixed(r.p50 / 1e3, 1), ratio(r.ratio)] }))
    }
  } finally {
    await viaFetch.runtime.dispose()
    await viaUndici.runtime.dispose()
    await platformFetch.runtime.dispose()
    await platformUndici.runtime.dispose()
  }
}

const coalescingSection = async (
  endpoint: Peers.Endpoint,
  server: TokenServer.TokenServer,
  config: Config,
  log: (line: string) => void
): Promise<{ section: Section; results: ReadonlyArray<CoalescingResult> }> => {
  const raw = Peers.rawFetch(endpoint)
  const oidc = Peers.openidClient(endpoint, { maxInFlight: config.maxInFlight })
  const scenarios: ReadonlyArray<{ readonly keys: number; readonly scopes: ReadonlyArray<string> }> = [
    { keys: 1, scopes: [scope] },
    { keys: 100, scopes: spreadScopes }
  ]
  const subjects: ReadonlyArray<{
    readonly subject: CoalescingResult["subject"]
    readonly label: string
    readonly acquires: number
    readonly budget: Budget
    readonly run: (total: number, scopes: ReadonlyArray<string>) => Promise<unknown>
  }> = [
    {
      subject: "library",
      label: "library (`TokenCache.layerMemory`, fresh per run)",
      acquires: config.concurrent,
      budget: config.coalescingBudget,
      run: (total, scopes) => Library.coalesced(endpoint, "fetch", total, scopes)
    },
    {
      subject: "promise-memo",
      label: "promise-memo `Map<key, Promise>` over `fetch` (fresh per run)",
      acquires: config.concurrent,
      budget: config.coalescingBudget,
      run: (total, scopes) => {
        const memo = Peers.promiseMemo(raw)
        return Promise.all(Array.from({ length: total }, (_, i) => memo(scopes[i % scopes.length]!)))
      }
    },
    {
      subject: "effect-memo",
      label: "Effect floor: `Map<key, Effect.cached(fetch)>`, one fiber per acquire (fresh per run)",
      acquires: config.concurrent,
      budget: config.coalescingBudget,
      run: (total, scopes) => {
        const memo = Peers.effectMemo(raw)
        return Effect.runPromise(
          Effect.forEach(
            Array.from({ length: total }, (_, i) => i),
            (i) => memo(scopes[i % scopes.length]!),
            { concurrency: "unbounded", discard: true }
          )
        )
      }
    },
    {
      subject: "openid-client",
      label: `openid-client \`clientCredentialsGrant\`, \`Promise.all\`, ≤ ${count(config.maxInFlight)} in flight`,
      acquires: config.concurrentUncoalesced,
      budget: config.uncoalescedBudget,
      run: (total, scopes) => Promise.all(Array.from({ length: total }, (_, i) => oidc(scopes[i % scopes.length]!)))
    }
  ]
  const results: Array<CoalescingResult> = []
  for (const scenario of scenarios) {
    for (const subject of subjects) {
      let runs = 0
      await server.reset()
      const timing = await time(() => {
        runs++
        return subject.run(subject.acquires, scenario.scopes)
      }, subject.budget)
      const stats = await server.stats()
      if (stats.rejected > 0) throw new Error(`the token endpoint rejected ${stats.rejected} requests`)
      const result: CoalescingResult = {
        subject: subject.subject,
        keys: scenario.keys,
        acquires: subject.acquires,
        requests: stats.requests / runs,
        distinctKeys: stats.keys,
        wallMs: timing.p50 / 1e6
      }
      log(`  ${subject.subject} × ${scenario.keys} keys: ${result.requests} requests/run, ${fixed(result.wallMs, 1)} ms`)
      results.push(result)
    }
  }
  const rows = results.map((r): Row => {
    const memo = results.find((m) => m.subject === "promise-memo" && m.keys === r.keys)
    const effectFloor = results.find((m) => m.subject === "effect-memo" && m.keys === r.keys)
    const label = subjects.find((s) => s.subject === r.subject)!.label
    return {
      id: `coalescing.${r.subject}.${r.keys}`,
      cells: [
        label,
        count(r.keys),
        count(r.acquires),
        count(r.requests),
        fixed(r.wallMs, 1),
        memo === undefined || r.acquires !== memo.acquires ? "–" : ratio(r.wallMs / memo.wallMs),
        effectFloor === undefined || r.acquires !== effectFloor.acquires ? "–" : ratio(r.wallMs / effectFloor.wallMs)
      ]
    }
  })
  return {
    section: {
      title: "3. Coalescing",
      note: "Concurrent cold acquisitions started at once; `requests` is what reached the endpoint per run (the " +
        "child server counts, reset before each subject); wall time is the median run. openid-client has no " +
        "cache: every acquisition is a request; all are started together (`Promise.all`), and at most " +
        `${count(config.maxInFlight)} requests are in flight at once (a semaphore in openid-client's \`customFetch\`, ` +
        "as a connection limit on the agent would be: undici's default global agent has none, and 10,000 " +
        "simultaneous sockets ran out of file descriptors here)." +
        (config.concurrentUncoalesced !== config.concurrent
          ? ` (This configuration runs ${count(config.concurrentUncoalesced)} openid-client acquisitions.)`
          : ""),
      columns: ["subject", "keys", "acquires", "requests", "wall ms (median)", "vs promise-memo", "vs Effect floor"],
      rows
    },
    results
  }
}

const memorySection = (memory: MemoryResult): Section => {
  const per100k = (bytes: number) => (bytes / memory.tokens) * 100_000
  return {
    title: "4. Memory",
    note: `Heap after two full GCs, before and after storing ${count(memory.tokens)} token sets (800-byte access ` +
      "token, realistic `CacheKey` keys), scaled to 100,000 tokens. The bounded cache gets " +
      `${count(memory.inserted)} distinct keys with capacity ${count(memory.capacity)}.`,
    columns: ["subject", "heap per 100,000 tokens", "bytes/token", "vs Map"],
    rows: [
      {
        id: "memory.map",
        cells: ["`Map<string, TokenSet>` (baseline)", megabytes(per100k(memory.mapBytes)),
          count(Math.round(memory.mapBytes / memory.tokens)), ratio(1)]
      },
      {
        id: "memory.cache",
        cells: ["`TokenCache.layerMemory`", megabytes(per100k(memory.cacheBytes)),
          count(Math.round(memory.cacheBytes / memory.tokens)), ratio(memory.cacheBytes / memory.mapBytes)]
      },
      {
        id: "memory.bounded",
        cells: [
          `capacity ${count(memory.capacity)}, ${count(memory.inserted)} inserted: ${count(memory.liveAfterInserts)} ` +
          `live; heap ${megabytes(memory.boundedBytesAtCapacity)} at capacity → ` +
          `${megabytes(memory.boundedBytesAfterInserts)} after all inserts`,
          "–",
          "–",
          `${ratio(memory.boundedBytesAfterInserts / memory.boundedBytesAtCapacity)} (flat = 1.00×)`
        ]
      }
    ]
  }
}

const table = (section: Section): string => {
  const escape = (cell: string) => cell.replace(/\|/g, "\\|")
  const align = section.columns.map((_, i) => (i === 0 ? "---" : "---:"))
  return [
    `### ${section.title}`,
    "",
    section.note,
    "",
    `| ${section.columns.map(escape).join(" | ")} |`,
    `| ${align.join(" | ")} |`,
    ...section.rows.map((row) => `| ${row.cells.map(escape).join(" | ")} |`)
  ].join("\n")
}

const versionOf = (name: string): string => {
  try {
    const pkg: unknown = createRequire(import.meta.url)(`${name}/package.json`)
    return typeof pkg === "object" && pkg !== null && "version" in pkg && typeof pkg.version === "string"
      ? pkg.version
      : "?"
  } catch {
    return "?"
  }
}

const commitOf = (): string => {
  try {
    const git = (args: ReadonlyArray<string>) =>
      execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
    const head = git(["rev-parse", "--short", "HEAD"])
    return git(["status", "--porcelain", "--untracked-files=no"]) === "" ? head : `${head} + changes`
  } catch {
    return "unknown (not a git checkout)"
  }
}

export const render = (
  mode: Results["mode"],
  environment: Environment,
  sections: ReadonlyArray<Section>,
  config: Config
): string => {
  const load = (l: ReadonlyArray<number>) => l.map((x) => fixed(x, 2)).join(" / ")
  return [
    "# effect-oauth bench results",
    "",
    `Written by \`pnpm bench\`${mode === "quick" ? " (quick configuration: the numbers mean nothing)" : ""}.`,
    "",
    `- date: ${environment.date}`,
    `- machine: ${environment.cpu}, ${environment.cores} cores, ${environment.platform}`,
    `- Node ${environment.node}, mitata ${environment.mitata}, openid-client ${environment.openidClient}; ` +
    `commit ${environment.commit}`,
    `- load average (1/5/15 min) at start ${load(environment.loadBefore)}, at end ${load(environment.loadAfter)}`,
    `- ${config.rounds} interleaved round(s) per timed section; a figure is the median of the rounds' medians, a ` +
    "ratio the median of the per-round ratios to the baseline measured in the same round",
    `- whole run: ${fixed(environment.durationSeconds, 0)} s`,
    "",
    ...sections.flatMap((section) => [table(section), ""])
  ].join("\n")
}

export const run = async (options: RunOptions = {}): Promise<Results> => {
  const mode = options.quick === true ? "quick" : "full"
  const config = mode === "quick" ? quickConfig : fullConfig
  const log = options.log ?? (() => {})
  const started = performance.now()
  const loadBefore = os.loadavg()
  const server = await TokenServer.start({ clientId, clientSecret })
  try {
    const endpoint: Peers.Endpoint = {
      issuer: server.issuer,
      tokenEndpoint: server.tokenEndpoint,
      clientId,
      clientSecret
    }
    log("1. cached acquire")
    const cached = await cachedSection(endpoint, config, log)
    log("2. cold acquire")
    const cold = await coldSection(endpoint, server, config, log)
    log("3. coalescing")
    const coalescing = await coalescingSection(endpoint, server, config, log)
    log("4. memory")
    const memory = await measureMemory(config.memory)
    const sections = [cached, cold, coalescing.section, memorySection(memory)]
    const cpus = os.cpus()
    const environment: Environment = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus[0]?.model ?? "unknown",
      cores: os.availableParallelism(),
      platform: `${os.platform()} ${os.arch()}`,
      loadBefore,
      loadAfter: os.loadavg(),
      mitata: versionOf("mitata"),
      openidClient: versionOf("openid-client"),
      commit: commitOf(),
      durationSeconds: (performance.now() - started) / 1e3
    }
    return {
      mode,
      environment,
      sections,
      coalescing: coalescing.results,
      memory,
      markdown: render(mode, environment, sections, config)
    }
  } finally {
    await server.stop()
  }
}
