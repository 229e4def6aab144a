// lib/sigv4 signRequest (the agent's signer) against the signer of the AWS SDK for JavaScript v3:
// same request, same time, same keys → the same Authorization header; and what it signs the
// server's verifier accepts.

import test from 'ava';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { verifySigV4 } from '../../ingest-server/auth/sigv4.js';
import { signRequest } from '../../lib/sigv4.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const BODY = Buffer.from('{"StreamName":"meters","Records":[{"Data":"e30=","PartitionKey":"rig-1","ProducerSequence":"1"}],"ProducerId":"rig-1/abc"}');
const HEADERS = { host: '127.0.0.1:4567', 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Kinesis_20131202.PutRecords' };

test('signRequest matches the AWS SDK signer byte for byte', async (t) => {
  const ours = signRequest({ method: 'POST', path: '/', headers: HEADERS, body: BODY, accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret/+key', region: 'eu-west-1', service: 'kinesis', now: NOW });
  const sdk = new SignatureV4({ credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret/+key' }, region: 'eu-west-1', service: 'kinesis', sha256: Sha256, applyChecksum: false });
  const theirs = await sdk.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: 4567, path: '/', headers: { ...HEADERS }, body: BODY.toString() }, { signingDate: new Date(NOW) });
  t.is(ours['authorization'], theirs.headers['authorization']);
  t.is(ours['x-amz-date'], theirs.headers['x-amz-date']);
});

test('what signRequest signs, verifySigV4 accepts; a changed body or a wrong secret it refuses', (t) => {
  const headers = signRequest({ method: 'POST', path: '/', headers: HEADERS, body: BODY, accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 's', region: 'us-east-1', service: 'kinesis', now: NOW });
  const secretFor = (id: string) => (id === 'AKIDEXAMPLE' ? 's' : undefined);
  t.deepEqual(verifySigV4({ method: 'POST', path: '/', headers, body: BODY }, secretFor, NOW), { accessKeyId: 'AKIDEXAMPLE', region: 'us-east-1', service: 'kinesis' });
  t.throws(() => verifySigV4({ method: 'POST', path: '/', headers, body: Buffer.from('{}') }, secretFor, NOW), { name: 'InvalidSignatureException' });
  t.throws(() => verifySigV4({ method: 'POST', path: '/', headers, body: BODY }, () => 'other', NOW), { name: 'InvalidSignatureException' });
});
