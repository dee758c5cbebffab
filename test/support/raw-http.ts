import { request } from 'node:http';

/** A raw answer: status, body (parsed when JSON), text and headers. */
export interface RawAnswer {
  status: number;
  body: unknown;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Raw HTTP (node:http: the path goes out as written, no client library in between) to `base`; a body is sent as
 * `application/json` unless `headers` say otherwise. Used by the differential files, which compare exact answers.
 */
export function rawRequest(base: string, method: string, path: string, body: string | undefined, headers: Record<string, string>): Promise<RawAnswer> {
  const u = new URL(base);
  const sent = { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers };
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: sent, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // nginx's HTML, or an attachment
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}
