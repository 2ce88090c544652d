/**
 * Interleaved rounds: every subject of a section is measured once per round, one after the other, and the rounds
 * repeat. A burst of load from elsewhere on the machine (another developer's test run) then hits a round's baseline
 * and its subjects alike, and a ratio is taken between rows of the same round only.
 *
 * - A row's figure is the median of its per-round medians.
 * - A ratio is the median of the per-round ratios `subject / baseline`, printed with its spread: the least and the
 *   greatest per-round ratio (`2.41× (2.30–2.55)`).
 * - The order of the subjects rotates by one each round, so that no subject always runs first after the section's
 *   set-up, or always right after the same neighbour.
 */
import { time, type Budget, type Timing } from "./Measure.js"

export interface Subject {
  readonly id: string
  readonly label: string
  /** one sample: a call, or a batch of calls the subject loops over itself */
  readonly run: () => unknown
  /** this subject's sample budget per round (default: the section's) */
  readonly budget?: Budget | undefined
  /**
   * measured in this many of the rounds only, spread evenly over them (default: every round) – for a subject whose
   * sample takes seconds and whose ratio is not a target
   */
  readonly rounds?: number | undefined
}

export interface Interleaved {
  readonly rounds: number
  readonly subjects: ReadonlyArray<Pick<Subject, "id" | "label">>
  /** per subject id, its median sample (ns) in each round; `undefined` for a round it was not measured in */
  readonly p50: ReadonlyMap<string, ReadonlyArray<number | undefined>>
}

/** A ratio over the rounds: the median of the per-round ratios and their least and greatest. */
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  /** the rounds that measured both rows */
  readonly rounds: number
}

export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const spreadOf = (values: ReadonlyArray<number>): Spread => ({
  median: median(values),
  min: Math.min(...values),
  max: Math.max(...values),
  rounds: values.length
})

/** whether subject `rounds` (of `total`) includes round `round`: `rounds` rounds spread evenly, the first included */
const measuredIn = (round: number, rounds: number, total: number): boolean =>
  rounds >= total || Math.floor((round * rounds) / total) !== Math.floor(((round - 1) * rounds) / total)

export interface InterleaveOptions {
  readonly rounds: number
  readonly budget: Budget
  readonly log: (line: string) => void
  /** runs before a subject's measurement in a round (the coalescing section resets the server's counts here) */
  readonly before?: ((id: string) => Promise<void>) | undefined
  /** runs after it, with its timing and the number of samples (calls of `run`) it took */
  readonly after?: ((id: string, timing: Timing, calls: number) => Promise<void>) | undefined
}

export const interleave = async (
  subjects: ReadonlyArray<Subject>,
  options: InterleaveOptions
): Promise<Interleaved> => {
  const p50 = new Map<string, Array<number | undefined>>(subjects.map((s) => [s.id, []]))
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const subject = subjects[(k + round) % subjects.length]!
      const row = p50.get(subject.id)!
      if (!measuredIn(round, subject.rounds ?? options.rounds, options.rounds)) {
        row[round] = undefined
        continue
      }
      await options.before?.(subject.id)
      let calls = 0
      const timing = await time(() => {
        calls++
        return subject.run()
      }, subject.budget ?? options.budget)
      await options.after?.(subject.id, timing, calls)
      row[round] = timing.p50
      options.log(
        `  round ${round + 1}/${options.rounds} ${subject.id}: ${(timing.p50 / 1e3).toFixed(1)} µs/sample ` +
          `(${timing.samples} samples)`
      )
    }
  }
  return { rounds: options.rounds, subjects: subjects.map(({ id, label }) => ({ id, label })), p50 }
}

const measured = (values: ReadonlyArray<number | undefined>): Array<number> =>
  values.filter((v): v is number => v !== undefined)

/** the median of a subject's per-round medians, ns per sample */
export const figure = (results: Interleaved, id: string): number => median(measured(results.p50.get(id) ?? []))

/** `subject / baseline` per round (rounds that measured both), with its spread; `undefined` when none did */
export const ratio = (results: Interleaved, id: string, baselineId: string): Spread | undefined => {
  const subject = results.p50.get(id)
  const baseline = results.p50.get(baselineId)
  if (subject === undefined || baseline === undefined) return undefined
  const ratios: Array<number> = []
  for (let round = 0; round < results.rounds; round++) {
    const s = subject[round]
    const b = baseline[round]
    if (s !== undefined && b !== undefined) ratios.push(s / b)
  }
  return ratios.length === 0 ? undefined : spreadOf(ratios)
}

export const fixed = (value: number, digits: number): string =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** `2.41×` */
export const times = (value: number): string => `${fixed(value, 2)}×`

/** `2.41× (2.30–2.55)`, or `–` for no ratio */
export const formatSpread = (spread: Spread | undefined): string =>
  spread === undefined
    ? "–"
    : `${times(spread.median)} (${fixed(spread.min, 2)}–${fixed(spread.max, 2)})`
