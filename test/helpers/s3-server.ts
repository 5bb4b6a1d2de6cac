/**
 * Loopback S3 for the tests: s3rver in a child process (or an external S3-compatible server named
 * by MLV_TEST_S3_ENDPOINT), plus small helpers to look inside a bucket.
 *
 *   const s3 = await s3TestTarget();              // afterAll(() => s3.stop())
 *   const ref = await s3.createBucket('push');    // { bucket, prefix, url, key() }
 *   mlv(repo, ['remote', 'add', 'origin', ref.url], s3Env(s3));
 *   const b = openBucket(s3, ref);
 *   expect(await b.keys()).toEqual(['ab/cdef...']);  // keys relative to ref.prefix
 *
 * Why a child process: s3rver builds ListObjectsV2 continuation tokens with DES, which Node 20's
 * OpenSSL 3 refuses unless the process runs with --openssl-legacy-provider; in-process, every
 * listing past 1,000 keys fails with InternalError. The child (s3rver-child.mjs) gets that flag,
 * listens on 127.0.0.1 port 0, logs nothing, keeps its data in a temp dir and exits as soon as
 * this process disconnects (so a crashed test worker leaves nothing running).
 *
 * s3rver only knows the access key id S3RVER (any other id: InvalidAccessKeyId); it does not
 * verify SigV4 signatures, so the secret is not checked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { afterAll } from 'vitest';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const S3RVER_CHILD = path.join(HERE, '..', '..', 'scripts', 's3rver-child.mjs');

/** The only credentials s3rver accepts (the key id is checked, the secret is not). */
export const S3RVER_ACCESS_KEY_ID = 'S3RVER';
export const S3RVER_SECRET_ACCESS_KEY = 'S3RVER';

/**
 * Where a test may write: a bucket and a key prefix inside it.
 * - local s3rver: a fresh, empty bucket of its own and prefix '' (url `s3://<bucket>`);
 * - external server with MLV_TEST_S3_BUCKET: that bucket and a fresh unique prefix
 *   (url `s3://<bucket>/<prefix>`);
 * - external server without MLV_TEST_S3_BUCKET: a fresh bucket created there, prefix ''.
 * Either way `url` is the mlv remote URL to use, and `key(rel)` maps a key relative to the
 * prefix (what mlv writes below the remote URL, e.g. 'ab/cdef...') to the full object key.
 * Tests that want their own sub-prefix use `subRef(ref, 'data')`.
 */
export interface S3BucketRef {
  bucket: string;
  /** No leading or trailing slash; '' for the bucket root. */
  prefix: string;
  /** s3://bucket or s3://bucket/prefix */
  url: string;
  /** Full object key for a key relative to `prefix`. */
  key(rel: string): string;
}

export interface S3Target {
  /** http://127.0.0.1:<port> for the local s3rver. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** True when MLV_TEST_S3_ENDPOINT names a server this harness did not start. */
  external: boolean;
  /** Local s3rver only: where it keeps the buckets (kept after stop() with MLV_TEST_KEEP=1). */
  dataDir?: string;
  /** A fresh place to write (see S3BucketRef); `hint` becomes part of the name. */
  createBucket(hint?: string): Promise<S3BucketRef>;
  /**
   * Local: kills s3rver and removes its data dir. External: deletes what createBucket made
   * (objects under the prefixes, created buckets) unless MLV_TEST_KEEP=1. Idempotent.
   */
  stop(): Promise<void>;
}

/** Connection details only (a target, or a target seen through a fault proxy). */
export type S3Endpoint = Pick<S3Target, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'>;

/** The same server reached through another endpoint, e.g. a fault proxy: `via(s3, proxy.url)`. */
export function via(target: S3Endpoint, endpoint: string): S3Endpoint {
  return { endpoint, region: target.region, accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey };
}

export function subRef(ref: S3BucketRef, sub: string): S3BucketRef {
  const clean = sub.replace(/^\/+|\/+$/g, '');
  return makeRef(ref.bucket, ref.prefix && clean ? `${ref.prefix}/${clean}` : ref.prefix || clean);
}

