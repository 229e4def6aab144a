// NMEA 0183: the sentence parser against sentences whose checksums are checked here with a
// separate XOR (the classic examples from the NMEA literature, plus hand-written multi-GNSS ones),
// the encoder byte for byte and by round trip, the framer fed the same stream split at every
// byte boundary and at random, and the fix accumulator over a replayed receiver log.

import test from 'ava';
import {
  GpsFix,
  NmeaFramer,
  buildSentence,
  encodeNmea,
  parseSentence,
  type NmeaFramerStats,
  type NmeaMessage,
  type NmeaParseResult,
} from '../../hardware/nmea/index.js';
import { chunksAt, prng } from '../helpers/chunks.js';

// ---- independent helpers ------------------------------------------------------------------------

/** XOR of the characters between `$` and `*`, written out again so the tests do not trust parse.ts. */
function xor(body: string): string {
  let sum = 0;
  for (const char of body) sum ^= char.charCodeAt(0);
  return sum.toString(16).toUpperCase().padStart(2, '0');
}

/** A sentence from its body with a checksum computed here. */
function sentence(body: string): string {
  return `$${body}*${xor(body)}`;
}

const bytes = (text: string): Uint8Array => Buffer.from(text, 'latin1');

function feed(data: Uint8Array, cuts: number[]): { sentences: string[]; stats: NmeaFramerStats } {
  const framer = new NmeaFramer();
  const sentences: string[] = [];
  for (const chunk of chunksAt(data, cuts)) sentences.push(...framer.push(chunk));
  return { sentences, stats: { ...framer.stats } };
}

// ---- the classic examples -----------------------------------------------------------------------

const GGA = '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47';
const RMC = '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A';
const VTG = '$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K*48';
const GSA = '$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39';
const GSV = '$GPGSV,2,1,08,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45*75';

test('the classic example sentences carry the checksum an independent XOR computes', (t) => {
  for (const text of [GGA, RMC, VTG, GSA, GSV]) {
    const [body, checksum] = text.slice(1).split('*');
    t.is(checksum, xor(body!), text);
  }
});

const EXPECTED: [string, NmeaMessage][] = [
  [
    GGA,
    {
      type: 'GGA', talker: 'GP', time: '12:35:19.000', lat: 48.1173, lon: 11.51666667, fixQuality: 1, satellites: 8,
      hdop: 0.9, altitudeM: 545.4, geoidSeparationM: 46.9, dgpsAgeS: null, dgpsStationId: null,
    },
  ],
  [
    RMC,
    {
      type: 'RMC', talker: 'GP', time: '12:35:19.000', date: '1994-03-23', timestamp: '1994-03-23T12:35:19.000Z', status: 'A',
      lat: 48.1173, lon: 11.51666667, speedKnots: 22.4, speedKmh: 41.4848, courseDeg: 84.4, magneticVariationDeg: -3.1, mode: null,
    },
  ],
  [VTG, { type: 'VTG', talker: 'GP', courseTrueDeg: 54.7, courseMagneticDeg: 34.4, speedKnots: 5.5, speedKmh: 10.2, mode: null }],
  [GSA, { type: 'GSA', talker: 'GP', mode: 'A', fixType: 3, prns: [4, 5, 9, 12, 24], pdop: 2.5, hdop: 1.3, vdop: 2.1, systemId: null }],
  [
    GSV,
    {
      type: 'GSV', talker: 'GP', totalMessages: 2, messageNumber: 1, satellitesInView: 8, signalId: null,
      satellites: [
        { prn: 1, elevationDeg: 40, azimuthDeg: 83, snrDb: 46 },
        { prn: 2, elevationDeg: 17, azimuthDeg: 308, snrDb: 41 },
        { prn: 12, elevationDeg: 7, azimuthDeg: 344, snrDb: 39 },
        { prn: 14, elevationDeg: 22, azimuthDeg: 228, snrDb: 45 },
      ],
    },
  ],
];

for (const [text, message] of EXPECTED) {
  test(`parses the classic ${message.type} example`, (t) => {
    t.deepEqual(parseSentence(text), { ok: true, message });
    t.deepEqual(parseSentence(text + '\r\n'), { ok: true, message }, 'a trailing CR LF is ignored');
    t.deepEqual(parseSentence(bytes(text)), { ok: true, message }, 'bytes parse like text');
  });
}

