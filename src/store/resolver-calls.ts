/**
 * Which keys' `onConflict` body is executing right now (synchronously): a read it makes of the key it resolves is
 * answered the stored winner at once (resolving.ts). Up front and tiny: `get()` asks it on every call.
 */
const DEFAULT_SCOPE = {};

/** The resolver calls whose body is executing right now (synchronously), innermost last. */
const calling: { scope: object; key: string }[] = [];

/** Calls a resolver (`call`), marking its synchronous run: a read it makes there is {@link calledByResolver}. */
export function callResolver<T>(scope: object | undefined, key: string, call: () => T): T {
  calling.push({ scope: scope ?? DEFAULT_SCOPE, key });
  try {
    return call();
  } finally {
    calling.pop();
  }
}

/**
 * True when called from the body of `key`'s resolver before its first `await` (the usual place for a read of the
 * key it resolves); a read after it is told apart only by {@link resolverRunning}, and waits a bounded while.
 */
export function calledByResolver(scope: object | undefined, key: string, prefix = false): boolean {
  const s = scope ?? DEFAULT_SCOPE;
  return calling.some((c) => c.scope === s && (prefix ? c.key.startsWith(key) : c.key === key));
}
