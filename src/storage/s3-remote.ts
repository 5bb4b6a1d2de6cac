/**
 * A remote in an S3-compatible bucket: objects at `<prefix>/ab/cdef...`. The only module that
 * imports the AWS SDK, loaded on first use so commands without an S3 remote start fast.
 *
 * Compatibility defaults for custom endpoints (MinIO, Ceph, R2, B2, GCS, s3rver): path-style
 * addressing, region us-east-1, and checksums only where the API requires them: the SDK's default
 * streams bodies with `aws-chunked` framing that some servers reject and others store as data.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { MlvError, errnoCode } from '../core/errors.js';
import { isObjectId, objectRelPath, type ObjectId } from '../core/id.js';
import type { RemoteSpec } from '../workspace/remotes.js';
import type { ObjectStream, RemoteObject, RemoteStore } from './remote-store.js';

type Sdk = typeof import('@aws-sdk/client-s3');

export const MULTIPART_THRESHOLD = 64 * 1024 * 1024;
const MIN_PART = 16 * 1024 * 1024;
const MAX_PARTS = 10_000;
const PART_CONCURRENCY = 4;

let sdkPromise: Promise<Sdk> | undefined;
function loadSdk(): Promise<Sdk> {
  if (!sdkPromise) {
    silenceSdkWarnings();
    sdkPromise = import('@aws-sdk/client-s3');
  }
  return sdkPromise;
}

/** The SDK warns on stderr about Node versions; that text must never reach mlv's users. */
function silenceSdkWarnings(): void {
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]) => {
    if (args.some((a) => typeof a === 'string' && /@aws-sdk|credential sources|AWS SDK|non-retryable streaming request|An error was encountered/i.test(a))) return;
    warn(...args);
  };
  const original = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const text = `${typeof warning === 'string' ? warning : (warning as Error)?.message ?? ''} ${JSON.stringify(rest.slice(0, 2))}`;
    if (/AWS SDK|NodeVersionSupportWarning|aws-sdk/i.test(text)) return;
    original(warning, ...rest);
  }) as typeof process.emitWarning;
}

export async function openS3Remote(spec: RemoteSpec): Promise<S3Remote> {
  if (spec.location.kind !== 's3') throw new Error('not an S3 remote');
  const sdk = await loadSdk();
  const jobs = spec.jobs ?? 64;
  const checksum = spec.checksum ?? (spec.endpoint ? 'when_required' : 'auto');
  const region = spec.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (spec.endpoint ? 'us-east-1' : undefined);
  const config: ConstructorParameters<Sdk['S3Client']>[0] = {
    maxAttempts: 1, // mlv retries whole object transfers itself (storage/retry.ts)
    requestChecksumCalculation: checksum === 'auto' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
    responseChecksumValidation: checksum === 'auto' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
    forcePathStyle: spec.pathStyle ?? Boolean(spec.endpoint),
    requestHandler: {
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: jobs }),
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets: jobs }),
      connectionTimeout: 15_000,
      socketTimeout: 120_000,
    },
  };
  if (region) config.region = region;
  if (spec.endpoint) config.endpoint = spec.endpoint;
  else config.followRegionRedirects = true;
  if (spec.profile) config.profile = spec.profile;
  if (spec.credentials) config.credentials = { ...spec.credentials };
  const client = new sdk.S3Client(config);
  return new S3Remote(sdk, client, spec.location.bucket, spec.location.prefix);
}

export class S3Remote implements RemoteStore {
  readonly label: string;

