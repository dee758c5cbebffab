import { http, HttpResponse, delay } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { CommentTargetType, createFeatApi, FeatValidationError } from '@feat/sdk/api';
import { API, fastRetry, rejection, useMsw } from './msw.js';

const { server, requests } = useMsw();
const PATH = `${API}/api/activity/comment/comment_count/`;
const api = (extra: Record<string, unknown> = {}) => createFeatApi({ apiUrl: API, auth: 'Bearer tok', retry: fastRetry, ...extra });
const count = (n: unknown) => HttpResponse.json({ data: { count: n } });

describe('activity.commentCount', () => {
  it('sends target_type and meta as URL-encoded JSON, like the documented example, and returns the count', async () => {
    server.use(http.get(PATH, () => count(7)));
    const n = await api().activity.commentCount({ target_type: CommentTargetType.Dimzou_Reword, meta: { node_id: 8553 } });
    expect(n).toBe(7);
    expect(requests).toHaveLength(1);
    const url = requests[0]!.url;
    expect(url).toBe(`${PATH}?target_type=400&meta=%7B%22node_id%22%3A8553%7D`);
    expect(JSON.parse(new URL(url).searchParams.get('meta')!)).toEqual({ node_id: 8553 });
  });

  it('omits meta when not given; keeps 13-digit numbers exact inside meta', async () => {
    server.use(http.get(PATH, () => count(0)));
    await expect(api().activity.commentCount({ target_type: 400 })).resolves.toBe(0);
    await api().activity.commentCount({ target_type: 400, meta: { node_id: 7815769374283, paragraph_id: 3120595892220 } });
    expect(new URL(requests[0]!.url).searchParams.has('meta')).toBe(false);
    expect(JSON.parse(new URL(requests[1]!.url).searchParams.get('meta')!)).toEqual({
      node_id: 7815769374283,
      paragraph_id: 3120595892220,
    });
  });

  it('404 → not_found', async () => {
    server.use(http.get(PATH, () => HttpResponse.json({ detail: 'Not found.' }, { status: 404 })));
    await expect(api().activity.commentCount({ target_type: 400 })).rejects.toMatchObject({ code: 'not_found', status: 404 });
    expect(requests).toHaveLength(1);
  });

  it('401 → refresh and retry once with the new value', async () => {
    let calls = 0;
    const auth = vi.fn(async () => `Bearer t${++calls}`);
    server.use(http.get(PATH, ({ request }) => (request.headers.get('authorization') === 'Bearer t2' ? count(3) : new HttpResponse(null, { status: 401 }))));
    await expect(api({ auth }).activity.commentCount({ target_type: 400 })).resolves.toBe(3);
    expect(auth).toHaveBeenCalledTimes(2);
    expect(requests.map((r) => r.headers.get('authorization'))).toEqual(['Bearer t1', 'Bearer t2']);
  });

  it('401 twice → unauthorized', async () => {
    server.use(http.get(PATH, () => new HttpResponse(null, { status: 401 })));
    await expect(api().activity.commentCount({ target_type: 400 })).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
    expect(requests).toHaveLength(2);
  });

  it('5xx → retried, then succeeds', async () => {
    let n = 0;
    server.use(http.get(PATH, () => (++n === 1 ? new HttpResponse(null, { status: 500 }) : count(2))));
    await expect(api().activity.commentCount({ target_type: 400 })).resolves.toBe(2);
    expect(requests).toHaveLength(2);
  });

  it('retry: 0 → no retry', async () => {
    server.use(http.get(PATH, () => new HttpResponse(null, { status: 500 })));
    await expect(api({ retry: 0 }).activity.commentCount({ target_type: 400 })).rejects.toMatchObject({ code: 'server', status: 500 });
    expect(requests).toHaveLength(1);
  });

  it('malformed JSON → bad_response', async () => {
    server.use(http.get(PATH, () => new HttpResponse('<html>nginx</html>', { headers: { 'content-type': 'text/html' } })));
    await expect(api().activity.commentCount({ target_type: 400 })).rejects.toMatchObject({ code: 'bad_response', status: 200 });
  });

  it.each([
    ['bare count', { count: 7 }],
    ['count as a string', { data: { count: '7' } }],
    ['negative count', { data: { count: -1 } }],
    ['fractional count', { data: { count: 1.5 } }],
    ['null', null],
  ])('wrong shape (%s) → bad_response', async (_name, body) => {
    server.use(http.get(PATH, () => HttpResponse.json(body)));
    await expect(api().activity.commentCount({ target_type: 400 })).rejects.toMatchObject({ code: 'bad_response', status: 200 });
  });

  it('timeout (instance option) → timeout', async () => {
    server.use(
      http.get(PATH, async () => {
        await delay(2_000);
        return count(1);
      }),
    );
    await expect(api({ timeout: 40 }).activity.commentCount({ target_type: 400 })).rejects.toMatchObject({ code: 'timeout' });
  });

  it('abort → aborted', async () => {
    server.use(
      http.get(PATH, async () => {
        await delay('infinite');
        return count(1);
      }),
    );
    const controller = new AbortController();
    const pending = api().activity.commentCount({ target_type: 400 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const error = await rejection(pending);
    expect(error).toMatchObject({ code: 'aborted' });
    expect((error.cause as Error).name).toBe('AbortError');
  });

  it.each([
    ['no target_type', {}],
    ['target_type as a string', { target_type: '400' }],
    ['fractional target_type', { target_type: 4.5 }],
    ['meta as a string', { target_type: 400, meta: '{"node_id":8553}' }],
    ['meta with undefined', { target_type: 400, meta: { node_id: undefined } }],
    ['meta with NaN', { target_type: 400, meta: { node_id: Number.NaN } }],
    ['meta with a Date', { target_type: 400, meta: { at: new Date() } }],
    ['meta as an array', { target_type: 400, meta: [8553] }],
    ['unknown field', { target_type: 400, node_id: 8553 }],
  ])('invalid input (%s) → invalid_argument, nothing sent', async (_name, input) => {
    const error = await rejection(api().activity.commentCount(input as never));
    expect(error).toBeInstanceOf(FeatValidationError);
    expect(error.code).toBe('invalid_argument');
    expect(requests).toHaveLength(0);
  });

  it('CommentTargetType names only what the seed grounds', () => {
    expect(CommentTargetType).toEqual({ Dimzou_Reword: 400 });
  });
});
