// The signaling wire format: payload codec and client frame parsing, as tables.

import test from 'ava';
import { InvalidArgumentException } from '../../ingest-server/protocol/errors.js';
import { correlationIdOf, decodePayload, encodePayload, parseClientMessage, statusResponse } from '../../ingest-server/signaling/messages.js';

const OFFER = { type: 'offer', sdp: 'v=0\r\n' };

test('payloads are base64 of JSON, both ways', (t) => {
  t.is(encodePayload(OFFER), 'eyJ0eXBlIjoib2ZmZXIiLCJzZHAiOiJ2PTBcclxuIn0=');
  t.deepEqual(decodePayload('eyJ0eXBlIjoib2ZmZXIiLCJzZHAiOiJ2PTBcclxuIn0='), OFFER);
  t.throws(() => decodePayload('not base64!'), { instanceOf: InvalidArgumentException });
  t.throws(() => decodePayload(Buffer.from('{half').toString('base64')), { instanceOf: InvalidArgumentException });
});

test('valid client frames parse to what they say', (t) => {
  const payload = encodePayload(OFFER);
  t.deepEqual(parseClientMessage(JSON.stringify({ action: 'SDP_OFFER', messagePayload: payload })), { action: 'SDP_OFFER', messagePayload: payload });
  t.deepEqual(parseClientMessage(JSON.stringify({ action: 'ICE_CANDIDATE', messagePayload: payload, recipientClientId: 'viewer-1', correlationId: 'c.1' })), {
    action: 'ICE_CANDIDATE',
    messagePayload: payload,
    recipientClientId: 'viewer-1',
    correlationId: 'c.1',
  });
});

const payload = encodePayload(OFFER);
const INVALID: [string, string, RegExp][] = [
  ['not JSON', '{', /not valid JSON/],
  ['not an object', '[1]', /JSON object/],
  ['unknown action', JSON.stringify({ action: 'HELLO', messagePayload: payload }), /action must be one of SDP_OFFER, SDP_ANSWER, ICE_CANDIDATE/],
  ['no payload', JSON.stringify({ action: 'SDP_OFFER' }), /messagePayload/],
  ['payload over 10 KB', JSON.stringify({ action: 'SDP_OFFER', messagePayload: encodePayload('x'.repeat(8000)) }), /at most 10240/],
  ['payload not base64 of JSON', JSON.stringify({ action: 'SDP_OFFER', messagePayload: 'aGVsbG8=' }), /base64 of JSON/],
  ['bad recipient', JSON.stringify({ action: 'SDP_ANSWER', messagePayload: payload, recipientClientId: 'a b' }), /recipientClientId/],
  ['bad correlation id', JSON.stringify({ action: 'SDP_ANSWER', messagePayload: payload, correlationId: '' }), /correlationId/],
];

for (const [title, text, message] of INVALID) {
  test(`a frame with ${title} is an InvalidArgumentException`, (t) => {
    t.throws(() => parseClientMessage(text), { instanceOf: InvalidArgumentException, message });
  });
}

test('errors become STATUS_RESPONSE naming the correlation id when one can be read', (t) => {
  t.is(correlationIdOf('{"action":"X","correlationId":"abc"}'), 'abc');
  t.is(correlationIdOf('{'), undefined);
  t.deepEqual(statusResponse(new InvalidArgumentException('bad'), 'abc'), {
    messageType: 'STATUS_RESPONSE',
    statusResponse: { correlationId: 'abc', errorType: 'InvalidArgumentException', statusCode: '400', description: 'bad' },
  });
});
