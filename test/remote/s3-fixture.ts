/**
 * S3 fixtures of the remote and reliability tests. The server of one test file, as vitest hooks:
 * started before the file's tests and stopped after them. The returned objects are filled in by
 * the beforeAll hooks, so read them only inside tests, hooks and the functions these call.
 *
 *   const s3 = useS3Target();
 *   const bucket = useS3Bucket(s3, 'hint');
 *
 * And a prefix to push to through a fault proxy of its own (proxiedUpload).
 */
import { afterAll, beforeAll } from 'vitest';
import { startFaultProxy, type FaultProxy, type RequestLog } from '../helpers/fault-proxy.js';
import { openBucket, s3TestTarget, type BucketView, type S3BucketRef, type S3Endpoint, type S3Target } from '../helpers/s3-server.js';
import { relOf } from './remote-helpers.js';

export function useS3Target(): S3Target {
  const target = {} as S3Target;
  beforeAll(async () => {
    Object.assign(target, await s3TestTarget());
  }, 60_000);
  afterAll(async () => {
    await target.stop?.();
  });
  return target;
}

/** A fresh bucket (or prefix, see S3BucketRef) on `target`, made once before the file's tests. */
export function useS3Bucket(target: S3Target, hint: string): S3BucketRef {
  const ref = {} as S3BucketRef;
  beforeAll(async () => {
    Object.assign(ref, await target.createBucket(hint));
  }, 60_000);
  return ref;
}

/** The request path of an object under a ref, as the fault proxy logs it: /<bucket>/<prefix>/ab/cdef... */
export const objectUrlPath = (ref: S3BucketRef, id: string) => `/${ref.bucket}/${ref.key(relOf(id))}`;

/** A committed data repository `a`, its Git history in a bare `origin`, and its objects pushed to `ref`. */
export interface PushedSource<Ids> {
  a: string;
  origin: string;
  ref: S3BucketRef;
  ids: Ids;
}

/** A prefix seen directly (`view`) and through a fault proxy of its own. */
export interface ProxiedUpload {
  ref: S3BucketRef;
  view: BucketView;
  proxy: FaultProxy;
  url: (id: string) => string;
  puts: (id: string) => RequestLog[];
  stop(): Promise<void>;
}

/** A repository `repo` to push from through the proxy (mlv's environment for that: `env`). */
export interface UploadCase<Ids> extends ProxiedUpload {
  repo: string;
  ids: Ids;
  env: Record<string, string>;
}

export async function proxiedUpload(target: S3Endpoint, ref: S3BucketRef): Promise<ProxiedUpload> {
  const view = openBucket(target, ref);
  const proxy = await startFaultProxy(target.endpoint);
  return {
    ref,
    view,
    proxy,
    url: (id) => objectUrlPath(ref, id),
    puts: (id) => proxy.find('PUT', objectUrlPath(ref, id)),
    async stop() {
      await proxy.stop();
      view.destroy();
    },
  };
}
