import type { ApiClient } from './client.js';
import { isRecord, type CallOptions } from './options.js';
import { parseBody, parseInput, WeixinSignatureSchema, WeixinSignInputSchema } from './schemas.js';

/**
 * What WeChat's JS-SDK `wx.config({ appId, timestamp, nonceStr, signature, jsApiList })` needs. Seed 003 stops before the
 * response body, so this is typed after WeChat's own documentation and checked at runtime: the body may be these fields
 * bare or wrapped as `{ data: { … } }`; `timestamp` (seconds) may arrive as a number or a string of digits and is returned
 * as a number; `signature` is the 40-hex-digit SHA-1 of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…`.
 */
export interface WeixinSignature {
  appId: string;
  timestamp: number;
  nonceStr: string;
  signature: string;
}

export interface WeixinSignInput {
  /** The full URL of the page that calls `wx.config`, without `#…` (WeChat signs the URL without its fragment). */
  url: string;
}

export interface WeixinApi {
  /** Asks the server to sign `url` for the WeChat JS-SDK. Never retried (POST). */
  sign(input: WeixinSignInput, options?: CallOptions): Promise<WeixinSignature>;
}

export const WEIXIN_SIGN_PATH = '/api/weixin-service/sign/';

/** `{ appId, … }` or `{ data: { appId, … } }`. */
const unwrap = (body: unknown): unknown =>
  isRecord(body) && !('appId' in body) && isRecord(body.data) ? body.data : body;

export function createWeixinApi(client: ApiClient, apiUrl: string): WeixinApi {
  return {
    async sign(input, options) {
      const { url } = parseInput(WeixinSignInputSchema, input, 'weixin.sign');
      return client.request<WeixinSignature>({
        method: 'post',
        url: apiUrl + WEIXIN_SIGN_PATH,
        json: { url },
        options,
        parse: (body) => {
          const { appId, timestamp, nonceStr, signature } = parseBody(WeixinSignatureSchema, unwrap(body), 'weixin.sign');
          return { appId, timestamp, nonceStr, signature };
        },
      });
    },
  };
}
