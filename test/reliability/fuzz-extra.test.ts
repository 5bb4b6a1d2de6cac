/**
 * Property-based tests that complete test/core/fuzz.test.ts (issue: "random and mutated inputs
 * either parse to a value that round-trips or raise mlv's own error type, never an unhandled
 * exception"). fuzz.test.ts covers the parsers on strings (parsePointer, parseTree, ConfigFile.parse,
 * validateConfigValue). What it leaves out, and this file covers:
 *
 *  - pointer files as the commands read them: bytes from disk (loadPointer) and bytes from a Git
 *    blob (decoded as UTF-8), including invalid UTF-8 and byte-level mutations;
 *  - the whole configuration as the commands use it: ConfigFile.parse -> Config.of -> the getters
 *    (core.link, core.jobs, lock timeout, remote names) -> resolveRemoteIn / describeRemote, which
 *    checks values and URLs that the syntax-only fuzzing never reaches;
 *  - the stat cache file (`.mlv/state/stat-cache`, binary): damaged or crafted files (a valid
 *    checksum over unsorted, duplicated or random records) load and answer lookups without throwing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MlvError } from '../../dist/core/errors.js';
import { hashBytes } from '../../dist/core/hash.js';
import type { ObjectId } from '../../dist/core/id.js';
import { formatPointer, parsePointer, type Pointer } from '../../dist/core/pointer.js';
import { Config, LINK_STRATEGIES } from '../../dist/workspace/config.js';
import { ConfigFile } from '../../dist/workspace/config-file.js';
import { describeRemote, resolveRemoteIn } from '../../dist/workspace/remotes.js';
import { Repo } from '../../dist/workspace/repo.js';
import { StatCache } from '../../dist/workspace/stat-cache.js';
import { loadPointer } from '../../dist/workspace/targets.js';
import { tempDir } from '../helpers/cli.js';

/** Runs fn; an MlvError means "rejected" (undefined), any other exception fails the property. */
function parseOrReject<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MlvError) return undefined;
    throw err;
  }
}

const dir = tempDir('mlv-fuzz-extra-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// ---- pointer bytes -------------------------------------------------------------------------

const idArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex') as ObjectId);
const pointerArb: fc.Arbitrary<Pointer> = fc
  .record({
    kind: fc.constantFrom('file' as const, 'dir' as const),
    id: idArb,
    size: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
    files: fc.nat(),
    exec: fc.boolean(),
    description: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  })
  .map((r) => {
    const p: Pointer = { path: 'data', kind: r.kind, id: r.id, size: r.size };
    if (r.kind === 'dir') p.files = r.files;
    if (r.kind === 'file' && r.exec) p.executable = true;
    if (r.description !== undefined) p.description = r.description;
    return p;
  });

type ByteEdit = { op: 'flip'; at: number; bit: number } | { op: 'insert'; at: number; bytes: number[] } | { op: 'delete'; at: number; count: number } | { op: 'truncate'; at: number };
const SPECIAL_BYTES = [0x00, 0x0a, 0x0d, 0x22, 0x5c, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xef, 0xbb, 0xf0, 0xf4, 0xf8, 0xfe, 0xff];
const byteArb = fc.oneof(fc.constantFrom(...SPECIAL_BYTES), fc.integer({ min: 0, max: 255 }));
const byteEditArb: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(byteArb, { minLength: 1, maxLength: 4 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);
function applyByteEdits(bytes: Buffer, edits: ByteEdit[]): Buffer {
  let b = Buffer.from(bytes);
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % (b.length + 1);
    if (e.op === 'flip' && b.length > 0) b[at % b.length]! ^= 1 << e.bit;
    else if (e.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at)]);
    else if (e.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.count)]);
    else if (e.op === 'truncate') b = b.subarray(0, at);
  }
  return b;
}

const repo = new Repo(dir);
let fileCounter = 0;
/**
 * Reads `bytes` as a pointer file the way the commands do: from disk (loadPointer) and from a Git
 * blob (its bytes, as listPointersAt gives them). Both must agree, and an accepted pointer must survive
 * format + parse.
 */
function checkPointerBytes(bytes: Buffer): void {
  const sub = `p${fileCounter++ % 8}`;
  fs.mkdirSync(path.join(dir, sub), { recursive: true });
  fs.writeFileSync(path.join(dir, sub, 'data.mlv'), bytes);
  const fromDisk = parseOrReject(() => loadPointer(repo, { pointerRel: `${sub}/data.mlv`, targetRel: `${sub}/data` }).pointer);
  const fromBlob = parseOrReject(() => parsePointer(bytes, 'data.mlv at 0123456789ab', 'data'));
  expect(fromDisk === undefined, 'the working tree and a commit disagree on the same bytes').toBe(fromBlob === undefined);
  tally(fromDisk ? 'pointer accepted' : 'pointer rejected');
  if (fromDisk === undefined) return;
  expect(fromBlob).toEqual(fromDisk);
  const text = formatPointer(fromDisk);
  expect(parsePointer(text, 'data.mlv', 'data')).toEqual(fromDisk);
}

