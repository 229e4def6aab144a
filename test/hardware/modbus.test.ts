// Modbus RTU frames are checked byte for byte against published examples (the Modbus spec's own
// and the common SDM read) and against CRCs computed here from hand-written bytes, then round
// tripped master ⇄ slave so the simulator and the reader can't drift apart.

import test from 'ava';
import { crc16Modbus } from '../../hardware/crc16.js';
import {
  BYTE_ORDERS,
  REGISTER_TYPES,
  ResponseAssembler,
  SDM120_MAP,
  SDM630_MAP,
  decodeGroup,
  decodeValue,
  encodeExceptionResponse,
  encodeReadRequest,
  encodeReadResponse,
  encodeReadings,
  encodeValue,
  expectedResponseLength,
  interFrameSilenceMs,
  parseReadRequest,
  parseReadResponse,
  planReads,
  registerCount,
  validateRegisterMap,
  withCrc,
  type ByteOrder,
  type FrameFailureReason,
  type ModbusExceptionName,
  type ReadRequest,
  type RegisterMapEntry,
  type RegisterType,
} from '../../hardware/modbus/index.js';

const hex = (text: string): Uint8Array => Uint8Array.from(text.trim().split(/\s+/), (b) => parseInt(b, 16));
const toHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(' ');

const sdmRead: ReadRequest = { address: 1, function: 4, start: 0, count: 2 };

test('request frames match published bytes', (t) => {
  const table: Array<[ReadRequest, string]> = [
    // The read every SDM tutorial shows: voltage, input register 0, two registers.
    [sdmRead, '01 04 00 00 00 02 71 CB'],
    [{ address: 1, function: 3, start: 0, count: 10 }, '01 03 00 00 00 0A C5 CD'],
    // Modbus Application Protocol spec example: slave 17, holding registers 108–110.
    [{ address: 0x11, function: 3, start: 0x6b, count: 3 }, '11 03 00 6B 00 03 76 87'],
  ];
  for (const [request, bytes] of table) t.is(toHex(encodeReadRequest(request)), bytes);
});

test('a CRC computed independently over hand-written bytes, low byte first', (t) => {
  const body = [0x02, 0x04, 0x01, 0x56, 0x00, 0x02]; // SDM630 total kWh from slave 2
  const crc = crc16Modbus(Uint8Array.from(body));
  t.deepEqual(
    encodeReadRequest({ address: 2, function: 4, start: 0x0156, count: 2 }),
    Uint8Array.from([...body, crc & 0xff, crc >> 8]),
  );
  t.deepEqual(withCrc(body), Uint8Array.from([...body, crc & 0xff, crc >> 8]));
});

test('response frames match published bytes', (t) => {
  // Modbus spec: slave 17 returns 0x022B, 0x0000, 0x0064.
  t.is(
    toHex(encodeReadResponse({ address: 0x11, function: 3, registers: [0x022b, 0x0000, 0x0064] })),
    toHex(withCrc(hex('11 03 06 02 2B 00 00 00 64'))),
  );
  t.is(toHex(encodeReadResponse({ address: 0x11, function: 3, registers: [0xae41, 0x5652, 0x4340] })), '11 03 06 AE 41 56 52 43 40 49 AD');
  t.is(toHex(encodeExceptionResponse({ address: 1, function: 3, exception: 'ILLEGAL_DATA_ADDRESS' })), '01 83 02 C0 F1');
  t.is(toHex(encodeExceptionResponse({ address: 1, function: 4, exception: 2 })), '01 84 02 C2 C1');
});

test('corrupted CRCs are sent on request and rejected as crc', (t) => {
  const request = encodeReadRequest(sdmRead, { corruptCrc: true });
  t.is(toHex(request.subarray(0, 6)), '01 04 00 00 00 02');
  t.not(toHex(request), '01 04 00 00 00 02 71 CB');
  t.like(parseReadRequest(request), { ok: false, reason: 'crc' });
  const response = encodeReadResponse({ address: 1, function: 4, registers: [0x4366, 0] }, { corruptCrc: true });
  t.like(parseReadResponse(sdmRead, response), { ok: false, reason: 'crc' });
  const exception = encodeExceptionResponse({ address: 1, function: 4, exception: 4 }, { corruptCrc: true });
  t.like(parseReadResponse(sdmRead, exception), { ok: false, reason: 'crc' });
});

