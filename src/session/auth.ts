import { FeatError, FeatValidationError } from '../errors.js';
import { isLatin1 } from './token.js';
import { LATE, within } from '../util/abort.js';

/**
 * The `Authorization` value for the accounts service (and the REST API): a fixed value such as a personal access token,
 * or a provider that returns the current one (for example an OAuth access token the app refreshes).
 * A value without a scheme is sent as `Bearer <value>`.
 */
export type AuthOption = string | (() => string | Promise<string>);

export interface AuthSource {
  /** The current Authorization header value (cached after the first call). */
  get(): Promise<string>;
  /** Asks the provider again (after a 401). A fixed value returns itself. */
  refresh(): Promise<string>;
}

function normalize(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new FeatError('unauthorized', 'The auth provider returned no Authorization value; return a non-empty string');
  }
  const trimmed = value.trim();
  if (!isLatin1(trimmed)) {
    throw new FeatError('unauthorized', 'The auth provider returned an Authorization value a header cannot carry (HTTP header values are Latin-1)');
  }
  return /^\S+\s+\S/.test(trimmed) ? trimmed : `Bearer ${trimmed}`;
}

export function validateAuthOption(auth: unknown, name = 'auth'): asserts auth is AuthOption {
  if (typeof auth === 'function') return;
  if (typeof auth === 'string' && auth.trim() !== '') {
    if (isLatin1(auth)) return;
    throw new FeatValidationError('invalid_argument', `"${name}" holds a character a header cannot carry (HTTP header values are Latin-1)`);
  }
  throw new FeatValidationError(
    'invalid_argument',
    `"${name}" must be a non-empty Authorization value (e.g. "Bearer <token>") or a function returning one`,
  );
}

/**
 * `timeout` (ms): how long one provider call may take. A call that did not answer by then rejects with `timeout` and is
 * forgotten, so the next `get()` asks the provider again (a lost OAuth refresh does not wedge the client).
 */
export function createAuthSource(auth: AuthOption, { timeout }: { timeout?: number | undefined } = {}): AuthSource {
  validateAuthOption(auth);
  if (typeof auth === 'string') {
    const value = normalize(auth);
    return { get: () => Promise.resolve(value), refresh: () => Promise.resolve(value) };
  }
  let current: Promise<string> | undefined;
  const ask = (): Promise<string> => {
    const answer = Promise.resolve().then(() => auth());
    const p = (timeout === undefined ? answer : bounded(answer, timeout)).then(normalize);
    current = p;
    p.catch(() => {
      if (current === p) current = undefined;
    });
    return p;
  };
  return {
    get: () => {
      const asked = current;
      if (!asked) return ask();
      // Joining a call under way: if that one runs out of time (it began before this caller came — a caller that gave
      // up on it calls again at once), this caller asks the provider itself instead of taking that stale `timeout`.
      return asked.catch((error: unknown) => (providerTimeouts.has(error as object) ? (current ?? ask()) : Promise.reject(error)));
    },
    refresh: ask,
  };
}

/** The `timeout`s `bounded` made (a joiner of the call that ran out asks again: see `get`). */
const providerTimeouts = new WeakSet<object>();

/** The provider's answer, or a `timeout` rejection once `ms` passed. */
async function bounded<T>(answer: Promise<T>, ms: number): Promise<T> {
  const result = await within(answer, ms);
  if (result === LATE) {
    const error = new FeatError('timeout', `The auth provider did not give an Authorization value within ${ms} ms; it is asked again on the next call`);
    providerTimeouts.add(error);
    throw error;
  }
  return result;
}
