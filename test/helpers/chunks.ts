// Shared by the framer tests: cut a byte stream into chunks at chosen offsets, and a seeded
// generator so that a failing random split can be replayed.

/** Deterministic PRNG (mulberry32) returning numbers in [0, 1). */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The chunks `data` falls into when cut at each offset in `cuts` (ascending). */
export function chunksAt(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    chunks.push(data.subarray(from, cut));
    from = cut;
  }
  return chunks;
}
