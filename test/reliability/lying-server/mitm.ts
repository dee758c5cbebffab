/* eslint-disable @typescript-eslint/no-explicit-any -- hostile answers are rewritten as untyped JSON */
/**
 * A man-in-the-middle HTTP proxy (Node http) in front of CouchDB/the emulator that can rewrite answers.
 * - `rewrite(req, res)`: buffered answers (not continuous feeds); return a new {status, headers, body} or undefined to pass.
 * - `line(req, obj)`: each JSON line of a `feed=continuous` `_changes` stream; return a string (or array) to send instead.
 * - `respond(req, nodeRes)`: answer without forwarding; return true when handled.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Req { method: string; path: string; url: string; query: URLSearchParams; body: Buffer; json?: any }
export interface Ans { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; json?: any }
export interface Hooks {
  rewrite?: (req: Req, res: Ans) => Partial<Ans> & { json?: any } | undefined | void;
  line?: (req: Req, obj: any, raw: string) => string | string[] | undefined | void;
  respond?: (req: Req, res: ServerResponse) => boolean;
}

export interface Mitm {
  url: string;
  hooks: Hooks;
  log: { t: number; method: string; path: string; url: string; status?: number }[];
  close(): Promise<void>;
  /** Requests in [now - ms, now]. */
  recent(ms: number, match?: RegExp): number;
  reset(): void;
}

export async function startMitm(upstream: string): Promise<Mitm> {
  const up = new URL(upstream);
  const sockets = new Set<Socket>();
  const m: Mitm = {
    url: '',
    hooks: {},
    log: [],
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
    recent(ms, match) {
      const since = performance.now() - ms;
      return m.log.filter((e) => e.t >= since && (!match || match.test(e.path))).length;
    },
    reset() { m.hooks = {}; },
  };
  const server = createServer((creq: IncomingMessage, cres: ServerResponse) => {
    const chunks: Buffer[] = [];
    creq.on('data', (c: Buffer) => chunks.push(c));
    creq.on('end', () => {
      const body = Buffer.concat(chunks as Uint8Array[]);
      const u = new URL(creq.url ?? '/', 'http://x');
      const basePath = up.pathname.replace(/\/$/, '');
      const req: Req = { method: creq.method ?? 'GET', path: u.pathname, url: creq.url ?? '/', query: u.searchParams, body };
      try { if (body.length && /json/.test(String(creq.headers['content-type']))) req.json = JSON.parse(body.toString()); } catch { /* not JSON: left as bytes */ }
      const entry: Mitm['log'][number] = { t: performance.now(), method: req.method, path: req.path, url: req.url };
      m.log.push(entry);
      if (m.log.length > 200_000) m.log.splice(0, 100_000);
      const hooks = m.hooks;
      if (hooks.respond?.(req, cres)) return;
      const headers = { ...creq.headers, host: up.host };
      delete headers['accept-encoding'];
      const preq = httpRequest(
        { host: up.hostname, port: up.port, method: req.method, path: basePath + (creq.url ?? '/'), headers },
        (pres) => {
          if (pres.statusCode !== undefined) entry.status = pres.statusCode;
          const continuous = /_changes$/.test(req.path) && req.query.get('feed') === 'continuous';
          if (continuous && (pres.statusCode ?? 0) < 300) {
            const h = { ...pres.headers };
            delete h['content-length'];
            cres.writeHead(pres.statusCode ?? 200, h);
            let buf = '';
            pres.setEncoding('utf8');
            pres.on('data', (d: string) => {
              buf += d;
              let i: number;
              while ((i = buf.indexOf('\n')) >= 0) {
                const raw = buf.slice(0, i);
                buf = buf.slice(i + 1);
                let out: string | string[] | undefined | void = undefined;
                const lineHook = m.hooks.line;
                if (raw.trim() && lineHook) {
                  try { out = lineHook(req, JSON.parse(raw), raw); } catch { out = undefined; }
                }
                const lines = out === undefined ? [raw] : Array.isArray(out) ? out : [out];
                for (const l of lines) cres.write(l + '\n');
              }
            });
            pres.on('end', () => { if (buf) cres.write(buf); cres.end(); });
            pres.on('error', () => cres.destroy());
            cres.on('close', () => pres.destroy());
            return;
          }
          if (continuous || !hooks.rewrite) {
            cres.writeHead(pres.statusCode ?? 502, pres.headers);
            pres.pipe(cres);
            cres.on('close', () => pres.destroy());
            return;
          }
          const rc: Buffer[] = [];
          pres.on('data', (c: Buffer) => rc.push(c));
          pres.on('error', () => cres.destroy());
          pres.on('end', () => {
            const ans: Ans = { status: pres.statusCode ?? 502, headers: { ...pres.headers }, body: Buffer.concat(rc as Uint8Array[]) };
            try { if (/json/.test(String(pres.headers['content-type'])) || ans.body[0] === 0x7b || ans.body[0] === 0x5b) ans.json = JSON.parse(ans.body.toString()); } catch { /* not JSON: left as bytes */ }
            let out: ReturnType<NonNullable<Hooks['rewrite']>>;
            try { out = hooks.rewrite!(req, ans); } catch (e) { console.error('rewrite threw', e); out = undefined; }
            let status = ans.status, h = ans.headers, b = ans.body;
            if (out) {
              if (out.status !== undefined) status = out.status;
              if (out.headers) h = out.headers;
              if (out.json !== undefined) b = Buffer.from(typeof out.json === 'string' ? out.json : JSON.stringify(out.json));
              else if (out.body) b = out.body;
            }
            h = { ...h, 'content-length': String(b.length) };
            delete h['transfer-encoding'];
            if (!out?.headers) delete h['content-encoding'];
            cres.writeHead(status, h as any);
            cres.end(b);
          });
        },
      );
      preq.on('error', () => cres.destroy());
      cres.on('close', () => preq.destroy());
      preq.end(body);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  m.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return m;
}
