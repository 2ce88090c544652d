/**
 * The whole benchmark: seven sections, each a ratio taken in the same run against a baseline measured next to it, and
 * the targets computed from their rows.
 *
 * Timed rows of a section are measured in interleaved rounds (see `Rounds.ts`), so that a burst of load from elsewhere
 * on the machine hits every row of a round alike; a row's figure is the median of its per-round medians and a ratio
 * the median of its per-round ratios to a row of the same round, printed with its spread (min–max over the rounds).
 */
import { execFileSync } from "node:child_process"
import { createRequire } from "node:module"
import * as os from "node:os"
import { apiSection } from "./Api.js"
import { type CachedCounts, cachedSection } from "./Cached.js"
import { type CoalescingResult, coalescingSection } from "./Coalescing.js"
import { coldSection } from "./Cold.js"
import { type Config, forProfiling, fullConfig, quickConfig } from "./Config.js"
import { dpopSection } from "./Dpop.js"
import { measureMemory, type MemoryResult } from "./Memory.js"
import type * as Peers from "./Peers.js"
import { type WebCounts, webSection } from "./Web.js"
import { fixed, times } from "./Rounds.js"
import {
  clientId,
  clientSecret,
  count,
  markdownTable,
  type Section,
  type SectionContext,
  type SectionName,
  sectionNames
} from "./Section.js"
import { evaluate, type TargetResult, targetsTable } from "./Targets.js"
import * as TokenServer from "./TokenServer.js"

export interface RunOptions {
  /** a tiny configuration that proves the bench runs end to end (seconds, numbers meaningless) */
  readonly quick?: boolean | undefined
  /** progress lines (default: none) */
  readonly log?: ((line: string) => void) | undefined
  /** the sections to run (default: all) */
  readonly sections?: ReadonlyArray<SectionName> | undefined
  /** the configuration for profile mode: plain timing loops, no forced full GC (see `Config.forProfiling`) */
  readonly profiling?: boolean | undefined
  /** narrows the sections to some rows (profile mode); a section's baselines are always measured */
  readonly only?: ((id: string) => boolean) | undefined
  /**
   * wraps the measured part of each section – its rounds, not its set-up and warm-up (profile mode starts the CPU
   * profiler here)
   */
  readonly around?: (<A>(name: SectionName, measure: () => Promise<A>) => Promise<A>) | undefined
}

export interface Results {
  readonly mode: "full" | "quick"
  readonly environment: Environment
  readonly sections: ReadonlyArray<Section>
  readonly targets: ReadonlyArray<TargetResult>
  /** what the token endpoint saw during the cached section (undefined when it did not run) */
  readonly cachedCounts: CachedCounts | undefined
  readonly coalescing: ReadonlyArray<CoalescingResult>
  readonly memory: MemoryResult | undefined
  /** what the token endpoint saw during the web section (undefined when it did not run) */
  readonly webCounts: WebCounts | undefined
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
  readonly openidClient: string
  /** the commit measured (with "+ changes" when the working tree differs from it), when run from a git checkout */
  readonly commit: string
  readonly durationSeconds: number
}

const megabytes = (bytes: number): string => `${fixed(bytes / 1_048_576, 1)} MB`

const memorySection = (memory: MemoryResult): Section => {
  const per100k = (bytes: number) => (bytes / memory.tokens) * 100_000
  return {
    name: "memory",
    title: "4. Memory",
    note: `Heap after two full GCs, before and after storing ${count(memory.tokens)} token sets (800-byte access ` +
      "token, realistic `CacheKey` keys), scaled to 100,000 tokens. The bounded cache gets " +
      `${count(memory.inserted)} distinct keys with capacity ${count(memory.capacity)}. One measurement each (heap ` +
      "sizes do not move with the machine's load): no rounds, no spread.",
    columns: ["subject", "heap per 100,000 tokens", "bytes/token", "vs Map"],
    rows: [
      {
        id: "memory.map",
        cells: ["`Map<string, TokenSet>` (baseline)", megabytes(per100k(memory.mapBytes)),
          count(Math.round(memory.mapBytes / memory.tokens)), times(1)]
      },
      {
        id: "memory.cache",
        cells: ["`TokenCache.layerMemory`", megabytes(per100k(memory.cacheBytes)),
          count(Math.round(memory.cacheBytes / memory.tokens)), times(memory.cacheBytes / memory.mapBytes)]
      },
      {
        id: "memory.bounded",
        cells: [
          `capacity ${count(memory.capacity)}, ${count(memory.inserted)} inserted: ${count(memory.liveAfterInserts)} ` +
          `live; heap ${megabytes(memory.boundedBytesAtCapacity)} at capacity → ` +
          `${megabytes(memory.boundedBytesAfterInserts)} after all inserts`,
          "–",
          "–",
          `${times(memory.boundedBytesAfterInserts / memory.boundedBytesAtCapacity)} (flat = 1.00×)`
        ]
      }
    ]
  }
}

export const table = (section: Section): string =>
  [
    `### ${section.title}`,
    "",
    section.note,
    "",
    markdownTable(section.columns, section.rows.map((row) => row.cells))
  ].join("\n")

