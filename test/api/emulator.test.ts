/**
 * Integration: the REST clients against the emulator's real HTTP endpoints (no msw in this file).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CommentTargetType, createAccountsClient, createFeatApi, type FeatApi } from '@feat/sdk/api';
import { startEmulator, type Emulator } from '@feat/emulator';

const JSAPI_TICKET = 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg';
const APP_ID = 'wx2f0c9ad0d9a8b7c6';

let emu: Emulator;
let api: FeatApi;

beforeAll(async () => {
  emu = await startEmulator({
    port: 0,
    fixtures: {
      weixin: { appId: APP_ID, jsapiTicket: JSAPI_TICKET },
      commentCounts: [
        { target_type: CommentTargetType.Dimzou_Reword, meta: { node_id: 8553 }, count: 7 },
        { target_type: CommentTargetType.Dimzou_Reword, meta: { node_id: 8553, paragraph_id: 7815769374283 }, count: 2 },
      ],
    },
  });
  api = createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor('7815769374283'), retry: { limit: 1, backoffLimit: 20 } });
});

afterAll(async () => {
  await emu?.stop();
});

/** WeChat's documented algorithm, computed independently of the emulator. */
const sha1Signature = (s: { nonceStr: string; timestamp: number }, url: string) =>
  createHash('sha1').update(`jsapi_ticket=${JSAPI_TICKET}&noncestr=${s.nonceStr}&timestamp=${s.timestamp}&url=${url}`).digest('hex');

describe('REST clients against the emulator', () => {
  it('subscription.fetch → the seed subscription, 13-digit ids as exact numbers', async () => {
    const sub = await api.subscription.fetch({ subscription_type: 'follow_user', followed_user: 3120595892220 });
    expect(sub).toEqual({
      id: 47,
      user: 7815769374283,
      followed_user: 3120595892220,
      followed_category: null,
      apply_scene: null,
      subscription_type: 'follow_user',
      created_at: '2022-01-10T08:52:58.425956Z',
      updated_at: '2022-01-10T08:52:58.425387Z',
      entity_type: 100,
    });
  });

  it('subscription.fetch → null when not subscribed (404)', async () => {
    await expect(api.subscription.fetch({ subscription_type: 'follow_user', followed_user: 4222704093994 })).resolves.toBeNull();
    await expect(api.subscription.fetch({ subscription_type: 'follow_category', followed_category: 12 })).resolves.toBeNull();
  });

  it('activity.commentCount → {data:{count}} with meta as URL-encoded JSON', async () => {
    await expect(api.activity.commentCount({ target_type: CommentTargetType.Dimzou_Reword, meta: { node_id: 8553 } })).resolves.toBe(7);
    await expect(
      api.activity.commentCount({ target_type: CommentTargetType.Dimzou_Reword, meta: { node_id: 8553, paragraph_id: 7815769374283 } }),
    ).resolves.toBe(2);
    await expect(api.activity.commentCount({ target_type: CommentTargetType.Dimzou_Reword })).resolves.toBe(0);
  });

  it('weixin.sign → the wx.config fields; the signature is SHA-1 over jsapi_ticket, noncestr, timestamp and url', async () => {
    const url = 'https://m.feat.com/dimzou/8553?from=singlemessage&isappinstalled=0';
    const s = await api.weixin.sign({ url });
    expect(s.appId).toBe(APP_ID);
    expect(Number.isSafeInteger(s.timestamp)).toBe(true);
    expect(Math.abs(s.timestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(s.nonceStr).toMatch(/^\w+$/);
    expect(s.signature).toBe(sha1Signature(s, url));
    // A different URL gives a different signature.
    const other = await api.weixin.sign({ url: 'https://m.feat.com/' });
    expect(other.signature).toBe(sha1Signature(other, 'https://m.feat.com/'));
  });

  it('accounts.couchToken → {headers, dbname} for the bearer\'s user', async () => {
    const token = await api.accounts.couchToken();
    expect(token.headers).toEqual(emu.couchHeadersFor('7815769374283'));
    expect(token.dbname).toMatch(/^userdb-[0-9a-f]+$/);
    expect(token.dbname).toBe(`userdb-${Buffer.from('7815769374283').toString('hex')}`);
    const accountsOnly = createAccountsClient({ accountsUrl: emu.accountsUrl, auth: emu.bearerFor('alice') });
    await expect(accountsOnly.couchToken()).resolves.toMatchObject({ headers: { 'X-Auth-CouchDB-UserName': 'alice' } });
  });

  it('a stale bearer → the provider is asked again and the call retried once', async () => {
    const tokens = ['Bearer stale-or-revoked', emu.bearerFor('alice')];
    const auth = vi.fn(() => tokens.shift() ?? 'Bearer none');
    const fresh = createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth });
    await expect(fresh.activity.commentCount({ target_type: 400, meta: { node_id: 8553 } })).resolves.toBe(7);
    expect(auth).toHaveBeenCalledTimes(2);
  });

  it('a bearer the server never accepts → unauthorized (401) on every endpoint, credentials not echoed', async () => {
    const bad = createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: 'Bearer not-a-valid-token' });
    for (const call of [
      () => bad.subscription.fetch({ subscription_type: 'follow_user', followed_user: 3120595892220 }),
      () => bad.activity.commentCount({ target_type: 400 }),
      () => bad.weixin.sign({ url: 'https://m.feat.com/' }),
      () => bad.accounts.couchToken(),
    ]) {
      const error = (await call().catch((e: unknown) => e)) as Error & { code: string; status: number; url: string };
      expect(error).toMatchObject({ code: 'unauthorized', status: 401 });
      expect(error.url.startsWith(emu.apiUrl) || error.url.startsWith(emu.accountsUrl)).toBe(true);
      expect(`${error.message} ${error.url}`).not.toContain('not-a-valid-token');
    }
  });

  it('every request goes through a custom fetch', async () => {
    const urls: string[] = [];
    const fetch = async (input: Request, init?: RequestInit) => {
      urls.push(new URL(input.url).pathname);
      return globalThis.fetch(input, init);
    };
    const counted = createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor('bob'), fetch });
    await counted.activity.commentCount({ target_type: 400 });
    await counted.weixin.sign({ url: 'https://m.feat.com/' });
    await counted.accounts.couchToken();
    expect(urls).toEqual(['/api/activity/comment/comment_count/', '/api/weixin-service/sign/', '/couchdb/token/']);
  });

  it('server unreachable → network (GET retried, POST not), then works again after resume', async () => {
    const attempts: string[] = [];
    const fetch = (input: Request, init?: RequestInit) => {
      attempts.push(input.method);
      return globalThis.fetch(input, init);
    };
    const counted = createFeatApi({ apiUrl: emu.apiUrl, auth: emu.bearerFor('bob'), fetch, retry: { limit: 2, backoffLimit: 10 } });
    await emu.suspend();
    try {
      const error = await counted.activity.commentCount({ target_type: 400 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'network' });
      expect((error as Error).cause).toBeDefined();
      expect(attempts).toEqual(['GET', 'GET', 'GET']);
      attempts.length = 0;
      await expect(counted.weixin.sign({ url: 'https://m.feat.com/' })).rejects.toMatchObject({ code: 'network' });
      expect(attempts).toEqual(['POST']);
    } finally {
      await emu.resume();
    }
    await expect(api.activity.commentCount({ target_type: 400, meta: { node_id: 8553 } })).resolves.toBe(7);
  });
});