function makeRef(bucket: string, prefix: string): S3BucketRef {
  return {
    bucket,
    prefix,
    url: prefix ? `s3://${bucket}/${prefix}` : `s3://${bucket}`,
    key: (rel) => (prefix ? `${prefix}/${rel.replace(/^\/+/, '')}` : rel.replace(/^\/+/, '')),
  };
}

/**
 * Environment for an mlv child process talking to `target` (or to a proxy: `s3Env(via(s3, p.url))`):
 * endpoint, region and static credentials, no shared config files, no instance metadata lookups.
 * (It does not touch AWS_PROFILE or AWS_SESSION_TOKEN; the env credentials win over a profile.)
 */
export function s3Env(target: S3Endpoint): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: target.endpoint,
    AWS_ENDPOINT_URL: target.endpoint,
    AWS_REGION: target.region,
    AWS_DEFAULT_REGION: target.region,
    AWS_ACCESS_KEY_ID: target.accessKeyId,
    AWS_SECRET_ACCESS_KEY: target.secretAccessKey,
    AWS_CONFIG_FILE: os.devNull,
    AWS_SHARED_CREDENTIALS_FILE: os.devNull,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

// ---------------------------------------------------------------------------------------------
// Clients

const liveClients = new Set<S3Client>();

/**
 * An S3Client for `target` as mlv configures one for a custom endpoint: path-style, the target's
 * region and static credentials, and checksums only WHEN_REQUIRED (with the SDK defaults, a
 * streamed PutObject is sent aws-chunked with a trailing CRC and s3rver stores the framing as the
 * object: see the checksum-trap test in test/infra). No retries (maxAttempts 1) unless overridden.
 * `overrides` are applied last; an override set to undefined restores the SDK default, e.g.
 * `{ requestChecksumCalculation: undefined }`.
 * Destroyed by stop() of the target it was made for, or after the test file at the latest.
 */
export function makeS3Client(target: S3Endpoint, overrides: Partial<S3ClientConfig> = {}): S3Client {
  const config: Record<string, unknown> = {
    endpoint: target.endpoint,
    region: target.region,
    forcePathStyle: true,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    ...overrides,
  };
  // An override given as undefined removes the setting: the SDK default applies.
  for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete config[k];
  const client = quietly(() => new S3Client(config as S3ClientConfig));
  liveClients.add(client);
  const destroy = client.destroy.bind(client);
  client.destroy = () => {
    liveClients.delete(client);
    destroy();
  };
  clientsByEndpoint(target.endpoint).add(client);
  return client;
}

const byEndpoint = new Map<string, Set<S3Client>>();
function clientsByEndpoint(endpoint: string): Set<S3Client> {
  let set = byEndpoint.get(endpoint);
  if (!set) byEndpoint.set(endpoint, (set = new Set()));
  return set;
}

/**
 * The SDK warns once per process through process.emitWarning that it will require Node 22
 * ("NodeVersionSupportWarning"); the warning is emitted while a client is constructed and has an
 * opt-out variable. Set it only around the construction so that mlv child processes spawned by the
 * tests still see the environment they would see in real use.
 */
