/**
 * mulberry32: a tiny seeded PRNG returning floats in [0, 1), so randomized specs, e2e
 * scenarios and benchmarks replay the same operations on every run: the project's one seeded
 * generator. Test support only: excluded from the build.
 */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A string of 0 to `most - 1` pieces, each drawn from `pieces`, joined: one draw of `random`
 * for the count, then one per piece.
 */
export function randomString(
  random: () => number,
  pieces: readonly string[],
  most: number,
): string {
  let text = '';
  const count = Math.floor(random() * most);
  for (let i = 0; i < count; i++)
    text += pieces[Math.floor(random() * pieces.length)]!;
  return text;
}
