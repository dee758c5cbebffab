import { createHash } from 'node:crypto';
import { http, HttpResponse, delay } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createFeatApi, FeatValidationError, type WeixinSignature } from '@feat/sdk/api';
import { API, fastRetry, rejection, useMsw } from './msw.js';

const { server, requests } = useMsw();
const PATH = `${API}/api/weixin-service/sign/`;
const api = (extra: Record<string, unknown> = {}) => createFeatApi({ apiUrl: API, auth: 'Bearer tok', retry: fastRetry, ...extra });

const PAGE = 'https://m.feat.com/dimzou/8553?from=timeline&isappinstalled=0';
const sign = (url: string): WeixinSignature => {
  const timestamp = 1641804778;
  const nonceStr = 'Wm3WZYTPz0wzccnW';
  const signature = createHash('sha1')
    .update(`jsapi_ticket=ticket&noncestr=${nonceStr}&timestamp=${timestamp}&url=${url}`)
    .digest('hex');
  return { appId: 'wx0123456789abcdef', timestamp, nonceStr, signature };
};

describe('weixin.sign', () => {
  it('POSTs {url} as JSON and returns the bare wx.config fields', async () => {
    server.use(
      http.post(PATH, async ({ request }) => {
        const { url } = (await request.json()) as { url: string };
        return HttpResponse.json(sign(url));
      }),
    );
    const result = await api().weixin.sign({ url: PAGE });
    expect(result).toEqual(sign(PAGE));
    expect(requests).toHaveLength(1);
    expect(requests[0]!.method).toBe('POST');
    expect(requests[0]!.headers.get('content-type')).toContain('application/json');
    expect(await requests[0]!.json()).toEqual({ url: PAGE });
  });

  it('accepts the body wrapped in {data}, a timestamp as a digit string, and drops extra fields', async () => {
    const s = sign(PAGE);
    server.use(http.post(PATH, () => HttpResponse.json({ data: { ...s, timestamp: String(s.timestamp), url: PAGE, jsApiList: [] } })));
    await expect(api().weixin.sign({ url: PAGE })).resolves.toEqual(s);
  });

  it('sends the url exactly as given (no normalisation)', async () => {
    server.use(http.post(PATH, async ({ request }) => HttpResponse.json(sign(((await request.json()) as { url: string }).url))));
    const odd = 'HTTPS://M.feat.com:443/a/../b?q=%E4%B8%AD';
    await api().weixin.sign({ url: odd });
    expect(await requests[0]!.json()).toEqual({ url: odd });
  });

  it('404 → not_found', async () => {
    server.use(http.post(PATH, () => new HttpResponse(null, { status: 404 })));
    await expect(api().weixin.sign({ url: PAGE })).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });

  it('401 → refresh and retry once (even for a POST), body sent again', async () => {
    let calls = 0;
    const auth = vi.fn(() => `Bearer t${++calls}`);
    server.use(
      http.post(PATH, async ({ request }) => {
        const { url } = (await request.json()) as { url: string };
        return request.headers.get('authorization') === 'Bearer t2' ? HttpResponse.json(sign(url)) : new HttpResponse(null, { status: 401 });
      }),
    );
    await expect(api({ auth }).weixin.sign({ url: PAGE })).resolves.toEqual(sign(PAGE));
    expect(auth).toHaveBeenCalledTimes(2);
    expect(requests).toHaveLength(2);
    expect(await requests[1]!.json()).toEqual({ url: PAGE });
  });

  it('401 twice → unauthorized', async () => {
    server.use(http.post(PATH, () => new HttpResponse(null, { status: 401 })));
    await expect(api().weixin.sign({ url: PAGE })).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
    expect(requests).toHaveLength(2);
  });

  it('5xx → server, never retried (POST)', async () => {
    server.use(http.post(PATH, () => new HttpResponse(null, { status: 503 })));
    await expect(api().weixin.sign({ url: PAGE })).rejects.toMatchObject({ code: 'server', status: 503 });
    expect(requests).toHaveLength(1);
  });

  it('network error → network, never retried (POST)', async () => {
    server.use(http.post(PATH, () => HttpResponse.error()));
    await expect(api().weixin.sign({ url: PAGE })).rejects.toMatchObject({ code: 'network' });
    expect(requests).toHaveLength(1);
  });

  it('malformed JSON → bad_response', async () => {
    server.use(http.post(PATH, () => new HttpResponse('', { status: 200 })));
    await expect(api().weixin.sign({ url: PAGE })).rejects.toMatchObject({ code: 'bad_response', status: 200 });
  });

  it.each([
    ['missing signature', { appId: 'wx1', timestamp: 1, nonceStr: 'n' }],
    ['signature not hex', { ...sign(PAGE), signature: 'not-a-sha1' }],
    ['timestamp not numeric', { ...sign(PAGE), timestamp: 'soon' }],
    ['snake_case names', { app_id: 'wx1', timestamp: 1, nonce_str: 'n', signature: sign(PAGE).signature }],
    ['data not an object', { data: 'x' }],
  ])('wrong shape (%s) → bad_response', async (_name, body) => {
    server.use(http.post(PATH, () => HttpResponse.json(body)));
    await expect(api().weixin.sign({ url: PAGE })).rejects.toMatchObject({ code: 'bad_response', status: 200 });
  });

  it('timeout → timeout (not retried)', async () => {
    server.use(
      http.post(PATH, async () => {
        await delay(2_000);
        return HttpResponse.json(sign(PAGE));
      }),
    );
    await expect(api().weixin.sign({ url: PAGE }, { timeout: 40 })).rejects.toMatchObject({ code: 'timeout' });
    expect(requests).toHaveLength(1);
  });

  it('abort → aborted', async () => {
    server.use(
      http.post(PATH, async () => {
        await delay('infinite');
        return HttpResponse.json(sign(PAGE));
      }),
    );
    const error = await rejection(api().weixin.sign({ url: PAGE }, { signal: AbortSignal.timeout(30) }));
    expect(error).toMatchObject({ code: 'aborted' });
    expect((error.cause as Error).name).toBe('TimeoutError');
  });

  it.each([
    ['a relative url', { url: '/dimzou/8553' }],
    ['a fragment', { url: `${PAGE}#section` }],
    ['another scheme', { url: 'weixin://dl/business' }],
    ['surrounding spaces', { url: ` ${PAGE} ` }],
    ['no url', {}],
    ['a URL object', { url: new URL(PAGE) }],
    ['an extra field', { url: PAGE, jsApiList: ['updateAppMessageShareData'] }],
  ])('invalid input (%s) → invalid_argument, nothing sent', async (_name, input) => {
    const error = await rejection(api().weixin.sign(input as never));
    expect(error).toBeInstanceOf(FeatValidationError);
    expect(error.code).toBe('invalid_argument');
    expect(requests).toHaveLength(0);
  });
});
