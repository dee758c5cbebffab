import { FeatError, FeatValidationError } from '../errors.js';
import { isLatin1 } from './token.js';

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

export function createAuthSource(auth: AuthOption): AuthSource {
  validateAuthOption(auth);
  if (typeof auth === 'string') {
    const value = normalize(auth);
    return { get: () => Promise.resolve(value), refresh: () => Promise.resolve(value) };
  }
  let current: Promise<string> | undefined;
  const ask = (): Promise<string> => {
    const p = Promise.resolve()
      .then(() => auth())
      .then(normalize);
    current = p;
    p.catch(() => {
      if (current === p) current = undefined;
    });
    return p;
  };
  return {
    get: () => current ?? ask(),
    refresh: ask,
  };
}
