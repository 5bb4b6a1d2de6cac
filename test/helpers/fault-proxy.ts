/**
 * A fault-injecting HTTP reverse proxy for the S3 tests: listens on 127.0.0.1 (a free port),
 * forwards every request to `target` (method, path and query as sent, headers including Host so
 * SigV4 signatures stay valid, bodies streamed both ways, keep-alive) and applies programmable
 * faults to the requests that match a rule.
 *
 *   const proxy = await startFaultProxy(s3.endpoint);        // afterAll(() => proxy.stop())
 *   proxy.addRule({ method: 'PUT', path: /\/ab\//, times: 1, action: fault.status(503, { retryAfterSeconds: 0 }) });
 *   mlv(repo, ['push'], s3Env(via(s3, proxy.url)));
 *   expect(proxy.requests.filter((r) => r.method === 'PUT' && r.path.endsWith(key))).toHaveLength(2);
 *
 * Rules are tried in the order added; the first one that matches and has `times` left fires
 * (only that one), and the request log records which. A rule's action may be a list, e.g.
 * [fault.delay(200), fault.stripRequestHeader('if-none-match')]: request modifiers (delay,
 * strip-request-header) first, then at most one of status / reset-request-after-bytes, or at
 * most one response fault (forward-then-status and map-response-body count as response faults).
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { afterAll } from 'vitest';

export type FaultAction =
  /** Read `bytes` bytes of the request body, then reset the client connection (RST). 0: before any
   * body byte. By default nothing reaches the server (like real S3, where an interrupted upload
   * never creates an object); `forwardPartial: true` streams those bytes to the server first. */
  | { type: 'reset-request-after-bytes'; bytes: number; forwardPartial?: boolean }
  /** Forward the response head and `bytes` body bytes, then reset the connection (RST). */
  | { type: 'reset-response-after-bytes'; bytes: number }
  /** Answer directly with an S3-style XML error; the server is not contacted. */
  | { type: 'status'; code: number; errorCode?: string; message?: string; retryAfterSeconds?: number; body?: string | Buffer; headers?: Record<string, string> }
  /** Flip the lowest bit of the response body byte at offset `atByte` (length unchanged). */
  | { type: 'corrupt-response'; atByte: number }
  /** Forward the head (original Content-Length) and `bytes` body bytes, then close (FIN): a body
   * shorter than announced, as when a connection drops. */
  | { type: 'truncate-response'; bytes: number }
  /** Content-Length rewritten to `bytes` and exactly that many bytes sent: a well-formed short reply. */
  | { type: 'truncate-response-clean'; bytes: number }
  /** Serve `body` instead of the server's body, with a correct Content-Length (other headers kept). */
  | { type: 'replace-response-body'; body: Buffer }
  /** Wait `ms` before forwarding (or before answering, combined with status). */
  | { type: 'delay'; ms: number }
  /** Remove a request header before forwarding, e.g. 'if-none-match' (a server ignoring it). */
  | { type: 'strip-request-header'; name: string }
  /** Forward the whole request (the server acts on it), then discard the server's answer and reply
   * with an S3-style XML error instead: e.g. a PUT stored, but answered 412 PreconditionFailed. */
  | { type: 'forward-then-status'; code: number; errorCode?: string; message?: string; headers?: Record<string, string> }
  /** Serve `map(body)` instead of the server's body (Content-Length fixed): e.g. drop one key from a
   * ListObjectsV2 answer, as a listing that lags behind a write would. */
  | { type: 'map-response-body'; map: (body: Buffer, req: RequestInfo) => Buffer };

