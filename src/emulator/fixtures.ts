/**
 * The data the REST endpoints serve. Deterministic by default; every part can be replaced through the `fixtures` option.
 */

/** Wire shape of `GET /api/subscription/user-subscription/fetch/` (snake_case, as the server sends it). */
export interface Subscription {
  id: number;
  user: number;
  followed_user: number | null;
  followed_category: number | null;
  apply_scene: number | string | null;
  subscription_type: string;
  created_at: string;
  updated_at: string;
  entity_type: number;
}

/** The query of a subscription fetch, as received (all values are strings). */
export type SubscriptionQuery = Record<string, string>;

/** One entry of the comment-count table: `count` for a `target_type` and exact `meta` (missing meta = `{}`). */
export interface CommentCountEntry {
  target_type: number;
  meta?: Record<string, unknown>;
  count: number;
}

export interface WeixinFixture {
  /** The official account's AppID returned as `appId`. */
  appId: string;
  /** The jsapi_ticket the signature is computed with. */
  jsapiTicket: string;
  /** Fixed `nonceStr`; default: 16 random alphanumerics per request. */
  nonceStr?: string;
  /** Fixed `timestamp` (seconds); default: the current time. */
  timestamp?: number;
}

export interface RestFixtures {
  /**
   * Existing subscriptions. A fetch returns the first one whose fields equal every matching query parameter
   * (`followed_user`, `followed_category`, `subscription_type`, `apply_scene`, `entity_type`; `null` matches `null`
   * or an empty value); none → 404. Or a function returning the subscription or `null` (→ 404).
   */
  subscriptions: Subscription[] | ((query: SubscriptionQuery, userName: string) => Subscription | null);
  /**
   * Comment counts: the first entry with the same `target_type` and deep-equal `meta` wins; none → `count: 0`.
   * Or a function computing the count.
   */
  commentCounts: CommentCountEntry[] | ((query: { target_type: number; meta: Record<string, unknown> }) => number);
  /** WeChat JS-SDK signing parameters. */
  weixin: WeixinFixture;
}

/** The seed's example subscription (13-digit user ids). */
export const EXAMPLE_SUBSCRIPTION: Subscription = {
  id: 47,
  user: 7815769374283,
  followed_user: 3120595892220,
  followed_category: null,
  apply_scene: null,
  subscription_type: 'follow_user',
  created_at: '2022-01-10T08:52:58.425956Z',
  updated_at: '2022-01-10T08:52:58.425387Z',
  entity_type: 100,
};

export const DEFAULT_FIXTURES: RestFixtures = {
  subscriptions: [EXAMPLE_SUBSCRIPTION],
  commentCounts: [{ target_type: 400, meta: { node_id: 8553 }, count: 7 }],
  weixin: { appId: 'wx0123456789abcdef', jsapiTicket: 'feat-emulator-jsapi-ticket' },
};

/** Fills in the defaults of every fixture not given. */
export function resolveFixtures(given: Partial<RestFixtures>): RestFixtures {
  return {
    subscriptions: given.subscriptions ?? DEFAULT_FIXTURES.subscriptions,
    commentCounts: given.commentCounts ?? DEFAULT_FIXTURES.commentCounts,
    weixin: { ...DEFAULT_FIXTURES.weixin, ...given.weixin },
  };
}
