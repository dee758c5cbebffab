/**
 * The benchmarks' backend in a thread of its own (see backend.ts): a server is not on the device, so its work (the
 * emulator's, or the real stack's recording front and accounts service) must not share the thread of the clients
 * being timed. Answers `bearer` requests synchronously for the main thread (an `Atomics` flag, then a message).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { startEmulator as StartEmulator } from '@feat/emulator';

const { real, options, flag, replies } = workerData as { real: boolean; options: Record<string, unknown>; flag: SharedArrayBuffer; replies: MessagePort };
const backend = (real ? await import('../support/real-emulator.js') : await import('@feat/emulator')) as { startEmulator: typeof StartEmulator };
const emu = await backend.startEmulator(options);
const signal = new Int32Array(flag);

parentPort!.on('message', (message: { kind: 'bearer'; user: string; ask: number } | { kind: 'stop' }) => {
  if (message.kind === 'bearer') {
    let reply: { ask: number; bearer?: string; error?: string };
    try {
      reply = { ask: message.ask, bearer: emu.bearerFor(message.user) };
    } catch (error) {
      reply = { ask: message.ask, error: String(error) };
    }
    replies.postMessage(reply);
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  } else {
    void emu.stop().then(() => parentPort!.postMessage({ kind: 'stopped' }));
  }
});
parentPort!.postMessage({ kind: 'started', couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, apiUrl: emu.apiUrl });