export const fault = {
  resetRequestAfterBytes: (bytes: number, opts: { forwardPartial?: boolean } = {}): FaultAction => ({ type: 'reset-request-after-bytes', bytes, ...opts }),
  resetResponseAfterBytes: (bytes: number): FaultAction => ({ type: 'reset-response-after-bytes', bytes }),
  status: (
    code: number,
    opts: { errorCode?: string; message?: string; retryAfterSeconds?: number; body?: string | Buffer; headers?: Record<string, string> } = {},
  ): FaultAction => ({ type: 'status', code, ...opts }),
  corruptResponse: (atByte: number): FaultAction => ({ type: 'corrupt-response', atByte }),
  truncateResponse: (bytes: number): FaultAction => ({ type: 'truncate-response', bytes }),
  truncateResponseClean: (bytes: number): FaultAction => ({ type: 'truncate-response-clean', bytes }),
  replaceResponseBody: (body: Buffer | string): FaultAction => ({ type: 'replace-response-body', body: Buffer.from(body) }),
  delay: (ms: number): FaultAction => ({ type: 'delay', ms }),
  stripRequestHeader: (name: string): FaultAction => ({ type: 'strip-request-header', name }),
  forwardThenStatus: (code: number, opts: { errorCode?: string; message?: string; headers?: Record<string, string> } = {}): FaultAction => ({
    type: 'forward-then-status',
    code,
    ...opts,
  }),
  mapResponseBody: (map: (body: Buffer, req: RequestInfo) => Buffer): FaultAction => ({ type: 'map-response-body', map }),
};

export interface RequestInfo {
  method: string;
  /** Raw path as sent (percent-encoded), without the query, e.g. /bucket/prefix/ab/cdef. */
  path: string;
  /** Raw query string without '?', e.g. list-type=2&prefix=x ('' if none). */
  query: string;
  headers: http.IncomingHttpHeaders;
}

export interface FaultRule {
  /** Shown in the request log; defaults to `#<index of addRule call>`. */
  name?: string;
  /** One method or several, case-insensitive; any method if omitted. */
  method?: string | string[];
  /** RegExp tested against the raw path; a string must equal it. Any path if omitted. */
  path?: RegExp | string;
  /** RegExp tested against the raw query string. */
  query?: RegExp;
  /** Extra predicate. */
  when?: (req: RequestInfo) => boolean;
  /** How many matching requests this rule fires for; unlimited if omitted. */
  times?: number;
  action: FaultAction | FaultAction[];
}

export interface RequestLog extends RequestInfo {
  seq: number;
  /** path + '?' + query as sent */
  url: string;
  /** Name of the rule that fired, if any. */
  rule?: string;
  /** Types of the actions applied. */
  actions: string[];
  /** Status sent to the client; undefined if the connection was reset before a response head. */
  status?: number;
  /** Request body bytes received from the client / response body bytes sent to it. */
  requestBytes: number;
  responseBytes: number;
  outcome: 'pending' | 'ok' | 'reset' | 'truncated' | 'client-aborted' | 'upstream-error';
  error?: string;
}

export interface FaultProxy {
  /** http://127.0.0.1:<port>: use as the S3 endpoint. */
  url: string;
  port: number;
  addRule(rule: FaultRule): void;
  clearRules(): void;
  /** Every request seen, in arrival order (entries are updated in place as they complete). */
  requests: RequestLog[];
  clearLog(): void;
  /** Requests matching method (case-insensitive) and path (RegExp or exact string). */
  find(method?: string, path?: RegExp | string): RequestLog[];
  /** Resolves when no request is in flight (the log is final). */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'expect', 'trailer']);

const DEFAULT_ERROR: Record<number, [string, string]> = {
  400: ['BadRequest', 'Bad Request'],
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  409: ['ConditionalRequestConflict', 'A conflicting operation occurred.'],
  412: ['PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'],
  429: ['SlowDown', 'Please reduce your request rate.'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  502: ['BadGateway', 'Bad Gateway'],
  503: ['SlowDown', 'Please reduce your request rate.'],
  504: ['GatewayTimeout', 'Gateway Timeout'],
};

const liveProxies = new Set<FaultProxy>();
afterAll(async () => {
  await Promise.all([...liveProxies].map((p) => p.stop()));
});

const sleep = (ms: number, timers: Set<NodeJS.Timeout>) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      timers.delete(t);
      resolve();
    }, ms);
    timers.add(t);
  });

function matchText(re: RegExp | string, s: string): boolean {
  if (typeof re === 'string') return re === s;
  re.lastIndex = 0;
  return re.test(s);
}

