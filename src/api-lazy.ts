import type { FeatApi } from './api/index.js';
import type { FeatApiOptions } from './api/options.js';
import { closedError } from './errors.js';

/**
 * `client.api`: the REST clients of `@feat/sdk/api`, loaded on first call, so apps that never call the REST API do
 * not carry ky and the schemas in their bundle.
 */
export function lazyApi(options: FeatApiOptions, closed: () => boolean): FeatApi {
  let api: Promise<FeatApi> | undefined;
  // After close() / logout() the client's credentials are not used any more.
  const load = () =>
    closed() ? Promise.reject(closedError()) : (api ??= import('./api/index.js').then((m) => m.createFeatApi(options)));
  return {
    subscription: { fetch: (...args) => load().then((a) => a.subscription.fetch(...args)) },
    activity: { commentCount: (...args) => load().then((a) => a.activity.commentCount(...args)) },
    weixin: { sign: (...args) => load().then((a) => a.weixin.sign(...args)) },
    accounts: { couchToken: (...args) => load().then((a) => a.accounts.couchToken(...args)) },
  };
}
