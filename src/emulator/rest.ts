/**
 * The REST API service (`apiUrl`): subscription fetch, comment count and the WeChat JS-SDK signature, served from
 * fixtures. Every endpoint requires one of the emulator's bearers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import express from 'express';
import type { Request, Response } from 'express';
import { methodNotAllowed, notFound, requireBearer } from './accounts.js';
import type { RestFixtures, Subscription, SubscriptionQuery } from './fixtures.js';
import { cors, sendJson } from './http.js';
import { readBody } from './limits.js';
import type { RequestLog } from './request-log.js';
import type { BearerSigner } from './tokens.js';

/** Query parameters a subscription fetch matches on. */
export const SUBSCRIPTION_KEYS = ['followed_user', 'followed_category', 'subscription_type', 'apply_scene', 'entity_type'] as const;

/** WeChat JS-SDK signature: SHA-1 hex of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` (url without its #fragment). */
export function weixinSignature(params: { jsapiTicket: string; nonceStr: string; timestamp: number; url: string }): string {
  const url = params.url.split('#')[0] ?? '';
  const fields: Record<string, string> = {
    jsapi_ticket: params.jsapiTicket,
    noncestr: params.nonceStr,
    timestamp: String(params.timestamp),
    url,
  };
  const text = Object.keys(fields)
    .sort()
    .map((k) => `${k}=${fields[k]}`)
    .join('&');
  return createHash('sha1').update(text, 'utf8').digest('hex');
}

function firstString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

function matchesSubscription(sub: Subscription, query: SubscriptionQuery): boolean {
  return SUBSCRIPTION_KEYS.every((key) => {
    const wanted = query[key];
    if (wanted === undefined) return true;
    const actual = sub[key];
    if (actual === null) return wanted === '' || wanted === 'null';
    return String(actual) === wanted;
  });
}

function nonce(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(16), (b) => alphabet[b % alphabet.length]).join('');
}

const badRequest = (res: Response, detail: string) => sendJson(res, 400, { detail });

export function createRestApp(ctx: { bearers: BearerSigner; fixtures: RestFixtures; log: RequestLog }): express.Express {
  const { fixtures } = ctx;
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    ctx.log.observe('api', req, res);
    next();
  });
  app.use(cors({ strict: false, methods: ['GET', 'POST', 'OPTIONS'] }));
  const auth = requireBearer(ctx.bearers);

  app
    .route('/api/subscription/user-subscription/fetch/')
    .get(auth, (req: Request, res: Response) => {
      const query: SubscriptionQuery = {};
      for (const [k, v] of Object.entries(req.query)) {
        const s = firstString(v);
        if (s !== undefined) query[k] = s;
      }
      if (query.followed_user === undefined && query.followed_category === undefined) {
        return badRequest(res, 'followed_user or followed_category is required.');
      }
      const found =
        typeof fixtures.subscriptions === 'function'
          ? fixtures.subscriptions(query, res.locals.userName as string)
          : (fixtures.subscriptions.find((s) => matchesSubscription(s, query)) ?? null);
      if (found === null) return sendJson(res, 404, { detail: 'Not found.' });
      sendJson(res, 200, found);
    })
    .all(methodNotAllowed);

  app
    .route('/api/activity/comment/comment_count/')
    .get(auth, (req: Request, res: Response) => {
      const targetText = firstString(req.query.target_type);
      if (targetText === undefined || !/^-?\d+$/.test(targetText)) return badRequest(res, 'target_type must be an integer.');
      const target_type = Number(targetText);
      let meta: Record<string, unknown> = {};
      const metaText = firstString(req.query.meta);
      if (metaText !== undefined && metaText !== '') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(metaText);
        } catch {
          return badRequest(res, 'meta must be a JSON object.');
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return badRequest(res, 'meta must be a JSON object.');
        meta = parsed as Record<string, unknown>;
      }
      const count =
        typeof fixtures.commentCounts === 'function'
          ? fixtures.commentCounts({ target_type, meta })
          : (fixtures.commentCounts.find((e) => e.target_type === target_type && isDeepStrictEqual(e.meta ?? {}, meta))?.count ?? 0);
      sendJson(res, 200, { data: { count } });
    })
    .all(methodNotAllowed);

  app
    .route('/api/weixin-service/sign/')
    .post(auth, async (req: Request, res: Response) => {
      const result = await readBody(req, 1_048_576);
      if (!result.ok) return result.reason === 'too_large' ? sendJson(res, 413, { detail: 'Request body too large.' }) : undefined;
      let body: unknown;
      try {
        body = JSON.parse(result.body.toString('utf8'));
      } catch {
        return badRequest(res, 'JSON parse error.');
      }
      const url = (body as { url?: unknown } | null)?.url;
      if (typeof url !== 'string' || !/^https?:\/\/\S+$/i.test(url)) return badRequest(res, 'url must be an http(s) URL.');
      const { appId, jsapiTicket } = fixtures.weixin;
      const timestamp = fixtures.weixin.timestamp ?? Math.floor(Date.now() / 1000);
      const nonceStr = fixtures.weixin.nonceStr ?? nonce();
      sendJson(res, 200, { appId, timestamp, nonceStr, signature: weixinSignature({ jsapiTicket, nonceStr, timestamp, url }) });
    })
    .all(methodNotAllowed);

  app.use(notFound);
  return app;
}
