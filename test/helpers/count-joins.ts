/** How many times `run` makes Buffer.concat join buffers. */
export function countJoins(run: () => void): number {
  const concat = Buffer.concat
  let joins = 0
  Buffer.concat = (...args: Parameters<typeof concat>) => {
    joins++
    return concat(...args)
  }
  try {
    run()
  } finally {
    Buffer.concat = concat
  }
  return joins
}
