import { request } from 'node:http';
import type { RawAnswer } from '../support/raw-http.js';

/** Raw HTTP with an overall deadline: an answer not finished by then is cut and marked (`cut: true`). */
export function rawCapped(base: string, method: string, path: string, body: string | Buffer | undefined, headers: Record<string, string>, deadlineMs = 4000): Promise<RawAnswer & { cut: boolean; ms: number }> {
  const u = new URL(base);
  const sent = { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers };
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    let text = '';
    let status = 0;
    let hdrs: RawAnswer['headers'] = {};
    const finish = (cut: boolean) => {
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON
      }
      resolve({ status, body: parsed, text, headers: hdrs, cut, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => {
      req.destroy();
      if (status === 0) reject(new Error(`${method} ${path}: no answer in ${deadlineMs} ms`));
      else finish(true);
    }, deadlineMs);
    const req = request({ host: u.hostname, port: u.port, method, path, headers: sent, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      hdrs = res.headers;
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        clearTimeout(timer);
        finish(false);
      });
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      if (status !== 0) finish(true);
      else reject(e);
    });
    req.end(body);
  });
}