function quietly<T>(make: () => T): T {
  const name = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';
  const before = process.env[name];
  process.env[name] = 'true';
  try {
    return make();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

/*
 * Belt and braces for clients made directly with `new S3Client(...)`: drop that one warning (and
 * only it) when it reaches process.emitWarning in the test worker.
 */
const SDK_NODE_WARNING = 'NodeVersionSupportWarning';
const emitWarning = process.emitWarning as (...args: unknown[]) => void;
if (!(emitWarning as { mlvFiltered?: boolean }).mlvFiltered) {
  const filtered = function (this: unknown, warning: unknown, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : (warning as Error | undefined)?.message;
    if (typeof text === 'string' && text.includes(SDK_NODE_WARNING)) return;
    return emitWarning.call(process, warning, ...rest);
  };
  (filtered as { mlvFiltered?: boolean }).mlvFiltered = true;
  process.emitWarning = filtered as typeof process.emitWarning;
}

export interface ListedObject {
  /** Relative to the ref's prefix (full key when listing with openBucket on a root ref). */
  key: string;
  size: number;
  etag: string | undefined;
}

/** A view of one S3BucketRef for assertions. All keys are relative to `ref.prefix`. */
export interface BucketView {
  readonly client: S3Client;
  readonly ref: S3BucketRef;
  /** Every object below the prefix (or below prefix/sub), sorted by key, paginating past 1,000. */
  list(sub?: string): Promise<ListedObject[]>;
  keys(sub?: string): Promise<string[]>;
  /** The object's bytes; throws NoSuchKey if missing. */
  get(key: string): Promise<Buffer>;
  /** The object's bytes, or undefined if there is no such key. */
  tryGet(key: string): Promise<Buffer | undefined>;
  exists(key: string): Promise<boolean>;
  /** Raw bytes as the object (a Buffer body: never aws-chunked). */
  put(key: string, bytes: Uint8Array | string): Promise<void>;
  delete(key: string): Promise<void>;
  destroy(): void;
}

export function openBucket(target: S3Endpoint, ref: S3BucketRef, overrides: Partial<S3ClientConfig> = {}): BucketView {
  // Assertions must not fail on a transient drop of a loaded server: the SDK's own retries apply.
  const client = makeS3Client(target, { maxAttempts: 4, ...overrides });
  const full = (rel: string) => ref.key(rel);
  const strip = (key: string) => (ref.prefix ? key.slice(ref.prefix.length + 1) : key);
  const list = async (sub = ''): Promise<ListedObject[]> => {
    const base = ref.prefix ? `${ref.prefix}/` : '';
    const out = await listAll(client, ref.bucket, base + sub.replace(/^\/+/, ''));
    return out.map((o) => ({ ...o, key: strip(o.key) }));
  };
  return {
    client,
    ref,
    list,
    keys: async (sub) => (await list(sub)).map((o) => o.key),
    get: (key) => getBytes(client, ref.bucket, full(key)),
    async tryGet(key) {
      try {
        return await getBytes(client, ref.bucket, full(key));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async exists(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: full(key) }));
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    async put(key, bytes) {
      const body = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      await client.send(new PutObjectCommand({ Bucket: ref.bucket, Key: full(key), Body: body, ContentLength: body.length }));
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: ref.bucket, Key: full(key) }));
    },
    destroy: () => client.destroy(),
  };
}

/** Every object with the given key prefix, sorted by key (ListObjectsV2 with continuation tokens). */
export async function listAll(client: S3Client, bucket: string, prefix = '', pageSize?: number): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token, MaxKeys: pageSize }),
    );
    for (const o of page.Contents ?? []) out.push({ key: o.Key!, size: Number(o.Size ?? 0), etag: o.ETag });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export async function getBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.Code === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

// ---------------------------------------------------------------------------------------------
// Servers

const liveTargets = new Set<S3Target>();

// Safety net: whatever a test file forgot to stop goes when the file is done.
afterAll(async () => {
  await Promise.all([...liveTargets].map((t) => t.stop()));
  for (const c of [...liveClients]) c.destroy();
});

let bucketSeq = 0;
const RUN_ID = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/** A valid, unique bucket name (3-63 chars of [a-z0-9-]) containing `hint`. */
function uniqueBucketName(hint = 'mlv-test'): string {
  const clean = hint.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'mlv-test';
  const suffix = `${RUN_ID}-${++bucketSeq}`;
  return `${clean.slice(0, 62 - suffix.length)}-${suffix}`.replace(/^-+/, '').slice(0, 63);
}

