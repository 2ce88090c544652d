/**
 * Section 3, coalescing: many concurrent cold acquisitions at once – how many requests reach the token endpoint, and
 * the wall time against the floor of any Effect library (`Map<key, Effect.cached(fetch)>`, one fiber per acquisition)
 * and a promise-memo. Measured in interleaved rounds like the other timed sections: every subject of both scenarios
 * (one key, 100 keys) runs in every round (openid-client, seconds per run and no target, in some of them).
 */
import * as Effect from "effect/Effect"
import * as Library from "./Library.js"
import * as Peers from "./Peers.js"
import { figure, fixed, formatSpread, interleave, ratio, type Subject, times } from "./Rounds.js"
import { count, scope, type Section, type SectionContext, selected } from "./Section.js"

export interface CoalescingResult {
  readonly subject: "library" | "promise-memo" | "effect-memo" | "openid-client"
  readonly keys: number
  readonly acquires: number
  /** requests that reached the token endpoint per run (every run of every round: the total over the runs) */
  readonly requests: number
  /** distinct scopes the endpoint saw in one run (the greatest over the runs) */
  readonly distinctKeys: number
  /** median of the rounds' median runs */
  readonly wallMs: number
  /** the same in this process's CPU time (GC threads included) */
  readonly cpuMs: number
}

/** the 100 scopes of the spread scenario: `api:read s0` … `api:read s99` */
const spreadScopes = Array.from({ length: 100 }, (_, i) => `${scope} s${i}`)

interface CoalescingSubject extends Subject {
  readonly subject: CoalescingResult["subject"]
  readonly keys: number
  readonly acquires: number
}

/**
 * One run of the Effect floor: `total` fibers started at once, each joining the one `Effect.cached` acquisition of its
 * key in a fresh `Map<key, Effect.cached(fetch)>` (keys taken in turn from `scopes`).
 */
export const effectFloor = (raw: (scope: string) => Promise<Peers.RawToken>, total: number, scopes: ReadonlyArray<string>) => {
  const memo = Peers.effectMemo(raw)
  return Effect.runPromise(Library.concurrently(total, (i) => memo(scopes[i % scopes.length]!)))
}

