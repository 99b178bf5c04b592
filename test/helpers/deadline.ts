import { AssertionError } from 'chai'

/**
 * Resolves as `promise` does, or fails with "<what> did not happen within <ms> ms" first: a
 * broken behaviour fails with a clear assertion instead of mocha's generic timeout.
 */
export function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AssertionError(`${what} did not happen within ${ms} ms`)), ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}
