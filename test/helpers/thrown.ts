import { expect } from 'chai'

/** The error `fn` throws, checked to be a `type`; fails with `otherwise` when it throws nothing. */
export function thrown<E extends Error>(type: abstract new (...args: never[]) => E, fn: () => unknown, otherwise: string): E {
  try {
    fn()
  } catch (err) {
    expect(err).to.be.instanceOf(type)
    return err as E
  }
  return expect.fail(otherwise)
}
