// EBML primitives byte for byte: element sizes of every length (known and unknown), element ids,
// payload decoding, element writing, and walking the children of a master element.

import test from 'ava';
import {
  EbmlError,
  MkvId,
  UNKNOWN_SIZE,
  children,
  element,
  encodeElementId,
  encodeVint,
  floatElement,
  readBigUint,
  readElementId,
  readElementSize,
  readFloat,
  readString,
  readUint,
  stringElement,
  uintElement,
} from '../../video/ebml/index.js';

const hex = (text: string): Uint8Array => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// [encoding, value]: the shortest encoding of each value, at each length's edges.
const SIZES: [string, number][] = [
  ['80', 0],
  ['81', 1],
  ['fe', 126],
  ['407f', 127],
  ['7ffe', 16382],
  ['203fff', 16383],
  ['3ffffe', 2 ** 21 - 2],
  ['101fffff', 2 ** 21 - 1],
  ['1ffffffe', 2 ** 28 - 2],
  ['080fffffff', 2 ** 28 - 1],
  ['0ffffffffe', 2 ** 35 - 2],
  ['0407ffffffff', 2 ** 35 - 1],
  ['07fffffffffe', 2 ** 42 - 2],
  ['0203ffffffffff', 2 ** 42 - 1],
  ['03fffffffffffe', 2 ** 49 - 2],
  ['0101ffffffffffff', 2 ** 49 - 1],
  ['011fffffffffffff', Number.MAX_SAFE_INTEGER],
];

test('element sizes of 1 to 8 bytes decode and encode byte for byte', (t) => {
  for (const [encoding, value] of SIZES) {
    const bytes = hex(encoding);
    t.deepEqual(readElementSize(bytes, 0), { value, length: bytes.length }, encoding);
    t.is(toHex(encodeVint(value)), encoding, String(value));
  }
});

test('a size can be written longer than needed, as muxers do to patch it later', (t) => {
  t.is(toHex(encodeVint(5, 8)), '0100000000000005');
  t.is(toHex(encodeVint(300, 2)), '412c');
  t.deepEqual(readElementSize(hex('0100000000000005'), 0), { value: 5, length: 8 });
  t.throws(() => encodeVint(127, 1), { instanceOf: RangeError });
  t.throws(() => encodeVint(-1), { instanceOf: RangeError });
  t.throws(() => encodeVint(1.5), { instanceOf: RangeError });
});

test('all value bits set means unknown size, at every length', (t) => {
  for (const encoding of ['ff', '7fff', '3fffff', '1fffffff', '0fffffffff', '07ffffffffff', '03ffffffffffff', '01ffffffffffffff']) {
    t.deepEqual(readElementSize(hex(encoding), 0), { value: null, length: encoding.length / 2 }, encoding);
  }
  t.is(toHex(UNKNOWN_SIZE), '01ffffffffffffff');
});

test('a size cut short reads as undefined and a 0x00 first byte is an EbmlError', (t) => {
  t.is(readElementSize(hex('40'), 0), undefined);
  t.is(readElementSize(hex('01ffffffffffff'), 0), undefined);
  t.is(readElementSize(hex(''), 0), undefined);
  t.deepEqual(readElementSize(hex('00 81'), 1), { value: 1, length: 1 });
  const error = t.throws(() => readElementSize(hex('aa00'), 1), { instanceOf: EbmlError });
  t.is(error.offset, 1);
});

