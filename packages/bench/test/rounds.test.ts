/**
 * The order of the rows in the interleaved rounds: every pass takes one sample of each row, in an order shuffled per
 * pass – so no row always follows the same neighbour (a rotation would keep every row's predecessor) – and the same
 * orders on every run (a seeded shuffle). No time is measured or asserted.
 */
import { describe, expect, it } from "@effect/vitest"
import { interleave } from "../src/Rounds.js"

const orderOf = async (): Promise<Array<string>> => {
  const order: Array<string> = []
  const subjects = ["a", "b", "c", "d"].map((id) => ({ id, label: id, run: () => void order.push(id) }))
  await interleave(subjects, { rounds: 2, passes: 5, gc: false, log: () => {} })
  return order
}

describe("interleaved rounds", () => {
  it("each pass samples every row once, in orders that vary, each row after several neighbours; the same on every run", async () => {
    const order = await orderOf()
    expect(order).toHaveLength(2 * 5 * 4)
    const passes = Array.from({ length: 10 }, (_, i) => order.slice(i * 4, i * 4 + 4))
    for (const pass of passes) expect([...pass].sort()).toEqual(["a", "b", "c", "d"])
    expect(new Set(passes.map((pass) => pass.join(""))).size).toBeGreaterThan(1)
    // within a pass, the rows that came right before each row
    for (const id of ["a", "b", "c", "d"]) {
      const before = new Set(passes.flatMap((pass) => {
        const at = pass.indexOf(id)
        return at > 0 ? [pass[at - 1]] : []
      }))
      expect(before.size, id).toBeGreaterThan(1)
    }
    expect(await orderOf()).toEqual(order)
  })
})