test('a normal response parses to its registers', (t) => {
  const frame = hex('01 04 04 43 66 00 00');
  const result = parseReadResponse(sdmRead, withCrc(frame));
  t.deepEqual(result, { ok: true, kind: 'registers', address: 1, function: 4, registers: [0x4366, 0x0000] });
});

test('exception responses parse to their names', (t) => {
  const names: Array<[number, ModbusExceptionName | 'UNKNOWN']> = [
    [1, 'ILLEGAL_FUNCTION'],
    [2, 'ILLEGAL_DATA_ADDRESS'],
    [3, 'ILLEGAL_DATA_VALUE'],
    [4, 'SLAVE_DEVICE_FAILURE'],
    [5, 'ACKNOWLEDGE'],
    [6, 'SLAVE_DEVICE_BUSY'],
    [8, 'MEMORY_PARITY_ERROR'],
    [10, 'GATEWAY_PATH_UNAVAILABLE'],
    [11, 'GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND'],
    [0x42, 'UNKNOWN'],
  ];
  for (const [code, exception] of names) {
    const frame = encodeExceptionResponse({ address: 1, function: 4, exception: code });
    t.deepEqual(parseReadResponse(sdmRead, frame), { ok: true, kind: 'exception', address: 1, function: 4, code, exception });
  }
  // By name on the encoding side too.
  t.like(parseReadResponse(sdmRead, encodeExceptionResponse({ address: 1, function: 4, exception: 'SLAVE_DEVICE_BUSY' })), {
    code: 6,
    exception: 'SLAVE_DEVICE_BUSY',
  });
});

test('bad responses are typed failures, never throws', (t) => {
  const good = encodeReadResponse({ address: 1, function: 4, registers: [1, 2] });
  const cases: Array<[string, Uint8Array, FrameFailureReason]> = [
    ['empty', new Uint8Array(0), 'short'],
    ['four bytes', good.subarray(0, 4), 'short'],
    ['truncated', good.subarray(0, 8), 'short'],
    ['another slave', encodeReadResponse({ address: 2, function: 4, registers: [1, 2] }), 'address'],
    ['other function', encodeReadResponse({ address: 1, function: 3, registers: [1, 2] }), 'function'],
    ['exception for another function', encodeExceptionResponse({ address: 1, function: 3, exception: 2 }), 'function'],
    // Intact (CRC checks) but answering a different count: not truncation, a wrong length.
    ['fewer registers', encodeReadResponse({ address: 1, function: 4, registers: [1] }), 'length'],
    ['more registers', encodeReadResponse({ address: 1, function: 4, registers: [1, 2, 3] }), 'length'],
    ['byte count lies', withCrc(hex('01 04 06 00 01 00 02')), 'length'],
    ['long exception', withCrc(hex('01 84 02 00')), 'length'],
    ['trailing noise', Uint8Array.from([...good, 0x00]), 'length'],
    ['flipped data bit', Uint8Array.from(good, (b, i) => (i === 4 ? b ^ 0x10 : b)), 'crc'],
  ];
  for (const [name, frame, reason] of cases) {
    const result = parseReadResponse(sdmRead, frame);
    t.false(result.ok, name);
    t.is(result.ok ? undefined : result.reason, reason, name);
    t.is(typeof (result.ok ? '' : result.message), 'string', name);
  }
});

test('request frames parse on the slave side', (t) => {
  t.deepEqual(parseReadRequest(hex('01 04 00 00 00 02 71 CB')), { ok: true, request: sdmRead });
  t.deepEqual(parseReadRequest(encodeReadRequest({ address: 247, function: 3, start: 0xff83, count: 125 })), {
    ok: true,
    request: { address: 247, function: 3, start: 0xff83, count: 125 },
  });
  t.like(parseReadRequest(hex('01 04 00 00 00')), { ok: false, reason: 'short' });
  t.like(parseReadRequest(withCrc(hex('01 04 00 00 00 02 00'))), { ok: false, reason: 'length' });
  // Intact requests the slave must refuse carry the exception to answer with.
  t.deepEqual(parseReadRequest(withCrc(hex('05 10 00 00 00 01 02 00 0A'))), {
    ok: false,
    reason: 'function',
    message: 'function 16 is not supported',
    address: 5,
    function: 16,
    exception: 'ILLEGAL_FUNCTION',
  });
  t.like(parseReadRequest(withCrc(hex('05 04 00 00 00 7E'))), { ok: false, reason: 'length', address: 5, function: 4, exception: 'ILLEGAL_DATA_VALUE' });
  t.like(parseReadRequest(withCrc(hex('05 04 00 00 00 00'))), { ok: false, reason: 'length', exception: 'ILLEGAL_DATA_VALUE' });
});

