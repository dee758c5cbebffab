/** REST fixtures on apiUrl: subscription fetch, comment count, WeChat JS-SDK signature; 401 without a bearer. */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_SUBSCRIPTION, startEmulator } from '@feat/emulator';
import type { Emulator } from '@feat/emulator';
import { call } from './helpers.js';

let emu: Emulator;
let auth: Record<string, string>;

beforeAll(async () => {
  emu = await startEmulator();
  auth = { Authorization: emu.bearerFor('7815769374283') };
});
afterAll(async () => {
  await emu.stop();
});

const SUBSCRIPTION = '/api/subscription/user-subscription/fetch/';
const COMMENT_COUNT = '/api/activity/comment/comment_count/';
const SIGN = '/api/weixin-service/sign/';

describe('401 without a valid bearer', () => {
  it('on every endpoint', async () => {
    const requests: [string, RequestInit][] = [
      [`${SUBSCRIPTION}?followed_user=3120595892220`, {}],
      [`${COMMENT_COUNT}?target_type=400`, {}],
      [SIGN, { method: 'POST', body: JSON.stringify({ url: 'https://a.example/' }), headers: { 'Content-Type': 'application/json' } }],
    ];
    for (const [path, init] of requests) {
      const none = await call(`${emu.apiUrl}${path}`, init);
      expect(none.status, path).toBe(401);
      expect(none.json).toEqual({ detail: 'Authentication credentials were not provided.' });
      const forged = await call(`${emu.apiUrl}${path}`, { ...init, headers: { ...(init.headers as object), Authorization: 'Bearer nope' } });
      expect(forged.status, path).toBe(401);
      expect(forged.json).toEqual({ detail: 'Invalid token.' });
    }
  });
});

describe('GET /api/subscription/user-subscription/fetch/', () => {
  it("returns the seed's example subscription for its followed_user", async () => {
    const reply = await call(`${emu.apiUrl}${SUBSCRIPTION}?subscription_type=follow_user&followed_user=3120595892220`, { headers: auth });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual(EXAMPLE_SUBSCRIPTION);
    // 13-digit ids survive as exact numbers in the JSON text.
    expect(reply.text).toContain('"user":7815769374283');
  });

  it('404 when not subscribed', async () => {
    for (const q of ['followed_user=4222704093994', 'followed_user=3120595892220&subscription_type=follow_category', 'followed_category=12']) {
      const reply = await call(`${emu.apiUrl}${SUBSCRIPTION}?${q}`, { headers: auth });
      expect(reply.status, q).toBe(404);
      expect(reply.json).toEqual({ detail: 'Not found.' });
    }
  });

  it('400 without followed_user or followed_category', async () => {
    expect((await call(`${emu.apiUrl}${SUBSCRIPTION}?subscription_type=follow_user`, { headers: auth })).status).toBe(400);
  });

  it('fixtures are configurable (a list, or a function)', async () => {
    const sub = { ...EXAMPLE_SUBSCRIPTION, id: 48, followed_user: null, followed_category: 12, subscription_type: 'follow_category' };
    const custom = await startEmulator({ fixtures: { subscriptions: [sub] } });
    const fn = await startEmulator({ fixtures: { subscriptions: (query, user) => (query.followed_user === user ? { ...EXAMPLE_SUBSCRIPTION, id: 1 } : null) } });
    try {
      const hit = await call(`${custom.apiUrl}${SUBSCRIPTION}?followed_category=12`, { headers: { Authorization: custom.bearerFor('u') } });
      expect(hit.json).toEqual(sub);
      expect((await call(`${custom.apiUrl}${SUBSCRIPTION}?followed_user=3120595892220`, { headers: { Authorization: custom.bearerFor('u') } })).status).toBe(404);
      const self = await call(`${fn.apiUrl}${SUBSCRIPTION}?followed_user=42`, { headers: { Authorization: fn.bearerFor('42') } });
      expect(self.json).toMatchObject({ id: 1 });
    } finally {
      await Promise.all([custom.stop(), fn.stop()]);
    }
  });
});

