// A benchmark thread's entry: the benchmarks run under tsx, so the thread registers it, then loads the TypeScript module
// named by `workerData.module` (backend.ts, w7-latency.ts).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
