/**
 * What every section shares: its result (a table, and the interleaved measurements its ratios come from) and what it
 * is run with.
 */
import type { Config } from "./Config.js"
import type * as Peers from "./Peers.js"
import { figure, fixed, formatSpread, type Interleaved, interleave, type Plan, ratio, type Subject, times } from "./Rounds.js"
import type * as TokenServer from "./TokenServer.js"

export const sectionNames = ["cached", "cold", "coalescing", "memory", "dpop", "web", "api"] as const
export type SectionName = (typeof sectionNames)[number]

export const isSectionName = (name: string): name is SectionName => sectionNames.some((s) => s === name)

/** One row of a result table: `cells` in the order of the section's columns. */
export interface Row {
  readonly id: string
  readonly cells: ReadonlyArray<string>
}

/**
 * The rows of a section whose columns are the subject, its time per item (the row's figure divided by `divisor`: items
 * per sample, times 1,000 for µs from ns) and its ratio to the `baseline` row of the same rounds.
 */
export const perItemRows = (
  measurements: Interleaved,
  options: { readonly divisor: number; readonly baseline: string }
): ReadonlyArray<Row> =>
  measurements.subjects.map((s) => ({
    id: s.id,
    cells: [
      s.label,
      fixed(figure(measurements, s.id) / options.divisor, 1),
      s.id === options.baseline ? times(1) : formatSpread(ratio(measurements, s.id, options.baseline))
    ]
  }))

export interface Section {
  readonly name: SectionName
  readonly title: string
  readonly note: string
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Row>
  /** the per-round medians its ratios were taken from (the timed sections) */
  readonly measurements?: Interleaved | undefined
}

export interface SectionContext {
  readonly endpoint: Peers.Endpoint
  readonly server: TokenServer.TokenServer
  readonly config: Config
  readonly log: (line: string) => void
  /**
   * the subjects to measure (profile mode can narrow a section to one row; a section's baseline is always measured);
   * default: all
   */
  readonly only?: ((id: string) => boolean) | undefined
  /** wraps the measured part of the section – its rounds, not its set-up (profile mode profiles only that) */
  readonly around: <A>(measure: () => Promise<A>) => Promise<A>
}

export const clientId = "bench-client"
export const clientSecret = "bench-secret"
export const scope = "api:read"

export const count = (value: number): string => value.toLocaleString("en-US")

/** the rows to measure: the `baselines` always, the others when `only` allows */
export const selected = <S extends { readonly id: string }>(
  subjects: ReadonlyArray<S>,
  only: ((id: string) => boolean) | undefined,
  baselines: ReadonlyArray<string>
): ReadonlyArray<S> =>
  only === undefined ? subjects : subjects.filter((s) => baselines.includes(s.id) || only(s.id))

/** a markdown table: the first column left-aligned, the others right-aligned; `|` in a cell escaped */
export const markdownTable = (columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const escape = (cell: string) => cell.replace(/\|/g, "\\|")
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map(escape).join(" | ")} |`
  return [
    line(columns),
    `| ${columns.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map(line)
  ].join("\n")
}

/**
 * A section's timed part: its chosen rows (the `baselines` always), warmed up `plan.warmup` samples each, then measured
 * in interleaved rounds by the plan – inside `ctx.around`, so profile mode profiles the rounds only.
 */
export const measure = async (
  ctx: SectionContext,
  subjects: ReadonlyArray<Subject>,
  baselines: ReadonlyArray<string>,
  plan: Plan & { readonly warmup: number }
): Promise<Interleaved> => {
  const chosen = selected(subjects, ctx.only, baselines)
  for (const subject of chosen) {
    for (let i = 0; i < plan.warmup; i++) await subject.run()
  }
  return ctx.around(() => interleave(chosen, { ...plan, gc: ctx.config.gc, log: ctx.log }))
}
