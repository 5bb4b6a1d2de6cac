/**
 * BLAKE3-256 for both backends (native @napi-rs/blake-hash and blake3-wasm).
 *
 * The backend is chosen once per process from MLV_HASHER, so each backend runs in its own child
 * process with the variable forced; the children print their digests as JSON and the checks run
 * here. Expected digests are the first 32 bytes of the "hash" field of the official BLAKE3 test
 * vectors (BLAKE3-team/BLAKE3, test_vectors/test_vectors.json: input byte i is i % 251). No
 * vectors are published above 102400 bytes, so larger inputs are checked against a small
 * independent BLAKE3 implementation below (itself checked against the official vectors) and
 * against each other.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { createHasher, hashBytes } from '../../dist/core/hash.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HASH_JS = pathToFileURL(path.join(ROOT, 'dist/core/hash.js')).href;

/** input_len -> first 64 hex characters of "hash" in the official test_vectors.json. */
const OFFICIAL: ReadonlyArray<readonly [number, string]> = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [1023, '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11'],
  [1024, '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7'],
  [1025, 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
  [2048, 'e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a'],
  [2049, '5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030'],
  [3072, 'b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2'],
  [4096, '015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969'],
  [8192, 'aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63'],
  [8193, 'bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b'],
  [16384, 'f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4'],
  [31744, '62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47'],
  [102400, 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085'],
];
const EMPTY = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

const MiB = 1 << 20;
/** Above the published range: around the 1 MiB wasm feeding limit, and well past it. */
const LARGE = [MiB - 1, MiB, MiB + 1, 2 * MiB + 1025, 5 * MiB, 5 * MiB + 1];
const ALL_LENGTHS = [...OFFICIAL.map(([n]) => n), ...LARGE];

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Independent reference BLAKE3 (hash mode, 32-byte output), a direct transcription of the
// specification's reference implementation. Slow but plenty fast for a few MiB.

const IV = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT_FLAG = 8;

/** Message word order for each of the 7 rounds (the permutation applied 0..6 times). */
const SCHEDULE: number[][] = (() => {
  const rounds: number[][] = [];
  let order = Array.from({ length: 16 }, (_, i) => i);
  for (let r = 0; r < 7; r++) {
    rounds.push(order);
    order = PERM.map((p) => order[p]!);
  }
  return rounds;
})();

const state = new Uint32Array(16);
function g(a: number, b: number, c: number, d: number, x: number, y: number): void {
  const s = state;
  s[a] = s[a]! + s[b]! + x;
  let t = s[d]! ^ s[a]!;
  s[d] = (t >>> 16) | (t << 16);
  s[c] = s[c]! + s[d]!;
  t = s[b]! ^ s[c]!;
  s[b] = (t >>> 12) | (t << 20);
  s[a] = s[a]! + s[b]! + y;
  t = s[d]! ^ s[a]!;
  s[d] = (t >>> 8) | (t << 24);
  s[c] = s[c]! + s[d]!;
  t = s[b]! ^ s[c]!;
  s[b] = (t >>> 7) | (t << 25);
}

function compress(cv: Uint32Array, m: Uint32Array, counter: number, blockLen: number, flags: number): Uint32Array {
  const s = state;
  s.set(cv, 0);
  s.set(IV.subarray(0, 4), 8);
  s[12] = counter >>> 0;
  s[13] = Math.floor(counter / 0x100000000);
  s[14] = blockLen;
  s[15] = flags;
  for (const o of SCHEDULE) {
    g(0, 4, 8, 12, m[o[0]!]!, m[o[1]!]!);
    g(1, 5, 9, 13, m[o[2]!]!, m[o[3]!]!);
    g(2, 6, 10, 14, m[o[4]!]!, m[o[5]!]!);
    g(3, 7, 11, 15, m[o[6]!]!, m[o[7]!]!);
    g(0, 5, 10, 15, m[o[8]!]!, m[o[9]!]!);
    g(1, 6, 11, 12, m[o[10]!]!, m[o[11]!]!);
    g(2, 7, 8, 13, m[o[12]!]!, m[o[13]!]!);
    g(3, 4, 9, 14, m[o[14]!]!, m[o[15]!]!);
  }
  const out = new Uint32Array(8);
  for (let i = 0; i < 8; i++) out[i] = s[i]! ^ s[i + 8]!;
  return out;
}

const blockBytes = new Uint8Array(64);
const blockView = new DataView(blockBytes.buffer);
const words = new Uint32Array(16);
function blockWords(data: Uint8Array, off: number, len: number): Uint32Array {
  blockBytes.fill(0);
  blockBytes.set(data.subarray(off, off + len));
  for (let i = 0; i < 16; i++) words[i] = blockView.getUint32(i * 4, true);
  return words;
}

function chunkCv(data: Uint8Array, off: number, len: number, counter: number, root: boolean): Uint32Array {
  let cv: Uint32Array = IV;
  const blocks = Math.max(1, Math.ceil(len / 64));
  for (let b = 0; b < blocks; b++) {
    const blen = Math.min(64, len - b * 64);
    let flags = b === 0 ? CHUNK_START : 0;
    if (b === blocks - 1) flags |= CHUNK_END | (root ? ROOT_FLAG : 0);
    cv = compress(cv, blockWords(data, off + b * 64, blen), counter, blen, flags);
  }
  return cv;
}

function subtreeCv(data: Uint8Array, off: number, len: number, counter: number, root: boolean): Uint32Array {
  if (len <= 1024) return chunkCv(data, off, len, counter, root);
  // The left subtree holds the largest power-of-two number of whole chunks that leaves the right
  // subtree at least one byte.
  let leftChunks = 1;
  while (leftChunks * 2 * 1024 < len) leftChunks *= 2;
  const leftLen = leftChunks * 1024;
  const m = new Uint32Array(16);
  m.set(subtreeCv(data, off, leftLen, counter, false), 0);
  m.set(subtreeCv(data, off + leftLen, len - leftLen, counter + leftChunks, false), 8);
  return compress(IV, m, 0, 64, PARENT | (root ? ROOT_FLAG : 0));
}

function referenceBlake3(data: Uint8Array): string {
  const cv = subtreeCv(data, 0, data.length, 0, true);
  const out = Buffer.alloc(32);
  for (let i = 0; i < 8; i++) out.writeUInt32LE(cv[i]!, i * 4);
  return out.toString('hex');
}

// ---------------------------------------------------------------------------------------------
// Child process that hashes everything with one forced backend.

interface BackendReport {
  name: string;
  oneShot: Record<string, string>;
  /** createHasher() fed in many small, irregular pieces. */
  streamed: Record<string, string>;
  /** createHasher() fed from one reused buffer that is overwritten after every update(). */
  reusedBuffer: Record<string, string>;
  /** createHasher() with no update at all. */
  emptyStream: string;
  /** A Buffer view at a non-zero offset of a larger ArrayBuffer. */
  offsetView: string;
}

const CHILD_SCRIPT = `
const { hashBackend, hashBytes, createHasher } = await import(${JSON.stringify(HASH_JS)});
const lengths = ${JSON.stringify(ALL_LENGTHS)};
const pattern = (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = i % 251; return b; };
// Irregular piece sizes: tiny ones, block/chunk neighbours, and pieces above 1 MiB.
const SMALL = [1, 2, 3, 5, 7, 63, 64, 65, 1, 1023, 1024, 1025, 13];
const BIG = [1, 4096, 65537, 1, ${3 * MiB}, 7, 1048577];
const report = { name: hashBackend().name, oneShot: {}, streamed: {}, reusedBuffer: {}, emptyStream: '', offsetView: '' };
for (const n of lengths) {
  const data = pattern(n);
  report.oneShot[n] = hashBytes(data);
  const sizes = n <= 200000 ? SMALL : BIG;
  const h = createHasher();
  for (let off = 0, k = 0; off < n; k++) {
    const len = Math.min(sizes[k % sizes.length], n - off);
    h.update(data.subarray(off, off + len));
    off += len;
  }
  report.streamed[n] = h.digest();
  // Mimics the cache's single I/O buffer: the same memory is refilled after each update().
  const buf = new Uint8Array(Math.min(n, 65536) || 1);
  const r = createHasher();
  for (let off = 0; off < n; ) {
    const len = Math.min(buf.length, n - off);
    buf.set(data.subarray(off, off + len));
    r.update(buf.subarray(0, len));
    buf.fill(0xee);
    off += len;
  }
  report.reusedBuffer[n] = r.digest();
}
report.emptyStream = createHasher().digest();
const big = Buffer.from(pattern(4096));
report.offsetView = hashBytes(big.subarray(1000, 2023));
process.stdout.write(JSON.stringify(report));
`;

function runBackend(env: string | undefined): BackendReport {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  if (env === undefined) delete childEnv.MLV_HASHER;
  else childEnv.MLV_HASHER = env;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD_SCRIPT], {
    env: childEnv,
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`hash child (MLV_HASHER=${env}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as BackendReport;
}

let native: BackendReport;
let wasm: BackendReport;
let byDefault: BackendReport;
const reference = new Map<number, string>();

beforeAll(() => {
  native = runBackend('native');
  wasm = runBackend('wasm');
  byDefault = runBackend(undefined);
  for (const n of ALL_LENGTHS) reference.set(n, referenceBlake3(pattern(n)));
});

describe('reference implementation used for inputs above the published vectors', () => {
  it.each(OFFICIAL)('matches the official vector for %i bytes', (n, expected) => {
    expect(reference.get(n)).toBe(expected);
  });
});

describe.each(['native', 'wasm'] as const)('%s backend', (which) => {
  const report = () => (which === 'native' ? native : wasm);

  it('hashBackend().name reports the forced backend', () => {
    expect(report().name).toBe(which);
  });

  it('hashes the empty input to the published digest', () => {
    expect(report().oneShot['0']).toBe(EMPTY);
    expect(report().emptyStream).toBe(EMPTY);
  });

  it.each(OFFICIAL)('one-shot hashBytes matches the official vector for %i bytes', (n, expected) => {
    expect(report().oneShot[n]).toBe(expected);
  });

  it.each(LARGE)('one-shot hashBytes of %i bytes matches the reference implementation', (n) => {
    expect(report().oneShot[n]).toBe(reference.get(n));
  });

  it.each(ALL_LENGTHS)('createHasher() with many small update() calls equals hashBytes() for %i bytes', (n) => {
    expect(report().streamed[n]).toBe(report().oneShot[n]);
    expect(report().streamed[n]).toBe(reference.get(n));
  });

  it.each(ALL_LENGTHS)('createHasher() does not keep a reference to a reused input buffer (%i bytes)', (n) => {
    expect(report().reusedBuffer[n]).toBe(reference.get(n));
  });

  it('hashes a Buffer view at a non-zero offset by its own bytes only', () => {
    const view = Buffer.from(pattern(4096)).subarray(1000, 2023);
    expect(report().offsetView).toBe(referenceBlake3(view));
  });
});

describe('backend agreement and selection', () => {
  it('native and wasm agree on every input, including several MiB', () => {
    expect(wasm.oneShot).toEqual(native.oneShot);
    expect(wasm.streamed).toEqual(native.streamed);
  });

  it('without MLV_HASHER the native backend is used when it loads', () => {
    let nativeLoads = true;
    try {
      createRequire(path.join(ROOT, 'package.json'))('@napi-rs/blake-hash');
    } catch {
      nativeLoads = false;
    }
    expect(byDefault.name).toBe(nativeLoads ? 'native' : 'wasm');
    expect(byDefault.oneShot).toEqual(native.oneShot);
  });

  it('the in-process backend produces the same digests', () => {
    for (const [n, expected] of OFFICIAL) expect(hashBytes(pattern(n))).toBe(expected);
    const h = createHasher();
    const data = pattern(MiB + 1);
    for (let off = 0; off < data.length; off += 4099) h.update(data.subarray(off, off + 4099));
    expect(h.digest()).toBe(reference.get(MiB + 1));
  });

  it('digests are 64 lower-case hex characters', () => {
    for (const id of Object.values(native.oneShot)) expect(id).toMatch(/^[0-9a-f]{64}$/);
    for (const id of Object.values(wasm.oneShot)) expect(id).toMatch(/^[0-9a-f]{64}$/);
  });
});
