/**
 * A real `gc()` without asking for `node --expose-gc`: the flag is turned on at run time and the function taken from a
 * fresh V8 context. Works from `node dist/main.js` and inside a vitest worker alike. The rounds collect before each
 * round (the coalescing rows before each run) and the memory section reads settled heaps.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

const resolveGc = (): (() => void) => {
  const existing: unknown = Reflect.get(globalThis, "gc")
  if (typeof existing === "function") return () => void existing()
  setFlagsFromString("--expose-gc")
  const fromContext: unknown = runInNewContext("gc")
  if (typeof fromContext !== "function") throw new Error("cannot expose gc()")
  return () => void fromContext()
}

export const gc: () => void = resolveGc()

/** The heap in use after two full collections (the second catches what the first's finalisers freed). */
export const settledHeapUsed = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
