/** A tracer for tests that keeps every span it opens – name, attributes, events, how it ended – to assert on. */
import { Effect, Tracer } from "effect"
import type { Context, Exit, Option } from "effect"

/** An event recorded on a span (`Effect.annotateCurrentSpan` sets attributes; events come from `span.event`). */
export interface RecordedEvent {
  readonly name: string
  readonly attributes: Readonly<Record<string, unknown>>
}

/** A span as the code under test left it: its `status` is `Ended` (with the exit) once it has ended. */
export interface RecordedSpan extends Tracer.Span {
  readonly attributes: ReadonlyMap<string, unknown>
  readonly events: ReadonlyArray<RecordedEvent>
}

class RecordingSpan implements RecordedSpan {
  readonly _tag = "Span"
  readonly traceId: string
  readonly sampled = true
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  readonly events: Array<RecordedEvent> = []
  readonly links: Array<Tracer.SpanLink>

  constructor(
    readonly name: string,
    readonly spanId: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind
  ) {
    this.traceId = parent._tag === "Some" ? parent.value.traceId : `trace-${spanId}`
    this.status = { _tag: "Started", startTime }
    this.links = [...links]
  }

  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
  }

  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
  }

  event(name: string, _startTime: bigint, attributes?: Record<string, unknown>): void {
    this.events.push({ name, attributes: attributes ?? {} })
  }

  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.links.push(...links)
  }
}

/** A recording tracer and what it has recorded so far. */
export interface SpanRecorder {
  /** run the code under test with it: `Effect.withTracer(recorder.tracer)` */
  readonly tracer: Tracer.Tracer
  /** every span opened so far, in the order they were opened */
  readonly spans: ReadonlyArray<RecordedSpan>
  /** the spans named `name`, in the order they were opened */
  readonly named: (name: string) => ReadonlyArray<RecordedSpan>
}

/** A fresh recording tracer, for a test that runs several effects (or its whole body) under one tracer. */
export const makeSpanRecorder = (): SpanRecorder => {
  const spans: Array<RecordingSpan> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const span = new RecordingSpan(name, `span-${spans.length + 1}`, parent, context, links, startTime, kind)
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans, named: (name) => spans.filter((span) => span.name === name) }
}

/** Runs `effect` under a fresh recording tracer: its value and the spans it opened (it fails as `effect` fails). */
export const withRecordingTracer = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<{ readonly value: A; readonly spans: ReadonlyArray<RecordedSpan> }, E, R> =>
  Effect.suspend(() => {
    const recorder = makeSpanRecorder()
    return Effect.map(Effect.withTracer(effect, recorder.tracer), (value) => ({ value, spans: recorder.spans }))
  })
