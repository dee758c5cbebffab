/**
 * The accounts service: `GET /couchdb/token/` turns a bearer into CouchDB proxy-auth headers and the user's database
 * name. Errors follow the Django REST framework style of the real service (`{"detail": …}`).
 */
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { cors, sendJson } from './http.js';
import type { RequestLog } from './request-log.js';
import type { BearerSigner } from './tokens.js';
import { proxyToken, userDbName } from './tokens.js';

export const NOT_AUTHENTICATED = { detail: 'Authentication credentials were not provided.' };
export const INVALID_TOKEN = { detail: 'Invalid token.' };

/** Express middleware requiring one of the emulator's bearers; the user name lands in `res.locals.userName`. */
export function requireBearer(bearers: BearerSigner) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const authorization = req.headers.authorization;
    const headers = { 'WWW-Authenticate': 'Bearer realm="api"' };
    if (authorization === undefined || authorization.trim() === '') return sendJson(res, 401, NOT_AUTHENTICATED, headers);
    const userName = bearers.verify(authorization);
    if (userName === undefined) return sendJson(res, 401, INVALID_TOKEN, headers);
    res.locals.userName = userName;
    next();
  };
}

export function notFound(_req: Request, res: Response): void {
  sendJson(res, 404, { detail: 'Not found.' });
}

export function methodNotAllowed(req: Request, res: Response): void {
  sendJson(res, 405, { detail: `Method "${req.method}" not allowed.` });
}

export function createAccountsApp(ctx: { bearers: BearerSigner; secret: () => string; log: RequestLog }): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    ctx.log.observe('accounts', req, res);
    next();
  });
  app.use(cors({ strict: false, methods: ['GET', 'POST', 'OPTIONS'] }));
  app
    .route('/couchdb/token/')
    .get(requireBearer(ctx.bearers), (_req, res) => {
      const userName = res.locals.userName as string;
      sendJson(res, 200, {
        data: {
          headers: { 'X-Auth-CouchDB-UserName': userName, 'X-Auth-CouchDB-Token': proxyToken(ctx.secret(), userName) },
          dbname: userDbName(userName),
        },
      });
    })
    .all(methodNotAllowed);
  app.use(notFound);
  return app;
}
