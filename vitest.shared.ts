import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { ViteUserConfig } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))

/**
 * Tests run against the TypeScript sources of the workspace packages, so a test never sees a stale `dist/`.
 * (The packaging test is the exception: it installs the packed tarball of `@effect-oauth/client`.)
 */
export const shared: ViteUserConfig = {
  resolve: {
    alias: [
      { find: /^@effect-oauth\/client$/, replacement: path.join(root, "packages/client/src/index.ts") },
      { find: /^@effect-oauth\/client\/(.*)$/, replacement: path.join(root, "packages/client/src/$1.ts") },
      { find: /^@effect-oauth\/redis$/, replacement: path.join(root, "packages/redis/src/index.ts") },
      { find: /^@effect-oauth\/redis\/(.*)$/, replacement: path.join(root, "packages/redis/src/$1.ts") },
      { find: /^@effect-oauth\/test-server$/, replacement: path.join(root, "packages/test-server/src/index.ts") },
      { find: /^@effect-oauth\/test-server\/(.*)$/, replacement: path.join(root, "packages/test-server/src/$1.ts") },
      { find: /^@effect-oauth\/web$/, replacement: path.join(root, "packages/web/src/index.ts") },
      { find: /^@effect-oauth\/web\/(.*)$/, replacement: path.join(root, "packages/web/src/$1.ts") }
    ]
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
}
