/**
 * Profile mode: one section (or one row of it, with its baselines) run under V8's sampling CPU profiler through
 * `node:inspector`, the profile written as a `.cpuprofile` (open it in Chrome DevTools' Performance panel, VS Code, or
 * speedscope) and its top self-time functions printed, so that a regression is found in minutes.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import type { Profiler } from "node:inspector"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { run, table } from "./Bench.js"
import { fixed } from "./Rounds.js"
import { isSectionName, sectionNames } from "./Section.js"

export interface SelfTime {
  readonly functionName: string
  /** `file:line`, relative to the repository (or the package inside `node_modules`) */
  readonly location: string
  readonly selfMs: number
}

export interface ProfileResult {
  /** the `.cpuprofile` written */
  readonly path: string
  /** sampled time, ms, and the part of it the process was idle (waiting for I/O) */
  readonly totalMs: number
  readonly idleMs: number
  /** functions by self time, most first, idle excluded */
  readonly top: ReadonlyArray<SelfTime>
  /** the top functions and the section's table, as markdown */
  readonly markdown: string
}

export interface ProfileOptions {
  /** a section (`cached`, `cold`, `coalescing`, `memory`, `dpop`, `web`, `api`), or a row id or prefix in it (`cached.exchange`) */
  readonly target: string
  readonly quick?: boolean | undefined
  readonly log?: ((line: string) => void) | undefined
  /** where the profile goes (default: `packages/bench/profiles/`) */
  readonly directory?: string | undefined
  /** rows of the top table (default 25) */
  readonly top?: number | undefined
}

const packageRoot = fileURLToPath(new URL("..", import.meta.url))
const repositoryRoot = path.resolve(packageRoot, "../..")

const locationOf = (frame: { readonly url: string; readonly lineNumber: number }): string => {
  if (frame.url === "") return ""
  let file = frame.url
  if (file.startsWith("file://")) {
    try {
      file = fileURLToPath(file)
    } catch {
      // keep the URL as it is
    }
  }
  const modules = file.lastIndexOf("/node_modules/")
  const shown = modules >= 0
    ? file.slice(modules + "/node_modules/".length)
    : path.isAbsolute(file)
    ? path.relative(repositoryRoot, file)
    : file
  return `${shown}:${frame.lineNumber + 1}`
}

/** self time per function (name and location), from the profile's samples and their time deltas */
export const selfTimes = (profile: Profiler.Profile): { totalMs: number; idleMs: number; top: Array<SelfTime> } => {
  const byNode = new Map<number, Profiler.ProfileNode>(profile.nodes.map((node) => [node.id, node]))
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  const byFunction = new Map<string, { functionName: string; location: string; selfUs: number }>()
  let totalUs = 0
  let idleUs = 0
  for (let i = 0; i < samples.length; i++) {
    const node = byNode.get(samples[i]!)
    // the interval after a sample is the time it stood for
    const us = Math.max(0, deltas[i + 1] ?? 0)
    if (node === undefined) continue
    totalUs += us
    // no name and no source: generated code (`new Function`, `eval`), with what V8 inlined into it
    const functionName = node.callFrame.functionName !== ""
      ? node.callFrame.functionName
      : node.callFrame.url === ""
      ? "(anonymous, generated code)"
      : "(anonymous)"
    if (functionName === "(idle)") {
      idleUs += us
      continue
    }
    const location = locationOf(node.callFrame)
    const key = `${functionName}\u0000${location}`
    const entry = byFunction.get(key) ?? { functionName, location, selfUs: 0 }
    entry.selfUs += us
    byFunction.set(key, entry)
  }
  const top = [...byFunction.values()]
    .sort((a, b) => b.selfUs - a.selfUs)
    .map(({ functionName, location, selfUs }) => ({ functionName, location, selfMs: selfUs / 1e3 }))
  return { totalMs: totalUs / 1e3, idleMs: idleUs / 1e3, top }
}

const stamp = (date: Date): string => date.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-")

export const profile = async (options: ProfileOptions): Promise<ProfileResult> => {
  const section = options.target.split(".")[0] ?? ""
  if (!isSectionName(section)) {
    throw new Error(
      `--profile: unknown section "${section}"; one of ${sectionNames.join(", ")}, or a row id such as cached.exchange`
    )
  }
  const only = options.target === section
    ? undefined
    : (id: string) => id === options.target || id.startsWith(`${options.target}.`)
  const session = new Session()
  session.connect()
  let captured: Profiler.Profile | undefined
  try {
    await session.post("Profiler.enable")
    // 100 µs between samples (V8's default is 1 ms): the cached rows' calls take well under a microsecond
    await session.post("Profiler.setSamplingInterval", { interval: 100 })
    const results = await run({
      quick: options.quick === true,
      log: options.log,
      sections: [section],
      only,
      profiling: true,
      around: async (_name, measure) => {
        await session.post("Profiler.start")
        try {
          return await measure()
        } finally {
          captured = (await session.post("Profiler.stop")).profile
        }
      }
    })
    if (captured === undefined) throw new Error("no profile was captured")
    if (only !== undefined && results.sections.every((s) => s.rows.every((r) => !only(r.id)))) {
      throw new Error(`--profile: no row of section ${section} matches "${options.target}"`)
    }
    const directory = options.directory ?? path.join(packageRoot, "profiles")
    mkdirSync(directory, { recursive: true })
    const file = path.join(directory, `${options.target}-${stamp(new Date())}.cpuprofile`)
    writeFileSync(file, JSON.stringify(captured))
    const { totalMs, idleMs, top } = selfTimes(captured)
    const busyMs = totalMs - idleMs
    const shown = top.slice(0, options.top ?? 25)
    const markdown = [
      `CPU profile of \`${options.target}\`: ${path.relative(process.cwd(), file) || file}`,
      "",
      `sampled ${fixed(totalMs / 1e3, 1)} s, of which idle (waiting for I/O) ${fixed(idleMs / 1e3, 1)} s; ` +
      "self time as a share of the busy time:",
      "",
      "| self ms | self % | function | where |",
      "| ---: | ---: | --- | --- |",
      ...shown.map((t) =>
        `| ${fixed(t.selfMs, 1)} | ${fixed(busyMs > 0 ? (100 * t.selfMs) / busyMs : 0, 1)} % | ` +
        `${t.functionName.replace(/\|/g, "\\|")} | ${t.location} |`
      ),
      "",
      ...results.sections.flatMap((s) => [table(s), ""])
    ].join("\n")
    return { path: file, totalMs, idleMs, top, markdown }
  } finally {
    session.disconnect()
  }
}