test('master and simulated slave round-trip through each other', (t) => {
  for (const request of [sdmRead, { address: 17, function: 3, start: 100, count: 125 } as ReadRequest]) {
    const parsed = parseReadRequest(encodeReadRequest(request));
    if (!parsed.ok) return t.fail(parsed.message);
    const registers = Array.from({ length: parsed.request.count }, (_, i) => (i * 0x1357) & 0xffff);
    const reply = encodeReadResponse({ address: parsed.request.address, function: parsed.request.function, registers });
    t.is(reply.length, expectedResponseLength(request));
    t.deepEqual(parseReadResponse(request, reply), { ok: true, kind: 'registers', address: request.address, function: request.function, registers });
  }
});

test('encoders validate their arguments, naming the field', (t) => {
  t.throws(() => encodeReadRequest({ ...sdmRead, address: 0 }), { message: /^request\.address must be an integer 1–247/ });
  t.throws(() => encodeReadRequest({ ...sdmRead, function: 6 as 3 }), { message: /^request\.function must be 3/ });
  t.throws(() => encodeReadRequest({ ...sdmRead, count: 126 }), { message: /^request\.count must be an integer 1–125/ });
  t.throws(() => encodeReadRequest({ ...sdmRead, start: 0xffff, count: 2 }), { message: /^request\.start \+ request\.count/ });
  t.throws(() => encodeReadResponse({ address: 1, function: 4, registers: [1, 0x10000] }), { message: /^response\.registers\[1\]/ });
  t.throws(() => encodeExceptionResponse({ address: 1, function: 4, exception: 'NOPE' as ModbusExceptionName }), {
    message: /^response\.exception must be/,
  });
});

test('the assembler completes a reply split at every chunk boundary', (t) => {
  const reply = encodeReadResponse({ address: 1, function: 4, registers: [0x4366, 0x0000] });
  for (let a = 0; a <= reply.length; a++) {
    for (let b = a; b <= reply.length; b++) {
      const assembler = new ResponseAssembler(sdmRead);
      let pushed = 0;
      let last;
      for (const chunk of [reply.subarray(0, a), reply.subarray(a, b), reply.subarray(b)]) {
        pushed += chunk.length;
        last = assembler.push(chunk);
        // Complete exactly when the last byte is in, incomplete before.
        t.is(last.status, pushed === reply.length ? 'complete' : 'incomplete', `split ${a}/${b}`);
      }
      t.like(last, { reply: { kind: 'registers', registers: [0x4366, 0x0000] } });
      t.deepEqual(assembler.finish(), last);
    }
  }
});

test('the assembler tracks the expected length and recognises exceptions early', (t) => {
  const assembler = new ResponseAssembler({ address: 1, function: 4, start: 0, count: 4 });
  t.deepEqual(assembler.push(hex('01')), { status: 'incomplete', received: 1, expected: 13 });
  t.deepEqual(assembler.push(hex('84')), { status: 'incomplete', received: 2, expected: 5 });
  const status = assembler.push(hex('02 C2 C1'));
  t.like(status, { status: 'complete', reply: { kind: 'exception', exception: 'ILLEGAL_DATA_ADDRESS' } });
});

test('the assembler reports garbled, short, overrun and silent replies', (t) => {
  const reply = encodeReadResponse({ address: 1, function: 4, registers: [1, 2] });

  const corrupt = new ResponseAssembler(sdmRead);
  t.like(corrupt.push(Uint8Array.from(reply, (b, i) => (i === 3 ? b ^ 1 : b))), { status: 'garbled', reason: 'crc' });

  const short = new ResponseAssembler(sdmRead);
  t.like(short.push(reply.subarray(0, 6)), { status: 'incomplete', received: 6, expected: 9 });
  t.like(short.finish(), { status: 'garbled', reason: 'short' });

  const overrun = new ResponseAssembler(sdmRead);
  t.like(overrun.push(reply), { status: 'complete' });
  t.like(overrun.push(hex('FF')), { status: 'garbled', reason: 'length' });
  overrun.reset();
  t.is(overrun.received, 0);
  t.like(overrun.push(reply), { status: 'complete' });

  t.deepEqual(new ResponseAssembler(sdmRead).finish(), { status: 'no-response' });
});

