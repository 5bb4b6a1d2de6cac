/**
 * The RemoteStore contract (src/storage/remote-store.ts), run against every kind of store mlv has:
 * the folder remote and the S3 remote (the local s3rver, or the server named by
 * MLV_TEST_S3_ENDPOINT). The stores are the compiled ones from dist/, talking to real servers and
 * real folders: nothing is mocked.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlvError } from '../../dist/core/errors.js';
import type { ObjectId } from '../../dist/core/id.js';
import { FolderRemote } from '../../dist/storage/folder-remote.js';
import { runPool } from '../../dist/storage/pool.js';
import type { RemoteStore } from '../../dist/storage/remote-store.js';
import { MULTIPART_THRESHOLD, openS3Remote } from '../../dist/storage/s3-remote.js';
import type { RemoteSpec } from '../../dist/workspace/remotes.js';
import { blake3Hex, pseudoRandomBytes } from '../helpers/assert.js';
import { tempDir } from '../helpers/cli.js';
import { fault, startFaultProxy } from '../helpers/fault-proxy.js';
import { openBucket, subRef, type BucketView, type S3BucketRef } from '../helpers/s3-server.js';
import { useS3Target } from './s3-fixture.js';

/** A fresh, empty store plus a way to put foreign things beside and around its objects. */
interface StoreFixture {
  store: RemoteStore;
  /** What `store.label` must be. */
  label: string;
  /** Writes raw bytes at a path relative to the store's root (no validation, no layout). */
  writeRaw(rel: string, bytes: Buffer): Promise<void>;
  /** Writes raw bytes outside the store's root (beside it), where list() must never look. */
  writeOutside(rel: string, bytes: Buffer): Promise<void>;
  /** The same kind of store whose root (folder / bucket) does not exist. */
  openMissingRoot(): Promise<RemoteStore>;
  /** Size and content of what is stored for `id`, read without going through the store. */
  readRaw(id: string): Promise<Buffer | undefined>;
  /** S3 only: the requests the store sent (it talks to the server through a pass-through proxy). */
  requests?(): Array<{ method: string; path: string; query: string }>;
}

interface ContractOptions {
  /** Run the one large (> 64 MiB, multipart for S3) round trip. */
  multipart?: boolean;
}

const rel = (id: string) => `${id.slice(0, 2)}/${id.slice(2)}`;

/** Local files to upload: their ids are the BLAKE3 of their bytes, as in the cache. */
class Blobs {
  constructor(private readonly dir: string) {}

