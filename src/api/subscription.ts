import type { ApiClient } from './client.js';
import type { CallOptions } from './options.js';
import { parseBody, parseInput, SubscriptionQuerySchema, SubscriptionSchema } from './schemas.js';

/** Known `subscription_type` values (seed 003 shows `follow_user`); any other string the server uses is accepted. */
export type SubscriptionType = 'follow_user' | (string & {});

/**
 * A subscription as `GET /api/subscription/user-subscription/fetch/` returns it. Wire names stay snake_case; ids are
 * numbers (13-digit user ids such as 7815769374283 are exact in a double).
 */
export interface Subscription {
  id: number;
  /** The subscriber's user id. */
  user: number;
  /** The followed user's id, or `null` when a category is followed. */
  followed_user: number | null;
  /** The followed category's id, or `null`. */
  followed_category: number | null;
  /** Where the subscription applies; `null` when not scoped. */
  apply_scene: string | number | null;
  subscription_type: SubscriptionType;
  /** ISO 8601 timestamp, e.g. `2022-01-10T08:52:58.425956Z`. */
  created_at: string;
  updated_at: string;
  /** Entity type of the followed object, e.g. `100`. */
  entity_type: number;
}

/**
 * What to look up: the same fields the subscribe endpoint takes as its body, sent as URL parameters.
 * `subscription_type` and at least one of `followed_user` / `followed_category` are required.
 */
export interface SubscriptionQuery {
  subscription_type: SubscriptionType;
  followed_user?: number | undefined;
  followed_category?: number | undefined;
  apply_scene?: string | number | undefined;
  entity_type?: number | undefined;
}

export interface SubscriptionApi {
  /** The current user's subscription matching `query`, or `null` when there is none (HTTP 404). */
  fetch(query: SubscriptionQuery, options?: CallOptions): Promise<Subscription | null>;
}

export const SUBSCRIPTION_FETCH_PATH = '/api/subscription/user-subscription/fetch/';

export function createSubscriptionApi(client: ApiClient, apiUrl: string): SubscriptionApi {
  return {
    async fetch(query, options) {
      const q = parseInput(SubscriptionQuerySchema, query, 'subscription.fetch');
      const searchParams: Record<string, string> = {};
      for (const [name, value] of Object.entries(q)) {
        if (value !== undefined) searchParams[name] = String(value);
      }
      return client.request<Subscription | null>({
        method: 'get',
        url: apiUrl + SUBSCRIPTION_FETCH_PATH,
        searchParams,
        on404: { value: null },
        options,
        parse: (body) => parseBody(SubscriptionSchema, body, 'subscription.fetch'),
      });
    },
  };
}
