import * as v from 'valibot';
import { FeatError, FeatValidationError, readable } from '../errors.js';
import { describe, isHttpUrl, isRecord } from './options.js';

/*
 * Declared inputs and expected outputs of every endpoint, as valibot schemas (tree-shakeable: only what is used is bundled).
 * Inputs that fail → `invalid_argument` before anything is sent; bodies that fail → `bad_response`.
 */

// ---------------------------------------------------------------- shared pieces

/** A positive integer id; 13-digit ids such as 7815769374283 are safe integers and stay numbers. */
export const idInput = v.pipe(
  v.number('must be a number id'),
  v.safeInteger('must be an integer id (a safe integer)'),
  v.minValue(1, 'must be a positive id'),
);

/** An id as a response carries it. */
export const id = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

/** A string that is sent as it is: a lone surrogate would go as U+FFFD (another value than the one given). */
const wellFormed = (s: string): boolean => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

const nonEmptyString = (message: string) =>
  v.pipe(v.string(message), v.nonEmpty(message), v.check((s) => wellFormed(s), `${message} (this one holds a lone UTF-16 surrogate, which would be sent as U+FFFD)`));

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * A JSON value that survives `JSON.stringify` unchanged: no `undefined`, functions, `NaN`, class instances, cycles,
 * symbol keys, named properties on arrays, or lone surrogates (sent as U+FFFD).
 */
export function isJsonValue(value: unknown, seen: Set<object> = new Set()): value is JsonValue {
  if (value === null || typeof value === 'boolean') return true;
  if (typeof value === 'string') return wellFormed(value);
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object') return false;
  if (seen.has(value)) return false;
  seen.add(value);
  try {
    // Only its elements are sent: a named property or a symbol key would be dropped.
    if (Array.isArray(value)) return Reflect.ownKeys(value).length === value.length + 1 && [...value].every((item) => isJsonValue(item, seen));
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return false;
    if (Object.getOwnPropertySymbols(value).length > 0) return false;
    return Object.entries(value).every(([key, item]) => wellFormed(key) && isJsonValue(item, seen));
  } finally {
    seen.delete(value);
  }
}

// ---------------------------------------------------------------- subscription

/** Query of `GET /api/subscription/user-subscription/fetch/` (the subscribe endpoint's body fields). */
export const SubscriptionQuerySchema = v.pipe(
  v.strictObject(
    {
      subscription_type: nonEmptyString('must be a non-empty string such as "follow_user"'),
      followed_user: v.optional(idInput),
      followed_category: v.optional(idInput),
      apply_scene: v.optional(v.union([nonEmptyString('must be a string or a number'), v.pipe(v.number(), v.finite())], 'must be a string or a number')),
      entity_type: v.optional(v.pipe(v.number('must be a number'), v.safeInteger('must be an integer'))),
    },
    'is not a known field (the fields are subscription_type, followed_user, followed_category, apply_scene, entity_type)',
  ),
  v.check(
    (q) => q.followed_user !== undefined || q.followed_category !== undefined,
    'the query must name what is followed: followed_user or followed_category',
  ),
);

export const SubscriptionSchema = v.object({
  id,
  user: id,
  followed_user: v.nullable(id),
  followed_category: v.nullable(id),
  apply_scene: v.nullable(v.union([v.string(), v.number()])),
  subscription_type: v.string(),
  created_at: v.string(),
  updated_at: v.string(),
  entity_type: v.pipe(v.number(), v.safeInteger()),
});

// ---------------------------------------------------------------- activity

export const CommentCountQuerySchema = v.strictObject(
  {
    target_type: v.pipe(
      v.number('must be a number such as CommentTargetType.Dimzou_Reword (400)'),
      v.safeInteger('must be an integer'),
      v.minValue(0, 'must not be negative'),
    ),
    meta: v.optional(
      v.pipe(
        v.custom<Record<string, unknown>>(isRecord, 'must be a plain object, e.g. { node_id: 8553 }'),
        v.check((meta: Record<string, unknown>) => isJsonValue(meta), 'must contain only JSON values (no undefined, functions, NaN or class instances)'),
      ),
    ),
  },
  'is not a known field (the fields are target_type and meta)',
);

export const CommentCountSchema = v.object({
  data: v.object({ count: v.pipe(v.number(), v.safeInteger(), v.minValue(0)) }),
});

// ---------------------------------------------------------------- weixin

export const WeixinSignInputSchema = v.strictObject(
  {
    url: v.pipe(
      v.string('must be a string'),
      v.check((url: string) => isHttpUrl(url), 'must be the absolute http(s) URL of the page, e.g. "https://m.feat.com/p/1?a=b"'),
      v.check((url) => !url.includes('#'), 'must not contain a "#" fragment: WeChat signs the URL without it (remove it yourself)'),
    ),
  },
  'is not a known field (the only field is url)',
);

/** WeChat JS-SDK `wx.config` fields. `timestamp` is seconds; a string of digits is accepted and turned into a number. */
export const WeixinSignatureSchema = v.object({
  appId: nonEmptyString('appId'),
  timestamp: v.union([
    v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
    v.pipe(v.string(), v.regex(/^\d{1,15}$/), v.transform(Number)),
  ]),
  nonceStr: nonEmptyString('nonceStr'),
  signature: v.pipe(v.string(), v.regex(/^[0-9a-f]{40}$/i)),
});

// ---------------------------------------------------------------- helpers

function issuesText(issues: readonly v.BaseIssue<unknown>[], withInput: boolean): string {
  return issues
    .slice(0, 3)
    .map((issue) => {
      const path = v.getDotPath(issue);
      const primitive = issue.input === null || (typeof issue.input !== 'object' && typeof issue.input !== 'function');
      const got = withInput && primitive ? ` (got ${describe(issue.input)})` : '';
      return `${path ? `"${path}" ` : ''}${issue.message}${got}`;
    })
    .join('; ');
}

/** Checks a caller's input; failure → `invalid_argument` (nothing was sent). */
export function parseInput<S extends v.GenericSchema>(schema: S, input: unknown, call: string): v.InferOutput<S> {
  return readable(() => {
    if (!isRecord(input)) {
      throw new FeatValidationError('invalid_argument', `${call}: the argument must be an object (got ${describe(input)})`);
    }
    const result = v.safeParse(schema, input, { abortEarly: false });
    if (result.success) return result.output;
    throw new FeatValidationError('invalid_argument', `${call}: ${issuesText(result.issues, true)}`);
  }, `${call}: the argument`);
}

/** Checks a response body; failure → `bad_response` (status and url are added by the client). */
export function parseBody<S extends v.GenericSchema>(schema: S, body: unknown, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, body);
  if (result.success) return result.output;
  throw new FeatError('bad_response', `${what}: the server's answer does not have the documented shape: ${issuesText(result.issues, false)}`, {
    cause: new v.ValiError(result.issues),
  });
}
