/**
 * `pnpm bench:changes` runs end to end on one change (the quick configuration): both commits' clients built from
 * their own sources and loaded next to the bench, every row wired from each build's API and measured, every
 * before/after ratio and every after/before ratio with its spread, and nothing to report. No time is asserted.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { compare, issue14Changes, parseChange, rowNames } from "../src/Changes.js"

/** `2.41× (2.30–2.55)`: a median ratio with its min–max over the rounds */
const withSpread = /^\d[\d,]*\.\d\d× \(\d[\d,]*\.\d\d–\d[\d,]*\.\d\d\)$/

/**
 * the parent of HEAD, when this clone has it; a shallow clone (depth 1) has none, and then both sides are HEAD: one
 * build compared with itself, every row still wired and measured
 */
const before = (() => {
  try {
    execFileSync("git", ["rev-parse", "--verify", "--quiet", "HEAD~1^{commit}"], { stdio: "ignore" })
    return "HEAD~1"
  } catch {
    return "HEAD"
  }
})()

describe("bench:changes", () => {
  it("reads a change as one commit against its first parent, or as before..after", () => {
    expect(parseChange("060ccd4")).toEqual({ before: "060ccd4^", after: "060ccd4" })
    expect(parseChange("6ff3842..HEAD")).toEqual({ before: "6ff3842", after: "HEAD" })
    for (const bad of ["", "..HEAD", "6ff3842..", "a..b..c"]) {
      expect(() => parseChange(bad)).toThrow("not a commit or a range before..after")
    }
    expect(issue14Changes.map((c) => `${c.before}..${c.after}`)).toEqual([
      "060ccd4^..060ccd4",
      "c9050dc^..c9050dc",
      "cb46ad6^..cb46ad6",
      "babc3a1^..babc3a1",
      "c0bf71d^..c0bf71d",
      "0da3639^..0da3639",
      "2916fb7^..2916fb7",
      "4549e68^..4549e68",
      "390af4c^..390af4c",
      "3e96b40^..3e96b40",
      "358551f^..358551f",
      "cd393f8^..cd393f8",
      "ad5aa95..cd393f8",
      "6ff3842..HEAD"
    ])
  })

  it.live("builds both sides of a change and measures every row of both in the same rounds", () =>
    Effect.gen(function*() {
      const result = yield* Effect.promise(() =>
        compare({ changes: [{ before, after: "HEAD" }], quick: true })
      )
      expect(result.mode).toBe("quick")
      expect(result.commits.map((c) => c.commit.ref)).toEqual(before === "HEAD" ? ["HEAD"] : [before, "HEAD"])
      for (const commit of result.commits) {
        expect(commit.error).toBeUndefined()
        for (const row of rowNames) {
          const outcome = commit.rows.get(row)
          expect(outcome?._tag, `${commit.commit.ref} ${row}`).toBe("measured")
        }
      }
      // nothing missing, failed or unexpected (a request where a row should hit the cache, a coalescing run that
      // sent more than one request)
      expect(result.notes).toEqual([])

      expect(result.changes).toHaveLength(1)
      const [change] = result.changes
      expect(change?.before.ref).toBe(before)
      expect(change?.after.ref).toBe("HEAD")
      for (const row of rowNames) expect(change?.versus.get(row), row).toBeDefined()

      // one line per row: before, after and after / before, each with its spread
      const lines = result.markdown.split("\n").filter((line) => line.startsWith(`| \`${change?.before.short}\` → `))
      expect(lines).toHaveLength(rowNames.length)
      for (const line of lines) {
        const cells = line.split(" | ").slice(2).map((cell) => cell.replace(/ \|$/, ""))
        expect(cells).toHaveLength(3)
        for (const cell of cells) expect(cell).toMatch(withSpread)
      }
      expect(result.markdown).toContain("| change | row | before | after | after / before |")
    }), { timeout: 240_000 })
})
