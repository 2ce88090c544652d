/**
 * `pnpm bench`: runs every section, prints the markdown tables and writes them to `packages/bench/RESULTS.md`.
 *
 * - `BENCH_QUICK=1`: the tiny configuration (prints only: a quick run never overwrites the committed results).
 * - `--profile <section>` (or `BENCH_PROFILE=<section>`): runs only that section (`cached`, `cold`, `coalescing`,
 *   `memory`, `dpop`, `web`, `api`, or one row of it, e.g. `cached.exchange`) under the CPU profiler, writes a
 *   `.cpuprofile` under `packages/bench/profiles/` and prints its path with the top self-time functions. Never writes
 *   RESULTS.md.
 * - `--section <section>`: runs only that section, timed as in a full run, and prints its table (with the targets it
 *   measures). Never writes RESULTS.md.
 */
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { run } from "./Bench.js"
import { profile } from "./Profile.js"
import { isSectionName, type SectionName, sectionNames } from "./Section.js"

const usage = `usage: node dist/main.js [--profile <section>[.<row>] | --section <section>]   (sections: ${
  sectionNames.join(", ")
})`

/** a command line this script does not understand: printed without a stack */
class UsageError extends Error {}

interface Arguments {
  readonly profile: string | undefined
  readonly section: SectionName | undefined
}

const parseArguments = (args: ReadonlyArray<string>): Arguments => {
  let target = process.env["BENCH_PROFILE"] === "" ? undefined : process.env["BENCH_PROFILE"]
  let section: SectionName | undefined
  const valueOf = (i: number, option: string): string => {
    const next = args[i + 1]
    if (next === undefined || next.startsWith("-")) throw new UsageError(`${option} needs a section\n${usage}`)
    return next
  }
  const sectionOf = (name: string): SectionName => {
    if (!isSectionName(name)) throw new UsageError(`--section: unknown section "${name}"\n${usage}`)
    return name
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    // `pnpm bench -- --profile x` may hand the `--` on
    if (arg === "--") continue
    if (arg === "--profile") {
      target = valueOf(i, "--profile")
      i++
    } else if (arg.startsWith("--profile=")) {
      target = arg.slice("--profile=".length)
    } else if (arg === "--section") {
      section = sectionOf(valueOf(i, "--section"))
      i++
    } else if (arg.startsWith("--section=")) {
      section = sectionOf(arg.slice("--section=".length))
    } else {
      throw new UsageError(`unknown argument ${arg}\n${usage}`)
    }
  }
  if (target !== undefined && section !== undefined) throw new UsageError(`--profile and --section exclude each other\n${usage}`)
  return { profile: target, section }
}

const quick = process.env["BENCH_QUICK"] === "1"
const started = performance.now()
/** progress on stderr, with the seconds since the start */
const log = (line: string) => console.error(`[${((performance.now() - started) / 1e3).toFixed(0).padStart(3)} s] ${line}`)
let parsed: Arguments = { profile: undefined, section: undefined }
try {
  parsed = parseArguments(process.argv.slice(2))
} catch (error) {
  if (!(error instanceof UsageError)) throw error
  console.error(error.message)
  process.exit(2)
}
const target = parsed.profile
if (target !== undefined) {
  const result = await profile({ target, quick, log }).catch((error: unknown) => {
    // a target that names no section or row: say so, without a stack
    if (error instanceof Error && error.message.startsWith("--profile:")) {
      console.error(`${error.message}\n${usage}`)
      process.exit(2)
    }
    throw error
  })
  console.log(result.markdown)
  console.error(`profile written to ${result.path}`)
} else if (parsed.section !== undefined) {
  const results = await run({ quick, log, sections: [parsed.section] })
  console.log(results.markdown)
} else {
  const results = await run({ quick, log })
  console.log(results.markdown)
  if (!quick) {
    const path = fileURLToPath(new URL("../RESULTS.md", import.meta.url))
    writeFileSync(path, results.markdown)
    console.error(`written to ${path}`)
  }
}
