/**
 * Tests of the S3 test harness itself (test/helpers/s3-server.ts, test/helpers/fault-proxy.ts)
 * against the real s3rver, plus the checksum-trap regression test: with the SDK's default
 * checksum settings a streamed PutObject reaches s3rver aws-chunked and s3rver stores the framing.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fault, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import {
  getBytes,
  listAll,
  makeS3Client,
  openBucket,
  s3Env,
  s3TestTarget,
  startS3Server,
  subRef,
  via,
  type BucketView,
  type S3BucketRef,
  type S3Target,
} from '../helpers/s3-server.js';

// Spy before any S3Client exists in this process: the SDK warns on the first construction.
const warnings = vi.spyOn(process, 'emitWarning');

let s3: S3Target;
let ref: S3BucketRef;
let bucket: BucketView;
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-s3-infra-'));
  s3 = await startS3Server();
  ref = await s3.createBucket('infra');
  bucket = openBucket(s3, ref);
});

afterAll(async () => {
  await s3?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
  warnings.mockRestore();
});

/** Runs `fn` with environment variables set (undefined: unset), then restores them. */
async function withEnv(vars: Record<string, string | undefined>, fn: () => Promise<unknown>): Promise<void> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  apply(vars);
  try {
    await fn();
  } finally {
    apply(before);
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface RawResult {
  status?: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Error of the request or the response stream (reset, premature close). */
  error?: NodeJS.ErrnoException;
  gotContinue: boolean;
  ms: number;
}

/** One plain HTTP request on a fresh connection; never throws. */
function raw(
  base: string,
  method: string,
  urlPath: string,
  opts: { body?: Buffer; headers?: Record<string, string>; waitForContinue?: boolean } = {},
): Promise<RawResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const out: RawResult = { headers: {}, body: Buffer.alloc(0), gotContinue: false, ms: 0 };
    const chunks: Buffer[] = [];
    let done = false;
    const end = (error?: Error) => {
      if (done) return;
      done = true;
      out.body = Buffer.concat(chunks);
      if (error) out.error = error as NodeJS.ErrnoException;
      out.ms = Date.now() - t0;
      resolve(out);
    };
    const headers = { ...opts.headers, ...(opts.body ? { 'content-length': String(opts.body.length) } : {}) };
    const req = http.request(base + urlPath, { method, headers, agent: false }, (res) => {
      out.status = res.statusCode;
      out.headers = res.headers;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', end);
      res.on('end', () => end());
      res.on('close', () => end(res.complete ? undefined : Object.assign(new Error('response closed early'), { code: 'EARLYCLOSE' })));
    });
    req.on('error', end);
    req.on('continue', () => {
      out.gotContinue = true;
      req.end(opts.body);
    });
    if (opts.waitForContinue) req.flushHeaders();
    else req.end(opts.body);
  });
}

/**
 * Seeds objects (body = key) with unsigned plain-HTTP PUTs over keep-alive connections: s3rver
 * skips authentication for requests without an Authorization header, and this is ~2.5x faster
 * than going through the SDK. Local s3rver only.
 */