test('inter-frame silence is 3.5 characters, fixed above 19200 baud', (t) => {
  t.is(interFrameSilenceMs(9600), (3.5 * 11 * 1000) / 9600);
  t.true(Math.abs(interFrameSilenceMs(2400) - 16.04) < 0.01);
  t.is(interFrameSilenceMs(115200), 1.75);
});

// Round trips every type in every order, with values whose bytes all differ so a wrong swap shows.
const samples: Record<RegisterType, number[]> = {
  int16: [0, 1, -1, 0x0102, -0x8000, 0x7fff],
  uint16: [0, 0x0102, 0xfffe, 0xffff],
  int32: [0, 0x01020304, -0x01020304, -0x80000000, 0x7fffffff],
  uint32: [0, 0x01020304, 0xfffefdfc, 0xffffffff],
  float32: [0, 230.5, -1.25, Math.fround(49.98), Math.fround(1234.567), Number.POSITIVE_INFINITY],
  float64: [0, 230.5, -1e-300, 123456789.123456789, Number.NEGATIVE_INFINITY],
};

test('every type and byte order round-trips through registers', (t) => {
  for (const type of REGISTER_TYPES) {
    for (const order of BYTE_ORDERS) {
      for (const value of samples[type]) {
        const words = encodeValue(value, type, order);
        t.is(words.length, registerCount(type));
        t.is(decodeValue(words, type, order), value, `${type} ${order} ${value}`);
      }
    }
  }
});

test('byte orders lay out bytes exactly', (t) => {
  const orders: Array<[ByteOrder, number[], number[], number[]]> = [
    // order, int32 0x01020304, float32 230.0 (0x43660000), float64 1.0 (0x3FF0000000000000)
    ['ABCD', [0x0102, 0x0304], [0x4366, 0x0000], [0x3ff0, 0, 0, 0]],
    ['CDAB', [0x0304, 0x0102], [0x0000, 0x4366], [0, 0, 0, 0x3ff0]],
    ['BADC', [0x0201, 0x0403], [0x6643, 0x0000], [0xf03f, 0, 0, 0]],
    ['DCBA', [0x0403, 0x0201], [0x0000, 0x6643], [0, 0, 0, 0xf03f]],
  ];
  for (const [order, int32, float32, float64] of orders) {
    t.deepEqual(encodeValue(0x01020304, 'int32', order), int32, order);
    t.deepEqual(encodeValue(230, 'float32', order), float32, order);
    t.deepEqual(encodeValue(1, 'float64', order), float64, order);
  }
  t.deepEqual(encodeValue(-2, 'int16', 'ABCD'), [0xfffe]);
  t.deepEqual(encodeValue(0x0102, 'uint16', 'CDAB'), [0x0102]);
  t.deepEqual(encodeValue(0x0102, 'uint16', 'BADC'), [0x0201]);
  t.deepEqual(encodeValue(0x0102, 'uint16', 'DCBA'), [0x0201]);
  t.throws(() => encodeValue(0x10000, 'uint16', 'ABCD'), { message: /uint16/ });
  t.throws(() => encodeValue(1.5, 'int32', 'ABCD'), { message: /int32/ });
});

test('every type and order round-trips through the simulator, the wire and the reader', (t) => {
  // One map holding every combination, packed back to back, read as few requests as the planner makes.
  const map: RegisterMapEntry[] = [];
  const values: Record<string, number> = {};
  let register = 0;
  for (const type of REGISTER_TYPES) {
    for (const order of BYTE_ORDERS) {
      for (const [i, value] of samples[type].entries()) {
        const name = `${type}_${order}_${i}`;
        map.push({ name, register, type, order, unit: 'x', function: i % 2 ? 3 : 4 });
        values[name] = value;
        register += registerCount(type);
      }
    }
  }
  const image = encodeReadings(map, values);
  const decoded: Record<string, number> = {};
  for (const group of planReads(map)) {
    const request: ReadRequest = { address: 9, ...group };
    const served = parseReadRequest(encodeReadRequest(request));
    if (!served.ok) return t.fail(served.message);
    const bank = served.request.function === 3 ? image.holding : image.input;
    const registers = Array.from({ length: served.request.count }, (_, i) => bank.get(served.request.start + i) ?? 0);
    const reply = parseReadResponse(request, encodeReadResponse({ address: 9, function: served.request.function, registers }));
    if (!reply.ok || reply.kind !== 'registers') return t.fail('reply rejected');
    for (const reading of decodeGroup(group, reply.registers)) decoded[reading.name] = reading.value;
  }
  t.deepEqual(decoded, values);
});

