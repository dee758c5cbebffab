/**
 * REST inputs that would not travel as given are refused before any request (`invalid_argument`): a lone surrogate in
 * a query string goes as U+FFFD (another value the server looks up), a symbol key or a named property on an array is
 * dropped by `JSON.stringify` (docs/api.md: "rejected rather than silently dropped"). Found by the attack of session 34.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';

const sent: string[] = [];
const answer: typeof fetch = async (input, init) => {
  const req = input instanceof Request ? input : new Request(input, init);
  sent.push(req.url);
  return Response.json({ data: { count: 1 } });
};
const api = createFeatApi({ apiUrl: 'http://127.0.0.1:9/x', auth: 'Bearer t', fetch: answer, retry: 0 });

const outcome = async (call: () => Promise<unknown>): Promise<string> => {
  sent.length = 0;
  try {
    await call();
    return 'sent';
  } catch (e) {
    return isFeatError(e) ? `${e.code}${sent.length ? ' after a request' : ''}` : `not a FeatError: ${String(e)}`;
  }
};

describe('REST input that cannot travel as given', () => {
  it.each([
    ['a lone surrogate in apply_scene', () => api.subscription.fetch({ subscription_type: 'follow_user', followed_user: 1, apply_scene: 'a\ud800' })],
    ['a lone surrogate in subscription_type', () => api.subscription.fetch({ subscription_type: 'x\udc00', followed_user: 1 })],
    ['a lone surrogate in a meta value', () => api.activity.commentCount({ target_type: 400, meta: { t: 'a\ud800' } })],
    ['a lone surrogate in a meta key', () => api.activity.commentCount({ target_type: 400, meta: { ['k\udc00']: 1 } })],
    ['a symbol key in meta', () => api.activity.commentCount({ target_type: 400, meta: { node_id: 1, [Symbol('s')]: 2 } as never })],
    ['a named property on an array in meta', () => api.activity.commentCount({ target_type: 400, meta: { ids: Object.assign([1, 2], { extra: 'x' }) } as never })],
  ])('%s → invalid_argument, nothing sent', async (_name, call) => {
    expect(await outcome(call)).toBe('invalid_argument');
  });

  it('well-formed input still goes (an emoji, a plain array)', async () => {
    expect(await outcome(() => api.subscription.fetch({ subscription_type: 'follow_user', followed_user: 1, apply_scene: 'a😀' }).catch(() => undefined))).toBe('sent');
    expect(await outcome(() => api.activity.commentCount({ target_type: 400, meta: { node_id: 1, ids: [1, 2], t: '😀' } as never }))).toBe('sent');
  });
});
