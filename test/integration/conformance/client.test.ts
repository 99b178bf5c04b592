import { expect } from 'chai'
import type { CaseResult } from './case-run'
import { allCases, selectCases } from './cases'
import { FuzzingServer } from './fuzzing-server'
import { groups, informationalCases } from './groups'
import { listProblems } from './report'
import { runEchoClient } from './targets'

const timeScale = 0.5

const acceptable = (result: CaseResult): boolean =>
  result.strictNotes.length === 0 &&
  (informationalCases.has(result.id) ? result.verdict === 'INFORMATIONAL' : result.verdict === 'OK')

describe('conformance: the core client (connect()), graded like Autobahn|Testsuite by our fuzzing server', function () {
  this.timeout(120_000)

  for (const [group, name] of groups) {
    it(`grades every case of group ${group} (${name}) OK`, async () => {
      // The compression groups' long cases (over 8 KiB) run in `npm run conformance` only.
      const cases = selectCases(allCases, [`${group}.*`], true).filter((definition) => definition.deflate === undefined || !definition.fullOnly)
      const fuzzer = new FuzzingServer(cases, { timeScale })
      try {
        const url = await fuzzer.listen()
        const reports = fuzzer.reports('gatewire')
        await runEchoClient(url, 'gatewire')
        const results = await reports
        const missing = cases.filter((definition) => !results.some((result) => result.id === definition.id)).map((definition) => definition.id)
        expect(missing, 'cases the client never ran').to.deep.equal([])
        const problems = listProblems(results, acceptable)
        expect(problems, `client cases not OK:\n${problems}`).to.equal('')
      } finally {
        await fuzzer.close()
      }
    })
  }
})