test('scaled integer readings come back as the decimals that went in', (t) => {
  const map: RegisterMapEntry[] = [
    { name: 'voltage', register: 0, type: 'uint16', order: 'ABCD', unit: 'V', scale: 0.1, function: 3 },
    { name: 'energy', register: 1, type: 'int32', order: 'CDAB', unit: 'kWh', scale: 0.01, function: 3 },
    { name: 'power', register: 3, type: 'int16', order: 'ABCD', unit: 'W', scale: 10, function: 3 },
  ];
  const image = encodeReadings(map, { voltage: 230.1, energy: -12345.67, power: 4560 });
  // -1234567 = 0xFFED2979, low register first for CDAB.
  t.deepEqual([...image.holding.entries()], [[0, 2301], [1, 0x2979], [2, 0xffed], [3, 456]]);
  const [group] = planReads(map);
  t.deepEqual(decodeGroup(group!, [0, 1, 2, 3].map((r) => image.holding.get(r)!)), [
    { name: 'voltage', value: 230.1, unit: 'V' },
    { name: 'energy', value: -12345.67, unit: 'kWh' },
    { name: 'power', value: 4560, unit: 'W' },
  ]);
  t.throws(() => encodeReadings(map, { voltage: 7000 }), { message: /^values\.voltage \(7000\) does not fit uint16/ });
  t.throws(() => encodeReadings(map, { volts: 1 }), { message: 'values.volts is not in the register map' });
});

test('built-in Eastron maps use the documented input registers', (t) => {
  const addresses = (map: typeof SDM630_MAP) => Object.fromEntries(map.map((e) => [e.name, e.register]));
  t.deepEqual(addresses(SDM630_MAP), {
    voltageL1: 0x00, voltageL2: 0x02, voltageL3: 0x04,
    currentL1: 0x06, currentL2: 0x08, currentL3: 0x0a,
    activePowerL1: 0x0c, activePowerL2: 0x0e, activePowerL3: 0x10,
    totalSystemPower: 0x34, frequency: 0x46, importEnergy: 0x48, exportEnergy: 0x4a, totalActiveEnergy: 0x156,
  });
  t.deepEqual(addresses(SDM120_MAP), {
    voltage: 0x00, current: 0x06, activePower: 0x0c, frequency: 0x46, importEnergy: 0x48, exportEnergy: 0x4a, totalActiveEnergy: 0x156,
  });
  for (const entry of [...SDM630_MAP, ...SDM120_MAP]) t.like(entry, { type: 'float32', order: 'ABCD', function: 4 });
  t.true(validateRegisterMap(SDM630_MAP).ok);
  t.true(validateRegisterMap(SDM120_MAP).ok);
});

test('an SDM120 reading decodes from the bytes on the wire', (t) => {
  // Voltage 230.0 V = float32 0x43660000: the reply a real meter sends to 01 04 00 00 00 02.
  const reply = parseReadResponse(sdmRead, withCrc(hex('01 04 04 43 66 00 00')));
  if (!reply.ok || reply.kind !== 'registers') return t.fail();
  const [voltageGroup] = planReads(SDM120_MAP.filter((e) => e.name === 'voltage'));
  t.deepEqual(decodeGroup(voltageGroup!, reply.registers), [{ name: 'voltage', value: 230, unit: 'V' }]);
});

test('the planner groups contiguous registers into as few requests as possible', (t) => {
  const summary = (groups: ReturnType<typeof planReads>) => groups.map((g) => [g.function, g.start, g.count, g.entries.length]);
  t.deepEqual(summary(planReads(SDM630_MAP)), [
    [4, 0x00, 18, 9],
    [4, 0x34, 2, 1],
    [4, 0x46, 6, 3],
    [4, 0x156, 2, 1],
  ]);
  t.deepEqual(summary(planReads(SDM120_MAP)), [
    [4, 0x00, 2, 1],
    [4, 0x06, 2, 1],
    [4, 0x0c, 2, 1],
    [4, 0x46, 6, 3],
    [4, 0x156, 2, 1],
  ]);
  // Bridging gaps is opt-in; then one request reaches from voltage to export energy.
  t.deepEqual(summary(planReads(SDM630_MAP, { maxGap: 34 })), [
    [4, 0x00, 0x4c, 13],
    [4, 0x156, 2, 1],
  ]);
  t.deepEqual(summary(planReads(SDM120_MAP, { maxGap: 4 })), [
    [4, 0x00, 14, 3],
    [4, 0x46, 6, 3],
    [4, 0x156, 2, 1],
  ]);
});

