/**
 * BLAKE3-256 hashing. The native `@napi-rs/blake-hash` is used when it loads; `blake3-wasm@2.1.5`
 * is the portable fallback. `MLV_HASHER=wasm` forces the fallback, `MLV_HASHER=native` refuses to
 * fall back. This is the only module that imports either package.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ObjectId } from './id.js';

export interface Hasher {
  update(data: Uint8Array): void;
  /** Finishes the hash; the hasher must not be used afterwards. */
  digest(): ObjectId;
}

export interface HashBackend {
  readonly name: 'native' | 'wasm';
  hash(data: Uint8Array): ObjectId;
  create(): Hasher;
}

const require = createRequire(import.meta.url);
/** blake3-wasm is fed at most this much per update() call (v3 broke above 1 MiB; stay clear of it). */
const WASM_MAX_UPDATE = 1 << 20;

interface NativeModule {
  blake3(input: Uint8Array): Buffer;
  Blake3Hasher: new () => { update(input: Uint8Array): unknown; digest(format?: string): string };
}
interface WasmModule {
  hash(input: Uint8Array): Buffer;
  createHash(): { update(input: Uint8Array): unknown; digest(encoding: 'hex'): string };
}

/**
 * The package's own loader calls process.report.getReport() to tell glibc from musl, which costs
 * 15-20 ms at every start. On glibc Linux the platform package is loaded directly instead (resolved
 * from the main package, so any installer layout works); anywhere else, or if that fails, the
 * package's loader decides.
 */
function requireNative(): NativeModule {
  if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64') && isGlibc()) {
    try {
      const fromPackage = createRequire(require.resolve('@napi-rs/blake-hash'));
      return fromPackage(`@napi-rs/blake-hash-linux-${process.arch}-gnu`) as NativeModule;
    } catch {
      // fall through to the package's own loader
    }
  }
  return require('@napi-rs/blake-hash') as NativeModule;
}

/** glibc's dynamic loader is present (musl systems have ld-musl-* instead). */
function isGlibc(): boolean {
  return existsSync(process.arch === 'x64' ? '/lib64/ld-linux-x86-64.so.2' : '/lib/ld-linux-aarch64.so.1');
}

function loadNative(): HashBackend {
  const native = requireNative();
  return {
    name: 'native',
    hash: (data) => native.blake3(data).toString('hex') as ObjectId,
    create() {
      const h = new native.Blake3Hasher();
      return {
        update: (data) => void h.update(data),
        digest: () => h.digest('hex') as ObjectId,
      };
    },
  };
}

function loadWasm(): HashBackend {
  const wasm = require('blake3-wasm/dist/node/index.js') as WasmModule;
  const feed = (h: { update(input: Uint8Array): unknown }, data: Uint8Array) => {
    for (let off = 0; off < data.length; off += WASM_MAX_UPDATE) {
      h.update(data.subarray(off, Math.min(off + WASM_MAX_UPDATE, data.length)));
    }
  };
  return {
    name: 'wasm',
    hash(data) {
      if (data.length <= WASM_MAX_UPDATE) return wasm.hash(data).toString('hex') as ObjectId;
      const h = wasm.createHash();
      feed(h, data);
      return h.digest('hex') as ObjectId;
    },
    create() {
      const h = wasm.createHash();
      return { update: (data) => feed(h, data), digest: () => h.digest('hex') as ObjectId };
    },
  };
}

let backend: HashBackend | undefined;

export function hashBackend(): HashBackend {
  if (backend) return backend;
  const wanted = process.env.MLV_HASHER;
  if (wanted === 'wasm') {
    backend = loadWasm();
  } else if (wanted === 'native') {
    backend = loadNative();
  } else {
    try {
      backend = loadNative();
    } catch {
      backend = loadWasm();
    }
  }
  return backend;
}

export function hashBytes(data: Uint8Array): ObjectId {
  return hashBackend().hash(data);
}

export function createHasher(): Hasher {
  return hashBackend().create();
}
