import { describe, expectTypeOf, it } from 'vitest';
import {
  CommentTargetType,
  createApiClient,
  createFeatApi,
  type ApiClient,
  type AuthSource,
  type CallOptions,
  type CommentCountQuery,
  type CouchToken,
  type FeatApi,
  type FeatApiOptions,
  type Subscription,
  type SubscriptionQuery,
  type WeixinSignature,
} from '@feat/sdk/api';

describe('@feat/sdk/api types', () => {
  it('createFeatApi takes FeatApiOptions and returns FeatApi', () => {
    expectTypeOf(createFeatApi).parameter(0).toEqualTypeOf<FeatApiOptions>();
    expectTypeOf(createFeatApi).returns.toEqualTypeOf<FeatApi>();
    expectTypeOf<FeatApiOptions['apiUrl']>().toEqualTypeOf<string>();
    expectTypeOf<FeatApiOptions['auth']>().toEqualTypeOf<string | (() => string | Promise<string>) | AuthSource>();
    expectTypeOf<FeatApiOptions['timeout']>().toEqualTypeOf<number | undefined>();
  });

  it('accepts what the main client passes: possibly-undefined accountsUrl and fetch, auth string or provider', () => {
    const accountsUrl = undefined as string | undefined;
    const fetch = undefined as typeof globalThis.fetch | undefined;
    expectTypeOf(createFeatApi({ apiUrl: 'https://www.featapi.com', accountsUrl, auth: 'Bearer x', fetch })).toEqualTypeOf<FeatApi>();
    expectTypeOf(createFeatApi({ apiUrl: 'https://www.featapi.com', auth: async () => 'Bearer x', fetch: globalThis.fetch, retry: 3 })).toEqualTypeOf<FeatApi>();
    expectTypeOf(createFeatApi({ apiUrl: 'x', auth: 'x', retry: { limit: 1, backoffLimit: 100 } })).toEqualTypeOf<FeatApi>();
    // @ts-expect-error apiUrl is required
    createFeatApi({ auth: 'x' });
    // @ts-expect-error auth is required
    createFeatApi({ apiUrl: 'x' });
    // @ts-expect-error a number is not an Authorization value
    createFeatApi({ apiUrl: 'x', auth: 42 });
  });

  it('endpoint signatures', () => {
    const api = {} as FeatApi;
    expectTypeOf(api.subscription.fetch).parameters.toEqualTypeOf<[SubscriptionQuery, (CallOptions | undefined)?]>();
    expectTypeOf(api.subscription.fetch).returns.toEqualTypeOf<Promise<Subscription | null>>();
    expectTypeOf(api.activity.commentCount).parameters.toEqualTypeOf<[CommentCountQuery, (CallOptions | undefined)?]>();
    expectTypeOf(api.activity.commentCount).returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf(api.weixin.sign).parameter(0).toEqualTypeOf<{ url: string }>();
    expectTypeOf(api.weixin.sign).returns.toEqualTypeOf<Promise<WeixinSignature>>();
    expectTypeOf(api.accounts.couchToken).parameters.toEqualTypeOf<[(CallOptions | undefined)?]>();
    expectTypeOf(api.accounts.couchToken).returns.toEqualTypeOf<Promise<CouchToken>>();
  });

  it('CallOptions', () => {
    expectTypeOf<CallOptions>().toEqualTypeOf<{ signal?: AbortSignal | undefined; timeout?: number | undefined }>();
  });

  it('Subscription keeps wire names (snake_case) and numeric ids', () => {
    expectTypeOf<Subscription['id']>().toEqualTypeOf<number>();
    expectTypeOf<Subscription['user']>().toEqualTypeOf<number>();
    expectTypeOf<Subscription['followed_user']>().toEqualTypeOf<number | null>();
    expectTypeOf<Subscription['followed_category']>().toEqualTypeOf<number | null>();
    expectTypeOf<Subscription['apply_scene']>().toEqualTypeOf<string | number | null>();
    expectTypeOf<Subscription['created_at']>().toEqualTypeOf<string>();
    expectTypeOf<Subscription['updated_at']>().toEqualTypeOf<string>();
    expectTypeOf<Subscription['entity_type']>().toEqualTypeOf<number>();
    expectTypeOf<'follow_user'>().toMatchTypeOf<Subscription['subscription_type']>();
    expectTypeOf<Subscription>().not.toHaveProperty('followedUser');
    expectTypeOf<keyof Subscription>().toEqualTypeOf<
      'id' | 'user' | 'followed_user' | 'followed_category' | 'apply_scene' | 'subscription_type' | 'created_at' | 'updated_at' | 'entity_type'
    >();
  });

  it('SubscriptionQuery', () => {
    expectTypeOf({ subscription_type: 'follow_user', followed_user: 3120595892220 }).toMatchTypeOf<SubscriptionQuery>();
    expectTypeOf<SubscriptionQuery['followed_user']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<{ followed_user: number }>().not.toMatchTypeOf<SubscriptionQuery>();
    expectTypeOf<{ subscription_type: 'follow_user'; followed_user: string }>().not.toMatchTypeOf<SubscriptionQuery>();
  });

  it('CommentTargetType is a const object of numbers and its value type', () => {
    expectTypeOf(CommentTargetType).toEqualTypeOf<{ readonly Dimzou_Reword: 400 }>();
    expectTypeOf<CommentTargetType>().toEqualTypeOf<400>();
    expectTypeOf({ target_type: CommentTargetType.Dimzou_Reword, meta: { node_id: 8553 } }).toMatchTypeOf<CommentCountQuery>();
    expectTypeOf({ target_type: 401 }).toMatchTypeOf<CommentCountQuery>();
    expectTypeOf<{ target_type: '400' }>().not.toMatchTypeOf<CommentCountQuery>();
    expectTypeOf<{ target_type: 400; meta: string }>().not.toMatchTypeOf<CommentCountQuery>();
  });

  it('WeixinSignature is what wx.config needs', () => {
    expectTypeOf<WeixinSignature>().toEqualTypeOf<{ appId: string; timestamp: number; nonceStr: string; signature: string }>();
  });

  it('CouchToken', () => {
    expectTypeOf<CouchToken['dbname']>().toEqualTypeOf<string>();
    expectTypeOf<CouchToken['headers']['X-Auth-CouchDB-UserName']>().toEqualTypeOf<string>();
    expectTypeOf<CouchToken['headers']['X-Auth-CouchDB-Token']>().toEqualTypeOf<string>();
  });

  it('the lower-level client: generics default to unknown', () => {
    const client = createApiClient({ apiUrl: 'x', auth: 'x' });
    expectTypeOf(client).toEqualTypeOf<ApiClient>();
    expectTypeOf(client.auth).toEqualTypeOf<AuthSource>();
    expectTypeOf(client.request({ method: 'get', url: 'x', parse: (b) => b })).toEqualTypeOf<Promise<unknown>>();
    expectTypeOf(client.request({ method: 'get', url: 'x', parse: () => 1 })).toEqualTypeOf<Promise<number>>();
  });
});