describe('pointer bytes, as the commands read them', () => {
  it('random bytes are rejected with MlvError or round-trip', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => checkPointerBytes(Buffer.from(b))), { numRuns: 300 });
  });

  it('byte mutations of valid pointers (invalid UTF-8, CR, NUL, BOM bytes) are rejected with MlvError or round-trip', () => {
    fc.assert(
      fc.property(pointerArb, fc.array(byteEditArb, { minLength: 1, maxLength: 4 }), (p, edits) => {
        checkPointerBytes(applyByteEdits(Buffer.from(formatPointer(p)), edits));
      }),
      { numRuns: 600 },
    );
  });
});

// ---- the configuration as the commands use it -----------------------------------------------

const valueArb = fc.oneof(
  fc.constantFrom('copy', 'reflink,copy', 'hardlink, symlink, copy', 'copy,copy', 'Copy', '', '4', '0', '256', '257', '1.5', 'true', 'false', 'yes', '60', '-1'),
  fc.constantFrom('s3://bucket/prefix', 's3://b', 's3://', 's3://bucket/a\\b', 'S3://Bucket/x', 'file:///tmp/store', 'file://host/x', '/tmp/store', 'rel/store', '../up', 'http://x', 'https://user:pass@host/p', 'C:\\store', 'a\rb'),
  fc.constantFrom('http://127.0.0.1:9000', 'https://s3.example.com', 'ftp://x', 'not a url', 'us-east-1', 'when_required', 'auto', 'AKIA', 'secret'),
  fc.string({ maxLength: 12 }),
);
const keyArb = fc.oneof(
  fc.constantFrom('link', 'jobs', 'autostage', 'no_scm', 'lock_timeout', 'remote').map((k) => ({ section: 'core', key: k })),
  fc
    .tuple(fc.constantFrom('origin', 'store', 'a-b', 'x.y', '1', 'bad name', ''), fc.constantFrom('url', 'endpoint', 'region', 'profile', 'path_style', 'checksum', 'jobs', 'access_key_id', 'secret_access_key', 'session_token', 'other'))
    .map(([name, key]) => ({ section: `remote "${name}"`, key })),
);
const configTextArb = fc.array(fc.tuple(keyArb, valueArb), { maxLength: 8 }).map((pairs) => {
  // One value per key (a duplicate key is rejected by the syntax, which fuzz.test.ts covers).
  const sections = new Map<string, Map<string, string>>();
  for (const [{ section, key }, value] of pairs) {
    if (!sections.has(section)) sections.set(section, new Map());
    sections.get(section)!.set(key, /[#;"\\\s]|^$/.test(value) ? JSON.stringify(value) : value);
  }
  return [...sections].map(([section, keys]) => [`[${section}]`, ...[...keys].map(([k, v]) => `\t${k} = ${v}`)].join('\n')).join('\n') + '\n';
});

/** How many inputs got how far (printed with MLV_REL_LOG=1, to see that the generators reach the deep paths). */
const reached: Record<string, number> = {};
const tally = (what: string) => (reached[what] = (reached[what] ?? 0) + 1);
afterAll(() => {
  if (process.env.MLV_REL_LOG) console.log('fuzz-extra reached', reached);
});

/** Every getter a command uses, then every remote resolved: values valid, or an MlvError. */
function checkConfig(sharedText: string, localText: string): void {
  const config = parseOrReject(() => Config.of(ConfigFile.parse(sharedText, '.mlv/config'), ConfigFile.parse(localText, '.mlv/config.local')));
  tally(config ? 'config accepted' : 'config rejected');
  if (!config) return;
  for (const s of config.link) expect(LINK_STRATEGIES).toContain(s);
  const jobs = config.jobs;
  if (jobs !== undefined) expect(Number.isInteger(jobs) && jobs >= 1).toBe(true);
  expect(Number.isFinite(config.lockTimeoutMs)).toBe(true);
  for (const name of [undefined, ...config.remoteNames, 'missing']) {
    const spec = parseOrReject(() => resolveRemoteIn(config, dir, name));
    if (!spec) continue;
    tally(`remote resolved (${spec.location.kind})`);
    expect(typeof describeRemote(spec)).toBe('string');
    if (spec.location.kind === 'folder') expect(path.isAbsolute(spec.location.path)).toBe(true);
    if (spec.jobs !== undefined) expect(Number.isInteger(spec.jobs) && spec.jobs >= 1).toBe(true);
    // A folder remote is shown by its path, and a folder may be named "secret": only the rest counts.
    const described = describeRemote(spec);
    expect(spec.location.kind === 'folder' ? described.split(spec.location.path).join('') : described).not.toMatch(/secret|pass@/);
  }
}

describe('configuration, parsed, validated and used', () => {
  it('generated configs (valid and invalid values, remotes, secrets in either file): values are valid or an MlvError, never another exception', () => {
    fc.assert(fc.property(configTextArb, configTextArb, (shared, local) => checkConfig(shared, local)), { numRuns: 800 });
  });

  it('a folder remote named like a secret is shown by its path (the case that made the property above fail)', () => {
    checkConfig('\n', '[remote "origin"]\n\turl = secret\n');
  });

  it('byte mutations of a valid config with two remotes: the same', () => {
    const valid = '[core]\n\tremote = origin\n\tlink = reflink,copy\n\tjobs = 8\n[remote "origin"]\n\turl = s3://bucket/team\n\tregion = eu-west-1\n\tendpoint = http://127.0.0.1:9000\n[remote "nas"]\n\turl = /mnt/nas/store\n\tjobs = 4\n';
    const local = '[remote "origin"]\n\taccess_key_id = AKIA\n\tsecret_access_key = s3cr3t\n';
    fc.assert(
      fc.property(fc.array(byteEditArb, { minLength: 1, maxLength: 4 }), fc.boolean(), (edits, editLocal) => {
        const a = applyByteEdits(Buffer.from(valid), editLocal ? [] : edits).toString('utf8');
        const b = applyByteEdits(Buffer.from(local), editLocal ? edits : []).toString('utf8');
        checkConfig(a, b);
      }),
      { numRuns: 800 },
    );
  });
});

// ---- the stat cache file ----------------------------------------------------------------------

const MAGIC = Buffer.from('MLVSTAT1');
const RECORD = 72;
const recordArb = fc
  .record({ dev: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), ino: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), size: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), mtime: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), ctime: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), id: idArb })
  .map((r) => {
    const b = Buffer.alloc(RECORD);
    b.writeBigUInt64LE(r.dev, 0);
    b.writeBigUInt64LE(r.ino, 8);
    b.writeBigUInt64LE(r.size, 16);
    b.writeBigInt64LE(r.mtime, 24);
    b.writeBigInt64LE(r.ctime, 32);
    Buffer.from(r.id, 'hex').copy(b, 40);
    return { key: { dev: r.dev, ino: r.ino, size: r.size, mtimeNs: r.mtime, ctimeNs: r.ctime }, bytes: b };
  });

