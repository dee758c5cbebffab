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
};

/** An error page exactly as nginx renders it (e.g. `413 Request Entity Too Large`). */
export function nginxPage(status: number): string {
  const title = `${status} ${REASONS[status] ?? 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

export function sendNginxError(res: Response, status: number): void {
  res.status(status);
  res.setHeader('Content-Type', 'text/html');
  res.setHeader('Server', 'nginx');
  res.end(nginxPage(status));
}

/** The seed's `[cors]` section. */
export const CORS_HEADERS = ['accept', 'authorization', 'content-type', 'origin', 'referer', 'x-auth-couchdb-username', 'x-auth-couchdb-token'];
export const CORS_METHODS = ['GET', 'PUT', 'POST', 'HEAD', 'DELETE'];
const EXPOSED = 'content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, x-couch-update-newrev, x-couchdb-body-time';

/**
 * CORS like the seed's CouchDB config: every origin is reflected, credentials allowed, preflights answered without
 * authentication. `strict` (CouchDB) refuses preflights asking for other methods or headers by omitting the CORS headers,
 * as CouchDB does; otherwise requested headers are echoed back.
 */
export function cors(options: { strict: boolean; methods?: string[] }) {
  const methods = options.methods ?? CORS_METHODS;
  return (req: Request, res: Response, next: NextFunction): void => {
    const origin = req.headers.origin;
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (origin === undefined) {
      if (preflight) {
        res.status(204).end();
        return;
      }
      next();
      return;
    }
    res.setHeader('Vary', 'Origin');
    if (!preflight) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Expose-Headers', EXPOSED);
      next();
      return;
    }
    const method = String(req.headers['access-control-request-method']).toUpperCase();
    const requested = String(req.headers['access-control-request-headers'] ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== '');
    const allowedHeaders = options.strict ? CORS_HEADERS : [...new Set([...CORS_HEADERS, ...requested])];
    const ok = methods.includes(method) && requested.every((h) => allowedHeaders.includes(h));
    if (ok) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', methods.join(', '));
      res.setHeader('Access-Control-Allow-Headers', allowedHeaders.join(', '));
      res.setHeader('Access-Control-Max-Age', '600');
    }
    res.status(204).end();
  };
}