async function seedRaw(endpoint: string, bkt: string, keys: string[], concurrency = 16): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < keys.length) {
          const key = keys[next++]!;
          await new Promise<void>((resolve, reject) => {
            const req = http.request(`${endpoint}/${bkt}/${key}`, { method: 'PUT', agent, headers: { 'content-length': String(Buffer.byteLength(key)) } }, (res) => {
              res.resume();
              res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${key}: ${res.statusCode}`))));
            });
            req.on('error', reject);
            req.end(key);
          });
        }
      }),
    );
  } finally {
    agent.destroy();
  }
}

describe('loopback s3rver', () => {
  it('starts on 127.0.0.1 with a free port, makes unique buckets, and stop() kills it and removes its data', async () => {
    const s = await startS3Server();
    expect(s.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.endpoint).not.toBe(s3.endpoint);
    expect(s.external).toBe(false);
    const a = await s.createBucket('Same Hint!');
    const b = await s.createBucket('Same Hint!');
    expect(a.bucket).not.toBe(b.bucket);
    expect(a.bucket).toMatch(/^same-hint-[a-z0-9-]+$/);
    expect(a).toMatchObject({ prefix: '', url: `s3://${a.bucket}` });
    expect(a.key('ab/cdef')).toBe('ab/cdef');
    const sub = subRef(a, '/data/');
    expect(sub).toMatchObject({ bucket: a.bucket, prefix: 'data', url: `s3://${a.bucket}/data` });
    expect(sub.key('ab/cdef')).toBe('data/ab/cdef');

    const client = makeS3Client(s);
    const names = (await client.send(new ListBucketsCommand({}))).Buckets?.map((x) => x.Name).sort();
    expect(names).toEqual([a.bucket, b.bucket].sort());
    expect(fs.existsSync(path.join(s.dataDir!, a.bucket))).toBe(true);

    await s.stop();
    await s.stop(); // idempotent
    expect(fs.existsSync(s.dataDir!)).toBe(false);
    const after = await raw(s.endpoint, 'GET', '/');
    expect(after.error?.code).toBe('ECONNREFUSED');
  });

  it('round-trips bytes and lists what is in the bucket', async () => {
    const big = randomBytes(1024 * 1024 + 7);
    const key = `ab/${'c'.repeat(62)}`;
    await bucket.put(key, big);
    await bucket.put('empty/zero', new Uint8Array(0));
    await bucket.put('text', 'hello');

    expect(sha(await bucket.get(key))).toBe(sha(big));
    expect((await bucket.get('empty/zero')).length).toBe(0);
    expect((await bucket.get('text')).toString()).toBe('hello');
    expect(await bucket.list()).toEqual([
      { key, size: big.length, etag: `"${createHash('md5').update(big).digest('hex')}"` },
      { key: 'empty/zero', size: 0, etag: expect.any(String) },
      { key: 'text', size: 5, etag: expect.any(String) },
    ]);
    expect(await bucket.keys('ab/')).toEqual([key]);
    expect(await bucket.exists('text')).toBe(true);
    expect(await bucket.exists('nope')).toBe(false);
    expect(await bucket.tryGet('nope')).toBeUndefined();
    await expect(bucket.get('nope')).rejects.toMatchObject({ name: 'NoSuchKey' });

    for (const k of [key, 'empty/zero', 'text']) await bucket.delete(k);
    expect(await bucket.keys()).toEqual([]);
  });

  it('lists more than 1,000 keys with ListObjectsV2 continuation tokens (s3rver runs with --openssl-legacy-provider)', async () => {
    const many = await s3.createBucket('many');
    const client = makeS3Client(s3);
    const keys = Array.from({ length: 1100 }, (_, i) => `objs/${sha(Buffer.from(String(i))).slice(0, 2)}/${sha(Buffer.from(`k${i}`))}`);
    await seedRaw(s3.endpoint, many.bucket, keys);
    const expected = [...keys].sort();

    const page1 = await client.send(new ListObjectsV2Command({ Bucket: many.bucket }));
    expect(page1.KeyCount).toBe(1000);
    expect(page1.IsTruncated).toBe(true);
    expect(page1.NextContinuationToken).toBeTruthy();
    const page2 = await client.send(new ListObjectsV2Command({ Bucket: many.bucket, ContinuationToken: page1.NextContinuationToken }));
    expect(page2.KeyCount).toBe(100);
    expect(page2.IsTruncated).toBe(false);
    expect([...page1.Contents!, ...page2.Contents!].map((o) => o.Key)).toEqual(expected);

    // Max-keys above 1,000 is capped at 1,000; smaller pages work too.
    const capped = await client.send(new ListObjectsV2Command({ Bucket: many.bucket, MaxKeys: 5000 }));
    expect(capped.KeyCount).toBe(1000);
    expect((await listAll(client, many.bucket, 'objs/', 400)).map((o) => o.key)).toEqual(expected);

    // Through the fault proxy too: continuation tokens (base64: '+', '/', '=') survive forwarding.
    const proxy = await startFaultProxy(s3.endpoint);
    try {
      const viaProxy = makeS3Client(via(s3, proxy.url));
      const listed = await listAll(viaProxy, many.bucket);
      expect(listed.map((o) => o.key)).toEqual(expected);
      expect(listed.every((o, i) => o.size === Buffer.byteLength(listed[i]!.key))).toBe(true);
      expect(proxy.find('GET').map((r) => r.status)).toEqual([200, 200]);
      viaProxy.destroy();
    } finally {
      await proxy.stop();
    }
  });

  it('keeps the Node-20 NodeVersionSupportWarning of the AWS SDK off the test output', () => {
    const sdkWarnings = warnings.mock.calls.filter((args) => String(args[0]).includes('NodeVersionSupportWarning'));
    expect(sdkWarnings).toEqual([]);
    expect(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED).toBeUndefined();
    // Emitted anyway (a client made with new S3Client), it is dropped before it is printed.
    const seen: string[] = [];
    const onWarning = (w: Error) => seen.push(w.message);
    process.on('warning', onWarning);
    process.emitWarning('NodeVersionSupportWarning: The AWS SDK for JavaScript (v3) ...');
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        process.off('warning', onWarning);
        expect(seen).toEqual([]);
        resolve();
      }),
    );
  });

  it('s3TestTarget() uses MLV_TEST_S3_ENDPOINT when set: unique prefixes in MLV_TEST_S3_BUCKET, cleaned up by stop()', async () => {
    // The "external" server here is the local s3rver, reached through the environment variables.
    const base = await s3.createBucket('external-base');
    const baseView = openBucket(s3, base);
    await baseView.put('ci/run-not-ours', 'x'); // outside every prefix made: must survive stop()
    const creds = { MLV_TEST_S3_ACCESS_KEY_ID: 'S3RVER', MLV_TEST_S3_SECRET_ACCESS_KEY: 'S3RVER', MLV_TEST_S3_REGION: undefined };
    await withEnv({ ...creds, MLV_TEST_S3_ENDPOINT: `${s3.endpoint}/`, MLV_TEST_S3_BUCKET: `${base.bucket}/ci/run` }, async () => {
      const ext = await s3TestTarget();
      try {
        expect(ext).toMatchObject({ external: true, endpoint: s3.endpoint, region: 'us-east-1', accessKeyId: 'S3RVER' });
        const r1 = await ext.createBucket('one');
        const r2 = await ext.createBucket('one');
        expect(r1.bucket).toBe(base.bucket);
        expect(r1.prefix).toMatch(/^ci\/run\/one-[a-z0-9-]+$/);
        expect(r2.prefix).not.toBe(r1.prefix);
        expect(r1.url).toBe(`s3://${base.bucket}/${r1.prefix}`);
        expect(r1.key('ab/cdef')).toBe(`${r1.prefix}/ab/cdef`);
        const v1 = openBucket(ext, r1);
        await v1.put('ab/cdef', 'one');
        await openBucket(ext, r2).put('ab/cdef', 'two');
        expect(await v1.list()).toEqual([{ key: 'ab/cdef', size: 3, etag: expect.any(String) }]);
        expect(await baseView.keys()).toEqual(['ci/run-not-ours', `${r1.prefix}/ab/cdef`, `${r2.prefix}/ab/cdef`].sort());
      } finally {
        await ext.stop();
      }
      expect(await baseView.keys()).toEqual(['ci/run-not-ours']);
    });
    // Without MLV_TEST_S3_BUCKET: real buckets, deleted by stop().
    await withEnv({ ...creds, MLV_TEST_S3_ENDPOINT: s3.endpoint, MLV_TEST_S3_BUCKET: undefined }, async () => {
      const ext = await s3TestTarget();
      const r = await ext.createBucket('own');
      expect(r).toMatchObject({ prefix: '', url: `s3://${r.bucket}` });
      await openBucket(ext, r).put('ab/cdef', 'x');
      const names = async () => (await bucket.client.send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name);
      expect(await names()).toContain(r.bucket);
      await ext.stop();
      expect(await names()).not.toContain(r.bucket);
    });
    // Without credentials it refuses clearly.
    await withEnv(
      { MLV_TEST_S3_ENDPOINT: s3.endpoint, MLV_TEST_S3_ACCESS_KEY_ID: undefined, MLV_TEST_S3_SECRET_ACCESS_KEY: undefined, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined },
      () => expect(s3TestTarget()).rejects.toThrow(/credentials/),
    );
  });

  it('gives mlv child processes an environment for the target', () => {
    const env = s3Env(s3);
    expect(env).toMatchObject({
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(s3Env(via(s3, 'http://127.0.0.1:1')).AWS_ENDPOINT_URL_S3).toBe('http://127.0.0.1:1');
  });
});

