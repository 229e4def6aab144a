// A 48-bit millisecond timestamp drawn as a barcode into the top of an I420 frame's Y plane, for
// measuring glass-to-glass latency (bench/webrtc, the test camera's webrtc.burnTimestamp).
//
// The code spans the whole width: 48 square blocks, most significant bit first, white for 1 and
// black for 0. Sizes are fractions of the width, so a frame the sender's encoder scaled down still
// reads back; the reader averages the middle of each block and thresholds at mid-grey, so encoder
// noise and blurred block edges do not flip bits.

/** Bits in the code: Date.now() fits 48 bits until the year 10889. */
export const TIMESTAMP_BITS = 48;

const BLACK = 16;
const WHITE = 235;

/** Writes `ms` into the top rows of the Y plane of `frame` (I420, `width` pixels wide), in place. */
export function burnTimestamp(frame: Uint8Array, width: number, ms: number): void {
  const block = width / TIMESTAMP_BITS;
  const rows = Math.max(1, Math.round(block));
  if (frame.length < width * rows) throw new RangeError(`the frame is too small for a ${width}-pixel-wide timestamp code`);
  for (let bit = 0; bit < TIMESTAMP_BITS; bit++) {
    const value = Math.floor(ms / 2 ** (TIMESTAMP_BITS - 1 - bit)) % 2 === 1 ? WHITE : BLACK;
    const from = Math.floor(bit * block);
    const to = Math.floor((bit + 1) * block);
    for (let row = 0; row < rows; row++) frame.fill(value, row * width + from, row * width + to);
  }
}

/** Reads the timestamp {@link burnTimestamp} wrote into a frame `width` pixels wide (possibly rescaled). */
export function readTimestamp(frame: Uint8Array, width: number): number {
  const block = width / TIMESTAMP_BITS;
  // The middle half of each block in both directions: its edges bleed into the neighbours.
  const inset = block / 4;
  const rowFrom = Math.floor(inset);
  const rowTo = Math.max(rowFrom + 1, Math.ceil(block - inset));
  let ms = 0;
  for (let bit = 0; bit < TIMESTAMP_BITS; bit++) {
    const from = Math.floor(bit * block + inset);
    const to = Math.max(from + 1, Math.ceil((bit + 1) * block - inset));
    let sum = 0;
    for (let row = rowFrom; row < rowTo; row++) for (let x = from; x < to; x++) sum += frame[row * width + x]!;
    const one = sum / ((rowTo - rowFrom) * (to - from)) > (BLACK + WHITE) / 2;
    ms = ms * 2 + (one ? 1 : 0);
  }
  return ms;
}