/** Starts s3rver on 127.0.0.1 (a free port) in a child process with --openssl-legacy-provider. */
export async function startS3Server(): Promise<S3Target> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-s3rver-'));
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // the child must not inherit loaders or flags of the test runner
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', S3RVER_CHILD, dataDir], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env,
    cwd: dataDir,
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-8192);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited during startup (code ${code}, signal ${signal})`));
      });
      child.on('message', (m: { type: string; port?: number; message?: string }) => {
        clearTimeout(timer);
        if (m.type === 'ready' && m.port) resolve(m.port);
        else reject(new Error(`s3rver failed to start: ${m.message}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}${stderr ? `\n${stderr}` : ''}`);
  }
  // Never let a forgotten server keep a plain node process alive (vitest keeps its workers alive).
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  (child.channel as unknown as { unref?: () => void } | undefined)?.unref?.();

  const endpoint = `http://127.0.0.1:${port}`;
  let admin: S3Client | undefined;
  let stopping: Promise<void> | undefined;
  const target: S3Target = {
    endpoint,
    region: 'us-east-1',
    accessKeyId: S3RVER_ACCESS_KEY_ID,
    secretAccessKey: S3RVER_SECRET_ACCESS_KEY,
    external: false,
    dataDir,
    async createBucket(hint) {
      admin ??= makeS3Client(target);
      const bucket = uniqueBucketName(hint);
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      return makeRef(bucket, '');
    },
    stop() {
      stopping ??= (async () => {
        liveTargets.delete(target);
        for (const c of [...clientsByEndpoint(endpoint)]) c.destroy();
        byEndpoint.delete(endpoint);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(killer);
        }
        if (process.env.MLV_TEST_KEEP !== '1') fs.rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  liveTargets.add(target);
  return target;
}

/**
 * The S3 server the tests should use: the one named by MLV_TEST_S3_ENDPOINT if set (MinIO, Ceph,
 * LocalStack, real S3...), otherwise a fresh local s3rver (startS3Server).
 *
 * External settings:
 *   MLV_TEST_S3_ENDPOINT          http(s)://host:port
 *   MLV_TEST_S3_REGION            default us-east-1
 *   MLV_TEST_S3_ACCESS_KEY_ID     (or AWS_ACCESS_KEY_ID)
 *   MLV_TEST_S3_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY)
 *   MLV_TEST_S3_BUCKET            `bucket` or `bucket/base/prefix`: an existing bucket in which
 *                                 every createBucket() gets a unique prefix; unset: createBucket()
 *                                 creates real buckets (and stop() deletes them).
 */
export async function s3TestTarget(): Promise<S3Target> {
  const endpoint = process.env.MLV_TEST_S3_ENDPOINT;
  if (!endpoint) return startS3Server();
  const accessKeyId = process.env.MLV_TEST_S3_ACCESS_KEY_ID || process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.MLV_TEST_S3_SECRET_ACCESS_KEY || process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error('MLV_TEST_S3_ENDPOINT is set but no credentials: set MLV_TEST_S3_ACCESS_KEY_ID and MLV_TEST_S3_SECRET_ACCESS_KEY');
  }
  const base = (process.env.MLV_TEST_S3_BUCKET ?? '').replace(/^s3:\/\//, '').replace(/^\/+|\/+$/g, '');
  const [baseBucket = '', ...baseParts] = base ? base.split('/') : [];
  const basePrefix = baseParts.join('/');
  const made: S3BucketRef[] = [];
  let admin: S3Client | undefined;
  let stopping: Promise<void> | undefined;
  const target: S3Target = {
    endpoint: endpoint.replace(/\/+$/, ''),
    region: process.env.MLV_TEST_S3_REGION || 'us-east-1',
    accessKeyId,
    secretAccessKey,
    external: true,
    async createBucket(hint) {
      admin ??= makeS3Client(target);
      let ref: S3BucketRef;
      if (baseBucket) {
        const name = uniqueBucketName(hint ?? 'mlv-test');
        ref = makeRef(baseBucket, basePrefix ? `${basePrefix}/${name}` : name);
      } else {
        const bucket = uniqueBucketName(hint);
        await admin.send(new CreateBucketCommand({ Bucket: bucket }));
        ref = makeRef(bucket, '');
      }
      made.push(ref);
      return ref;
    },
    stop() {
      stopping ??= (async () => {
        liveTargets.delete(target);
        try {
          if (admin && process.env.MLV_TEST_KEEP !== '1') {
            for (const ref of made) {
              const keys = await listAll(admin, ref.bucket, ref.prefix ? `${ref.prefix}/` : '');
              for (let i = 0; i < keys.length; i += 16) {
                await Promise.all(keys.slice(i, i + 16).map((o) => admin!.send(new DeleteObjectCommand({ Bucket: ref.bucket, Key: o.key }))));
              }
              if (!baseBucket) await admin.send(new DeleteBucketCommand({ Bucket: ref.bucket }));
            }
          }
        } finally {
          for (const c of [...clientsByEndpoint(target.endpoint)]) c.destroy();
          byEndpoint.delete(target.endpoint);
        }
      })();
      return stopping;
    },
  };
  liveTargets.add(target);
  return target;
}