describe('checksum trap: streamed PutObject to s3rver', () => {
  it('with the SDK default checksums, stores the aws-chunked framing instead of the bytes', async () => {
    const data = randomBytes(10_000);
    const file = path.join(tmp, 'default.bin');
    fs.writeFileSync(file, data);
    const client = makeS3Client(s3, { requestChecksumCalculation: undefined, responseChecksumValidation: undefined });
    expect(await client.config.requestChecksumCalculation()).toBe('WHEN_SUPPORTED');
    expect(await client.config.responseChecksumValidation()).toBe('WHEN_SUPPORTED');

    await client.send(
      new PutObjectCommand({ Bucket: ref.bucket, Key: 'trap/default', Body: fs.createReadStream(file), ContentLength: data.length }),
    );
    const stored = await bucket.get('trap/default');
    const viaDefault = await client.send(new GetObjectCommand({ Bucket: ref.bucket, Key: 'trap/default' }));
    const readBack = Buffer.from(await viaDefault.Body!.transformToByteArray());

    expect(stored.equals(data)).toBe(false);
    expect(stored.length).toBeGreaterThan(data.length);
    // <hex size>\r\n<data>\r\n0\r\nx-amz-checksum-crc32:<base64>\r\n\r\n
    expect(stored.subarray(0, 20).toString('latin1')).toMatch(/^[0-9a-f]+\r\n/);
    expect(stored.toString('latin1')).toMatch(/\r\n0\r\nx-amz-checksum-[a-z0-9]+:[A-Za-z0-9+/=]+\r\n\r\n$/);
    expect(stored.includes(data)).toBe(true);
    // The default client does not notice either: it reads the framing back as the object.
    expect(readBack.equals(stored)).toBe(true);
    expect(viaDefault.ContentEncoding).toBe('aws-chunked');
    client.destroy();
  });

  it('with WHEN_REQUIRED checksums, round-trips a streamed upload exactly', async () => {
    const data = randomBytes(300_000);
    const file = path.join(tmp, 'when-required.bin');
    fs.writeFileSync(file, data);
    const client = makeS3Client(s3); // requestChecksumCalculation / responseChecksumValidation: WHEN_REQUIRED
    expect(await client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');

    await client.send(new PutObjectCommand({ Bucket: ref.bucket, Key: 'trap/file', Body: fs.createReadStream(file), ContentLength: data.length }));
    const chunks = Array.from({ length: 30 }, (_, i) => data.subarray(i * 10_000, (i + 1) * 10_000));
    await client.send(new PutObjectCommand({ Bucket: ref.bucket, Key: 'trap/readable', Body: Readable.from(chunks), ContentLength: data.length }));

    for (const key of ['trap/file', 'trap/readable']) {
      const got = await getBytes(client, ref.bucket, key);
      expect(got.length).toBe(data.length);
      expect(sha(got)).toBe(sha(data));
      const head = await client.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: key }));
      expect(head.ContentLength).toBe(data.length);
      expect(head.ContentEncoding).toBeUndefined();
    }
    client.destroy();
  });
});

