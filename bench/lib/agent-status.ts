import http from 'node:http';
import type { AgentStatus } from '../../agent/status.js';

/** A running agent's status document from its local endpoint (`status.port` of its config). */
export function getAgentStatus(url: string): Promise<AgentStatus> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/status`, { timeout: 5000 }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => (response.statusCode === 200 ? resolve(JSON.parse(body) as AgentStatus) : reject(new Error(`status: HTTP ${response.statusCode}`))));
      })
      .on('error', reject);
  });
}
