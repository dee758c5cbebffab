import type { ApiClient } from './client.js';
import type { CallOptions } from './options.js';
import { CommentCountQuerySchema, CommentCountSchema, parseBody, parseInput } from './schemas.js';

/**
 * Comment target types (the server's `Comment.TargetType` enum) that the API documentation names. Only the value seed 003
 * grounds is listed: `Dimzou_Reword` (400), whose comments carry `meta = { node_id, paragraph_id }`. Other target types
 * exist (their meta is `{}`); pass their number directly.
 */
export const CommentTargetType = {
  /** A Dimzou reword (paragraph edit); meta `{ node_id, paragraph_id }`. */
  Dimzou_Reword: 400,
} as const;

/** A known comment target type (see {@link CommentTargetType}). */
export type CommentTargetType = (typeof CommentTargetType)[keyof typeof CommentTargetType];

/** Meta of `Dimzou_Reword` comments; give a subset to count comments whose meta contains it. */
export type DimzouRewordMeta = {
  node_id?: number;
  paragraph_id?: number;
};

export interface CommentCountQuery {
  /** `Comment.TargetType` value, e.g. `CommentTargetType.Dimzou_Reword` (400). */
  target_type: CommentTargetType | (number & {});
  /**
   * Counts only comments whose meta contains these entries; sent as URL-encoded JSON (`meta=%7B%22node_id%22%3A8553%7D`).
   * Must be a plain object of JSON values.
   */
  meta?: Readonly<Record<string, unknown>> | undefined;
}

export interface ActivityApi {
  /** Number of comments matching the filter (`{ data: { count } }`). */
  commentCount(query: CommentCountQuery, options?: CallOptions): Promise<number>;
}

export const COMMENT_COUNT_PATH = '/api/activity/comment/comment_count/';

export function createActivityApi(client: ApiClient, apiUrl: string): ActivityApi {
  return {
    async commentCount(query, options) {
      const q = parseInput(CommentCountQuerySchema, query, 'activity.commentCount');
      const searchParams: Record<string, string> = { target_type: String(q.target_type) };
      if (q.meta !== undefined) searchParams.meta = JSON.stringify(q.meta);
      return client.request<number>({
        method: 'get',
        url: apiUrl + COMMENT_COUNT_PATH,
        searchParams,
        options,
        parse: (body) => parseBody(CommentCountSchema, body, 'activity.commentCount').data.count,
      });
    },
  };
}