test('parses multi-GNSS sentences: southern and western hemispheres, RTK, NMEA 2.3/4.1 extra fields', (t) => {
  t.deepEqual(parseSentence(sentence('GNGGA,235959.50,3352.1280,S,15112.6540,W,4,12,0.7,-12.5,M,-20.1,M,1.2,0042')), {
    ok: true,
    message: {
      type: 'GGA', talker: 'GN', time: '23:59:59.500', lat: -33.86880, lon: -151.21090, fixQuality: 4, satellites: 12,
      hdop: 0.7, altitudeM: -12.5, geoidSeparationM: -20.1, dgpsAgeS: 1.2, dgpsStationId: '0042',
    },
  });
  t.deepEqual(parseSentence(sentence('GNRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A,V')), {
    ok: true,
    message: {
      type: 'RMC', talker: 'GN', time: '08:35:59.000', date: '2002-12-09', timestamp: '2002-12-09T08:35:59.000Z', status: 'A',
      lat: 47.28523950, lon: 8.56525367, speedKnots: 0.004, speedKmh: 0.007408, courseDeg: 77.52, magneticVariationDeg: null, mode: 'A',
    },
  });
  t.deepEqual(parseSentence(sentence('GAVTG,,T,,M,0.00,N,0.00,K,N')), {
    ok: true,
    message: { type: 'VTG', talker: 'GA', courseTrueDeg: null, courseMagneticDeg: null, speedKnots: 0, speedKmh: 0, mode: 'N' },
  });
  t.deepEqual(parseSentence(sentence('GPVTG,054.7,034.4,005.5,010.2')), {
    ok: true,
    message: { type: 'VTG', talker: 'GP', courseTrueDeg: 54.7, courseMagneticDeg: 34.4, speedKnots: 5.5, speedKmh: 10.2, mode: null },
  }, 'NMEA 2.0 VTG without unit letters');
  t.deepEqual(parseSentence(sentence('GLGSA,M,2,65,66,,,,,,,,,,,3.1,2.0,2.4,2')), {
    ok: true,
    message: { type: 'GSA', talker: 'GL', mode: 'M', fixType: 2, prns: [65, 66], pdop: 3.1, hdop: 2, vdop: 2.4, systemId: 2 },
  });
  t.deepEqual(parseSentence(sentence('BDGSV,3,3,09,' + ['21', '05', '', '', '', '', '', '', '', '', '', '', '1'].join(','))), {
    ok: true,
    message: {
      type: 'GSV', talker: 'BD', totalMessages: 3, messageNumber: 3, satellitesInView: 9, signalId: 1,
      satellites: [{ prn: 21, elevationDeg: 5, azimuthDeg: null, snrDb: null }],
    },
  }, 'untracked satellite, padded empty groups and a signal id');
  t.deepEqual(parseSentence(sentence('GPGSV,1,1,00')), {
    ok: true,
    message: { type: 'GSV', talker: 'GP', totalMessages: 1, messageNumber: 1, satellitesInView: 0, satellites: [], signalId: null },
  });
});

test('a receiver without a fix: empty fields become null, and RMC says V', (t) => {
  t.deepEqual(parseSentence(sentence('GPGGA,,,,,,0,00,99.99,,,,,,')), {
    ok: true,
    message: {
      type: 'GGA', talker: 'GP', time: null, lat: null, lon: null, fixQuality: 0, satellites: 0, hdop: 99.99,
      altitudeM: null, geoidSeparationM: null, dgpsAgeS: null, dgpsStationId: null,
    },
  });
  t.deepEqual(parseSentence(sentence('GPRMC,,V,,,,,,,,,,N')), {
    ok: true,
    message: {
      type: 'RMC', talker: 'GP', time: null, date: null, timestamp: null, status: 'V', lat: null, lon: null,
      speedKnots: null, speedKmh: null, courseDeg: null, magneticVariationDeg: null, mode: 'N',
    },
  });
});

