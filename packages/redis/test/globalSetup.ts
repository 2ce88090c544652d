import { requireCommand } from "../../../vitest.system.js"

/** Without redis-server the Redis integration tests are skipped with one line; with CI set the run fails. */
export default requireCommand({
  command: "redis-server",
  tests: "Redis integration tests",
  install: "apt-get install redis-server"
})
