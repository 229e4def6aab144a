// One POST to the server, SigV4-signed with the device's keys when it has them: what the
// PutRecords uploader and the heartbeat both send.

import http from 'node:http';
import https from 'node:https';
import { signRequest } from '../lib/sigv4.js';

export interface SignedPost {
  /** POST unless given (the admin CLI also GETs, PUTs and DELETEs). */
  method?: string;
  /** The full URL; its path is what gets signed. */
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  region: string;
  /** The SigV4 service name, e.g. kinesis. */
  service: string;
  timeoutMs: number;
  /** A keep-alive agent to reuse connections; node's default otherwise. */
  agent?: http.Agent;
  /** Told about the request once it exists, e.g. to abort it on shutdown. */
  onRequest?: (request: http.ClientRequest) => void;
}

/** Sends the request; resolves with the status and the body text, whatever the status. */
export function signedPost(post: SignedPost): Promise<{ status: number; body: string }> {
  const { url } = post;
  const path = url.pathname || '/';
  const method = post.method ?? 'POST';
  let headers: Record<string, string> = { host: url.host, ...post.headers };
  if (post.credentials) headers = signRequest({ method, path, headers, body: post.body, ...post.credentials, region: post.region, service: post.service });
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const request = send(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || (url.protocol === 'https:' ? 443 : 80),
        path,
        method,
        ...(post.agent ? { agent: post.agent } : {}),
        headers: { ...headers, 'content-length': String(post.body.length) },
        timeout: post.timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    post.onRequest?.(request);
    request.on('timeout', () => request.destroy(new Error(`no answer within ${post.timeoutMs} ms`)));
    request.on('error', reject);
    request.end(post.body);
  });
}
