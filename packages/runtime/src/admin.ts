/**
 * The admin endpoint: a small HTTP server on the main thread (node:http,
 * beside the acceptor ring) for orchestrators and scrapers.
 *
 *   GET /metrics  Prometheus text (metrics.ts), read at scrape time
 *   GET /healthz  200 while the process serves
 *   GET /readyz   200 when listening, a worker is ready and not draining; 503 otherwise
 *   GET /stats    server.stats() as JSON
 *
 * It answers only GET/HEAD on those paths (404/405 otherwise) and keeps no
 * state of its own: every answer is computed from the server when asked.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { formatHostPort } from './address.js';
import type { MetricsRegistry } from './metrics.js';
import type { AddressInfo, ServerStats } from './server-types.js';

/** What the admin endpoint asks the server. */
export interface AdminSource {
  metrics: MetricsRegistry;
  stats(): ServerStats;
  /** why the server is not ready, or null when it is */
  notReady(): string | null;
}

export class AdminServer {
  #http: HttpServer;
  #address: AddressInfo | null = null;

  constructor(readonly source: AdminSource) {
    this.#http = createHttpServer((req, res) => {
      this.#handle(req, res).catch((e: Error) => {
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${e.message}\n`);
        else res.destroy(e);
      });
    });
    // a scraper's keep-alive connection must not hold close() up
    this.#http.keepAliveTimeout = 5000;
  }

  /**
   * Listen on host:port. A busy port rejects with an EADDRINUSE error whose
   * message names the option (`option "admin"`), as the CLI reports it.
   */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        const why = e.code === 'EADDRINUSE' ? 'is already in use' : `cannot be listened on (${e.code ?? e.message})`;
        const err = Object.assign(new Error(`option "admin": ${formatHostPort(host, port)} ${why}`), { code: e.code, errno: e.errno, syscall: e.syscall, address: host, port });
        reject(err);
      };
      this.#http.once('error', onError);
      this.#http.listen({ host, port, exclusive: true }, () => {
        this.#http.off('error', onError);
        const a = this.#http.address();
        if (!a || typeof a === 'string') return reject(new Error('admin server has no address'));
        this.#address = { address: a.address, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4', port: a.port };
        resolve(this.#address);
      });
    });
  }

  address(): AddressInfo | null {
    return this.#address;
  }

  /** Stop listening and end idle keep-alive connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#http.listening) return resolve();
      this.#http.close(() => resolve());
      this.#http.closeIdleConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    switch (path) {
      case '/metrics':
        return send(res, 200, this.source.metrics.contentType, await this.source.metrics.scrape());
      case '/healthz':
        return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      case '/readyz': {
        const why = this.source.notReady();
        return why === null ? send(res, 200, 'text/plain; charset=utf-8', 'ready\n') : send(res, 503, 'text/plain; charset=utf-8', `not ready: ${why}\n`);
      }
      case '/stats':
        return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(this.source.stats())}\n`);
      default:
        return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz, /readyz, /stats\n');
    }
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
