import { expect } from 'chai'
import { TopicSequences } from '../../src/redis/topic-sequences'

describe('TopicSequences', () => {
  it('counts 1, 2, 3 per topic, each topic on its own', () => {
    const sequences = new TopicSequences()
    expect([sequences.next('a'), sequences.next('a'), sequences.next('b'), sequences.next('a'), sequences.next('b')]).to.deep.equal([1, 2, 1, 3, 2])
  })

  it('remembers at most twice its capacity, keeping the counts of topics still in use', () => {
    const sequences = new TopicSequences(100)
    for (let i = 0; i < 10_000; i++) {
      sequences.next(`once:${i}`)
      if (i % 10 === 0) sequences.next('busy')
    }
    expect(sequences.size).to.be.at.most(200)
    expect(sequences.next('busy'), 'the busy topic kept counting across rotations').to.equal(1000 + 1)
  })

  it('starts a topic forgotten for a whole generation again at 1', () => {
    const sequences = new TopicSequences(2)
    sequences.next('old')
    sequences.next('old')
    for (const topic of ['x', 'y', 'z', 'w']) sequences.next(topic)
    expect(sequences.next('old')).to.equal(1)
  })
})