test('bad checksums, malformed and unsupported sentences are typed results, never exceptions', (t) => {
  const wrong = GGA.slice(0, -2) + '48';
  t.deepEqual(parseSentence(wrong), { ok: false, reason: 'checksum', detail: 'checksum 48 does not match computed 47', sentence: wrong });
  t.like(parseSentence(GGA.slice(0, -3)), { ok: false, reason: 'malformed', detail: "sentence must end with '*' and two hex checksum digits" });
  t.like(parseSentence(GGA.slice(1)), { ok: false, reason: 'malformed', detail: "sentence must start with '$'" });
  t.like(parseSentence(''), { ok: false, reason: 'malformed' });
  t.like(parseSentence(RMC.replace('*6A', '*6a')), { ok: true }, 'lower-case checksum digits are accepted');
  t.like(parseSentence(sentence('GPZDA,160012.71,11,03,2004,-1,00')), { ok: false, reason: 'unsupported', detail: "sentence type 'ZDA' is not supported" });
  t.like(parseSentence(sentence('IIHDT,274.07,T')), { ok: false, reason: 'unsupported', detail: "talker 'II' is not supported" });
  t.like(parseSentence(sentence('PUBX,00,081350.00')), { ok: false, reason: 'unsupported' });
  t.like(parseSentence(sentence('GPGGA,123519,48x7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')), {
    ok: false, reason: 'malformed', detail: "GGA lat: '48x7.038' is not ddmm.mmmm",
  });
  t.like(parseSentence(sentence('GPGGA,123519,4807.038,Q,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')), {
    ok: false, reason: 'malformed', detail: "GGA lat hemisphere: expected N or S, got 'Q'",
  });
  t.like(parseSentence(sentence('GPGGA,123519,4807.038,N')), { ok: false, reason: 'malformed', detail: 'GGA has 3 fields, needs at least 14' });
  t.like(parseSentence(sentence('GPRMC,123519,X,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W')), {
    ok: false, reason: 'malformed', detail: "RMC status: expected A or V, got 'X'",
  });
  t.like(parseSentence(sentence('GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,310294,003.1,W')), {
    ok: false, reason: 'malformed', detail: "RMC date: '310294' is not a valid ddmmyy date",
  });
  t.like(parseSentence(sentence('GPRMC,253519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W')), {
    ok: false, reason: 'malformed', detail: "RMC time: '253519' is not hhmmss.ss",
  });
  t.like(parseSentence(sentence('GPGSA,A,4,04,05,,09,12,,,24,,,,,2.5,1.3,2.1')), {
    ok: false, reason: 'malformed', detail: "GSA fix type: expected 1, 2 or 3, got '4'",
  });
  t.like(parseSentence(sentence('GPGSV,2,3,08,01,40,083,46')), {
    ok: false, reason: 'malformed', detail: 'GSV message number: 3 is outside 1-2',
  });
  t.like(parseSentence(sentence('GPGSV,2,1,08,01,40,083')), {
    ok: false, reason: 'malformed', detail: 'GSV satellites: 3 fields do not make groups of four',
  });
  t.like(parseSentence(sentence('GPGGA,123519,9130.000,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')), {
    ok: false, reason: 'malformed', detail: "GGA lat: '9130.000' is out of range",
  });
});

test('any single changed byte in a sentence body is rejected, and no mutation throws', (t) => {
  const random = prng(7);
  for (const text of [GGA, RMC, VTG, GSA, GSV]) {
    const star = text.indexOf('*');
    for (let i = 1; i < star; i++) {
      const copy = Buffer.from(text, 'latin1');
      copy[i] = (copy[i]! + 1 + Math.floor(random() * 254)) & 0xff;
      const result = parseSentence(copy);
      t.false(result.ok, `byte ${i} of ${text}`);
    }
  }
  for (let n = 0; n < 2000; n++) {
    const length = Math.floor(random() * 90);
    const junk = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
    if (random() < 0.5) junk[0] = 0x24;
    t.notThrows(() => parseSentence(junk));
  }
});

// ---- encoder ------------------------------------------------------------------------------------

