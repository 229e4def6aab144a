// I420 frame arithmetic for the live view (pure).

/** Bytes of an I420 frame: a full-size Y plane and two quarter-size chroma planes. */
export function i420Size(width: number, height: number): number {
  return width * height + 2 * (width / 2) * (height / 2);
}

/**
 * The frame at half width and half height (height rounded down to even), by taking every other
 * pixel of every other row: the cheapest scaling there is, for when the CPU is what is short.
 */
export function halveI420(frame: Uint8Array, width: number, height: number): { data: Uint8Array; width: number; height: number } {
  const outWidth = width >> 1;
  const outHeight = (height >> 1) & ~1;
  const out = new Uint8Array(i420Size(outWidth, outHeight));
  const plane = (from: number, stride: number, to: number, outStride: number, rows: number) => {
    for (let y = 0; y < rows; y++) {
      const source = from + 2 * y * stride;
      const target = to + y * outStride;
      for (let x = 0; x < outStride; x++) out[target + x] = frame[source + 2 * x]!;
    }
  };
  const ySize = width * height;
  const chromaSize = (width / 2) * (height / 2);
  const outYSize = outWidth * outHeight;
  const outChromaSize = (outWidth / 2) * (outHeight / 2);
  plane(0, width, 0, outWidth, outHeight);
  plane(ySize, width / 2, outYSize, outWidth / 2, outHeight / 2);
  plane(ySize + chromaSize, width / 2, outYSize + outChromaSize, outWidth / 2, outHeight / 2);
  return { data: out, width: outWidth, height: outHeight };
}
