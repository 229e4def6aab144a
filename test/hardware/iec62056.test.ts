// IEC 62056-21 mode C messages are checked byte for byte, the BCC is recomputed here from the
// bytes as written, and the data block assembler is fed streams split at every chunk boundary.

import test from 'ava';
import {
  DataBlockAssembler,
  encodeAck,
  encodeDataBlock,
  encodeDataLine,
  encodeIdentification,
  encodeSignOn,
  mapMeterFields,
  meterFieldUnit,
  parseDataLines,
  parseIdentification,
  parseOptionSelect,
} from '../../hardware/iec62056/index.js';

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const toHex = (data: Uint8Array): string => Array.from(data, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(' ');
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

// A realistic readout (Landis+Gyr/Iskra style) to reuse across tests.
const readoutLines = [
  '0.0.0(12345678)',
  'C.1.0(00112233)',
  '1.8.0(001234.567*kWh)',
  '1.8.1(000800.000*kWh)',
  '1.8.2(000434.567*kWh)',
  '2.8.0(000012.300*kWh)',
  '1.7.0(00.512*kW)',
  '32.7.0(230.1*V)',
  '31.7.0(002.25*A)',
  'F.F(00000000)',
];

test('reader messages are byte-exact', (t) => {
  t.is(toHex(encodeSignOn()), '2F 3F 21 0D 0A');
  t.is(toHex(encodeSignOn('12345678')), toHex(bytes('/?12345678!\r\n')));
  t.is(toHex(encodeAck({ baudRate: 9600 })), '06 30 35 30 0D 0A');
  t.is(toHex(encodeAck({ baudRate: 300 })), '06 30 30 30 0D 0A');
  t.is(toHex(encodeAck({ baudRate: 19200, mode: 'programming' })), '06 30 36 31 0D 0A');
  t.throws(() => encodeSignOn('a!b'), { message: /^address must be/ });
  t.throws(() => encodeAck({ baudRate: 115200 }), { message: /^select\.baudRate must be one of 300, 600, 1200, 2400, 4800, 9600, 19200/ });
});

test('identification encodes and parses for every mode C baud character', (t) => {
  const rates = [300, 600, 1200, 2400, 4800, 9600, 19200];
  rates.forEach((baudRate, z) => {
    const frame = encodeIdentification({ manufacturer: 'ISk', baudRate, ident: 'MT174-0001' });
    t.is(toHex(frame), toHex(bytes(`/ISk${z}MT174-0001\r\n`)));
    t.deepEqual(parseIdentification(frame), {
      ok: true,
      manufacturer: 'ISk',
      fastReaction: true,
      baudChar: String(z),
      baudRate,
      ident: 'MT174-0001',
    });
  });
  t.like(parseIdentification('/LGZ4ZMF100AC.M29\r\n'), { manufacturer: 'LGZ', fastReaction: false, baudRate: 4800, ident: 'ZMF100AC.M29' });
  // Enhanced identification (`\2` = mode E capable) stays in the ident; CRLF already stripped is fine.
  t.like(parseIdentification('/ISK5\\2MT382-1000'), { baudRate: 9600, ident: '\\2MT382-1000' });
  // A stray byte from opening the port before the `/`.
  t.like(parseIdentification(concat(Uint8Array.of(0x00), bytes('/ELS6ABC\r\n'))), { manufacturer: 'ELS', baudRate: 19200 });
  t.throws(() => encodeIdentification({ manufacturer: 'IS', baudRate: 9600, ident: 'x' }), { message: /^identification\.manufacturer/ });
  t.throws(() => encodeIdentification({ manufacturer: 'ISK', baudRate: 9600, ident: 'a/b' }), { message: /^identification\.ident/ });
  t.throws(() => encodeIdentification({ manufacturer: 'ISK', baudRate: 110, ident: 'x' }), { message: /^identification\.baudRate/ });
});

test('bad identifications are typed failures', (t) => {
  const cases: Array<[string | Uint8Array, string]> = [
    ['/?!\r\n', 'echo'], // half-duplex heads echo the sign-on
    ['/ISK5\r\n', 'short'],
    ['ISK5MT174\r\n', 'format'],
    ['/I5K5MT174\r\n', 'format'],
    ['/ISKEMT174\r\n', 'baud'], // mode B letter
    ['/ISK9MT174\r\n', 'baud'],
    ['/ISK5MT!74\r\n', 'format'],
    [new Uint8Array(0), 'format'],
  ];
  for (const [line, reason] of cases) t.like(parseIdentification(line), { ok: false, reason }, String(line));
});

test('option select parses on the simulator side', (t) => {
  t.deepEqual(parseOptionSelect(encodeAck({ baudRate: 9600 })), {
    ok: true,
    protocolControl: '0',
    baudChar: '5',
    baudRate: 9600,
    mode: 'readout',
    modeChar: '0',
  });
  t.like(parseOptionSelect(encodeAck({ baudRate: 2400, mode: 'programming' })), { baudRate: 2400, mode: 'programming' });
  t.like(parseOptionSelect(Uint8Array.of(0x06, 0x30, 0x35, 0x32, 0x0d, 0x0a)), { mode: 'binary' });
  t.like(parseOptionSelect(Uint8Array.of(0x06, 0x30, 0x35)), { ok: false, reason: 'short' });
  t.like(parseOptionSelect(Uint8Array.of(0x15, 0x30, 0x35, 0x30, 0x0d, 0x0a)), { ok: false, reason: 'format' });
  t.like(parseOptionSelect(Uint8Array.of(0x06, 0x30, 0x37, 0x30, 0x0d, 0x0a)), { ok: false, reason: 'baud' });
});

test('data blocks are byte-exact with a BCC recomputed from the written bytes', (t) => {
  const block = encodeDataBlock(['1.8.0(001234.567*kWh)']);
  const body = bytes('1.8.0(001234.567*kWh)\r\n!\r\n');
  let bcc = 0;
  for (const b of body) bcc ^= b;
  bcc ^= 0x03; // ETX is included
  t.is(bcc, 0x7a);
  t.is(toHex(block), toHex(concat(Uint8Array.of(0x02), body, Uint8Array.of(0x03, bcc))));

  const corrupt = encodeDataBlock(['1.8.0(001234.567*kWh)'], { corruptBcc: true });
  t.is(toHex(corrupt.subarray(0, -1)), toHex(block.subarray(0, -1)));
  t.not(corrupt[corrupt.length - 1], bcc);
  t.throws(() => encodeDataBlock(['ok', 'bad\r\n']), { message: 'lines[1] must be printable ASCII without CR or LF' });
});

test('data lines format from items', (t) => {
  t.is(encodeDataLine({ code: '1-0:1.8.0', values: [{ value: '001234.567', unit: 'kWh' }] }), '1-0:1.8.0(001234.567*kWh)');
  t.is(encodeDataLine({ code: '0.9.1', values: [{ value: 123456 }] }), '0.9.1(123456)');
  t.is(encodeDataLine({ code: '1.6.0', values: [{ value: 5.2, unit: 'kW' }, { value: '2405061215' }] }), '1.6.0(5.2*kW)(2405061215)');
  t.throws(() => encodeDataLine({ code: '1.8.0', values: [] }), { message: /^item\.values/ });
  t.throws(() => encodeDataLine({ code: '1.8.0', values: [{ value: 'a(b' }] }), { message: /^item\.values\[0\]/ });
});

test('the assembler delivers a block split at every chunk boundary', (t) => {
  const block = encodeDataBlock(readoutLines);
  const expected = readoutLines.map((l) => `${l}\r\n`).join('') + '!\r\n';
  // Every pair of cut points (three chunks); mismatches are collected so 16k splits stay fast.
  const wrong: string[] = [];
  for (let a = 0; a <= block.length; a++) {
    for (let b = a; b <= block.length; b++) {
      const assembler = new DataBlockAssembler();
      const got = [block.subarray(0, a), block.subarray(a, b), block.subarray(b)].flatMap((c) => assembler.push(c));
      const { blocks, bccErrors, droppedBytes } = assembler.counters;
      if (got.length !== 1 || got[0]!.data !== expected || blocks !== 1 || bccErrors !== 0 || droppedBytes !== 0) {
        wrong.push(`${a}/${b}`);
      }
    }
  }
  t.deepEqual(wrong, []);
  // And byte by byte.
  const assembler = new DataBlockAssembler();
  const got = Array.from(block).flatMap((b) => assembler.push(Uint8Array.of(b)));
  t.deepEqual(got, [{ data: expected }]);
});

test('a corrupted BCC is counted and the block rejected, at every split', (t) => {
  const bad = encodeDataBlock(['1.8.0(1*kWh)'], { corruptBcc: true });
  const good = encodeDataBlock(['1.8.0(2*kWh)']);
  const stream = concat(bad, good);
  for (let split = 0; split <= stream.length; split++) {
    const assembler = new DataBlockAssembler();
    const got = [...assembler.push(stream.subarray(0, split)), ...assembler.push(stream.subarray(split))];
    t.deepEqual(got, [{ data: '1.8.0(2*kWh)\r\n!\r\n' }], `split ${split}`);
    t.deepEqual(assembler.counters, { blocks: 1, bccErrors: 1, droppedBytes: 0, oversized: 0 });
  }
  // A flipped data bit is caught the same way.
  const flipped = Uint8Array.from(good, (b, i) => (i === 3 ? b ^ 0x04 : b));
  const assembler = new DataBlockAssembler();
  t.deepEqual(assembler.push(flipped), []);
  t.is(assembler.counters.bccErrors, 1);
});

test('the assembler drops noise, echoes and blocks that lost their end', (t) => {
  const block = encodeDataBlock(['1.8.0(2*kWh)']);
  const echo = encodeAck({ baudRate: 9600 }); // the probe hearing our own option select: 6 bytes
  const lostEnd = bytes('\x021.8.0(1*k'); // STX + 9 bytes, then the meter restarts
  const assembler = new DataBlockAssembler();
  const got = assembler.push(concat(echo, lostEnd, block, bytes('\xff\x00')));
  t.deepEqual(got, [{ data: '1.8.0(2*kWh)\r\n!\r\n' }]);
  t.deepEqual(assembler.counters, { blocks: 1, bccErrors: 0, droppedBytes: 6 + 10 + 2, oversized: 0 });

  // A partial block abandoned by the reader's timeout.
  assembler.push(lostEnd);
  assembler.reset();
  t.is(assembler.counters.droppedBytes, 18 + 10);
  t.deepEqual(assembler.push(block), [{ data: '1.8.0(2*kWh)\r\n!\r\n' }]);
});

test('oversized blocks are abandoned and counted', (t) => {
  const assembler = new DataBlockAssembler({ maxBlockBytes: 8 });
  t.deepEqual(assembler.push(encodeDataBlock(['1.8.0(000001.000*kWh)'])), []);
  t.like(assembler.counters, { oversized: 1, blocks: 0 });
  const small = encodeDataBlock(['a(1)']); // 'a(1)\r\n!\r\n' is 9 bytes: still too long
  t.deepEqual(assembler.push(small), []);
  t.is(new DataBlockAssembler({ maxBlockBytes: 9 }).push(small).length, 1);
  t.throws(() => new DataBlockAssembler({ maxBlockBytes: 0 }), { message: /^options\.maxBlockBytes/ });
});

test('parity bits from a port opened 8N1 are stripped on request', (t) => {
  const block = encodeDataBlock(['1.8.0(2*kWh)']);
  // Even parity in bit 7, as a 7E1 line delivers it to an 8N1 port.
  const withParity = Uint8Array.from(block, (b) => {
    let ones = 0;
    for (let v = b; v; v >>= 1) ones += v & 1;
    return ones % 2 ? b | 0x80 : b;
  });
  t.deepEqual(new DataBlockAssembler().push(withParity), []);
  t.deepEqual(new DataBlockAssembler({ stripParity: true }).push(withParity), [{ data: '1.8.0(2*kWh)\r\n!\r\n' }]);
});

test('data lines parse into items with numbers as numbers', (t) => {
  const data = [
    '0.0.0(12345678)',
    '1-0:1.8.0(001234.567*kWh)',
    '1.8.0*01(001000.000*kWh)',
    '0.9.1(101500)0.9.2(240506)',
    '1.6.0(05.200*kW)(2405061215)',
    'P.01(2405061200)(00)(15)',
    '(0.123*kWh)(0.456*kWh)',
    'F.F(00000000)',
    '0.2.0(V1.2 beta)',
    '1.8.0(-12.5*kWh)',
    'C.90()',
    'broken(1*kWh',
    'no values here',
    '!',
    'after the end(1)',
  ].join('\r\n');
  const parsed = parseDataLines(data);
  t.deepEqual(parsed.items, [
    { code: '0.0.0', values: [{ value: 12345678, raw: '12345678' }] },
    { code: '1-0:1.8.0', values: [{ value: 1234.567, unit: 'kWh', raw: '001234.567' }] },
    { code: '1.8.0*01', values: [{ value: 1000, unit: 'kWh', raw: '001000.000' }] },
    { code: '0.9.1', values: [{ value: 101500, raw: '101500' }] },
    { code: '0.9.2', values: [{ value: 240506, raw: '240506' }] },
    { code: '1.6.0', values: [{ value: 5.2, unit: 'kW', raw: '05.200' }, { value: 2405061215, raw: '2405061215' }] },
    {
      code: 'P.01',
      values: [
        { value: 2405061200, raw: '2405061200' },
        { value: 0, raw: '00' },
        { value: 15, raw: '15' },
        { value: 0.123, unit: 'kWh', raw: '0.123' },
        { value: 0.456, unit: 'kWh', raw: '0.456' },
      ],
    },
    { code: 'F.F', values: [{ value: 0, raw: '00000000' }] },
    { code: '0.2.0', values: [{ value: 'V1.2 beta', raw: 'V1.2 beta' }] },
    { code: '1.8.0', values: [{ value: -12.5, unit: 'kWh', raw: '-12.5' }] },
    { code: 'C.90', values: [{ value: '', raw: '' }] },
  ]);
  t.deepEqual(parsed.malformed, ['broken(1*kWh', 'no values here']);
  t.true(parsed.complete);
  t.false(parseDataLines('1.8.0(1*kWh)\r\n').complete);
  t.deepEqual(parseDataLines('(1)\r\n!\r\n'), { items: [], malformed: ['(1)'], complete: true });
});

test('common codes map to named fields in their units, the rest stays raw', (t) => {
  const { items } = parseDataLines(encodeDataBlockText(readoutLines));
  const { fields, unmapped } = mapMeterFields(items);
  t.deepEqual(fields, {
    energyImportTotal: 1234.567,
    energyImportTariff1: 800,
    energyImportTariff2: 434.567,
    energyExportTotal: 12.3,
    powerImport: 0.512,
    voltageL1: 230.1,
    currentL1: 2.25,
  });
  t.deepEqual(unmapped.map((i) => i.code), ['0.0.0', 'C.1.0', 'F.F']);
  // The serial number keeps its leading zeros in raw.
  t.is(unmapped[1]!.values[0]!.raw, '00112233');
});

test('field mapping converts units, ignores history and other media, keeps the first value', (t) => {
  const { items } = parseDataLines(
    [
      '1-0:1.8.0(12345678*Wh)', // Wh → kWh
      '1-1:2.8.3(5*MWh)', // channel B is irrelevant
      '1-0:2.7.0(1500*W)',
      '52.7.0(231.0)', // no unit: the field's own
      '72.7.0(0.2305*kV)',
      '71.7.0(1500*mA)',
      '14.7.0(49.98*Hz)',
      '1.8.0(1*kWh)', // duplicate: first wins
      '1-0:1.8.0*12(999*kWh)', // billing period 12: history
      '1-0:1.8.0&03(999*kWh)',
      '7-0:1.8.0(999*kWh)', // medium 7 is gas
      '1.8.1(1*kvarh)', // a unit we can't convert
      '1.8.2(n/a*kWh)', // not a number
      '1.8.10(1*kWh)', // tariffs beyond 9 are not named
      '!',
    ].join('\r\n'),
  );
  const { fields, unmapped } = mapMeterFields(items);
  t.deepEqual(fields, {
    energyImportTotal: 12345.678,
    energyExportTariff3: 5000,
    powerExport: 1.5,
    voltageL2: 231,
    voltageL3: 230.5,
    currentL3: 1.5,
    frequency: 49.98,
  });
  t.deepEqual(unmapped.map((i) => i.code), [
    '1.8.0', '1-0:1.8.0*12', '1-0:1.8.0&03', '7-0:1.8.0', '1.8.1', '1.8.2', '1.8.10',
  ]);
  t.is(meterFieldUnit('energyImportTariff4'), 'kWh');
  t.is(meterFieldUnit('powerExport'), 'kW');
  t.is(meterFieldUnit('currentL2'), 'A');
  t.is(meterFieldUnit('frequency'), 'Hz');
});

test('a full readout round-trips: simulator lines → block → stream → fields', (t) => {
  const lines = [
    encodeDataLine({ code: '1-0:1.8.0', values: [{ value: '004321.000', unit: 'kWh' }] }),
    encodeDataLine({ code: '1-0:2.8.0', values: [{ value: '000010.500', unit: 'kWh' }] }),
    encodeDataLine({ code: '1-0:32.7.0', values: [{ value: 229.9, unit: 'V' }] }),
  ];
  const stream = concat(encodeIdentification({ manufacturer: 'ABC', baudRate: 9600, ident: 'SIM' }), encodeDataBlock(lines));
  const assembler = new DataBlockAssembler();
  const blocks = Array.from(stream).flatMap((b) => assembler.push(Uint8Array.of(b)));
  t.is(blocks.length, 1);
  t.is(assembler.counters.droppedBytes, '/ABC5SIM\r\n'.length);
  const { items, complete } = parseDataLines(blocks[0]!.data);
  t.true(complete);
  t.deepEqual(mapMeterFields(items).fields, { energyImportTotal: 4321, energyExportTotal: 10.5, voltageL1: 229.9 });
});

function encodeDataBlockText(lines: string[]): string {
  const block = encodeDataBlock(lines);
  return Buffer.from(block.subarray(1, -2)).toString('latin1');
}