describe('GET /api/activity/comment/comment_count/', () => {
  it('→ {data:{count}} with meta as URL-encoded JSON (the seed example: 7)', async () => {
    const reply = await call(`${emu.apiUrl}${COMMENT_COUNT}?target_type=400&meta=${encodeURIComponent(JSON.stringify({ node_id: 8553 }))}`, { headers: auth });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ data: { count: 7 } });
    // The seed's literal example URL (meta with a space after the colon).
    const literal = await call(`${emu.apiUrl}${COMMENT_COUNT}?target_type=400&meta={%22node_id%22%3A%208553}`, { headers: auth });
    expect(literal.json).toEqual({ data: { count: 7 } });
  });

  it('unknown combinations count 0; meta is optional', async () => {
    expect((await call(`${emu.apiUrl}${COMMENT_COUNT}?target_type=400`, { headers: auth })).json).toEqual({ data: { count: 0 } });
    const other = `${COMMENT_COUNT}?target_type=400&meta=${encodeURIComponent('{"node_id":1}')}`;
    expect((await call(`${emu.apiUrl}${other}`, { headers: auth })).json).toEqual({ data: { count: 0 } });
  });

  it('400 for a non-numeric target_type or non-JSON meta', async () => {
    for (const q of ['', 'target_type=abc', 'target_type=400&meta=%7Bnot-json', 'target_type=400&meta=%5B1%5D']) {
      const reply = await call(`${emu.apiUrl}${COMMENT_COUNT}?${q}`, { headers: auth });
      expect(reply.status, q).toBe(400);
      expect(reply.json).toHaveProperty('detail');
    }
  });

  it('counts are configurable', async () => {
    const custom = await startEmulator({ fixtures: { commentCounts: ({ target_type, meta }) => target_type + Object.keys(meta).length } });
    try {
      const reply = await call(`${custom.apiUrl}${COMMENT_COUNT}?target_type=100&meta=%7B%22a%22%3A1%7D`, { headers: { Authorization: custom.bearerFor('u') } });
      expect(reply.json).toEqual({ data: { count: 101 } });
    } finally {
      await custom.stop();
    }
  });
});

describe('POST /api/weixin-service/sign/', () => {
  const TICKET = 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg';

  it("→ {appId, timestamp, nonceStr, signature}; the signature follows WeChat's JS-SDK algorithm", async () => {
    const custom = await startEmulator({ fixtures: { weixin: { appId: 'wx-test', jsapiTicket: TICKET, nonceStr: 'Wm3WZYTPz0wzccnW', timestamp: 1414587457 } } });
    try {
      const url = 'http://mp.weixin.qq.com?params=value#section';
      const reply = await call(`${custom.apiUrl}${SIGN}`, {
        method: 'POST',
        headers: { Authorization: custom.bearerFor('u'), 'Content-Type': 'application/json' },
        body: JSON.stringify({ url }),
      });
      expect(reply.status).toBe(200);
      // Computed independently: keys sorted, the url without its fragment.
      const expected = createHash('sha1')
        .update(`jsapi_ticket=${TICKET}&noncestr=Wm3WZYTPz0wzccnW&timestamp=1414587457&url=http://mp.weixin.qq.com?params=value`)
        .digest('hex');
      expect(reply.json).toEqual({ appId: 'wx-test', timestamp: 1414587457, nonceStr: 'Wm3WZYTPz0wzccnW', signature: expected });
    } finally {
      await custom.stop();
    }
  });

  it("WeChat's documented example signature", async () => {
    // From the WeChat JS-SDK documentation (附录1-JS-SDK使用权限签名算法).
    const custom = await startEmulator({
      fixtures: { weixin: { appId: 'wx', jsapiTicket: 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg', nonceStr: 'Wm3WZYTPz0wzccnW', timestamp: 1414587457 } },
    });
    try {
      const reply = await call(`${custom.apiUrl}${SIGN}`, {
        method: 'POST',
        headers: { Authorization: custom.bearerFor('u'), 'Content-Type': 'application/json' },
        body: JSON.stringify({ url: 'http://mp.weixin.qq.com?params=value' }),
      });
      expect((reply.json as { signature: string }).signature).toBe('0f9de62fce790f9a083d5c99e95740ceb90c27ed');
    } finally {
      await custom.stop();
    }
  });

  it('defaults: current timestamp in seconds and a fresh nonce', async () => {
    const reply = await call(`${emu.apiUrl}${SIGN}`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: 'https://m.feat.com/' }),
    });
    const s = reply.json as { appId: string; timestamp: number; nonceStr: string; signature: string };
    expect(Number.isInteger(s.timestamp)).toBe(true);
    expect(Math.abs(s.timestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(s.nonceStr).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(s.signature).toMatch(/^[0-9a-f]{40}$/);
  });

  it('400 without a valid url or with a non-JSON body; GET → 405', async () => {
    for (const body of ['{}', '{"url":42}', '{"url":"not a url"}', 'nope']) {
      const reply = await call(`${emu.apiUrl}${SIGN}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body });
      expect(reply.status, body).toBe(400);
    }
    expect((await call(`${emu.apiUrl}${SIGN}`, { headers: auth })).status).toBe(405);
  });
});
