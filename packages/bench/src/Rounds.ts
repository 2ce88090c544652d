/**
 * Interleaved rounds: every subject of a section is measured `passes` times per round, one sample of each in turn,
 * and the rounds repeat. A burst of load from elsewhere on the machine (another developer's test run) then hits a round's baseline
 * and its subjects alike, and a ratio is taken between rows of the same round only.
 *
 * - A row's figure is the median of its per-round medians.
 * - A ratio is the median of the per-round ratios `subject / baseline`, printed with its spread: the least and the
 *   greatest per-round ratio (`2.41× (2.30–2.55)`).
 * - The order of the subjects is shuffled every pass (a seeded shuffle: the same orders on every run), so that no
 *   subject always runs first, or always right after the same neighbour – a row that follows a heavy allocator pays
 *   for its garbage. (A rotation by one would not do: it keeps every subject's predecessor.)
 */
import { gc } from "./Gc.js"

export interface Subject {
  readonly id: string
  readonly label: string
  /** one sample: a call, or a batch of calls the subject loops over itself */
  readonly run: () => unknown
  /**
   * measured in this many of the rounds only, spread evenly over them (default: every round) – for a subject whose
   * sample takes seconds and whose ratio is not a target
   */
  readonly rounds?: number | undefined
}

export interface Plan {
  readonly rounds: number
  /** samples of every subject per round, taken in passes: one sample of each subject, then the next pass */
  readonly passes: number
  /**
   * also record each sample's CPU time (this process's user + system time, `process.cpuUsage()`, GC threads
   * included) next to its wall time, for samples long enough for it to mean something
   */
  readonly cpu?: boolean | undefined
  /**
   * a full GC before every sample (default: before every round only): for samples dominated by garbage collection,
   * whose cost otherwise depends on what the previous sample left on the heap
   */
  readonly gcEachSample?: boolean | undefined
}

export interface Interleaved {
  readonly rounds: number
  readonly passes: number
  readonly subjects: ReadonlyArray<Pick<Subject, "id" | "label">>
  /** per subject id, its median sample (wall time, ns) in each round; `undefined` for a round it was not in */
  readonly p50: ReadonlyMap<string, ReadonlyArray<number | undefined>>
  /** the same in CPU time, when the plan asked for it */
  readonly cpuP50: ReadonlyMap<string, ReadonlyArray<number | undefined>> | undefined
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

/** whether a subject measured in `rounds` of `total` rounds is measured in round `round` (spread evenly, from 0) */
const measuredIn = (round: number, rounds: number, total: number): boolean =>
  rounds >= total || Math.floor((round * rounds) / total) !== Math.floor(((round - 1) * rounds) / total)

export interface InterleaveOptions extends Plan {
  readonly log: (line: string) => void
  /** a full GC before each round (default `true`; profile mode turns it off: forced collections fill a profile) */
  readonly gc?: boolean | undefined
  /** runs before each sample, untimed (the coalescing section resets the server's counts here) */
  readonly before?: ((id: string) => Promise<void>) | undefined
  /** runs after each sample, untimed */
  readonly after?: ((id: string) => Promise<void>) | undefined
}

/**
 * Times every subject `passes` times per round, one sample of each in turn (in a new shuffled order each pass), so
 * that samples of different subjects are never more than one pass apart; a round's figure for a subject is the median
 * of its samples in that round.
 */
export const interleave = async (
  subjects: ReadonlyArray<Subject>,
  options: InterleaveOptions
): Promise<Interleaved> => {
  const withCpu = options.cpu === true
  const collect = options.gc !== false
  const p50 = new Map<string, Array<number | undefined>>(subjects.map((s) => [s.id, []]))
  const cpuP50 = new Map<string, Array<number | undefined>>(subjects.map((s) => [s.id, []]))
  const random = seeded(0x0a7c5e11)
  for (let round = 0; round < options.rounds; round++) {
    const active = subjects.filter((s) => measuredIn(round, s.rounds ?? options.rounds, options.rounds))
    const samples = new Map<string, Array<number>>(active.map((s) => [s.id, []]))
    const cpus = new Map<string, Array<number>>(active.map((s) => [s.id, []]))
    if (collect && options.gcEachSample !== true) gc()
    for (let pass = 0; pass < options.passes; pass++) {
      const order = shuffled(active, random)
      for (const subject of order) {
        await options.before?.(subject.id)
        if (collect && options.gcEachSample === true) gc()
        const cpu0 = withCpu ? process.cpuUsage() : undefined
        const t0 = performance.now()
        await subject.run()
        const t1 = performance.now()
        const cpu = cpu0 === undefined ? undefined : process.cpuUsage(cpu0)
        await options.after?.(subject.id)
        samples.get(subject.id)!.push((t1 - t0) * 1e6)
        if (cpu !== undefined) cpus.get(subject.id)!.push((cpu.user + cpu.system) * 1e3)
      }
    }
    for (const subject of subjects) {
      const taken = samples.get(subject.id)
      const cpu = cpus.get(subject.id)
      p50.get(subject.id)!.push(taken === undefined ? undefined : median(taken))
      cpuP50.get(subject.id)!.push(cpu === undefined || cpu.length === 0 ? undefined : median(cpu))
    }
    options.log(
      `  round ${round + 1}/${options.rounds}: ` +
        active.map((s) => `${s.id} ${fixed(median(samples.get(s.id) ?? []) / 1e3, 1)} µs`).join(", ")
    )
  }
  return {
    rounds: options.rounds,
    passes: options.passes,
    subjects: subjects.map(({ id, label }) => ({ id, label })),
    p50,
    cpuP50: withCpu ? cpuP50 : undefined
  }
}

/** a small seeded generator (mulberry32): numbers in [0, 1), the same sequence for the same seed */
const seeded = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `items` in a random order (Fisher–Yates) */
const shuffled = <A>(items: ReadonlyArray<A>, random: () => number): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = out[i]!
    out[i] = out[j]!
    out[j] = swap
  }
  return out
}

const measured = (values: ReadonlyArray<number | undefined>): Array<number> =>
  values.filter((v): v is number => v !== undefined)

/** the median of a subject's per-round medians, ns per sample (wall time, or CPU time when recorded) */
export const figure = (results: Interleaved, id: string, clock?: "cpu"): number =>
  median(measured((clock === "cpu" ? results.cpuP50 : results.p50)?.get(id) ?? []))

/**
 * `subject / baseline` per round (rounds that measured both), with its spread; `undefined` when none did. `scale`
 * multiplies every per-round ratio: `baseline calls / subject calls` turns a ratio of samples of different sizes into
 * a ratio per call.
 */
export const ratio = (results: Interleaved, id: string, baselineId: string, scale = 1): Spread | undefined => {
  const subject = results.p50.get(id)
  const baseline = results.p50.get(baselineId)
  if (subject === undefined || baseline === undefined) return undefined
  const ratios: Array<number> = []
  for (let round = 0; round < results.rounds; round++) {
    const s = subject[round]
    const b = baseline[round]
    if (s !== undefined && b !== undefined) ratios.push((s / b) * scale)
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