test('the planner splits at 125 registers, separates functions and handles overlaps', (t) => {
  // 100 contiguous float32s = 200 registers: 62 fit in 124 registers, a 63rd would need 126.
  const long: RegisterMapEntry[] = Array.from({ length: 100 }, (_, i) => ({
    name: `r${i}`, register: 1000 + 2 * i, type: 'float32', order: 'ABCD', unit: '', function: 3,
  }));
  const groups = planReads(long);
  t.deepEqual(groups.map((g) => [g.start, g.count, g.entries.length]), [[1000, 124, 62], [1124, 76, 38]]);
  t.true(groups.every((g) => g.count <= 125));
  t.deepEqual(planReads(long, { maxRegisters: 10 }).map((g) => g.count), Array.from({ length: 20 }, () => 10));

  const mixed: RegisterMapEntry[] = [
    { name: 'a', register: 0, type: 'uint16', order: 'ABCD', unit: '', function: 4 },
    { name: 'b', register: 1, type: 'uint16', order: 'ABCD', unit: '', function: 3 },
    { name: 'c', register: 1, type: 'uint32', order: 'ABCD', unit: '', function: 4 },
    { name: 'd', register: 2, type: 'uint16', order: 'ABCD', unit: '', function: 4 }, // overlaps c
    { name: 'e', register: 0, type: 'uint16', order: 'ABCD', unit: '', function: 3 },
  ];
  t.deepEqual(
    planReads(mixed).map((g) => [g.function, g.start, g.count, g.entries.map((e) => e.name).join('')]),
    [[3, 0, 2, 'eb'], [4, 0, 3, 'acd']],
  );
  t.deepEqual(planReads([]), []);
  t.throws(() => planReads(long, { maxRegisters: 126 }), { message: /^options\.maxRegisters/ });
});

test('user-defined maps are validated with messages naming the field', (t) => {
  const good = { name: 'v', register: 0, type: 'float32', order: 'ABCD', unit: 'V', function: 4 };
  t.deepEqual(validateRegisterMap([{ name: 'p', register: 10, type: 'int16', function: 3, scale: 0.1 }]), {
    ok: true,
    map: [{ name: 'p', register: 10, type: 'int16', order: 'ABCD', unit: '', function: 3, scale: 0.1 }],
  });
  t.deepEqual(validateRegisterMap({}), { ok: false, errors: ['registers must be an array'] });
  t.deepEqual(validateRegisterMap([]), { ok: false, errors: ['registers must hold at least one entry'] });
  const result = validateRegisterMap([
    good,
    'voltage',
    { ...good, name: 'x', order: 'ADBC' },
    { ...good, name: 'v' },
    { ...good, name: '', register: -1, type: 'float', function: 6, unit: 5, scale: 0 },
    { ...good, name: 'y', register: 65535 },
    { ...good, name: 'z', adress: 3 },
  ]);
  t.deepEqual(result, {
    ok: false,
    errors: [
      'registers[1] must be an object',
      'registers[2].order must be one of ABCD, CDAB, BADC, DCBA',
      'registers[3].name "v" is already used by registers[0]',
      'registers[4].name must be a non-empty string',
      'registers[4].type must be one of int16, uint16, int32, uint32, float32, float64',
      'registers[4].register must be an integer 0–65535',
      'registers[4].function must be 3 (holding) or 4 (input)',
      'registers[4].unit, when provided, must be a string',
      'registers[4].scale, when provided, must be a finite non-zero number',
      'registers[5].register leaves no room for a float32 before register 65535',
      'registers[6].adress is not a known field (name, register, type, order, unit, scale, function)',
    ],
  });
  t.deepEqual(validateRegisterMap('x', 'meters[0].registers'), { ok: false, errors: ['meters[0].registers must be an array'] });
});
