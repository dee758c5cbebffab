/**
 * An HTTP listener that can drop off the network and come back on the same port: `suspend()` closes the server and
 * destroys every open socket (long-polls and continuous feeds included), `resume()` listens again.
 */
import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export class Listener {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #host: string;
  #port: number;
  #listening = false;
  /** It listened once: its port is kept, and taken again on `listen()`. */
  #listened = false;

  constructor(handler: RequestListener, host: string, port: number) {
    // nginx's client_header_timeout (60 s): a client that has not sent its whole header block by then is dropped
    // (slow-loris); the body's client_body_timeout is readBody's (limits.ts). Node's whole-request bound (5 min) stays
    // as a backstop. Node checks these every `connectionsCheckingInterval` (30 s by default: drops came up to 90 s late).
    this.#server = createServer({ keepAlive: true, headersTimeout: 60_000, connectionsCheckingInterval: 2_000 }, handler);
    // nginx closes a timed-out connection without an answer (Node would write a 408); other malformed requests get
    // Node's own answers.
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT' && socket.writable && !inFlight?.headersSent) {
        socket.write(error.code === 'HPE_HEADER_OVERFLOW' ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      }
      socket.destroy();
    });
    this.#host = host;
    this.#port = port;
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    const host = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return `http://${host}:${this.#port}`;
  }

  get listening(): boolean {
    return this.#listening;
  }

  /**
   * Listens on the configured port (the first time `0` picks a free one, which is then kept). Back on a port it had
   * (`resume()`), the system may have lent it meanwhile to an outgoing connection as its local port: asked again every
   * 250 ms for up to 10 s before `EADDRINUSE` is thrown (the first time it is thrown at once).
   */
  async listen(): Promise<void> {
    if (this.#listening) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          const onError = (err: Error) => reject(err);
          this.#server.once('error', onError);
          this.#server.listen(this.#port, this.#host, () => {
            this.#server.off('error', onError);
            resolve();
          });
        });
        break;
      } catch (error) {
        if (!this.#listened || (error as { code?: unknown }).code !== 'EADDRINUSE' || attempt >= 40) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#listening = true;
    this.#listened = true;
  }

  /** Stops accepting connections and cuts every open one. */
  async close(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }
}
