/**
 * Tree objects: one per folder level, like Git trees. Canonical text, entries sorted by the UTF-8
 * bytes of their names, so equal folders always hash to the same id and changing one file rewrites
 * only the trees on its path. Format: docs/formats.md.
 *
 *   mlv-tree 1
 *   f <id> <size> "name"     regular file
 *   x <id> <size> "name"     executable file
 *   d <id> <size> "name"     folder (size = bytes of all files below it)
 */
import { MlvError } from './errors.js';
import { hashBytes } from './hash.js';
import type { ObjectId } from './id.js';
import { badNameReason } from './paths.js';
import { quote } from './quoted.js';

export const TREE_HEADER = 'mlv-tree 1';

export interface TreeEntry {
  name: string;
  kind: 'file' | 'dir';
  /** Executable bit (files only). */
  exec: boolean;
  id: ObjectId;
  size: number;
}

export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Sorts by UTF-8 bytes. Without surrogate pairs, UTF-16 code-unit order is the same order, so the
 * common case compares strings directly instead of encoding every name.
 */
export function sortEntries(entries: TreeEntry[]): TreeEntry[] {
  if (!entries.some((e) => SURROGATE.test(e.name))) {
    return [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  const keyed = entries.map((e) => ({ e, k: Buffer.from(e.name) }));
  keyed.sort((a, b) => Buffer.compare(a.k, b.k));
  return keyed.map((x) => x.e);
}

function kindLetter(e: TreeEntry): string {
  if (e.kind === 'dir') return 'd';
  return e.exec ? 'x' : 'f';
}

/** Canonical bytes of a tree; entries must already be sorted and unique. */
export function formatTree(sortedEntries: readonly TreeEntry[]): Buffer {
  let text = TREE_HEADER + '\n';
  for (const e of sortedEntries) text += `${kindLetter(e)} ${e.id} ${e.size} ${quote(e.name)}\n`;
  return Buffer.from(text, 'utf8');
}

export function encodeTree(entries: TreeEntry[]): { id: ObjectId; bytes: Buffer; sorted: TreeEntry[] } {
  const sorted = sortEntries(entries);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1]!.name === sorted[i]!.name) {
      throw new MlvError('INVALID_TREE', `duplicate entry ${JSON.stringify(sorted[i]!.name)} in one folder`);
    }
  }
  const bytes = formatTree(sorted);
  return { id: hashBytes(bytes), bytes, sorted };
}

const LINE = /^([fxd]) ([0-9a-f]{64}) (0|[1-9][0-9]*) (".*")$/s;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses and validates a tree object. When `expectedId` is given the bytes must hash to it.
 * Every name is validated as hostile input; anything non-canonical is rejected.
 */
export function parseTree(bytes: Uint8Array, expectedId?: ObjectId): TreeEntry[] {
  const label = expectedId ? `tree ${expectedId}` : 'tree object';
  const fail = (message: string): never => {
    throw new MlvError('INVALID_TREE', `${label}: ${message}`, {
      hint: 'run mlv fsck to find corrupt objects; fetch or re-add the data to repair it',
    });
  };
  if (expectedId) {
    const actual = hashBytes(bytes);
    if (actual !== expectedId) {
      throw new MlvError('CORRUPT_OBJECT', `${label}: content hashes to ${actual}, not to its id`, {
        hint: 'the cache object is corrupt; delete it and fetch or re-add the data',
      });
    }
  }
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return fail('not valid UTF-8');
  }
  if (!text.endsWith('\n')) fail('missing final newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines[0] !== TREE_HEADER) fail(`unknown header ${JSON.stringify(lines[0]?.slice(0, 40))}`);
  const entries: TreeEntry[] = [];
  let previous: Buffer | undefined;
  // Ids are copied out of the bytes rather than kept as slices of `text`: a slice would keep the
  // whole tree text alive for as long as any one id is (a 200,000-file checkout holds every id).
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let lineStart = raw.indexOf(10) + 1;
  for (let i = 1; i < lines.length; i++, lineStart = raw.indexOf(10, lineStart) + 1) {
    const m = LINE.exec(lines[i]!);
    if (!m) return fail(`line ${i + 1} is malformed`);
    const [, letter, , sizeText, quoted] = m as unknown as [string, string, string, string, string];
    // The line starts with "<letter> <64 hex digits>", all ASCII, so byte and character offsets agree.
    const id = raw.toString('latin1', lineStart + 2, lineStart + 66);
    let name: unknown;
    try {
      name = JSON.parse(quoted);
    } catch {
      return fail(`line ${i + 1}: malformed name`);
    }
    if (typeof name !== 'string') return fail(`line ${i + 1}: malformed name`);
    const problem = badNameReason(name);
    if (problem) fail(`line ${i + 1}: bad name ${JSON.stringify(name)}: ${problem}`);
    const size = Number(sizeText);
    if (!Number.isSafeInteger(size)) fail(`line ${i + 1}: size out of range`);
    if (quote(name) !== quoted) fail(`line ${i + 1}: name ${JSON.stringify(name)} is not in canonical form`);
    const key = Buffer.from(name);
    if (previous && Buffer.compare(previous, key) >= 0) {
      fail(`line ${i + 1}: entries are not sorted or contain a duplicate (${JSON.stringify(name)})`);
    }
    previous = key;
    entries.push({ name, kind: letter === 'd' ? 'dir' : 'file', exec: letter === 'x', id: id as ObjectId, size });
  }
  // Every line matched the strict pattern and every name is canonically quoted, so the bytes are
  // the canonical encoding of these entries.
  return entries;
}
