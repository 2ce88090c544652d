import { requireCommand } from "../../../vitest.system.js"

/** Without chromium the browser tests are skipped with one line; with CI set the run fails. */
export default requireCommand({
  command: "chromium",
  tests: "browser tests",
  install: "apt-get install chromium"
})