test('encodeNmea writes sentences byte for byte, with a checksum an independent XOR agrees with', (t) => {
  const gga = EXPECTED[0]![1];
  t.is(encodeNmea(gga), sentence('GPGGA,123519.00,4807.0380,N,01131.0000,E,1,08,0.9,545.4,M,46.9,M,,') + '\r\n');
  t.is(
    encodeNmea(EXPECTED[1]![1], { minuteDecimals: 3, lineEnding: '' }),
    sentence('GPRMC,123519.00,A,4807.038,N,01131.000,E,22.4,84.4,230394,3.1,W'),
  );
  t.is(encodeNmea(EXPECTED[2]![1]), sentence('GPVTG,54.7,T,34.4,M,5.5,N,10.2,K') + '\r\n');
  t.is(encodeNmea(EXPECTED[3]![1]), sentence('GPGSA,A,3,04,05,09,12,24,,,,,,,,2.5,1.3,2.1') + '\r\n');
  t.is(encodeNmea(EXPECTED[4]![1]), sentence('GPGSV,2,1,08,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45') + '\r\n');
  t.is(buildSentence('GPTXT', ['01', '01', '02', 'hello']), sentence('GPTXT,01,01,02,hello') + '\r\n');
});

test('encodeNmea output parses back to the same message', (t) => {
  const messages: NmeaMessage[] = [
    ...EXPECTED.map(([, message]) => message),
    {
      type: 'GGA', talker: 'GN', time: '23:59:59.505', lat: -33.8688, lon: -151.2109, fixQuality: 5, satellites: 23,
      hdop: 0.55, altitudeM: -3, geoidSeparationM: 0, dgpsAgeS: 0.8, dgpsStationId: '1023',
    },
    {
      type: 'RMC', talker: 'GA', time: '00:00:00.000', date: '2079-12-31', timestamp: '2079-12-31T00:00:00.000Z', status: 'V',
      lat: 0, lon: -0.5, speedKnots: 0.1, speedKmh: 0.1852, courseDeg: 359.9, magneticVariationDeg: 2.5, mode: 'E',
    },
    { type: 'GSA', talker: 'BD', mode: 'M', fixType: 1, prns: [], pdop: null, hdop: null, vdop: null, systemId: 4 },
    { type: 'GSA', talker: 'GN', mode: 'A', fixType: 3, prns: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], pdop: 1, hdop: 0.6, vdop: 0.8, systemId: null },
    {
      type: 'GSV', talker: 'GB', totalMessages: 1, messageNumber: 1, satellitesInView: 2, signalId: 3,
      satellites: [{ prn: 201, elevationDeg: 90, azimuthDeg: 0, snrDb: null }, { prn: 202, elevationDeg: null, azimuthDeg: null, snrDb: 12 }],
    },
  ];
  for (const message of messages) {
    for (const minuteDecimals of [4, 5]) {
      t.deepEqual(parseSentence(encodeNmea(message, { minuteDecimals })), { ok: true, message }, `${message.type} ${minuteDecimals}`);
    }
  }
});

test('coordinates round once, so 59.99999 minutes carries into the next degree', (t) => {
  const gga: NmeaMessage = { ...(EXPECTED[0]![1] as Extract<NmeaMessage, { type: 'GGA' }>), lat: 47.9999999, lon: -7.99999999 };
  t.true(encodeNmea(gga).startsWith('$GPGGA,123519.00,4800.0000,N,00800.0000,W,'));
});

test('a deliberately wrong checksum is rejected by the parser', (t) => {
  const text = encodeNmea(EXPECTED[0]![1], { checksum: 'wrong' });
  const body = text.slice(1, text.indexOf('*'));
  t.not(text.slice(text.indexOf('*') + 1, -2), xor(body));
  t.like(parseSentence(text), { ok: false, reason: 'checksum' });
});

test('the encoder rejects values it cannot write, naming the field', (t) => {
  const gga = EXPECTED[0]![1] as Extract<NmeaMessage, { type: 'GGA' }>;
  t.throws(() => encodeNmea({ ...gga, lat: 91 }), { message: 'lat must be a number from -90 to 90, or null.' });
  t.throws(() => encodeNmea({ ...gga, satellites: -1 }), { message: 'GGA.satellites must be a non-negative integer or null.' });
  t.throws(() => encodeNmea({ ...gga, time: '12:35' }), { message: 'GGA.time must be hh:mm:ss.sss or null.' });
  t.throws(() => encodeNmea({ ...gga, hdop: Number.NaN }), { message: 'GGA.hdop must be a finite number or null.' });
  t.throws(() => buildSentence('GPTXT', ['a*b']), { message: 'address and fields must be printable ASCII without $, * or !.' });
});

// ---- framer -------------------------------------------------------------------------------------

