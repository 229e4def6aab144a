// The unconsumed tail of a byte stream, addressed by absolute stream offset. Chunks are copied
// into one growing buffer so that pushing many tiny chunks stays linear, and a reader can look at
// any retained range without concatenating chunk lists.

const MIN_CAPACITY = 64 * 1024;

/** Bytes from `start` to `end` (absolute stream offsets) of a stream being received. */
export class ByteWindow {
  private buffer = new Uint8Array(MIN_CAPACITY);
  private head = 0;
  private tail = 0;
  /** Absolute offset of the first retained byte. */
  private base = 0;
  /** Incoming bytes before this absolute offset are dropped (after a discard past the end). */
  private dropUntil = 0;

  /** Absolute offset of the first retained byte. */
  get start(): number {
    return this.base;
  }

  /** Absolute offset just past the last byte received and kept. */
  get end(): number {
    return this.base + this.tail - this.head;
  }

  append(chunk: Uint8Array): void {
    if (this.dropUntil > this.base) {
      const dropped = Math.min(this.dropUntil - this.base, chunk.length);
      this.base += dropped;
      chunk = chunk.subarray(dropped);
    }
    if (chunk.length === 0) return;
    if (this.tail + chunk.length > this.buffer.length) {
      const used = this.tail - this.head;
      const needed = used + chunk.length;
      // Grow to twice what is needed (amortised copying); shrink back once a large element is gone.
      const resize = needed > this.buffer.length / 2 || (this.buffer.length > MIN_CAPACITY && needed * 8 < this.buffer.length);
      const target = resize ? new Uint8Array(Math.max(MIN_CAPACITY, needed * 2)) : this.buffer;
      if (target === this.buffer) this.buffer.copyWithin(0, this.head, this.tail);
      else target.set(this.buffer.subarray(this.head, this.tail));
      this.buffer = target;
      this.head = 0;
      this.tail = used;
    }
    this.buffer.set(chunk, this.tail);
    this.tail += chunk.length;
  }

  /** A view of [from, to) (absolute); valid until the next append or discard. */
  view(from: number, to: number): Uint8Array {
    if (from < this.base || to > this.end || from > to) throw new RangeError(`range ${from}..${to} is outside the window ${this.base}..${this.end}`);
    return this.buffer.subarray(this.head + from - this.base, this.head + to - this.base);
  }

  /** Drops everything before `offset` (absolute); an offset past the end drops incoming bytes up to it. */
  discardTo(offset: number): void {
    if (offset <= this.base) return;
    if (offset >= this.end) {
      this.base = this.end;
      this.head = this.tail = 0;
      this.dropUntil = offset;
      return;
    }
    this.head += offset - this.base;
    this.base = offset;
  }
}
