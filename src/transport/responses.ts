/** A CouchDB-style JSON error response (`{ error, reason }`) that PouchDB turns into an error with `status`. */
export function jsonErrorResponse(status: number, error: string, reason: string): Response {
  return jsonResponse(status, { error, reason });
}

export function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** UTF-8 byte length of a string (lone surrogates count as U+FFFD, 3 bytes), without encoding it. */
export function utf8Bytes(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // the pair is 2 code units, 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * Releases a response body we do not read, without waiting: cancelling a body whose response was cloned (by a
 * logging fetch wrapper, msw, a service worker) only settles once every clone is consumed, so awaiting it can hang.
 */
export function discard(response: Response): void {
  response.body?.cancel().catch(() => undefined);
}