export const coalescingSection = async (
  ctx: SectionContext
): Promise<{ section: Section; results: ReadonlyArray<CoalescingResult> }> => {
  const { config, endpoint, server, log } = ctx
  const raw = Peers.rawFetch(endpoint)
  const plan = config.coalescing
  const oidc = Peers.openidClient(endpoint, { maxInFlight: plan.maxInFlight })
  const scenarios: ReadonlyArray<{ readonly keys: number; readonly scopes: ReadonlyArray<string> }> = [
    { keys: 1, scopes: [scope] },
    { keys: 100, scopes: spreadScopes }
  ]
  const labels: Record<CoalescingResult["subject"], string> = {
    "library": "library (`TokenCache.layerMemory`, fresh per run)",
    "promise-memo": "promise-memo `Map<key, Promise>` over `fetch` (fresh per run)",
    "effect-memo": "Effect floor: `Map<key, Effect.cached(fetch)>`, one fiber per acquire (fresh per run)",
    "openid-client": `openid-client \`clientCredentialsGrant\`, \`Promise.all\`, ≤ ${count(plan.maxInFlight)} in flight`
  }
  const all: ReadonlyArray<CoalescingSubject> = scenarios.flatMap(({ keys, scopes }): Array<CoalescingSubject> => {
    const total = plan.concurrent
    // the one-key scenario (a target) in every round, the 100-key one in some
    const rounds = keys === 1 ? undefined : plan.spreadRounds
    return [
      {
        id: `coalescing.library.${keys}`,
        subject: "library",
        label: labels["library"],
        keys,
        acquires: total,
        rounds,
        run: () => Library.coalesced(endpoint, "fetch", total, scopes)
      },
      {
        id: `coalescing.promise-memo.${keys}`,
        subject: "promise-memo",
        label: labels["promise-memo"],
        keys,
        acquires: total,
        rounds,
        run: () => {
          const memo = Peers.promiseMemo(raw)
          return Promise.all(Array.from({ length: total }, (_, i) => memo(scopes[i % scopes.length]!)))
        }
      },
      {
        id: `coalescing.effect-memo.${keys}`,
        subject: "effect-memo",
        label: labels["effect-memo"],
        keys,
        acquires: total,
        rounds,
        run: () => effectFloor(raw, total, scopes)
      },
      {
        id: `coalescing.openid-client.${keys}`,
        subject: "openid-client",
        label: labels["openid-client"],
        keys,
        acquires: plan.concurrentUncoalesced,
        rounds: plan.uncoalescedRounds,
        run: () =>
          Promise.all(
            Array.from({ length: plan.concurrentUncoalesced }, (_, i) => oidc(scopes[i % scopes.length]!))
          )
      }
    ]
  })
  const subjects = selected(all, ctx.only, ["coalescing.effect-memo.1", "coalescing.effect-memo.100"])
  // one unmeasured run each (JIT, the connection pool), as the cold section warms its subjects
  for (const subject of subjects) await subject.run()

  const counts = new Map<string, { runs: number; requests: number; distinctKeys: number }>()
  const measurements = await ctx.around(() => interleave(subjects, {
    ...plan,
    gc: config.gc,
    log,
    before: () => server.reset(),
    after: async (id) => {
      const stats = await server.stats()
      if (stats.rejected > 0) throw new Error(`the token endpoint rejected ${stats.rejected} requests`)
      const seen = counts.get(id) ?? { runs: 0, requests: 0, distinctKeys: 0 }
      counts.set(id, {
        runs: seen.runs + 1,
        requests: seen.requests + stats.requests,
        distinctKeys: Math.max(seen.distinctKeys, stats.keys)
      })
    }
  }))
  const results = subjects.map((s): CoalescingResult => {
    const seen = counts.get(s.id) ?? { runs: 0, requests: 0, distinctKeys: 0 }
    return {
      subject: s.subject,
      keys: s.keys,
      acquires: s.acquires,
      requests: seen.runs === 0 ? 0 : seen.requests / seen.runs,
      distinctKeys: seen.distinctKeys,
      wallMs: figure(measurements, s.id) / 1e6,
      cpuMs: figure(measurements, s.id, "cpu") / 1e6
    }
  })
  const rows = subjects.map((s, i) => {
    const r = results[i]!
    const against = (baseline: CoalescingResult["subject"]) => {
      const other = subjects.find((o) => o.subject === baseline && o.keys === s.keys)
      if (other === undefined || other.acquires !== s.acquires) return "–"
      return other.id === s.id ? times(1) : formatSpread(ratio(measurements, s.id, other.id))
    }
    return {
      id: s.id,
      cells: [
        s.label,
        count(s.keys),
        count(s.acquires),
        count(r.requests),
        fixed(r.wallMs, 1),
        fixed(r.cpuMs, 1),
        against("promise-memo"),
        against("effect-memo")
      ]
    }
  })
  return {
    section: {
      name: "coalescing",
      title: "3. Coalescing",
      note: "Concurrent cold acquisitions started at once; `requests` is what reached the endpoint per run (the " +
        `child server counts, reset before each run); ${plan.rounds} rounds of ${plan.passes} run(s) per row, taken ` +
        "in turns (one run of each row, then the next), every row warmed by one unmeasured run first; a time is " +
        "the median of the rounds' medians; a ratio is the median of the per-round ratios to a row of the same " +
        "round (min–max over the rounds). The Effect floor is the baseline of the library row. openid-client has " +
        "no cache: every acquisition is a request; all are started together (`Promise.all`), and at most " +
        `${count(plan.maxInFlight)} requests are in flight at once (a semaphore in openid-client's \`customFetch\`, ` +
        "as a connection limit on the agent would be: undici's default global agent has none, and 10,000 " +
        "simultaneous sockets ran out of file descriptors here). Not targets, so measured in fewer rounds (spread " +
        `over them): the 100-key scenario in ${plan.spreadRounds}, openid-client (seconds per run) in ` +
        `${plan.uncoalescedRounds}. A run is dominated by garbage collection (10,000 fibers), so every run starts ` +
        "after a full GC: otherwise its cost depends on what the previous run left on the heap. CPU ms is this " +
        "process's user + system time (GC threads included), for reference; the ratios are of wall time." +
        (plan.concurrentUncoalesced !== plan.concurrent
          ? ` (This configuration runs ${count(plan.concurrentUncoalesced)} openid-client acquisitions.)`
          : ""),
      columns: [
        "subject",
        "keys",
        "acquires",
        "requests",
        "wall ms (median)",
        "CPU ms (median)",
        "vs promise-memo",
        "vs Effect floor"
      ],
      rows,
      measurements
    },
    results
  }
}
