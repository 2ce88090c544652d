/**
 * Every ```ts block of the root README and of every package README is a module a reader can copy: each is written to
 * its own file in `packages/example/.readme-blocks/` (the example package depends on effect, @effect/platform and
 * @effect/platform-node, so the blocks' imports resolve as in an application; `@effect-oauth/*` resolve to the
 * workspace sources) and the lot is type-checked with the workspace's compiler settings. No block is exempt; a block
 * may `declare` only what the reader provides (a session store, a key). A failure names the README and its line.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const blocksDir = Path.join(root, "packages", "example", ".readme-blocks")

interface Block {
  /** the README, relative to the root */
  readonly readme: string
  /** the line of the opening fence (1-based): the block's line n is the README's line `fence + n` */
  readonly fence: number
  readonly code: string
  readonly file: string
}

const readmes = (): Array<string> => [
  "README.md",
  ...Fs.readdirSync(Path.join(root, "packages"))
    .map((name) => Path.join("packages", name, "README.md"))
    .filter((readme) => Fs.existsSync(Path.join(root, readme)))
    .sort()
]

/** the ```ts (or ```typescript) blocks of one README, fences possibly indented (inside a list) */
const extract = (readme: string): Array<Block> => {
  const lines = Fs.readFileSync(Path.join(root, readme), "utf8").split("\n")
  const blocks: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(?:ts|typescript)\s*$/.exec(lines[i] ?? "")
    if (open === null) continue
    const indent = open[1]?.length ?? 0
    const start = i
    const code: Array<string> = []
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i] ?? ""); i++) code.push((lines[i] ?? "").slice(indent))
    const slug = readme === "README.md" ? "README" : readme.split(Path.sep).join("_").replace(/\.md$/, "")
    blocks.push({ readme, fence: start + 1, code: `${code.join("\n")}\n`, file: `${slug}.L${start + 1}.ts` })
  }
  return blocks
}

const tsc = (args: ReadonlyArray<string>): Promise<{ readonly code: number | null; readonly output: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [Path.join(root, "node_modules", "typescript", "bin", "tsc"), ...args], {
      cwd: blocksDir,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, output }))
  })

const source = (pkg: string) => `../../${pkg}/src`

describe("README code blocks", () => {
  it("every ts block of every README type-checks as a module", { timeout: 120_000 }, async () => {
    const blocks = readmes().flatMap(extract)
    assert.isAbove(blocks.filter((block) => block.readme === "README.md").length, 0, "blocks found in README.md")

    Fs.rmSync(blocksDir, { recursive: true, force: true })
    Fs.mkdirSync(blocksDir, { recursive: true })
    for (const block of blocks) Fs.writeFileSync(Path.join(blocksDir, block.file), block.code)
    Fs.writeFileSync(
      Path.join(blocksDir, "tsconfig.json"),
      JSON.stringify({
        extends: "../../../tsconfig.base.json",
        compilerOptions: {
          noEmit: true,
          incremental: false,
          declaration: false,
          declarationMap: false,
          sourceMap: false,
          // a block shows a piece of an application: values it defines for the reader need not be used in it
          noUnusedLocals: false,
          noUnusedParameters: false,
          paths: Object.fromEntries(
            ["client", "redis", "test-server", "web"].flatMap((pkg) => [
              [`@effect-oauth/${pkg}`, [`${source(pkg)}/index.ts`]],
              [`@effect-oauth/${pkg}/*`, [`${source(pkg)}/*.ts`]]
            ])
          )
        },
        include: ["*.ts"]
      })
    )

    const { code, output } = await tsc(["-p", "tsconfig.json", "--pretty", "false"])
    if (code === 0) {
      Fs.rmSync(blocksDir, { recursive: true, force: true })
      return
    }
    // "README.L101.ts(12,5): error TS…" → "README.md:113 (the block at line 101): error TS…"
    const byFile = new Map(blocks.map((block) => [block.file, block]))
    const report = output
      .split("\n")
      .map((line) => {
        const at = /^([^(\s]+)\((\d+),(\d+)\): (.*)$/.exec(line)
        const block = at === null ? undefined : byFile.get(Path.basename(at[1] ?? ""))
        if (at === null || block === undefined) return line
        return `${block.readme}:${block.fence + Number(at[2])}:${at[3]} (the block at line ${block.fence}): ${at[4]}`
      })
      .join("\n")
    assert.fail(`README blocks that do not type-check (the files are in ${Path.relative(root, blocksDir)}):\n${report}`)
  })
})