/** the CPU, the cores, the platform and Node */
export const machine = (): Pick<Environment, "cpu" | "cores" | "platform" | "node"> => ({
  node: process.version,
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.availableParallelism(),
  platform: `${os.platform()} ${os.arch()}`
})

/** `1.23 / 2.34 / 3.45`: a load average (1/5/15 min) */
export const formatLoad = (load: ReadonlyArray<number>): string => load.map((x) => fixed(x, 2)).join(" / ")

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
    // porcelain paths are relative to the repository root; the results file a previous run rewrote is no change
    const changed = git(["status", "--porcelain", "--untracked-files=no"]).split("\n")
      .filter((line) => line !== "" && !line.endsWith(" packages/bench/RESULTS.md"))
    return changed.length === 0 ? head : `${head} + changes`
  } catch {
    return "unknown (not a git checkout)"
  }
}

export const render = (
  mode: Results["mode"],
  environment: Environment,
  sections: ReadonlyArray<Section>,
  targets: ReadonlyArray<TargetResult>,
  config: Config
): string => {
  const met = targets.filter((t) => t.met).length
  const measured = targets.filter((t) => t.ratio !== undefined).length
  return [
    "# effect-oauth bench results",
    "",
    `Written by \`pnpm bench\`${mode === "quick" ? " (quick configuration: the numbers mean nothing)" : ""}.`,
    "",
    `- date: ${environment.date}`,
    `- machine: ${environment.cpu}, ${environment.cores} cores, ${environment.platform}`,
    `- Node ${environment.node}, openid-client ${environment.openidClient}; ` +
    `commit ${environment.commit}`,
    `- load average (1/5/15 min) at start ${formatLoad(environment.loadBefore)}, at end ${formatLoad(environment.loadAfter)}`,
    `- interleaved rounds × samples per row and round: cached ${config.cached.rounds} × ${config.cached.passes}, ` +
    `cold ${config.cold.rounds} × ${config.cold.passes}, coalescing ${config.coalescing.rounds} × ` +
    `${config.coalescing.passes}, DPoP ${config.dpop.rounds} × ${config.dpop.passes}, web ${config.web.rounds} × ` +
    `${config.web.passes}, API ${config.api.rounds} × ${config.api.passes}; the rows of a section take their samples ` +
    "in turns; a figure is the median of the rounds' medians, a ratio the median of the per-round ratios to a row " +
    "measured in the same round, with its spread (min–max over the rounds)",
    `- whole run: ${fixed(environment.durationSeconds, 0)} s`,
    "",
    "## Targets (issue 14)",
    "",
    `Computed from the rows below: ${met} of ${measured} measured target(s) met.`,
    "",
    targetsTable(targets),
    "",
    "## Sections",
    "",
    ...sections.flatMap((section) => [table(section), ""])
  ].join("\n")
}

export const run = async (options: RunOptions = {}): Promise<Results> => {
  const mode = options.quick === true ? "quick" : "full"
  const chosen = mode === "quick" ? quickConfig : fullConfig
  const config = options.profiling === true ? forProfiling(chosen) : chosen
  const log = options.log ?? (() => {})
  const wanted = options.sections ?? sectionNames
  const around = options.around ?? (<A>(_name: SectionName, measure: () => Promise<A>) => measure())
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
    const ctx = (name: SectionName): SectionContext => ({
      endpoint,
      server,
      config,
      log,
      only: options.only,
      around: (measure) => around(name, measure)
    })
    const sections: Array<Section> = []
    let cachedCounts: CachedCounts | undefined
    let coalescing: ReadonlyArray<CoalescingResult> = []
    let memory: MemoryResult | undefined
    let webCounts: WebCounts | undefined
    if (wanted.includes("cached")) {
      log("1. cached acquire")
      const cached = await cachedSection(ctx("cached"))
      sections.push(cached.section)
      cachedCounts = cached.counts
    }
    if (wanted.includes("cold")) {
      log("2. cold acquire")
      sections.push(await coldSection(ctx("cold")))
    }
    if (wanted.includes("coalescing")) {
      log("3. coalescing")
      const result = await coalescingSection(ctx("coalescing"))
      sections.push(result.section)
      coalescing = result.results
    }
    if (wanted.includes("memory")) {
      log("4. memory")
      memory = await around("memory", () => measureMemory(config.memory))
      sections.push(memorySection(memory))
    }
    if (wanted.includes("dpop")) {
      log("5. DPoP proofs")
      sections.push(await dpopSection(ctx("dpop")))
    }
    if (wanted.includes("web")) {
      log("6. web sessions")
      const web = await webSection(ctx("web"))
      sections.push(web.section)
      webCounts = web.counts
    }
    if (wanted.includes("api")) {
      log("7. API token validation")
      sections.push(await apiSection(ctx("api")))
    }
    const targets = evaluate(sections)
    const environment: Environment = {
      date: new Date().toISOString(),
      ...machine(),
      loadBefore,
      loadAfter: os.loadavg(),
      openidClient: versionOf("openid-client"),
      commit: commitOf(),
      durationSeconds: (performance.now() - started) / 1e3
    }
    return {
      mode,
      environment,
      sections,
      targets,
      cachedCounts,
      coalescing,
      memory,
      webCounts,
      markdown: render(mode, environment, sections, targets, config)
    }
  } finally {
    await server.stop()
  }
}