const TOO_LONG = sentence('GPTXT,01,01,02,' + 'x'.repeat(70)); // 89 characters
const AT_LIMIT = sentence('GPTXT,01,01,02,' + 'y'.repeat(61)); // 80 characters: 82 with CR LF
const GN_RMC = sentence('GNRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A,V');

const STREAM_PARTS = {
  noise: '\x00\xff\x13garbage at power-up ',
  partial: '$GPGSA,A,3,04,0', // cut short by the next `$`
  binary: '$GPGGA,12\x8035', // an 8-bit byte: wrong baud rate or line noise
};
const STREAM =
  STREAM_PARTS.noise + GGA + '\r\n' +
  RMC + '\r\n' +
  STREAM_PARTS.partial + VTG + '\r\n' +
  TOO_LONG + '\r\n' +
  AT_LIMIT + '\r\n' +
  STREAM_PARTS.binary + ',4807.038\r\n' +
  GSA + '\n' + // LF alone
  GSV + '\r' + // CR alone
  '\r\n\r\n' + GN_RMC + '\r\n' +
  '$GPGGA,1235'; // incomplete at the end: held, not yet counted
const EXPECTED_SENTENCES = [GGA, RMC, VTG, AT_LIMIT, GSA, GSV, GN_RMC];
const EXPECTED_STATS: NmeaFramerStats = {
  sentences: 7,
  droppedBytes:
    STREAM_PARTS.noise.length + STREAM_PARTS.partial.length + TOO_LONG.length + (STREAM_PARTS.binary + ',4807.038').length,
  overlongLines: 1,
  brokenSentences: 2,
};

test('the framer cuts a noisy stream into sentences and counts what it drops', (t) => {
  t.is(TOO_LONG.length, 89);
  t.is(AT_LIMIT.length, 80);
  t.deepEqual(feed(bytes(STREAM), []), { sentences: EXPECTED_SENTENCES, stats: EXPECTED_STATS });
});

test('the framer gives the same result for the stream split at every byte boundary', (t) => {
  const data = bytes(STREAM);
  const expected = { sentences: EXPECTED_SENTENCES, stats: EXPECTED_STATS };
  for (let cut = 0; cut <= data.length; cut++) {
    const result = feed(data, [cut]);
    if (JSON.stringify(result) !== JSON.stringify(expected)) t.fail(`split at ${cut}`);
  }
  t.deepEqual(feed(data, Array.from({ length: data.length }, (_, i) => i)), expected, 'one byte at a time');
  t.pass();
});

test('the framer gives the same result for random splits into many chunks', (t) => {
  const data = bytes(STREAM);
  const random = prng(42);
  for (let n = 0; n < 500; n++) {
    const cuts = Array.from({ length: 1 + Math.floor(random() * 20) }, () => Math.floor(random() * data.length)).sort((a, b) => a - b);
    t.deepEqual(feed(data, cuts), { sentences: EXPECTED_SENTENCES, stats: EXPECTED_STATS }, `cuts ${cuts.join(',')}`);
  }
});

test('the framer resynchronises on every $ in random noise and never throws', (t) => {
  const random = prng(3);
  const framer = new NmeaFramer();
  const out: string[] = [];
  for (let n = 0; n < 200; n++) {
    const noise = Buffer.from(Array.from({ length: Math.floor(random() * 120) }, () => Math.floor(random() * 256)));
    t.notThrows(() => out.push(...framer.push(noise)));
    out.push(...framer.push(bytes('\r\n' + GGA + '\r\n')));
  }
  // Every GGA arrives intact, whatever noise came before it; the noise may add sentences of its own.
  t.is(out.filter((s) => s === GGA).length, 200);
  for (const s of out) t.notThrows(() => parseSentence(s));
});

test('a sentence one character over the limit is dropped', (t) => {
  const over = sentence('GPTXT,01,01,02,' + 'y'.repeat(62));
  t.is(over.length, 81);
  t.deepEqual(feed(bytes(over + '\r\n' + AT_LIMIT + '\r\n'), []), {
    sentences: [AT_LIMIT],
    stats: { sentences: 1, droppedBytes: 81, overlongLines: 1, brokenSentences: 0 },
  });
});

