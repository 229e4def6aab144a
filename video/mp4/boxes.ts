// ISO BMFF box writing into one preallocated buffer: a box's size is patched in when it closes,
// so nested boxes are written in one pass without building child arrays and concatenating.

/** Writes big-endian fields and nested boxes into a buffer of known capacity. */
export class BoxWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private position = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Bytes written so far. */
  get offset(): number {
    return this.position;
  }

  u8(value: number): this {
    this.view.setUint8(this.position, value);
    this.position += 1;
    return this;
  }

  u16(value: number): this {
    this.view.setUint16(this.position, value);
    this.position += 2;
    return this;
  }

  u32(value: number): this {
    this.view.setUint32(this.position, value);
    this.position += 4;
    return this;
  }

  /** A 64-bit field from a non-negative safe integer (media times in 90 kHz ticks exceed 32 bits). */
  u64(value: number): this {
    this.view.setUint32(this.position, Math.floor(value / 2 ** 32));
    this.view.setUint32(this.position + 4, value % 2 ** 32);
    this.position += 8;
    return this;
  }

  /** `count` zero bytes (reserved fields; the buffer starts zeroed). */
  zeros(count: number): this {
    this.position += count;
    return this;
  }

  data(bytes: Uint8Array): this {
    this.bytes.set(bytes, this.position);
    this.position += bytes.length;
    return this;
  }

  /** A four-character code. */
  fourcc(code: string): this {
    for (let i = 0; i < 4; i++) this.bytes[this.position + i] = code.charCodeAt(i);
    this.position += 4;
    return this;
  }

  /** Opens a box; its size is filled in by the matching end(). Returns the box's start for end(). */
  begin(type: string): number {
    const start = this.position;
    this.zeros(4).fourcc(type);
    return start;
  }

  /** Opens a FullBox (version and 24-bit flags after the type). */
  beginFull(type: string, version: number, flags: number): number {
    const start = this.begin(type);
    this.u8(version).u8(flags >>> 16).u16(flags & 0xffff);
    return start;
  }

  end(start: number): this {
    this.view.setUint32(start, this.position - start);
    return this;
  }

  /** The bytes written (a view when the buffer was sized larger than needed). */
  finish(): Uint8Array {
    return this.position === this.bytes.length ? this.bytes : this.bytes.subarray(0, this.position);
  }
}
