/**
 * A Git smart-HTTP server for the tests: a small Node HTTP server on 127.0.0.1 (a free port) that
 * runs the real `git http-backend` CGI program once per request, so clients (system git,
 * isomorphic-git, `mlv get --repo http://...`) talk to the same server code as in production.
 *
 *   const server = await startGitHttpServer(path.dirname(bareRepo));   // afterAll(() => server.stop())
 *   git(dir, ['clone', `${server.url}/origin.git`, 'copy']);
 *   expect(server.requests.map((r) => r.path)).toContain('/origin.git/git-upload-pack');
 *
 * Every repository below `projectRoot` is exported (GIT_HTTP_EXPORT_ALL), read-only: http-backend
 * refuses `git-receive-pack` to anonymous clients. Server-side settings (for example
 * `uploadpack.allowAnySHA1InWant`) can be given as `gitConfig`, which reaches http-backend and
 * upload-pack through GIT_CONFIG_COUNT/KEY/VALUE, or set on the bare repository with `git config`.
 *
 * Request bodies are streamed to the CGI as they arrive; a gzip body (Content-Encoding: gzip, as
 * git sends large negotiation requests) is passed through unchanged with HTTP_CONTENT_ENCODING,
 * and http-backend inflates it. A chunked body (no Content-Length) is passed without
 * CONTENT_LENGTH: http-backend then reads to end of input. The CGI response headers (`Status:`
 * and the others) become the HTTP response head and the rest of its output is streamed as the body.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { GIT_ENV } from './cli.js';

export interface GitHttpRequest {
  method: string;
  /** The request path without the query, e.g. /origin.git/info/refs */
  path: string;
  /** The query string without '?' ('' if none), e.g. service=git-upload-pack */
  query: string;
  /** The HTTP status sent (0 while pending or if the request failed before a response head). */
  status: number;
  /** Request body bytes as received (compressed if the client gzipped them). */
  requestBytes: number;
  /** Response body bytes sent. */
  responseBytes: number;
  /** The client's Git-Protocol header, if any (e.g. version=2). */
  gitProtocol?: string;
}

export interface GitHttpServer {
  /** http://127.0.0.1:<port>: a repository at <projectRoot>/origin.git is `${url}/origin.git`. */
  url: string;
  port: number;
  /** Every request, in arrival order (entries are updated in place as they complete). */
  requests: GitHttpRequest[];
  /** Resolves when no request is in flight. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export interface GitHttpOptions {
  /** Server-side Git configuration for every request, e.g. { 'uploadpack.allowAnySHA1InWant': 'true' }. */
  gitConfig?: Record<string, string>;
}

/**
 * Runs system git without blocking the event loop. Use it (not the spawnSync helpers of cli.ts)
 * for anything that talks to a server running in this process, or the two deadlock.
 */
export function gitAsync(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, ...GIT_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** Like gitAsync, but throws unless git exits 0; returns stdout. */
export async function gitOk(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await gitAsync(cwd, args, env);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** The http-backend program: in `git --exec-path`, or the Debian default location. */
export function gitHttpBackendPath(): string {
  const r = spawnSync('git', ['--exec-path'], { encoding: 'utf8' });
  const candidates = [r.status === 0 ? path.join(r.stdout.trim(), 'git-http-backend') : '', '/usr/lib/git-core/git-http-backend', '/usr/libexec/git-core/git-http-backend'];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  throw new Error('git-http-backend not found (git --exec-path, /usr/lib/git-core)');
}

const live = new Set<GitHttpServer>();
afterAll(async () => {
  await Promise.all([...live].map((s) => s.stop()));
});

/** Parses CGI response headers; returns undefined until the blank line ending them has arrived. */
function splitCgiHead(buf: Buffer): { status: number; headers: [string, string][]; body: Buffer } | undefined {
  let end = -1;
  let sep = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x0a) {
      if (buf[i + 1] === 0x0a) {
        end = i;
        sep = 2;
        break;
      }
      if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) {
        end = i;
        sep = 3;
        break;
      }
    }
  }
  if (end < 0) return undefined;
  const text = buf.subarray(0, end).toString('latin1');
  let status = 200;
  const headers: [string, string][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers.push([name, value]);
  }
  return { status, headers, body: buf.subarray(end + sep) };
}

