// Values whose encoding differs between the JSON and CBOR wire formats. Handlers put these in
// responses; each codec encodes them its own way (JSON through toJSON, CBOR through extensions).

/** A point in time: epoch seconds with a fraction in JSON, tag 1 with integer epoch ms in CBOR. */
export class Timestamp {
  constructor(readonly ms: number) {}
  toJSON(): number {
    return this.ms / 1000;
  }
}

/** Binary data, held as base64: base64 text in JSON, a byte string in CBOR. */
export class Blob {
  constructor(readonly base64: string) {}
  toJSON(): string {
    return this.base64;
  }
}
