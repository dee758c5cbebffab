/**
 * The backend the benchmarks run on: the emulator, or with `FEAT_BACKEND=real` Apache CouchDB 3.4 behind the
 * deployment's nginx (`../support/real-emulator.ts`, issue #22), behind the same interface. Loading it prints which.
 *
 * It runs in a worker thread of its own (backend-worker.ts): on a device the SDK never shares its thread with the
 * server, and the server's work in the clients' thread would be timed as theirs (more so for a client that sends more,
 * smaller requests). CouchDB and nginx are processes of their own anyway; this puts the emulator, and the real
 * stack's recording front and accounts service, on the same footing. `BENCH_BACKEND=inline` runs it in the clients'
 * thread instead (as the figures before 2026-12 were measured).
 */
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';

export const ON_REAL = process.env.FEAT_BACKEND === 'real';
const INLINE = process.env.BENCH_BACKEND === 'inline';

/** What the benchmarks use of an emulator. */
export interface BenchBackend {
  couchUrl: string;
  accountsUrl: string;
  apiUrl: string;
  bearerFor(userName: string): string;
  stop(): Promise<void>;
}

/** Starts the chosen backend (on the real one, emulator-only options such as `profile` are ignored). */
export async function startEmulator(options: Record<string, unknown> = {}): Promise<BenchBackend> {
  if (INLINE) {
    const inline = (ON_REAL ? await import('../support/real-emulator.js') : await import('@feat/emulator')) as {
      startEmulator(o: Record<string, unknown>): Promise<BenchBackend>;
    };
    return inline.startEmulator(options);
  }
  const flag = new SharedArrayBuffer(4);
  const signal = new Int32Array(flag);
  const { port1: replies, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), {
    workerData: { module: new URL('./backend-worker.ts', import.meta.url).href, real: ON_REAL, options, flag, replies: port2 },
    transferList: [port2],
  });
  const started = await new Promise<{ couchUrl: string; accountsUrl: string; apiUrl: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  worker.unref();
  let asks = 0;
  return {
    couchUrl: started.couchUrl,
    accountsUrl: started.accountsUrl,
    apiUrl: started.apiUrl,
    // Synchronous, as the emulator's: the worker answers while this thread waits (setup only, never while timing).
    bearerFor(user) {
      const ask = ++asks;
      Atomics.store(signal, 0, 0);
      worker.postMessage({ kind: 'bearer', user, ask });
      if (Atomics.wait(signal, 0, 0, 10_000) === 'timed-out') throw new Error('the backend thread did not answer');
      // A late reply to an earlier call that timed out is skipped: the answer is the one to this call.
      for (;;) {
        const reply = receiveMessageOnPort(replies)?.message as { ask: number; bearer?: string; error?: string } | undefined;
        if (!reply) throw new Error('the backend thread gave no bearer');
        if (reply.ask !== ask) continue;
        if (!reply.bearer) throw new Error(reply.error ?? 'the backend thread gave no bearer');
        return reply.bearer;
      }
    },
    async stop() {
      worker.postMessage({ kind: 'stop' });
      await new Promise<void>((resolve) => {
        const done = setTimeout(resolve, 10_000);
        worker.once('message', () => {
          clearTimeout(done);
          resolve();
        });
      });
      replies.close();
      await worker.terminate();
    },
  };
}

// What the figures below were measured on.
console.log(
  `backend: ${ON_REAL ? 'Apache CouchDB 3.4 behind nginx (FEAT_BACKEND=real)' : 'the emulator (FEAT_BACKEND=real for the real server)'}` +
    `, ${INLINE ? 'in the clients\u2019 thread (BENCH_BACKEND=inline)' : 'in a thread of its own'}`,
);

const RUN = Date.now().toString(36);
/** A user name of this run: a real server keeps its users and databases, so every run starts from empty ones. */
export const runUser = (name: string): string => `${name}-${RUN}`;
