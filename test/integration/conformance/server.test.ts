import { expect } from 'chai'
import type { CaseResult } from './case-run'
import { allCases, selectCases } from './cases'
import { runServerCases } from './fuzzing-client'
import { groups, informationalCases } from './groups'
import { listProblems } from './report'
import { startEchoServer, type Target } from './targets'

// The pauses the cases take (5.19/5.20, 6.4.x) at half length: a correct peer answers in
// milliseconds, and `npm run conformance` runs them at full length.
const timeScale = 0.5

const acceptable = (result: CaseResult): boolean =>
  result.strictNotes.length === 0 &&
  (informationalCases.has(result.id) ? result.verdict === 'INFORMATIONAL' : result.verdict === 'OK')

describe('conformance: the core echo server, graded like Autobahn|Testsuite by our fuzzing client', function () {
  this.timeout(120_000)
  let target: Target

  before(async () => {
    target = await startEchoServer()
  })

  after(async () => {
    await target.close()
  })

  for (const [group, name] of groups) {
    it(`grades every case of group ${group} (${name}) OK`, async () => {
      // The compression groups' long cases (over 8 KiB) run in `npm run conformance` only.
      const cases = selectCases(allCases, [`${group}.*`], true).filter((definition) => definition.deflate === undefined || !definition.fullOnly)
      const results = await runServerCases(target.url, cases, { timeScale })
      expect(results).to.have.length(cases.length)
      const problems = listProblems(results, acceptable)
      expect(problems, `server cases not OK:\n${problems}`).to.equal('')
    })
  }
})
