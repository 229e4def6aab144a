// H.264 framing: the AVCDecoderConfigurationRecord h264parse puts in its caps, Annex-B splitting
// byte for byte, and the same encoder output seen as an Annex-B byte stream and as Matroska
// blocks (AVCC) agreeing slice for slice.

import test from 'ava';
import {
  H264FormatError,
  MkvStreamReader,
  NalType,
  annexBToAvcc,
  buildAvcDecoderConfig,
  isIdrAccessUnit,
  joinAvcc,
  nalType,
  parseAvcDecoderConfig,
  splitAnnexB,
  splitAvcc,
  type MkvCluster,
} from '../../video/index.js';
import { bytesOf, gstCodecData, gstH264, scratchDir } from './media-tools.js';

const hex = (text: string): Uint8Array => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

const GST = { frames: 60, gop: 30 };
let dir: Awaited<ReturnType<typeof scratchDir>>;
let codecData: Uint8Array;
let annexB: Uint8Array;
let clusters: MkvCluster[];
let codecPrivate: Uint8Array | undefined;

test.before(async () => {
  dir = await scratchDir();
  const [data, byteStream, mkv] = await Promise.all([
    gstCodecData(GST.frames, GST.gop),
    gstH264(dir.path, 'stream.h264', { ...GST, streamable: true, format: 'byte-stream' }),
    gstH264(dir.path, 'stream.mkv', { ...GST, streamable: true }),
  ]);
  codecData = data;
  annexB = await bytesOf(byteStream);
  const reader = new MkvStreamReader();
  const events = [...reader.push(await bytesOf(mkv)), ...reader.end()];
  clusters = events.flatMap((event) => (event.type === 'cluster' ? [event.cluster] : []));
  codecPrivate = events.flatMap((event) => (event.type === 'header' ? event.header.tracks : []))[0]?.codecPrivate;
});

test.after.always(async () => {
  await dir?.cleanup();
});

test('the codec_data of h264parse caps parses as one SPS and one PPS, and builds back byte for byte', (t) => {
  const config = parseAvcDecoderConfig(codecData);
  t.like(config, { profile: 100, compatibility: 0, nalLengthSize: 4 });
  t.true(config.level > 0);
  t.deepEqual(config.sps.map(nalType), [NalType.Sps]);
  t.deepEqual(config.pps.map(nalType), [NalType.Pps]);
  t.is(config.sps[0]![1], config.profile, 'the record repeats profile_idc from the SPS');
  t.is(toHex(buildAvcDecoderConfig(config.sps, config.pps)), toHex(codecData));
  t.is(toHex(codecPrivate!), toHex(codecData), 'matroskamux stores the same record as CodecPrivate');
});

test('the Annex-B stream carries the same parameter sets as the record', (t) => {
  const nals = splitAnnexB(annexB);
  const config = parseAvcDecoderConfig(codecData);
  t.deepEqual(toHex(nals.find((nal) => nalType(nal) === NalType.Sps)!), toHex(config.sps[0]!));
  t.deepEqual(toHex(nals.find((nal) => nalType(nal) === NalType.Pps)!), toHex(config.pps[0]!));
});

test('slices split from Annex-B equal the slices of the Matroska blocks, and IDR marks the keyframes', (t) => {
  const isSlice = (nal: Uint8Array): boolean => nalType(nal) === NalType.IdrSlice || nalType(nal) === NalType.NonIdrSlice;
  const fromAnnexB = splitAnnexB(annexB).filter(isSlice);
  const blocks = clusters.flatMap((cluster) => cluster.blocks);
  t.is(blocks.length, GST.frames);
  const fromBlocks = blocks.flatMap((block) => splitAvcc(block.data)).filter(isSlice);
  t.true(fromAnnexB.length >= GST.frames);
  t.true(Buffer.from(joinAvcc(fromAnnexB)).equals(joinAvcc(fromBlocks)));
  t.deepEqual(blocks.map((block) => isIdrAccessUnit(splitAvcc(block.data))), blocks.map((block) => block.keyframe));
  t.is(blocks.filter((block) => block.keyframe).length, GST.frames / GST.gop);
});

test('Annex-B splits at 3- and 4-byte start codes and drops trailing zeros, byte for byte', (t) => {
  const cases: [string, string[]][] = [
    ['00000001 6742 00000001 68ce', ['6742', '68ce']],
    ['000001 65aa 000001 41bb', ['65aa', '41bb']],
    ['00000001 0901 000001 65aabb 0000 00000001 41', ['0901', '65aabb', '41']],
    ['000001 06 00 05 00000001 65', ['060005', '65']],
    ['ff 000001 65', ['65']],
  ];
  for (const [input, nals] of cases) t.deepEqual(splitAnnexB(hex(input)).map(toHex), nals, input);
  t.is(toHex(annexBToAvcc(hex('00000001 6742 000001 65aabb'))), '00000002 6742 00000003 65aabb'.replace(/ /g, ''));
  t.is(toHex(annexBToAvcc(hex('000001 65aabb'), 2)), '0003 65aabb'.replace(/ /g, ''));
  t.deepEqual(splitAvcc(hex('0002 6742 0001 68'), 2).map(toHex), ['6742', '68']);
});

test('damaged H.264 framing is an H264FormatError', (t) => {
  t.throws(() => splitAnnexB(hex('6742aabb')), { instanceOf: H264FormatError, message: /no Annex-B start code/ });
  t.throws(() => parseAvcDecoderConfig(codecData.subarray(0, 20)), { instanceOf: H264FormatError, message: /overruns the record/ });
  t.throws(() => parseAvcDecoderConfig(hex('02640014ffe100')), { instanceOf: H264FormatError, message: /version 2/ });
  t.throws(() => splitAvcc(hex('00000009 6742')), { instanceOf: H264FormatError, message: /overruns the data/ });
  t.throws(() => buildAvcDecoderConfig([], hex('68')), { instanceOf: H264FormatError });
  t.throws(() => joinAvcc([new Uint8Array(256)], 1), { instanceOf: H264FormatError });
});