describe('fault proxy', () => {
  let proxy: FaultProxy;
  let pc: S3Client; // SDK client through the proxy, no retries
  const objPath = (key: string) => `/${ref.bucket}/${key}`;
  const obj = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) & 0xff));

  beforeAll(async () => {
    proxy = await startFaultProxy(s3.endpoint);
    pc = makeS3Client(via(s3, proxy.url));
    await bucket.put('proxy/obj', obj);
  });
  afterEach(async () => {
    await proxy.settled();
    proxy.clearRules();
    proxy.clearLog();
  });
  afterAll(async () => {
    pc?.destroy();
    await proxy?.stop();
  });

  it('forwards method, raw path and query, headers (Host included) and streamed bodies both ways', async () => {
    const seen: { method?: string; url?: string; headers?: http.IncomingHttpHeaders; raw?: string[]; sha?: string; len?: number }[] = [];
    const download = randomBytes(3 * 1024 * 1024);
    const echo = http.createServer((req, res) => {
      const h = createHash('sha256');
      let len = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        len += c.length;
      });
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, raw: req.rawHeaders, sha: h.digest('hex'), len });
        if (req.url === '/download') {
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Multi': ['a', 'b'] });
          // chunked (no Content-Length), written in pieces
          for (let i = 0; i < download.length; i += 256 * 1024) res.write(download.subarray(i, i + 256 * 1024));
          res.end();
        } else {
          res.writeHead(201, 'Made', { ETag: '"x"' });
          res.end('ok');
        }
      });
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const p = await startFaultProxy(`http://127.0.0.1:${(echo.address() as AddressInfo).port}`);
    try {
      const upload = randomBytes(5 * 1024 * 1024 + 3);
      const put = await raw(p.url, 'PUT', '/b/k%20ey/ab%2Fcd?x-id=PutObject&a=1&a=2&empty=', {
        body: upload,
        headers: { Host: 'signed.example:9000', 'X-Amz-Meta-Dup': 'v', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'If-None-Match': '*' },
      });
      expect(put.status).toBe(201);
      expect(put.body.toString()).toBe('ok');
      expect(put.headers.etag).toBe('"x"');
      expect(seen[0]).toMatchObject({ method: 'PUT', url: '/b/k%20ey/ab%2Fcd?x-id=PutObject&a=1&a=2&empty=', sha: sha(upload), len: upload.length });
      expect(seen[0]!.headers).toMatchObject({
        host: 'signed.example:9000',
        'x-amz-meta-dup': 'v',
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'if-none-match': '*',
        'content-length': String(upload.length),
      });

      // A chunked request body (no Content-Length) arrives intact.
      const chunked = await new Promise<number | undefined>((resolve, reject) => {
        const r = http.request(`${p.url}/chunked`, { method: 'POST', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        });
        r.on('error', reject);
        for (let i = 0; i < 10; i++) r.write(upload.subarray(i * 1000, (i + 1) * 1000));
        r.end();
      });
      expect(chunked).toBe(201);
      expect(seen[1]).toMatchObject({ len: 10_000, sha: sha(upload.subarray(0, 10_000)) });
      expect(seen[1]!.headers!['transfer-encoding']).toBe('chunked');

      const get = await raw(p.url, 'GET', '/download');
      expect(get.status).toBe(200);
      expect(get.error).toBeUndefined();
      expect(get.headers['x-multi']).toBe('a, b');
      expect(sha(get.body)).toBe(sha(download));
      await p.settled();
      expect(p.requests.map((r) => [r.method, r.path, r.query, r.status, r.outcome, r.requestBytes, r.responseBytes])).toEqual([
        ['PUT', '/b/k%20ey/ab%2Fcd', 'x-id=PutObject&a=1&a=2&empty=', 201, 'ok', upload.length, 2],
        ['POST', '/chunked', '', 201, 'ok', 10_000, 2],
        ['GET', '/download', '', 200, 'ok', 0, download.length],
      ]);
    } finally {
      await p.stop();
      echo.closeAllConnections();
      await new Promise((r) => echo.close(r));
    }
  });

  it('passes SDK traffic through unchanged, including a >2 MB PutObject sent with Expect: 100-continue', async () => {
    const big = randomBytes(3 * 1024 * 1024);
    await pc.send(new PutObjectCommand({ Bucket: ref.bucket, Key: 'proxy/big', Body: big, ContentLength: big.length }));
    expect(sha(await bucket.get('proxy/big'))).toBe(sha(big));
    expect(sha(await getBytes(pc, ref.bucket, 'proxy/big'))).toBe(sha(big));
    await proxy.settled();
    const [put, get] = proxy.requests;
    expect(put).toMatchObject({ method: 'PUT', path: objPath('proxy/big'), status: 200, outcome: 'ok', requestBytes: big.length, actions: [] });
    expect(put!.headers.expect).toBe('100-continue');
    expect(put!.rule).toBeUndefined();
    expect(get).toMatchObject({ method: 'GET', path: objPath('proxy/big'), status: 200, responseBytes: big.length });
  });

  it('status: answers with an S3 XML error (and Retry-After) without contacting the server, for `times` requests', async () => {
    const expectations: [number, string][] = [
      [503, 'SlowDown'],
      [500, 'InternalError'],
      [403, 'AccessDenied'],
      [404, 'NoSuchKey'],
      [429, 'SlowDown'],
    ];
    for (const [code, name] of expectations) {
      proxy.addRule({ method: 'GET', path: objPath('proxy/obj'), times: 1, action: fault.status(code, { retryAfterSeconds: 2 }) });
      const r = await raw(proxy.url, 'GET', objPath('proxy/obj'));
      expect(r.status).toBe(code);
      expect(r.headers['retry-after']).toBe('2');
      expect(r.headers['content-type']).toBe('application/xml');
      expect(r.body.toString()).toContain(`<Error><Code>${name}</Code>`);
    }
    // times exhausted: the request goes through
    const ok = await raw(proxy.url, 'GET', objPath('proxy/obj'));
    expect(ok.status).toBe(200);
    expect(ok.body.equals(obj)).toBe(true);

    // The server never saw the faulted PUT.
    proxy.addRule({ method: 'PUT', times: 1, action: fault.status(500, { errorCode: 'Custom', message: 'boom' }) });
    const put = await raw(proxy.url, 'PUT', objPath('proxy/never'), { body: Buffer.from('x') });
    expect(put.status).toBe(500);
    expect(put.body.toString()).toContain('<Code>Custom</Code><Message>boom</Message>');
    expect(await bucket.exists('proxy/never')).toBe(false);
    await proxy.settled();
    expect(proxy.requests.map((r) => [r.method, r.status, r.rule])).toEqual([
      ['GET', 503, '#0'],
      ['GET', 500, '#1'],
      ['GET', 403, '#2'],
      ['GET', 404, '#3'],
      ['GET', 429, '#4'],
      ['GET', 200, undefined],
      ['PUT', 500, '#5'],
    ]);
  });

  it('status: the SDK retries a 503 (the log shows both PUTs), and an Expect: 100-continue body is refused', async () => {
    const retrying = makeS3Client(via(s3, proxy.url), { maxAttempts: 3 });
    const big = randomBytes(2 * 1024 * 1024 + 1);
    proxy.addRule({ name: 'slowdown', method: 'PUT', path: /\/proxy\/retried$/, times: 1, action: fault.status(503, { retryAfterSeconds: 0 }) });
    await retrying.send(new PutObjectCommand({ Bucket: ref.bucket, Key: 'proxy/retried', Body: big, ContentLength: big.length }));
    expect(sha(await bucket.get('proxy/retried'))).toBe(sha(big));
    await proxy.settled();
    const puts = proxy.find('PUT', objPath('proxy/retried'));
    expect(puts.map((r) => [r.status, r.rule, r.requestBytes])).toEqual([
      [503, 'slowdown', 0],
      [200, undefined, big.length],
    ]);
    expect(puts[1]!.headers['amz-sdk-request']).toMatch(/^attempt=2/);
    retrying.destroy();

    // The same with a plain client: no 100 Continue, so the body is never sent.
    proxy.addRule({ method: 'PUT', times: 1, action: fault.status(503) });
    const r = await raw(proxy.url, 'PUT', objPath('proxy/expect'), { body: Buffer.alloc(1000), headers: { Expect: '100-continue' }, waitForContinue: true });
    expect(r.status).toBe(503);
    expect(r.gotContinue).toBe(false);
  });

  it('reset-request-after-bytes: resets the connection mid-upload; nothing reaches the server; the SDK retries', async () => {
    proxy.addRule({ method: 'PUT', times: 1, action: fault.resetRequestAfterBytes(1000) });
    const r = await raw(proxy.url, 'PUT', objPath('proxy/reset-up'), { body: randomBytes(256 * 1024) });
    expect(r.status).toBeUndefined();
    expect(['ECONNRESET', 'EPIPE']).toContain(r.error?.code);
    await proxy.settled();
    expect(proxy.requests[0]).toMatchObject({ outcome: 'reset', requestBytes: 1000, actions: ['reset-request-after-bytes'] });
    expect(proxy.requests[0]!.status).toBeUndefined();
    expect(await bucket.exists('proxy/reset-up')).toBe(false);

    // The SDK reports it as a retryable network error and succeeds on the next attempt.
    const body = randomBytes(50_000);
    proxy.addRule({ method: 'PUT', times: 1, action: fault.resetRequestAfterBytes(0) });
    await expect(pc.send(new PutObjectCommand({ Bucket: ref.bucket, Key: 'proxy/reset-sdk', Body: body }))).rejects.toThrow(/ECONNRESET|EPIPE|socket hang up/);
    proxy.addRule({ method: 'PUT', times: 1, action: fault.resetRequestAfterBytes(10_000) });
    const retrying = makeS3Client(via(s3, proxy.url), { maxAttempts: 2 });
    await retrying.send(new PutObjectCommand({ Bucket: ref.bucket, Key: 'proxy/reset-sdk', Body: body }));
    expect(sha(await bucket.get('proxy/reset-sdk'))).toBe(sha(body));
    await proxy.settled();
    expect(proxy.find('PUT', objPath('proxy/reset-sdk')).map((x) => x.outcome)).toEqual(['reset', 'reset', 'ok']);
    retrying.destroy();
  });

  it('reset-request-after-bytes with forwardPartial: s3rver then holds a truncated object under the key', async () => {
    // Not S3 semantics (S3 never exposes a partial upload), but what s3rver does: it writes the
    // request stream straight to the object file.
    proxy.addRule({ method: 'PUT', times: 1, action: fault.resetRequestAfterBytes(5000, { forwardPartial: true }) });
    const r = await raw(proxy.url, 'PUT', objPath('proxy/partial'), { body: randomBytes(100_000) });
    expect(r.error).toBeDefined();
    let size: number | undefined;
    for (let i = 0; i < 40 && size !== 5000; i++) {
      size = (await bucket.list('proxy/partial'))[0]?.size;
      if (size !== 5000) await new Promise((res) => setTimeout(res, 50));
    }
    expect(size).toBe(5000);
  });

  it('reset-response-after-bytes: sends the head and n body bytes, then resets', async () => {
    proxy.addRule({ method: 'GET', path: objPath('proxy/obj'), times: 1, action: fault.resetResponseAfterBytes(1000) });
    const r = await raw(proxy.url, 'GET', objPath('proxy/obj'));
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(obj.length));
    expect(r.body.equals(obj.subarray(0, 1000))).toBe(true);
    expect(r.error).toBeDefined();
    await proxy.settled();
    expect(proxy.requests[0]).toMatchObject({ status: 200, responseBytes: 1000, outcome: 'reset' });

    proxy.addRule({ method: 'GET', times: 1, action: fault.resetResponseAfterBytes(500) });
    await expect(getBytes(pc, ref.bucket, 'proxy/obj')).rejects.toThrow();
  });

  it('truncate-response: keeps Content-Length, sends n bytes, closes; truncate-response-clean: a well-formed short reply', async () => {
    proxy.addRule({ method: 'GET', times: 1, action: fault.truncateResponse(777) });
    const cut = await raw(proxy.url, 'GET', objPath('proxy/obj'));
    expect(cut.status).toBe(200);
    expect(cut.headers['content-length']).toBe(String(obj.length));
    expect(cut.body.equals(obj.subarray(0, 777))).toBe(true);
    expect(cut.error).toBeDefined();

    proxy.addRule({ method: 'GET', times: 1, action: fault.truncateResponseClean(777) });
    const clean = await raw(proxy.url, 'GET', objPath('proxy/obj'));
    expect(clean.status).toBe(200);
    expect(clean.error).toBeUndefined();
    expect(clean.headers['content-length']).toBe('777');
    expect(clean.body.equals(obj.subarray(0, 777))).toBe(true);

    // The SDK accepts the clean short body without complaint (s3rver keeps no checksum to check).
    proxy.addRule({ method: 'GET', times: 1, action: fault.truncateResponseClean(10) });
    expect((await getBytes(pc, ref.bucket, 'proxy/obj')).equals(obj.subarray(0, 10))).toBe(true);
    await proxy.settled();
    expect(proxy.requests.map((r) => r.outcome)).toEqual(['truncated', 'ok', 'ok']);
  });

  it('corrupt-response flips one bit at the offset; replace-response-body serves other bytes under the right key', async () => {
    proxy.addRule({ method: 'GET', times: 1, action: fault.corruptResponse(70_000) });
    const bad = await raw(proxy.url, 'GET', objPath('proxy/obj'));
    expect(bad.status).toBe(200);
    expect(bad.body.length).toBe(obj.length);
    const diff = [...bad.body.keys()].filter((i) => bad.body[i] !== obj[i]);
    expect(diff).toEqual([70_000]);
    expect(bad.body[70_000]! ^ obj[70_000]!).toBe(1);

    // The SDK returns the corrupted bytes silently.
    proxy.addRule({ method: 'GET', times: 1, action: fault.corruptResponse(0) });
    const sdkBad = await getBytes(pc, ref.bucket, 'proxy/obj');
    expect(sdkBad.length).toBe(obj.length);
    expect(sdkBad.equals(obj)).toBe(false);

    const other = Buffer.from('not the object you are looking for');
    proxy.addRule({ method: 'GET', times: 1, action: fault.replaceResponseBody(other) });
    const swapped = await raw(proxy.url, 'GET', objPath('proxy/obj'));
    expect(swapped.status).toBe(200);
    expect(swapped.body.equals(other)).toBe(true);
    expect(swapped.headers['content-length']).toBe(String(other.length));
    expect(swapped.headers.etag).toBe(`"${createHash('md5').update(obj).digest('hex')}"`);
  });

  it('delay waits before forwarding; strip-request-header removes a header (If-None-Match ignored)', async () => {
    proxy.addRule({ method: 'GET', times: 1, action: fault.delay(300) });
    const slow = await raw(proxy.url, 'GET', objPath('proxy/obj'));
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(290);
    expect(slow.body.equals(obj)).toBe(true);

    const etag = `"${createHash('md5').update(obj).digest('hex')}"`;
    const conditional = await raw(proxy.url, 'GET', objPath('proxy/obj'), { headers: { 'If-None-Match': etag } });
    expect(conditional.status).toBe(304);
    proxy.addRule({ method: 'GET', times: 1, action: [fault.stripRequestHeader('if-none-match'), fault.delay(10)] });
    const stripped = await raw(proxy.url, 'GET', objPath('proxy/obj'), { headers: { 'If-None-Match': etag } });
    expect(stripped.status).toBe(200);
    expect(stripped.body.equals(obj)).toBe(true);
    await proxy.settled();
    expect(proxy.requests.map((r) => [r.status, r.actions])).toEqual([
      [200, ['delay']],
      [304, []],
      [200, ['strip-request-header', 'delay']],
    ]);
  });

  it('matches rules by method, path, query and predicate, first match wins, `times` counts down', async () => {
    // (the SDK lists with GET /<bucket>/?list-type=2..., trailing slash included)
    proxy.addRule({ name: 'list', method: 'get', path: `/${ref.bucket}/`, query: /(^|&)list-type=2(&|$)/, action: fault.status(500) });
    proxy.addRule({ name: 'twice', method: ['HEAD', 'GET'], path: /\/proxy\/obj$/, times: 2, action: fault.status(404) });
    proxy.addRule({ name: 'shadowed', method: 'GET', path: /\/proxy\/obj$/, times: 1, action: fault.status(403) });
    proxy.addRule({ name: 'header', when: (r) => r.headers['x-test'] === 'yes', action: fault.status(400) });
    expect(() => proxy.addRule({ action: [fault.status(500), fault.corruptResponse(1)] })).toThrow();

    await expect(pc.send(new ListObjectsV2Command({ Bucket: ref.bucket }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 500 } });
    await expect(pc.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: 'proxy/obj' }))).rejects.toMatchObject({ name: 'NotFound' });
    await expect(getBytes(pc, ref.bucket, 'proxy/obj')).rejects.toMatchObject({ name: 'NoSuchKey' });
    await expect(getBytes(pc, ref.bucket, 'proxy/obj')).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    expect((await getBytes(pc, ref.bucket, 'proxy/obj')).equals(obj)).toBe(true);
    expect((await raw(proxy.url, 'GET', objPath('proxy/obj'), { headers: { 'x-test': 'yes' } })).status).toBe(400);
    await proxy.settled();
    expect(proxy.requests.map((r) => [r.method, r.status, r.rule])).toEqual([
      ['GET', 500, 'list'],
      ['HEAD', 404, 'twice'],
      ['GET', 404, 'twice'],
      ['GET', 403, 'shadowed'],
      ['GET', 200, undefined],
      ['GET', 400, 'header'],
    ]);
    expect(proxy.find('HEAD')).toHaveLength(1);
    expect(proxy.find('GET', /\/proxy\/obj$/)).toHaveLength(4);
  });

  it('stop() closes the proxy and cuts requests in flight', async () => {
    const p = await startFaultProxy(s3.endpoint);
    p.addRule({ action: fault.delay(60_000) });
    const pending = raw(p.url, 'GET', objPath('proxy/obj'));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await p.stop();
    const r = await pending;
    expect(r.status).toBeUndefined();
    expect(r.error).toBeDefined();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(p.requests[0]!.outcome).toBe('client-aborted');
    expect((await raw(p.url, 'GET', '/')).error?.code).toBe('ECONNREFUSED');
  });
});