  constructor(
    private readonly sdk: Sdk,
    private readonly client: InstanceType<Sdk['S3Client']>,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {
    this.label = `s3://${bucket}/${prefix}`;
  }

  private key(id: ObjectId): string {
    return (this.prefix ? `${this.prefix}/` : '') + objectRelPath(id);
  }

  private bucketChecked: Promise<void> | undefined;

  /**
   * A 404 on an object may mean the bucket itself is missing (a HEAD response has no body to say
   * which). Checked once per run: a missing bucket stops the command with its own message.
   */
  private async notFound(): Promise<void> {
    this.bucketChecked ??= this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.bucket })).then(
      () => undefined,
      (err: unknown) => {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (e?.name === 'NoSuchBucket' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404) throw translate({ ...e, name: 'NoSuchBucket' }, this.label);
      },
    );
    return this.bucketChecked;
  }

  async stat(id: ObjectId): Promise<number | undefined> {
    try {
      const r = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
      return r.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) {
        await this.notFound();
        return undefined;
      }
      throw translate(err, this.label);
    }
  }

  async *list(): AsyncIterable<RemoteObject> {
    const listPrefix = this.prefix ? `${this.prefix}/` : '';
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new this.sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: listPrefix, ContinuationToken: token, MaxKeys: 1000 }),
        );
      } catch (err) {
        throw translate(err, this.label);
      }
      for (const o of page.Contents ?? []) {
        const rel = (o.Key ?? '').slice(listPrefix.length);
        if (rel.length !== 65 || rel[2] !== '/') continue;
        const id = rel.slice(0, 2) + rel.slice(3);
        if (!isObjectId(id)) continue;
        const obj: RemoteObject = { id, size: o.Size ?? 0 };
        if (o.LastModified) obj.modified = new Date(o.LastModified).getTime();
        yield obj;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async put(id: ObjectId, file: string, size: number, bytes?: Uint8Array): Promise<void> {
    try {
      if (size < MULTIPART_THRESHOLD) {
        // A buffer in memory costs far less per request than opening a file stream (many small objects).
        const body = bytes && bytes.length === size ? bytes : fs.createReadStream(file, { highWaterMark: 1 << 20 });
        await this.client.send(new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.key(id), Body: body, ContentLength: size }));
      } else {
        await this.putMultipart(id, file, size);
      }
    } catch (err) {
      throw translate(err, this.label);
    }
  }

  /** Large objects go in parts, several at a time; a failed upload is aborted so no parts linger. */
  private async putMultipart(id: ObjectId, file: string, size: number): Promise<void> {
    const Key = this.key(id);
    const partSize = Math.max(MIN_PART, Math.ceil(size / MAX_PARTS / (1 << 20)) * (1 << 20));
    const created = await this.client.send(new this.sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key }));
    const UploadId = created.UploadId!;
    try {
      const count = Math.ceil(size / partSize);
      const etags = new Array<string>(count);
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const n = next++;
          const start = n * partSize;
          const end = Math.min(size, start + partSize);
          const r = await this.client.send(
            new this.sdk.UploadPartCommand({
              Bucket: this.bucket,
              Key,
              UploadId,
              PartNumber: n + 1,
              Body: fs.createReadStream(file, { start, end: end - 1, highWaterMark: 1 << 20 }),
              ContentLength: end - start,
            }),
          );
          etags[n] = r.ETag!;
        }
      };
      await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, count) }, worker));
      await this.client.send(
        new this.sdk.CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
    } catch (err) {
      await this.client.send(new this.sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  async get(id: ObjectId, offset: number): Promise<ObjectStream> {
    try {
      const r = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.key(id), Range: offset > 0 ? `bytes=${offset}-` : undefined }),
      );
      let totalSize: number | undefined;
      let start = offset;
      const range = /^bytes (\d+)-\d+\/(\d+)$/.exec(r.ContentRange ?? '');
      if (range) {
        start = Number(range[1]);
        totalSize = Number(range[2]);
      } else {
        // No Content-Range: the server sent the whole object (it ignored or did not need the range).
        start = 0;
        if (r.ContentLength !== undefined) totalSize = r.ContentLength;
      }
      if (start !== 0 && start !== offset) throw new MlvError('IO', `the remote answered a range request for ${id} from the wrong offset`);
      const result: ObjectStream = { body: r.Body as AsyncIterable<Uint8Array>, offset: start };
      if (totalSize !== undefined) result.totalSize = totalSize;
      return result;
    } catch (err) {
      if (isNotFound(err)) {
        await this.notFound();
        throw new MlvError('MISSING_OBJECTS', `object ${id} is not on the remote ${this.label}`);
      }
      throw translate(err, this.label);
    }
  }

  async delete(id: ObjectId): Promise<void> {
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
    } catch (err) {
      if (!isNotFound(err)) throw translate(err, this.label);
    }
  }

  close(): void {
    this.client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.name === 'NoSuchBucket') return false;
  return e?.$metadata?.httpStatusCode === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey';
}

/**
 * Keeps the SDK error (for retry classification) but makes its message one clear line. Bucket
 * problems become MlvErrors with hints; nothing here ever includes credentials.
 */
function translate(err: unknown, label: string): unknown {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (!e || typeof e !== 'object') return err;
  if (e.name === 'NoSuchBucket') {
    return new MlvError('NOT_FOUND', `the bucket of ${label} does not exist`, { hint: 'create it, or fix the remote URL with mlv remote modify', cause: err });
  }
  if (e.name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? '')) {
    return new MlvError('USAGE', `no AWS credentials found for ${label}`, {
      hint: 'set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, configure ~/.aws, or use mlv remote modify --local <name> access_key_id ...',
      cause: err,
    });
  }
  if (/Region is missing/i.test(e.message ?? '')) {
    return new MlvError('USAGE', `no region known for ${label}`, { hint: 'set it: mlv remote modify <name> region us-east-1 (or AWS_REGION)', cause: err });
  }
  if (errnoCode(err) === 'ECONNREFUSED') Object.assign(e, { message: `connection refused by ${label}` });
  return err;
}