test('maxLength is configurable and validated', (t) => {
  const framer = new NmeaFramer({ maxLength: 20 });
  t.deepEqual(framer.push(bytes('$GPTXT,1234567890*00\r\n$GPTXT,12345678901*00\r\n')), []);
  t.is(framer.stats.overlongLines, 2);
  const exact = new NmeaFramer({ maxLength: 22 });
  t.deepEqual(exact.push(bytes('$GPTXT,1234567890*00\r\n')), ['$GPTXT,1234567890*00']);
  t.throws(() => new NmeaFramer({ maxLength: 3 }), { message: 'options.maxLength must be an integer of at least 8.' });
});

// ---- fix accumulation ---------------------------------------------------------------------------

function replay(fix: GpsFix, log: string): NmeaParseResult[] {
  const framer = new NmeaFramer();
  const results = framer.push(bytes(log)).map((s) => parseSentence(s));
  for (const result of results) fix.update(result);
  return results;
}

test('GpsFix merges GGA, RMC and VTG into the latest fix and counts rejected sentences', (t) => {
  const fix = new GpsFix();
  t.deepEqual(fix.current, {
    time: null, lat: null, lon: null, altitudeM: null, speedKmh: null, courseDeg: null,
    fixQuality: null, satellites: null, hdop: null, valid: false,
  });
  const log = [
    sentence('GNRMC,101500.00,A,5222.1234,N,00454.5678,E,10.8,270.5,221123,,,A'),
    sentence('GNGGA,101500.00,5222.1234,N,00454.5678,E,1,09,1.1,-2.3,M,47.0,M,,'),
    GSA,
    GSV,
    sentence('GNVTG,271.0,T,,M,10.9,N,20.2,K,A').replace(/..$/, '00'), // corrupted in transit
    sentence('GNVTG,271.0,T,,M,10.9,N,20.1,K,A'),
    sentence('GPZDA,101500.00,22,11,2023,00,00'),
    sentence('GNGGA,101501.00,5222.1240,N,00454.5600,E,2,10,0.9,-2.0,M,47.0,M,1.0,0001'),
    sentence('GNGGA,1015xx.00,5222.1240,N,00454.5600,E,2,10,0.9,-2.0,M,47.0,M,1.0,0001'),
  ].join('\r\n') + '\r\n';
  replay(fix, log);
  t.deepEqual(fix.current, {
    time: '2023-11-22T10:15:01.000Z',
    lat: 52.36873333,
    lon: 4.90933333,
    altitudeM: -2,
    speedKmh: 20.1,
    courseDeg: 271,
    fixQuality: 2,
    satellites: 10,
    hdop: 0.9,
    valid: true,
  });
  t.deepEqual(fix.stats, { sentences: 6, checksumErrors: 1, malformed: 1, unsupported: 1 });
});

test('GpsFix reports an invalid fix when the receiver says so, and GGA before any RMC has no time', (t) => {
  const fix = new GpsFix();
  replay(fix, sentence('GPGGA,000001.00,,,,,0,00,99.99,,,,,,') + '\r\n');
  t.like(fix.current, { time: null, lat: null, fixQuality: 0, valid: false });
  replay(fix, sentence('GPGGA,000002.00,4807.038,N,01131.000,E,1,05,2.0,500.0,M,46.9,M,,') + '\r\n');
  t.like(fix.current, { time: null, lat: 48.1173, fixQuality: 1, valid: true });
  replay(fix, sentence('GPRMC,000003.00,V,4807.038,N,01131.000,E,,,010124,,,N') + '\r\n');
  t.like(fix.current, { time: '2024-01-01T00:00:03.000Z', valid: false, speedKmh: null });
});

test('GpsFix dates a GGA after midnight from an RMC before it', (t) => {
  const fix = new GpsFix();
  replay(fix, sentence('GPRMC,235959.00,A,4807.038,N,01131.000,E,0.0,0.0,311223,,,A') + '\r\n');
  t.is(fix.current.time, '2023-12-31T23:59:59.000Z');
  replay(fix, sentence('GPGGA,000000.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,') + '\r\n');
  t.is(fix.current.time, '2024-01-01T00:00:00.000Z');
  replay(fix, sentence('GPGGA,235958.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,') + '\r\n');
  t.is(fix.current.time, '2023-12-31T23:59:58.000Z', 'a late GGA from just before stays on the RMC date');
});