/** Starts the server; every Git repository below `projectRoot` is served read-only. */
export async function startGitHttpServer(projectRoot: string, options: GitHttpOptions = {}): Promise<GitHttpServer> {
  const backend = gitHttpBackendPath();
  const root = fs.realpathSync(projectRoot);
  const requests: GitHttpRequest[] = [];
  const children = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  let inflight = 0;
  let waiters: (() => void)[] = [];
  const done = () => {
    inflight--;
    if (inflight === 0) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  };

  const configEnv: Record<string, string> = {};
  const cfg = Object.entries(options.gitConfig ?? {});
  if (cfg.length > 0) {
    configEnv.GIT_CONFIG_COUNT = String(cfg.length);
    cfg.forEach(([k, v], i) => {
      configEnv[`GIT_CONFIG_KEY_${i}`] = k;
      configEnv[`GIT_CONFIG_VALUE_${i}`] = v;
    });
  }

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const entry: GitHttpRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: rawPath,
      query: q < 0 ? '' : url.slice(q + 1),
      status: 0,
      requestBytes: 0,
      responseBytes: 0,
    };
    const proto = req.headers['git-protocol'];
    if (typeof proto === 'string') entry.gitProtocol = proto;
    requests.push(entry);
    inflight++;
    let finished = false;
    const finish = () => {
      if (!finished) {
        finished = true;
        done();
      }
    };
    res.on('close', finish);

    let pathInfo: string;
    try {
      pathInfo = decodeURIComponent(rawPath);
    } catch {
      entry.status = 400;
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad path\n');
      return;
    }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...GIT_ENV,
      ...configEnv,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      SERVER_SOFTWARE: 'mlv-test-git-http',
      REQUEST_METHOD: entry.method,
      PATH_INFO: pathInfo,
      QUERY_STRING: entry.query,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    };
    const contentType = req.headers['content-type'];
    if (contentType) env.CONTENT_TYPE = contentType;
    const contentLength = req.headers['content-length'];
    if (contentLength !== undefined) env.CONTENT_LENGTH = contentLength;
    const encoding = req.headers['content-encoding'];
    if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
    if (typeof proto === 'string') env.HTTP_GIT_PROTOCOL = proto;

    const child = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4096);
    });
    child.stdin!.on('error', () => {}); // the CGI may answer (an error) without reading the body
    req.on('data', (c: Buffer) => (entry.requestBytes += c.length));
    req.pipe(child.stdin!);

    let head: Buffer[] = [];
    let headDone = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (headDone) {
        entry.responseBytes += chunk.length;
        if (!res.write(chunk)) {
          child.stdout!.pause();
          res.once('drain', () => child.stdout!.resume());
        }
        return;
      }
      head.push(chunk);
      const parsed = splitCgiHead(Buffer.concat(head));
      if (!parsed) return;
      headDone = true;
      head = [];
      entry.status = parsed.status;
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of parsed.headers) {
        const prev = headers[k];
        headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
      res.writeHead(parsed.status, headers);
      if (parsed.body.length > 0) {
        entry.responseBytes += parsed.body.length;
        res.write(parsed.body);
      }
    });
    child.on('error', (err) => {
      children.delete(child);
      if (!res.headersSent) {
        entry.status = 500;
        res.writeHead(500, { 'Content-Type': 'text/plain' });
      }
      res.end(`git http-backend failed: ${err.message}\n`);
    });
    child.on('close', (code) => {
      children.delete(child);
      if (!headDone) {
        entry.status = 500;
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`git http-backend exited ${code} without a response\n${stderr}`);
        return;
      }
      res.end();
    });
    res.on('close', () => {
      if (child.exitCode === null && child.signalCode === null && !res.writableFinished) child.kill('SIGKILL');
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  const self: GitHttpServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    settled: () => (inflight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        live.delete(self);
        for (const c of children) c.kill('SIGKILL');
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return stopping;
    },
  };
  live.add(self);
  return self;
}
