/**
 * `pnpm bench:changes [change...]`: the issue-14 ratios of the client before and after each change, every commit's
 * build measured in one run (see `Changes.ts`); prints one markdown table.
 *
 * - a change is `before..after` or one commit (against its first parent: `c` is `c^..c`); none: issue 14's
 *   performance commits and `6ff3842..HEAD` (`Changes.issue14Changes`)
 * - `--quick` (or `BENCH_QUICK=1`): the tiny configuration (the numbers mean nothing)
 * - `--write`: also writes the table to `packages/bench/CHANGES.md`
 */
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { type Change, compare, parseChange } from "./Changes.js"

const usage = "usage: node dist/mainChanges.js [--quick] [--write] [<commit> | <before>..<after>]..."

const fail = (message: string): never => {
  console.error(`${message}\n${usage}`)
  return process.exit(2)
}

const changes: Array<Change> = []
let quick = process.env["BENCH_QUICK"] === "1"
let write = false
for (const arg of process.argv.slice(2)) {
  // `pnpm bench:changes -- …` may hand the `--` on
  if (arg === "--") continue
  if (arg === "--quick") quick = true
  else if (arg === "--write") write = true
  else if (arg.startsWith("-")) fail(`unknown argument ${arg}`)
  else {
    try {
      changes.push(parseChange(arg))
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error))
    }
  }
}

const started = performance.now()
/** progress on stderr, with the seconds since the start */
const log = (line: string) => console.error(`[${((performance.now() - started) / 1e3).toFixed(0).padStart(3)} s] ${line}`)
const result = await compare({ changes: changes.length === 0 ? undefined : changes, quick, log }).catch(
  (error: unknown) => {
    // a revision that names no commit: say so, without a stack
    if (error instanceof Error && error.message.endsWith("not a commit of this repository")) fail(error.message)
    throw error
  }
)
console.log(result.markdown)
if (write) {
  const path = fileURLToPath(new URL("../CHANGES.md", import.meta.url))
  writeFileSync(path, result.markdown)
  console.error(`written to ${path}`)
}