test('element ids keep their marker bits and are 1 to 4 bytes long', (t) => {
  const ids: [string, number][] = [
    ['a3', MkvId.SimpleBlock],
    ['bf', MkvId.CRC32],
    ['4282', MkvId.DocType],
    ['2ad7b1', MkvId.TimecodeScale],
    ['23e383', MkvId.DefaultDuration],
    ['1a45dfa3', MkvId.EBML],
    ['18538067', MkvId.Segment],
    ['1f43b675', MkvId.Cluster],
    ['1254c367', MkvId.Tags],
  ];
  for (const [encoding, id] of ids) {
    t.deepEqual(readElementId(hex(encoding), 0), { value: id, length: encoding.length / 2 }, encoding);
    t.is(toHex(encodeElementId(id)), encoding);
  }
  t.is(readElementId(hex('1a45df'), 0), undefined);
  t.throws(() => readElementId(hex('08 00 00 00 01'), 0), { instanceOf: EbmlError, message: /invalid element id/ });
  t.throws(() => readElementId(hex('00'), 0), { instanceOf: EbmlError });
  t.throws(() => encodeElementId(0x1f43b6), { instanceOf: RangeError }); // marker says 4 bytes, value has 3
});

test('payloads decode by type', (t) => {
  t.is(readUint(hex('')), 0);
  t.is(readUint(hex('0f4240')), 1_000_000);
  t.is(readUint(hex('001fffffffffffff')), Number.MAX_SAFE_INTEGER);
  t.throws(() => readUint(hex('ffffffffffffffff')), { instanceOf: EbmlError });
  t.is(readBigUint(hex('d7a8f1c4b3e2a10d')), 0xd7a8f1c4b3e2a10dn);
  t.throws(() => readBigUint(hex('010000000000000000')), { instanceOf: EbmlError });
  t.is(readFloat(hex('')), 0);
  t.is(readFloat(hex('40490fdb')), Math.fround(Math.PI));
  t.is(readFloat(hex('400921fb54442d18')), Math.PI);
  t.throws(() => readFloat(hex('0102')), { instanceOf: EbmlError });
  t.is(readString(hex('6d6174726f736b61')), 'matroska');
  t.is(readString(hex('776562 6d 0000')), 'webm');
  t.is(readString(hex('c3a9')), 'é');
});

test('elements are written byte for byte', (t) => {
  t.is(toHex(uintElement(MkvId.TrackNumber, 1)), 'd78101');
  t.is(toHex(uintElement(MkvId.TrackNumber, 0)), 'd78100');
  t.is(toHex(uintElement(MkvId.TimecodeScale, 1_000_000)), '2ad7b1830f4240');
  t.is(toHex(uintElement(MkvId.TrackUID, 0xd7a8f1c4b3e2a10dn)), '73c588d7a8f1c4b3e2a10d');
  t.is(toHex(stringElement(MkvId.DocType, 'webm')), '4282847765626d');
  t.is(toHex(floatElement(MkvId.Duration, 1)), '4489883ff0000000000000');
  t.is(toHex(element(MkvId.Targets)), '63c080');
  t.is(toHex(element(MkvId.Void, new Uint8Array(127))), 'ec407f' + '00'.repeat(127));
  t.throws(() => uintElement(MkvId.TrackNumber, -1), { instanceOf: RangeError });
});

test('the children of a master element come back in order with their payloads', (t) => {
  const master = element(MkvId.TrackEntry, uintElement(MkvId.TrackNumber, 1), stringElement(MkvId.CodecID, 'V_MPEG4/ISO/AVC'), element(MkvId.Video, uintElement(MkvId.PixelWidth, 320)));
  const payload = master.subarray(2);
  const found = [...children(payload)].map((child) => ({ id: child.id, offset: child.offset, payload: toHex(child.payload) }));
  t.deepEqual(found, [
    { id: MkvId.TrackNumber, offset: 0, payload: '01' },
    { id: MkvId.CodecID, offset: 3, payload: Buffer.from('V_MPEG4/ISO/AVC').toString('hex') },
    { id: MkvId.Video, offset: 20, payload: 'b0820140' },
  ]);
  const overrun = t.throws(() => [...children(hex('d78101 86 85 4142'))], { instanceOf: EbmlError, message: /overruns its parent/ });
  t.is(overrun.offset, 3);
  t.throws(() => [...children(hex('d78101 86'))], { instanceOf: EbmlError, message: /cut off/ });
  t.throws(() => [...children(hex('a0 ff a1 81 00'))], { instanceOf: EbmlError, message: /unknown size/ });
});
