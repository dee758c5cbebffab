/** Small HTTP helpers shared by the three services: JSON and nginx-style responses, CORS. */
import type { NextFunction, Request, Response } from 'express';

/** Sends `body` as JSON with a trailing newline, like CouchDB. */
export function sendJson(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.status(status);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json');
  res.end(`${JSON.stringify(body)}\n`);
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  405: 'Not Allowed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Large',
  408: 'Request Time-out',
  502: 'Bad Gateway',
  504: 'Gateway Time-out',
};

/**
 * nginx's own 400 variants: their title names the cause and a line under the heading repeats it (a header line over
 * `large_client_header_buffers`: "400 Request Header Or Cookie Too Large", measured).
 */
export type NginxVariant = 'Request Header Or Cookie Too Large';

/** An error page exactly as nginx renders it (e.g. `413 Request Entity Too Large`). */
export function nginxPage(status: number, variant?: NginxVariant): string {
  const heading = `${status} ${REASONS[status] ?? 'Error'}`;
  const title = variant === undefined ? heading : `${status} ${variant}`;
  const cause = variant === undefined ? '' : `<center>${variant}</center>\r\n`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${heading}</h1></center>\r\n${cause}<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

/** couch_httpd:etag_match: `If-None-Match` split on commas and spaces, a `W/` prefix dropped; compared exactly. */
export function etagsOf(ifNoneMatch: string): string[] {
  return ifNoneMatch
    .split(/[, ]+/)
    .filter((t) => t !== '')
    .map((t) => (t.startsWith('W/') ? t.slice(2) : t));
}

/** Headers every answer from CouchDB carries (chttpd), and nginx's own pages do not. */
export const COUCH_HEADERS = ['Cache-Control', 'X-Couch-Request-ID', 'X-CouchDB-Body-Time'];

/**
 * nginx's own answer (its body limit's 413, a location's 405, a 502): CouchDB's headers are not on it, nor CORS —
 * CouchDB adds those, nginx does not — so a browser page on another origin cannot read it: `fetch` fails as if
 * offline (measured on the deployment's nginx).
 */
export function sendNginxError(res: Response, status: number, variant?: NginxVariant): void {
  for (const name of COUCH_HEADERS) res.removeHeader(name);
  for (const name of ['Access-Control-Allow-Origin', 'Access-Control-Allow-Credentials', 'Access-Control-Expose-Headers', 'Vary']) res.removeHeader(name);
  res.status(status);
  res.setHeader('Content-Type', 'text/html');
  res.setHeader('Server', 'nginx');
  res.end(nginxPage(status, variant));
}

/** The seed's `[cors]` section. */
export const CORS_HEADERS = ['accept', 'authorization', 'content-type', 'origin', 'referer', 'x-auth-couchdb-username', 'x-auth-couchdb-token'];
export const CORS_METHODS = ['GET', 'PUT', 'POST', 'HEAD', 'DELETE'];
const EXPOSED = 'content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, x-couch-update-newrev, x-couchdb-body-time';

/**
 * CORS like the seed's CouchDB config: every origin is reflected, credentials allowed, preflights answered without
 * authentication. `strict` is CouchDB's `chttpd_cors`: a preflight asking for another method or header, or without
 * `Origin`, is not a preflight at all — it goes on as a plain `OPTIONS` request (which then needs authentication) —
 * and `Access-Control-Allow-Headers` repeats the requested headers as sent. Otherwise (the accounts service and REST
 * API) requested headers are accepted and echoed back.
 */
export function cors(options: { strict: boolean; methods?: string[] }) {
  const methods = options.methods ?? CORS_METHODS;
  const plainCors = (res: Response, origin: string): void => {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED);
  };
  return (req: Request, res: Response, next: NextFunction): void => {
    const origin = req.headers.origin;
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (origin === undefined) {
      if (preflight && !options.strict) {
        res.status(204).end();
        return;
      }
      next();
      return;
    }
    res.setHeader('Vary', 'Origin');
    if (!preflight) {
      plainCors(res, origin);
      next();
      return;
    }
    const method = String(req.headers['access-control-request-method']);
    const asked = String(req.headers['access-control-request-headers'] ?? '');
    const requested = asked
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== '');
    const allowedHeaders = options.strict ? CORS_HEADERS : [...new Set([...CORS_HEADERS, ...requested])];
    const ok = (options.strict ? methods.includes(method) : methods.includes(method.toUpperCase())) && requested.every((h) => allowedHeaders.includes(h));
    if (!ok && options.strict) {
      plainCors(res, origin);
      next();
      return;
    }
    if (ok) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', methods.join(', '));
      res.setHeader('Access-Control-Allow-Headers', options.strict ? asked : allowedHeaders.join(', '));
      res.setHeader('Access-Control-Max-Age', '600');
    }
    res.status(204).end();
  };
}