  make(bytes: Buffer): { id: ObjectId; file: string; size: number; bytes: Buffer } {
    const id = blake3Hex(bytes) as ObjectId;
    const file = path.join(this.dir, id);
    if (!fs.existsSync(file)) fs.writeFileSync(file, bytes);
    return { id, file, size: bytes.length, bytes };
  }
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function listAll(store: RemoteStore): Promise<Array<{ id: string; size: number }>> {
  const out: Array<{ id: string; size: number }> = [];
  for await (const o of store.list()) out.push({ id: o.id, size: o.size });
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

async function expectMlvError(p: Promise<unknown>, code: string, message?: RegExp): Promise<MlvError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a rejection').toBeInstanceOf(MlvError);
  const e = caught as MlvError;
  expect(e.code, e.message).toBe(code);
  if (message) expect(e.message).toMatch(message);
  return e;
}

function storeContract(kind: string, makeFixture: (hint: string) => Promise<StoreFixture>, opts: ContractOptions = {}): void {
  describe.concurrent(`RemoteStore contract: ${kind}`, () => {
    let blobs: Blobs;
    beforeAll(() => {
      blobs = new Blobs(tempDir('mlv-store-blobs-'));
    });

    it('stat: undefined for a missing object, the size of a present one; the label names the remote', async () => {
      const fx = await makeFixture('stat');
      try {
        expect(fx.store.label).toBe(fx.label);
        const a = blobs.make(pseudoRandomBytes(3000, 11));
        expect(await fx.store.stat(a.id)).toBeUndefined();
        await fx.store.put(a.id, a.file, a.size);
        expect(await fx.store.stat(a.id)).toBe(3000);
        const other = blobs.make(pseudoRandomBytes(10, 12));
        expect(await fx.store.stat(other.id)).toBeUndefined();
      } finally {
        fx.store.close();
      }
    });

    it('put then get round-trips the bytes exactly: an empty object and small ones; putting again is harmless', async () => {
      const fx = await makeFixture('roundtrip');
      try {
        const empty = blobs.make(Buffer.alloc(0));
        const one = blobs.make(Buffer.from([0x2a]));
        const small = blobs.make(pseudoRandomBytes(200_001, 21));
        const text = blobs.make(Buffer.from('hello, remote\n'.repeat(100)));
        for (const b of [empty, one, small, text]) await fx.store.put(b.id, b.file, b.size);
        await fx.store.put(small.id, small.file, small.size); // the same object again
        for (const b of [empty, one, small, text]) {
          const { body, totalSize } = await fx.store.get(b.id, 0);
          const got = await readAll(body);
          expect(got.length, b.id).toBe(b.size);
          expect(got.equals(b.bytes), b.id).toBe(true);
          if (totalSize !== undefined) expect(totalSize).toBe(b.size);
          expect(await fx.store.stat(b.id)).toBe(b.size);
          // What is really stored under the key (not through the store) is the same bytes:
          // no framing, no encoding.
          expect((await fx.readRaw(b.id))?.equals(b.bytes), b.id).toBe(true);
        }
      } finally {
        fx.store.close();
      }
    });

    it('get with an offset returns the rest of the object (a Range request on S3) and the whole size', async () => {
      const fx = await makeFixture('range');
      try {
        const b = blobs.make(pseudoRandomBytes(1_500_000, 31));
        await fx.store.put(b.id, b.file, b.size);
        for (const offset of [1, 4096, 1_000_003, b.size - 1]) {
          const { body, totalSize } = await fx.store.get(b.id, offset);
          const got = await readAll(body);
          expect(got.equals(b.bytes.subarray(offset)), `offset ${offset}`).toBe(true);
          expect(totalSize, `offset ${offset}`).toBe(b.size);
        }
      } finally {
        fx.store.close();
      }
    });

    it('list yields exactly the stored objects with their sizes, skipping keys outside the layout and outside the root', async () => {
      const fx = await makeFixture('list');
      try {
        expect(await listAll(fx.store)).toEqual([]);
        const objs = [0, 1, 7, 100, 65_537].map((n, i) => blobs.make(pseudoRandomBytes(n, 40 + i)));
        for (const o of objs) await fx.store.put(o.id, o.file, o.size);
        const fakeId = 'ab' + 'c'.repeat(62);
        // Foreign keys inside the root: not objects.
        await fx.writeRaw('README.txt', Buffer.from('not an object'));
        await fx.writeRaw(`ab/${'c'.repeat(61)}`, Buffer.from('short name'));
        await fx.writeRaw(`ab/${'C'.repeat(62)}`, Buffer.from('upper case'));
        await fx.writeRaw(`zz/${'c'.repeat(62)}`, Buffer.from('not a hex shard'));
        await fx.writeRaw(`ab/${'c'.repeat(62)}.tmp`, Buffer.from('temp'));
        await fx.writeRaw(`tmp/${fakeId}`, Buffer.from('nested elsewhere'));
        // An object-shaped key outside the root: never listed.
        await fx.writeOutside(rel(fakeId), Buffer.from('outside'));
        expect(await listAll(fx.store)).toEqual(objs.map((o) => ({ id: o.id, size: o.size })).sort((a, b) => (a.id < b.id ? -1 : 1)));
        expect(await fx.store.stat(fakeId as ObjectId)).toBeUndefined();
      } finally {
        fx.store.close();
      }
    });

    it('lists more than 1,000 objects (1,050: a second page on S3)', async () => {
      const fx = await makeFixture('many');
      try {
        const objs = Array.from({ length: 1050 }, (_, i) => blobs.make(Buffer.from(`object number ${i}\n`)));
        await runPool(objs, 32, (o) => fx.store.put(o.id, o.file, o.size));
        const listed = await listAll(fx.store);
        expect(listed.length).toBe(1050);
        // S3 answers at most 1,000 keys a page: the store followed the continuation token.
        if (fx.requests) expect(fx.requests().filter((r) => r.method === 'GET' && /(^|&)list-type=2(&|$)/.test(r.query))).toHaveLength(2);
        expect(listed).toEqual(objs.map((o) => ({ id: o.id, size: o.size })).sort((a, b) => (a.id < b.id ? -1 : 1)));
      } finally {
        fx.store.close();
      }
    });

    it('delete removes an object (and deleting a missing one is not an error)', async () => {
      const fx = await makeFixture('delete');
      try {
        const a = blobs.make(pseudoRandomBytes(5000, 51));
        const b = blobs.make(pseudoRandomBytes(6000, 52));
        await fx.store.put(a.id, a.file, a.size);
        await fx.store.put(b.id, b.file, b.size);
        await fx.store.delete(a.id);
        expect(await fx.store.stat(a.id)).toBeUndefined();
        expect(await fx.store.stat(b.id)).toBe(6000);
        expect(await listAll(fx.store)).toEqual([{ id: b.id, size: 6000 }]);
        await fx.store.delete(a.id);
        await expectMlvError(fx.store.get(a.id, 0), 'MISSING_OBJECTS');
      } finally {
        fx.store.close();
      }
    });

    it('get of a missing object rejects with MlvError MISSING_OBJECTS naming the object and the remote', async () => {
      const fx = await makeFixture('missing');
      try {
        const a = blobs.make(pseudoRandomBytes(100, 61));
        const e = await expectMlvError(fx.store.get(a.id, 0), 'MISSING_OBJECTS');
        expect(e.message).toContain(a.id);
        expect(e.message).toContain(fx.label);
        expect(e.exitCode).toBe(5);
        await expectMlvError(fx.store.get(a.id, 10), 'MISSING_OBJECTS');
      } finally {
        fx.store.close();
      }
    });

    it('a remote whose folder or bucket does not exist: list and put fail with a clear NOT_FOUND', async () => {
      const fx = await makeFixture('noroot');
      fx.store.close();
      const store = await fx.openMissingRoot();
      try {
        const a = blobs.make(pseudoRandomBytes(100, 71));
        await expectMlvError(listAll(store), 'NOT_FOUND', /does not exist/);
        await expectMlvError(store.put(a.id, a.file, a.size), 'NOT_FOUND', /does not exist/);
      } finally {
        store.close();
      }
    });

    if (opts.multipart) {
      it(`a ${Math.round((MULTIPART_THRESHOLD + (1 << 20)) / (1 << 20))} MiB object (above the multipart threshold) round-trips, also from an offset in its last part`, async () => {
        const fx = await makeFixture('big');
        try {
          const size = MULTIPART_THRESHOLD + (1 << 20) + 12345;
          const b = blobs.make(pseudoRandomBytes(size, 81));
          await fx.store.put(b.id, b.file, b.size);
          expect(await fx.store.stat(b.id)).toBe(size);
          expect(await listAll(fx.store)).toEqual([{ id: b.id, size }]);
          if (fx.requests) {
            // It went up as a multipart upload: create, parts of at least 16 MiB, complete.
            const sent = fx.requests().filter((r) => r.path.endsWith(rel(b.id)));
            expect(sent.filter((r) => r.method === 'POST' && /(^|&)uploads(=|&|$)/.test(r.query))).toHaveLength(1);
            const parts = sent.filter((r) => r.method === 'PUT' && /partNumber=/.test(r.query)).map((r) => Number(/partNumber=(\d+)/.exec(r.query)![1]));
            expect(parts.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5]);
            expect(sent.filter((r) => r.method === 'POST' && /uploadId=/.test(r.query))).toHaveLength(1);
            expect(sent.filter((r) => r.method === 'PUT' && !/partNumber=/.test(r.query))).toHaveLength(0);
          }
          const whole = await fx.store.get(b.id, 0);
          expect(whole.totalSize).toBe(size);
          const hash = createHash('sha256');
          let n = 0;
          for await (const c of whole.body) {
            hash.update(c);
            n += c.length;
          }
          expect(n).toBe(size);
          expect(hash.digest('hex')).toBe(createHash('sha256').update(b.bytes).digest('hex'));
          const offset = MULTIPART_THRESHOLD + 777;
          const tail = await fx.store.get(b.id, offset);
          expect(tail.totalSize).toBe(size);
          expect((await readAll(tail.body)).equals(b.bytes.subarray(offset))).toBe(true);
        } finally {
          fx.store.close();
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The folder remote

storeContract('folder remote', async (hint) => {
  const base = tempDir(`mlv-folder-remote-${hint}-`);
  const root = path.join(base, 'store');
  fs.mkdirSync(root);
  const writeAt = async (dir: string, r: string, bytes: Buffer) => {
    const p = path.join(dir, ...r.split('/'));
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, bytes);
  };
  return {
    store: new FolderRemote(root),
    label: root,
    writeRaw: (r, b) => writeAt(root, r, b),
    writeOutside: (r, b) => writeAt(base, r, b),
    openMissingRoot: async () => new FolderRemote(path.join(base, 'no-such-folder')),
    readRaw: async (id) => {
      const p = path.join(root, rel(id));
      return fs.existsSync(p) ? fs.readFileSync(p) : undefined;
    },
  };
});

// ---------------------------------------------------------------------------------------------
// The S3 remote (local s3rver, or MLV_TEST_S3_ENDPOINT)

const s3 = useS3Target();
const views: BucketView[] = [];
afterAll(() => {
  for (const v of views) v.destroy();
});

function spec(ref: S3BucketRef): RemoteSpec {
  return {
    name: 'origin',
    url: ref.url,
    location: { kind: 's3', bucket: ref.bucket, prefix: ref.prefix },
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  };
}

storeContract(
  'S3 remote',
  async (hint) => {
    // The store lives under a sub-prefix, so that there is an "outside" in the same bucket.
    const base = await s3.createBucket(`store-${hint}`);
    const ref = subRef(base, 'store');
    const baseView = openBucket(s3, base);
    const view = openBucket(s3, ref);
    views.push(baseView, view);
    // A pass-through proxy (no faults) so the test can see which requests the store sent.
    const proxy = await startFaultProxy(s3.endpoint);
    const store = await openS3Remote({ ...spec(ref), endpoint: proxy.url });
    return {
      store,
      label: `s3://${ref.bucket}/${ref.prefix}`,
      writeRaw: (r, b) => view.put(r, b),
      // A sibling prefix that shares the name's first letters, and the bucket root.
      writeOutside: async (r, b) => {
        await baseView.put(`store2/${r}`, b);
        await baseView.put(r, b);
      },
      openMissingRoot: () => openS3Remote(spec({ ...ref, bucket: `${ref.bucket.slice(0, 40)}-missing` })),
      readRaw: (id) => view.tryGet(rel(id)),
      requests: () => proxy.requests.map((r) => ({ method: r.method, path: r.path, query: r.query })),
    };
  },
  { multipart: true },
);

// ---------------------------------------------------------------------------------------------
// Multipart failure: the upload is aborted and no object appears under the key.

describe('S3 remote: a failed multipart upload', () => {
  it('is aborted (DELETE ?uploadId=...) and leaves no object under the final key', async () => {
    const ref = subRef(await s3.createBucket('mp-abort'), 'store');
    const view = openBucket(s3, ref);
    views.push(view);
    const proxy = await startFaultProxy(s3.endpoint);
    const store = await openS3Remote({ ...spec(ref), endpoint: proxy.url });
    const dir = tempDir('mlv-mp-abort-');
    try {
      const bytes = pseudoRandomBytes(MULTIPART_THRESHOLD + 1024, 91);
      const id = blake3Hex(bytes) as ObjectId;
      const file = path.join(dir, id);
      fs.writeFileSync(file, bytes);
      // Every attempt at part 2 is refused: a permanent failure in the middle of the upload.
      proxy.addRule({ method: 'PUT', query: /partNumber=2(&|$)/, action: fault.status(403) });
      let failed: unknown;
      try {
        await store.put(id, file, bytes.length);
      } catch (err) {
        failed = err;
      }
      expect(failed, 'the upload must fail').toBeDefined();
      await proxy.settled();
      const sent = proxy.requests.filter((r) => r.path.endsWith(rel(id)));
      expect(sent.some((r) => r.method === 'POST' && /(^|&)uploads(=|&|$)/.test(r.query))).toBe(true);
      expect(sent.some((r) => r.method === 'DELETE' && /uploadId=/.test(r.query)), 'AbortMultipartUpload was sent').toBe(true);
      expect(sent.some((r) => r.method === 'POST' && /uploadId=/.test(r.query)), 'CompleteMultipartUpload must not be sent').toBe(false);
      expect(await store.stat(id)).toBeUndefined();
      expect(await view.exists(rel(id))).toBe(false);
    } finally {
      store.close();
      await proxy.stop();
    }
  });
});
