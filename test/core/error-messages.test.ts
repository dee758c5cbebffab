/**
 * Error messages say what is wrong and what to do, in words that hold for the call and the client's mode (the codes
 * are the README's and unchanged): an empty key is called empty, an `undefined` in a value is named so, a refused
 * `$regex` says which piece and what to write instead, a connection failure of a remote client does not promise
 * offline writes, and a query over the server's request limit is not told to split a value.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

const client = (mode: 'remote' | 'local-first', extra: Partial<FeatClientOptions> = {}) =>
  emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(uniqueUser('msg')),
      mode,
      ...(mode === 'local-first' ? { local: { adapter: 'memory' } } : {}),
      ...extra,
    } as FeatClientOptions),
  );

/** The FeatError `promise` rejects with (the test fails on anything else). */
async function failure(promise: Promise<unknown>): Promise<FeatError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFeatError(error), `expected a FeatError, got ${String(error)}`).toBe(true);
  return error as FeatError;
}

describe('error messages', () => {
  it('an empty key is called empty', async () => {
    const e = await failure(client('local-first').store.set('', 1));
    expect(e.code).toBe('invalid_key');
    expect(e.message).toBe('The key must be a non-empty string, got an empty string');
  });

  it('an undefined in a value is named "undefined", where it is', async () => {
    const c = client('local-first');
    const e = await failure(c.store.set('v', { a: undefined } as never));
    expect(e.code).toBe('invalid_value');
    expect(e.message).toMatch(/^The value of "v" is not JSON: undefined at \.a; store only plain objects/);
    expect((await failure(c.store.set('v', [1, undefined] as never))).message).toMatch(/: undefined at \[1\];/);
    expect((await failure(c.store.set('v', { f: () => 1 } as never))).message).toMatch(/: a function at \.f;/);
  });

  it('a refused $regex: a whole sentence naming the piece and what to write instead', async () => {
    const c = client('local-first');
    const letter = await failure(c.store.find({ selector: { a: { $regex: '^\\p{L}+' } } }));
    expect(letter.code).toBe('invalid_argument');
    expect(letter.message).toMatch(/^find\(\): selector › a › \$regex: the escape "\\p" is refused, because CouchDB's PCRE and JavaScript read it differently/);
    expect(letter.message).toMatch(/\$beginsWith for a prefix$/);
    const bracket = await failure(c.store.find({ selector: { a: { $regex: '^[]a]' } } }));
    expect(bracket.message).toMatch(/"\[\]" is refused, .*write a "\]" inside a class as \\\]/);
    const posix = await failure(c.store.find({ selector: { a: { $regex: '^[[:alpha:]]' } } }));
    expect(posix.message).toMatch(/"\[:" is refused, .*spell a POSIX class out \(e\.g\. \[A-Za-z\] for \[\[:alpha:\]\]\)$/);
  });

  it('a remote client that cannot reach the server: network, without a word of offline writes', async () => {
    const c = client('remote', { couchUrl: 'http://127.0.0.1:9', requestTimeout: 5_000 });
    const e = await failure(c.ready());
    expect(e.code).toBe('network');
    expect(e.message).toMatch(/check the connection/);
    expect(e.message).not.toMatch(/offline|local-first/);
  });

  it('a query whose request is over the server limit: too_large before any request, told to query in parts, not to split a value', async () => {
    const finds: number[] = [];
    const fetch: typeof globalThis.fetch = (input, init) => {
      if (/_find/.test(String(input instanceof Request ? input.url : input))) finds.push(typeof init?.body === 'string' ? init.body.length : -1);
      return globalThis.fetch(input, init);
    };
    const c = client('remote', { fetch });
    await c.store.set('a', { x: 'v1' });
    const values = Array.from({ length: 60_000 }, (_, i) => `value-number-${i}`);
    const e = await failure(c.store.find({ selector: { x: { $in: ['v1', ...values] } } }));
    expect(e.code).toBe('too_large');
    expect(e.message).not.toMatch(/setParts/);
    expect(e.message).toMatch(/fewer \$in values/);
    // Refused as the proxy would refuse it, without sending the 1.2 MB body (nginx answers 413 only once it came).
    expect(finds.filter((n) => n > 1_048_576)).toEqual([]);
    expect(await c.store.find({ selector: { x: { $in: ['v1', ...values.slice(0, 100)] } } })).toHaveLength(1);
  }, 60_000);
});
