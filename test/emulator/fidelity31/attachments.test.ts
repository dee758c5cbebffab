/** Attachment uploads and reads as chttpd_db answers them. Real answers stated. */
import { describe, expect, it } from 'vitest';
import { h32, j, ownDatabase } from './setup.js';

const { send, state } = ownDatabase('f31att');
const text = { 'Content-Type': 'text/plain' };

describe('attachments', () => {
  it('PUT → 201 with a Location (the name escaped, / too) and no ETag', async () => {
    const r = await send('PUT', '/{db}/att1/f.txt', 'hello world', text);
    expect(r.status).toBe(201);
    expect(String(r.headers.location)).toMatch(new RegExp(`^http://[^/]+/${state.db}/att1/f\\.txt$`));
    expect(r.headers.etag).toBeUndefined();
    const nested = await send('PUT', `/{db}/att1/a%2Fb.txt?rev=${(r.body as { rev: string }).rev}`, 'x', text);
    expect(nested.status).toBe(201);
    expect(String(nested.headers.location)).toMatch(new RegExp(`^http://[^/]+/${state.db}/att1/a%2Fb\\.txt$`));
  });

  it('PUT naming a revision the document lacks → 409 {"error":"not_found","reason":"missing_rev"}', async () => {
    await send('PUT', '/{db}/att2', j({}));
    const r = await send('PUT', `/{db}/att2/g.txt?rev=1-${h32('0')}`, 'x', text);
    expect({ status: r.status, body: r.body }).toEqual({ status: 409, body: { error: 'not_found', reason: 'missing_rev' } });
  });

  it('held: PUT without a revision on an existing document → 409 conflict', async () => {
    const r = await send('PUT', '/{db}/att2/h.txt', 'x', text);
    expect({ status: r.status, body: r.body }).toEqual({ status: 409, body: { error: 'conflict', reason: 'Document update conflict.' } });
  });

  it("a name starting with '_' → 400 \"Attachment name '_x.txt' starts with prohibited character '_'\"", async () => {
    const r = await send('PUT', '/{db}/att4/_x.txt', 'x', text);
    expect({ status: r.status, body: r.body }).toEqual({ status: 400, body: { error: 'bad_request', reason: "Attachment name '_x.txt' starts with prohibited character '_'" } });
  });

  it('GET of a text attachment: Accept-Ranges: none; a Range inside it → 200 with the whole body', async () => {
    await send('PUT', '/{db}/att3/f.txt', 'hello world', text);
    const whole = await send('GET', '/{db}/att3/f.txt');
    expect({ status: whole.status, ranges: whole.headers['accept-ranges'], text: whole.text }).toEqual({ status: 200, ranges: 'none', text: 'hello world' });
    const part = await send('GET', '/{db}/att3/f.txt', undefined, { Range: 'bytes=0-4' });
    expect({ status: part.status, text: part.text }).toEqual({ status: 200, text: 'hello world' });
  });

  it('a Range past the end → 416 requested_range_not_satisfiable', async () => {
    for (const range of ['bytes=50-60', 'bytes=11-']) {
      const r = await send('GET', '/{db}/att3/f.txt', undefined, { Range: range });
      expect({ range, status: r.status, body: r.body }).toEqual({ range, status: 416, body: { error: 'requested_range_not_satisfiable', reason: 'Requested range not satisfiable' } });
    }
  });
});
