/**
 * Runs at most `n` tasks at once; the others wait their turn in call order. Each call returns its task's result.
 * (A burst of per-document requests must not open hundreds of connections: nginx's `worker_connections` or a browser's
 * per-host limit turns the surplus into failures or stalls.)
 */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  const next = () => {
    running--;
    waiting.shift()?.();
  };
  return <T>(task: () => Promise<T>): Promise<T> => {
    const start = (): Promise<T> => {
      running++;
      let result: Promise<T>;
      try {
        result = task();
      } catch (error) {
        result = Promise.reject(error as Error);
      }
      return result.finally(next);
    };
    if (running < n) return start();
    return new Promise<T>((resolve, reject) => waiting.push(() => void start().then(resolve, reject)));
  };
}
