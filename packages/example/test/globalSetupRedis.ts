import { requireCommand } from "../../../vitest.system.js"

/** Without redis-server the fleet's browser tests are skipped with one line; with CI set the run fails. */
export default requireCommand({
  command: "redis-server",
  tests: "the fleet's browser tests",
  install: "apt-get install redis-server"
})
