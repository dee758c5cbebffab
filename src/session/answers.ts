import { endedBy, FeatError } from '../errors.js';
import { discard } from '../transport/responses.js';
import { LATE, within } from '../util/abort.js';

// The guards the client's session and `@feat/sdk/api` share, apart from session.ts: `@feat/sdk/api` must reach no
// module that loads the lazy group (PouchDB, local-first sync), and no SessionSource (test/package/entry-graph.test.ts).

/**
 * Token answers are taken only from the configured origin: a redirect (`redirect: 'manual'` gives an opaque one in
 * browsers, the 3xx itself in Node) or a response a fetch wrapper followed elsewhere is refused.
 */
export function refuseRedirect(response: Response, url: string): void {
  const elsewhere = response.redirected && response.url !== '' && new URL(response.url).origin !== new URL(url).origin;
  if (response.type !== 'opaqueredirect' && !(response.status >= 300 && response.status < 400) && !elsewhere) return;
  discard(response);
  throw new FeatError(
    'bad_response',
    `${new URL(url).pathname} answered with a redirect; answers are taken only from the configured origin (point the URL option at the final address)`,
    { url, ...(response.status ? { status: response.status } : {}) },
  );
}

/**
 * Waits for the auth provider at most `ms` (→ `timeout`) and no longer than `signal` lives (→ {@link endedBy}). The
 * provider's own promise is left behind, never awaited again.
 */
export async function askWithin<T>(ask: () => Promise<T>, ms: number, signal: AbortSignal | undefined): Promise<T> {
  if (signal?.aborted) throw endedBy(signal);
  let onAbort: (() => void) | undefined;
  const ended = new Promise<never>((_, reject) => {
    onAbort = () => reject(endedBy(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  ended.catch(() => undefined);
  try {
    const result = await Promise.race([within(ask(), ms), ended]);
    if (result === LATE) {
      throw new FeatError('timeout', `The auth provider did not give an Authorization value within ${ms} ms (option "requestTimeout" / "timeout")`);
    }
    return result;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
