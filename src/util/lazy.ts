/**
 * A module loaded on first use, for the `import()` of a code-split module: every later call reuses the same promise,
 * so a hot path (a write, a request) pays no module resolution per call. A failed load (a chunk that could not be
 * fetched, e.g. offline) is tried again on the next call.
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    (loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    }));
}