/** A stat-cache file with a correct header and checksum over `records` (in the order given). */
function statFile(records: Buffer[], opts: { count?: number; recordSize?: number } = {}): Buffer {
  const body = Buffer.concat(records);
  const header = Buffer.alloc(48);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(opts.count ?? records.length, 8);
  header.writeUInt32LE(opts.recordSize ?? RECORD, 12);
  Buffer.from(hashBytes(body), 'hex').copy(header, 16);
  return Buffer.concat([header, body]);
}

describe('stat cache files', () => {
  const file = path.join(dir, 'stat-cache');
  const loadAndLook = (bytes: Buffer, keys: Array<{ dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }>) => {
    fs.writeFileSync(file, bytes);
    const cache = StatCache.load(file); // never throws: a damaged file is an empty cache
    for (const k of keys) {
      const id = cache.lookup(k);
      if (id !== undefined) expect(id).toMatch(/^[0-9a-f]{64}$/);
    }
    return cache;
  };

  it('crafted files with a valid checksum (unsorted, duplicated, extreme values) and byte-mutated ones: load and lookups never throw', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        fc.oneof({ arbitrary: fc.constant([] as ByteEdit[]), weight: 3 }, { arbitrary: fc.array(byteEditArb, { minLength: 1, maxLength: 3 }), weight: 1 }),
        fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 100 }), weight: 1 }),
        (records, dup, edits, count) => {
        const list = dup && records.length > 0 ? [...records, records[0]!] : records;
        const bytes = applyByteEdits(statFile(list.map((r) => r.bytes), count === undefined ? {} : { count }), edits);
        const cache = loadAndLook(bytes, list.map((r) => r.key));
        tally(cache.size > 0 ? 'stat cache loaded' : 'stat cache empty');
        expect(cache.size).toBeLessThanOrEqual(list.length);
      }),
      { numRuns: 400 },
    );
  });

  it('a well-formed sorted file is read back: every key finds its id', () => {
    fc.assert(
      fc.property(fc.uniqueArray(recordArb, { selector: (r) => `${r.key.dev}:${r.key.ino}`, maxLength: 10 }), (records) => {
        const sorted = [...records].sort((a, b) => (a.key.dev < b.key.dev ? -1 : a.key.dev > b.key.dev ? 1 : a.key.ino < b.key.ino ? -1 : a.key.ino > b.key.ino ? 1 : 0));
        const cache = loadAndLook(statFile(sorted.map((r) => r.bytes)), []);
        expect(cache.size).toBe(sorted.length);
        for (const r of sorted) expect(cache.lookup(r.key)).toBe(r.bytes.toString('hex', 40, 72));
      }),
      { numRuns: 200 },
    );
  });
});