/** The S3-style XML error (or the given body) and headers of a status reply. */
function errorReply(
  action: { code: number; errorCode?: string; message?: string; retryAfterSeconds?: number; body?: string | Buffer; headers?: Record<string, string> },
  entry: { seq: number; path: string },
): { body: Buffer; headers: Record<string, string | number> } {
  const [defCode, defMsg] = DEFAULT_ERROR[action.code] ?? ['InternalError', http.STATUS_CODES[action.code] ?? 'Error'];
  const requestId = `FAULTPROXY${entry.seq}`;
  const body =
    action.body !== undefined
      ? Buffer.from(action.body)
      : Buffer.from(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${action.errorCode ?? defCode}</Code>` +
            `<Message>${action.message ?? defMsg}</Message><Resource>${entry.path}</Resource><RequestId>${requestId}</RequestId></Error>`,
        );
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/xml',
    'Content-Length': body.length,
    'x-amz-request-id': requestId,
    ...(action.retryAfterSeconds !== undefined ? { 'Retry-After': String(action.retryAfterSeconds) } : {}),
    ...action.headers,
  };
  return { body, headers };
}

/** Starts the proxy in front of `targetUrl` (http://host:port, loopback). */
export async function startFaultProxy(targetUrl: string): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  if (target.protocol !== 'http:') throw new Error(`fault proxy: only http:// targets are supported, got ${targetUrl}`);
  const targetHost = target.hostname.replace(/^\[|\]$/g, '');
  const targetPort = Number(target.port || 80);

  const rules: { rule: FaultRule; left: number; name: string }[] = [];
  let ruleSeq = 0;
  const requests: RequestLog[] = [];
  let seq = 0;
  let inflight = 0;
  let idleWaiters: (() => void)[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let stopped = false;

  const finish = (entry: RequestLog, outcome: RequestLog['outcome'], error?: string) => {
    if (entry.outcome !== 'pending') return;
    entry.outcome = outcome;
    if (error) entry.error = error;
    inflight--;
    if (inflight === 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };

  const pickRule = (info: RequestInfo) => {
    for (const r of rules) {
      if (r.left <= 0) continue;
      const { method, path, query, when } = r.rule;
      if (method !== undefined) {
        const ms = (Array.isArray(method) ? method : [method]).map((m) => m.toUpperCase());
        if (!ms.includes(info.method)) continue;
      }
      if (path !== undefined && !matchText(path, info.path)) continue;
      if (query !== undefined && !matchText(query, info.query)) continue;
      if (when && !when(info)) continue;
      r.left--;
      return r;
    }
    return undefined;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const entry: RequestLog = {
      seq: ++seq,
      method: (req.method ?? 'GET').toUpperCase(),
      url,
      path: q === -1 ? url : url.slice(0, q),
      query: q === -1 ? '' : url.slice(q + 1),
      headers: { ...req.headers },
      actions: [],
      requestBytes: 0,
      responseBytes: 0,
      outcome: 'pending',
    };
    requests.push(entry);
    inflight++;
    const socket = req.socket;
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        finish(entry, 'client-aborted', 'client closed the connection');
      }
    });

    const picked = pickRule(entry);
    const actions = picked ? (Array.isArray(picked.rule.action) ? picked.rule.action : [picked.rule.action]) : [];
    if (picked) entry.rule = picked.name;
    entry.actions = actions.map((a) => a.type);

    // Request headers as raw pairs (case and repeats kept), minus hop-by-hop and stripped ones.
    const strip = new Set(actions.filter((a) => a.type === 'strip-request-header').map((a) => (a as { name: string }).name.toLowerCase()));
    const headerPairs: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || strip.has(lower)) continue;
      headerPairs.push([name, req.rawHeaders[i + 1]!]);
    }

    for (const a of actions) if (a.type === 'delay') await sleep(a.ms, timers);
    if (clientGone || stopped) {
      req.resume();
      return;
    }

    const action = actions.find((a) => a.type !== 'delay' && a.type !== 'strip-request-header');

    if (action?.type === 'status') {
      const { body, headers } = errorReply(action, entry);
      // Expect: 100-continue answered with a final status: the client will not send the body, so
      // this connection cannot be reused. Otherwise the unread body is discarded by Node.
      if (expectContinue) headers.Connection = 'close';
      else req.on('data', (c: Buffer) => (entry.requestBytes += c.length));
      entry.status = action.code;
      res.writeHead(action.code, headers);
      res.end(body, () => finish(entry, 'ok'));
      return;
    }

    if (expectContinue) res.writeContinue();

    if (action?.type === 'reset-request-after-bytes') {
      const limit = Math.max(0, action.bytes);
      const upstream = action.forwardPartial ? openUpstream() : undefined;
      upstream?.on('error', () => {});
      upstream?.on('response', (r) => r.resume());
      const reset = () => {
        if (entry.outcome !== 'pending') return;
        finish(entry, 'reset', `connection reset after ${entry.requestBytes} request body bytes`);
        const doReset = () => {
          socket.resetAndDestroy();
          upstream?.destroy();
        };
        // Give the partial body a moment to reach the server before tearing it down.
        if (upstream && entry.requestBytes > 0) {
          const t = setTimeout(() => {
            timers.delete(t);
            doReset();
          }, 50);
          timers.add(t);
        } else doReset();
      };
      if (limit === 0) return reset();
      req.on('data', (chunk: Buffer) => {
        if (entry.outcome !== 'pending') return;
        const take = Math.min(chunk.length, limit - entry.requestBytes);
        entry.requestBytes += take;
        if (upstream && take > 0) upstream.write(chunk.subarray(0, take));
        if (entry.requestBytes >= limit) reset();
      });
      // A body shorter than the limit: reset once it is complete (the request never succeeds).
      req.on('end', reset);
      return;
    }

    const up = openUpstream();
    req.on('data', (c: Buffer) => (entry.requestBytes += c.length));
    req.pipe(up);
    req.on('close', () => {
      if (!req.complete) up.destroy();
    });
    // The client went away (or was cut off): drop the server side too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.on('error', (err) => {
      if (entry.outcome !== 'pending') return;
      if (!res.headersSent) {
        entry.status = 502;
        const msg = `fault proxy: upstream error: ${err.message}`;
        res.writeHead(502, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(msg) });
        res.end(msg);
      } else {
        socket.destroy();
      }
      finish(entry, 'upstream-error', err.message);
    });
    up.on('response', (upRes) => respond(upRes, action));

    function openUpstream(): http.ClientRequest {
      const flat: string[] = [];
      for (const [k, v] of headerPairs) flat.push(k, v);
      return http.request({
        host: targetHost,
        port: targetPort,
        method: req.method,
        path: url,
        headers: flat as unknown as http.OutgoingHttpHeaders,
        agent,
        setHost: false,
      });
    }

    function respond(upRes: http.IncomingMessage, fa: FaultAction | undefined) {
      if (entry.outcome !== 'pending') {
        upRes.destroy();
        return;
      }
      const pairs: [string, string][] = [];
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) {
        const name = upRes.rawHeaders[i]!;
        if (HOP_BY_HOP.has(name.toLowerCase())) continue;
        pairs.push([name, upRes.rawHeaders[i + 1]!]);
      }
      const status = upRes.statusCode ?? 502;
      const writeHead = (p: [string, string][]) => {
        entry.status = status;
        res.writeHead(status, upRes.statusMessage, p.flat());
      };
      const count = (c: Buffer) => (entry.responseBytes += c.length);
      const bodyless = entry.method === 'HEAD' || status === 204 || status === 304;

      if (fa?.type === 'forward-then-status') {
        // The server has acted on the request; its answer is replaced by the error.
        upRes.resume();
        upRes.on('end', () => {
          if (entry.outcome !== 'pending') return;
          const { body, headers } = errorReply(fa, entry);
          entry.status = fa.code;
          res.writeHead(fa.code, headers);
          res.end(body, () => finish(entry, 'ok'));
        });
        return;
      }
      if (!fa || bodyless) {
        writeHead(pairs);
        upRes.on('data', count);
        upRes.pipe(res);
        res.on('finish', () => finish(entry, 'ok'));
        return;
      }
      switch (fa.type) {
        case 'corrupt-response': {
          let offset = 0;
          const flip = new Transform({
            transform(chunk: Buffer, _enc, cb: TransformCallback) {
              if (fa.atByte >= offset && fa.atByte < offset + chunk.length) {
                chunk = Buffer.from(chunk);
                chunk[fa.atByte - offset]! ^= 0x01;
              }
              offset += chunk.length;
              count(chunk);
              cb(null, chunk);
            },
          });
          writeHead(pairs);
          upRes.pipe(flip).pipe(res);
          res.on('finish', () => finish(entry, 'ok'));
          return;
        }
        case 'truncate-response':
        case 'reset-response-after-bytes': {
          writeHead(pairs);
          const limit = Math.max(0, fa.bytes);
          let cut = false;
          const cutNow = () => {
            if (cut) return;
            cut = true;
            upRes.destroy();
            if (fa.type === 'truncate-response') {
              finish(entry, 'truncated', `closed after ${entry.responseBytes} response body bytes`);
              socket.destroy();
            } else {
              finish(entry, 'reset', `connection reset after ${entry.responseBytes} response body bytes`);
              // Let the client read what was sent before the RST discards it.
              const t = setTimeout(() => {
                timers.delete(t);
                socket.resetAndDestroy();
              }, 25);
              timers.add(t);
            }
          };
          const flushThenCut = () => {
            // Flush the head (and any bytes) to the socket, then cut.
            res.write(Buffer.alloc(0), () => cutNow());
          };
          if (limit === 0) return flushThenCut();
          upRes.on('data', (chunk: Buffer) => {
            if (cut) return;
            const take = Math.min(chunk.length, limit - entry.responseBytes);
            if (take > 0) {
              count(chunk.subarray(0, take));
              res.write(chunk.subarray(0, take));
            }
            if (entry.responseBytes >= limit) {
              upRes.pause();
              flushThenCut();
            }
          });
          // Body not longer than the limit: nothing to cut.
          upRes.on('end', () => {
            if (cut) return;
            res.end(() => finish(entry, 'ok'));
          });
          return;
        }
        case 'truncate-response-clean':
        case 'replace-response-body':
        case 'map-response-body': {
          const chunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => chunks.push(c));
          upRes.on('end', () => {
            if (entry.outcome !== 'pending') return;
            const original = Buffer.concat(chunks);
            const body =
              fa.type === 'replace-response-body' ? fa.body : fa.type === 'map-response-body' ? fa.map(original, entry) : original.subarray(0, Math.max(0, fa.bytes));
            const p = pairs.filter(([k]) => !['content-length', 'transfer-encoding', 'content-md5'].includes(k.toLowerCase()));
            p.push(['Content-Length', String(body.length)]);
            writeHead(p);
            count(body);
            res.end(body, () => finish(entry, 'ok'));
          });
          return;
        }
        default:
          writeHead(pairs);
          upRes.on('data', count);
          upRes.pipe(res);
          res.on('finish', () => finish(entry, 'ok'));
      }
    }
  };

  const onRequest = (expectContinue: boolean) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res, expectContinue).catch(() => req.socket.destroy());
  };

  const server = http.createServer({ keepAlive: true });
  // Node's default 5 s keep-alive timeout races with a client reusing an idle socket (the client
  // sends as the server closes: a reset, and a retry the tests would count as an extra request).
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.on('request', onRequest(false));
  // Without this listener Node answers 100 Continue itself; with it a status fault can refuse
  // the body like S3 does.
  server.on('checkContinue', onRequest(true));
  server.on('clientError', (_err, sock) => sock.destroy());
  server.on('connection', (sock: Socket) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  let stopping: Promise<void> | undefined;
  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    addRule(rule) {
      const list = Array.isArray(rule.action) ? rule.action : [rule.action];
      if (list.filter((a) => a.type !== 'delay' && a.type !== 'strip-request-header').length > 1) {
        throw new Error('fault proxy: a rule combines delay / strip-request-header with at most one other action');
      }
      const index = ruleSeq++;
      rules.push({ rule, left: rule.times ?? Infinity, name: rule.name ?? `#${index}` });
    },
    clearRules() {
      rules.length = 0;
    },
    requests,
    clearLog() {
      requests.length = 0;
    },
    find(method, path) {
      return requests.filter(
        (r) => (method === undefined || r.method === method.toUpperCase()) && (path === undefined || matchText(path, r.path)),
      );
    },
    settled() {
      if (inflight === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        liveProxies.delete(proxy);
        for (const t of timers) clearTimeout(t);
        timers.clear();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
        agent.destroy();
        await closed;
        for (const r of requests) if (r.outcome === 'pending') finish(r, 'client-aborted', 'proxy stopped');
      })();
      return stopping;
    },
  };
  liveProxies.add(proxy);
  return proxy;
}
