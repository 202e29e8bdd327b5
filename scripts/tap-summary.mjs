// Reads turbo's prefixed output of every package's tap run ("@wss/api:test: <tap line>") and counts
// tests and assertions apart. A test is a top-level subtest of a test file (depth 1 under the file's
// own line); an assertion is what tap's closing "# { total: N, pass: N, ... }" counts.

const PREFIXED = /^(\S+?):test: ?(.*)$/
const SUMMARY = /^# \{ (total: .*) \}\s*$/
const FILE_START = /^# Subtest: (.*)$/
const FILE_END = /^(not )?ok \d+ - (.*?)(?: # .*)?$/
const TEST_START = /^ {4}# Subtest: (.*)$/
const TEST_END = /^ {4}(not )?ok \d+(?: - (.*))?$/

function directive (rest) {
  // "name # time=12ms", "name # SKIP why", "name # TODO later"; a '#' inside the name is escaped.
  const i = rest.search(/(?<!\\) # /)
  return i < 0 ? { name: rest, tail: '' } : { name: rest.slice(0, i), tail: rest.slice(i + 3) }
}

/**
 * Counts what the tap runs in `output` report. `packages`: the packages whose tests ran; any of them
 * without a tap summary crashed before reporting and is listed in `missing`.
 */
export function summarize (output, packages = []) {
  const tests = { passed: 0, failed: 0, skipped: 0 }
  const assertions = { passed: 0, failed: 0, skipped: 0 }
  const seen = new Set()
  const failedFiles = []
  const state = new Map() // package → { pending: Set<name>, failedInFile: number }
  for (const raw of output.split('\n')) {
    const prefixed = PREFIXED.exec(raw)
    if (!prefixed) continue
    const [, pkg, line] = prefixed
    let s = state.get(pkg)
    if (!s) state.set(pkg, s = { pending: new Set(), failedInFile: 0 })

    const summary = SUMMARY.exec(line)
    if (summary) {
      seen.add(pkg)
      const counts = Object.fromEntries(summary[1].split(', ').map(kv => { const [k, v] = kv.split(': '); return [k, Number(v)] }))
      assertions.passed += counts.pass ?? 0
      assertions.failed += counts.fail ?? 0
      assertions.skipped += (counts.skip ?? 0) + (counts.todo ?? 0)
      continue
    }
    if (FILE_START.test(line)) { s.pending.clear(); s.failedInFile = 0; continue }
    const started = TEST_START.exec(line)
    if (started) { s.pending.add(started[1]); continue }
    const ended = TEST_END.exec(line)
    if (ended) {
      const { name, tail } = directive(ended[2] ?? '')
      // Assertions made directly in a file sit at this depth too; a subtest announced itself or took time.
      if (!s.pending.delete(name) && !/^(time=|SKIP|TODO)/i.test(tail)) continue
      if (/^(SKIP|TODO)/i.test(tail)) tests.skipped++
      else if (ended[1]) { tests.failed++; s.failedInFile++ } else tests.passed++
      continue
    }
    const file = FILE_END.exec(line)
    if (file && file[1]) {
      // A file that failed outside its subtests (a crash, a failing top-level assertion) is one failed test.
      failedFiles.push(`${pkg} ${file[2]}`)
      if (s.failedInFile === 0) tests.failed++
      s.failedInFile = 0
    }
  }
  const missing = packages.filter(p => !seen.has(p))
  return { tests, assertions, missing, failedFiles }
}
