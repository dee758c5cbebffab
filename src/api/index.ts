/**
 * `@feat/sdk/api` — typed REST clients on ky: every call has a declared input checked before sending (`invalid_argument`)
 * and one typed result, or a {@link FeatError} with a stable code.
 */
import { createAccountsApi, type AccountsApi } from './accounts.js';
import { createActivityApi, type ActivityApi } from './activity.js';
import { createApiClient, type ApiClient } from './client.js';
import { FeatValidationError } from '../errors.js';
import type { FeatApiOptions } from './options.js';
import { createSubscriptionApi, type SubscriptionApi } from './subscription.js';
import { createWeixinApi, type WeixinApi } from './weixin.js';

export interface FeatApi {
  subscription: SubscriptionApi;
  activity: ActivityApi;
  weixin: WeixinApi;
  accounts: AccountsApi;
}

/**
 * Creates the REST clients. Options are checked at once: not an object, or a bad value (relative `apiUrl`, empty
 * `auth`, negative `timeout`, …) → `invalid_argument`.
 *
 * @example
 * const api = createFeatApi({ apiUrl: 'https://www.featapi.com', accountsUrl: 'https://accounts.feat.com', auth: 'Bearer …' });
 * const count = await api.activity.commentCount({ target_type: CommentTargetType.Dimzou_Reword, meta: { node_id: 8553 } });
 */
export function createFeatApi(options: FeatApiOptions): FeatApi {
  return createFeatApiFrom(createApiClient(options));
}

/** The endpoints on top of an existing {@link ApiClient} (to share one ky instance and auth source). */
export function createFeatApiFrom(client: ApiClient): FeatApi {
  const { apiUrl, accountsUrl } = client.options;
  const api = (name: string) => {
    if (apiUrl === undefined) {
      throw new FeatValidationError('invalid_argument', `${name}: this client was created without "apiUrl"; pass apiUrl to use this endpoint`);
    }
    return apiUrl;
  };
  return {
    subscription: createSubscriptionApi(client, api('subscription')),
    activity: createActivityApi(client, api('activity')),
    weixin: createWeixinApi(client, api('weixin')),
    accounts: createAccountsApi(client, accountsUrl),
  };
}

/**
 * Just the accounts service (for code that needs the CouchDB token but has no `apiUrl`, like the session layer).
 * Same options as {@link createFeatApi} minus `apiUrl`; `accountsUrl` is required.
 */
export function createAccountsClient(options: Omit<FeatApiOptions, 'apiUrl' | 'accountsUrl'> & { accountsUrl: string }): AccountsApi {
  const client = createApiClient(options, { requireApiUrl: false });
  if (client.options.accountsUrl === undefined) {
    throw new FeatValidationError('invalid_argument', '"accountsUrl" is required, e.g. "https://accounts.feat.com"');
  }
  return createAccountsApi(client, client.options.accountsUrl);
}

export { createApiClient };
export { CommentTargetType } from './activity.js';
export { API_DEFAULTS } from './options.js';
export { FeatError, FeatHttpError, FeatValidationError, isFeatError, type FeatErrorCode } from '../errors.js';

export type { AccountsApi } from './accounts.js';
export type { ActivityApi, CommentCountQuery, DimzouRewordMeta } from './activity.js';
export type { ApiClient, ApiRequest } from './client.js';
export type { CallOptions, FeatApiOptions, FetchLike, RetryPolicy } from './options.js';
export type { Subscription, SubscriptionApi, SubscriptionQuery, SubscriptionType } from './subscription.js';
export type { WeixinApi, WeixinSignature, WeixinSignInput } from './weixin.js';
export type { CouchToken } from '../session/token.js';
export type { AuthOption, AuthSource } from '../session/auth.js';
