/**
 * Records the requests the SDK itself makes, through its `fetch` option, for the differential test (issue #22).
 * Inert unless `FEAT_RECORD` names a file: then every request and its answer is appended to it as one JSON line.
 */
import { appendFileSync } from 'node:fs';
import { expect } from 'vitest';

export interface Exchange {
  /** Order in which the requests were sent (across the whole run). */
  seq: number;
  test: string;
  method: string;
  url: string;
  /** The request headers the server reads (proxy headers included: the replay replaces them). */
  headers: Record<string, string>;
  body: string | null;
  status: number;
  responseType: string | null;
  response: string;
}

let sent = 0;

/** `{ fetch }` recording to `FEAT_RECORD` when it is set, `{}` otherwise: spread it into the client's options. */
export function recording(): { fetch?: typeof fetch } {
  const file = process.env.FEAT_RECORD;
  if (!file) return {};
  const recordingFetch: typeof fetch = async (input, init) => {
    const seq = sent++;
    const test = expect.getState().currentTestName ?? '';
    const request = new Request(input, init);
    const body = init?.body === undefined || init.body === null ? null : await request.clone().text();
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const response = await fetch(input, init);
    // Long-polls and streamed answers are recorded once they end; the SDK reads its own copy meanwhile.
    void response
      .clone()
      .text()
      .catch(() => '<cut>')
      .then((text) => {
        const exchange: Exchange = {
          seq,
          test,
          method: request.method,
          url: request.url,
          headers,
          body,
          status: response.status,
          responseType: response.headers.get('content-type'),
          response: text,
        };
        appendFileSync(file, `${JSON.stringify(exchange)}\n`);
      });
    return response;
  };
  return { fetch: recordingFetch };
}
