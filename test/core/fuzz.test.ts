/**
 * Property-based tests: hostile pointer texts, tree bytes and config texts either parse to a value
 * that round-trips or are rejected with an MlvError, never with any other exception.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MlvError } from '../../dist/core/errors.js';
import { hashBytes } from '../../dist/core/hash.js';
import type { ObjectId } from '../../dist/core/id.js';
import { badNameReason } from '../../dist/core/paths.js';
import { formatPointer, parsePointer, type Pointer } from '../../dist/core/pointer.js';
import { encodeTree, formatTree, parseTree, type TreeEntry } from '../../dist/core/tree.js';
import { validateConfigValue, CONFIG_KEYS } from '../../dist/workspace/config.js';
import { ConfigFile } from '../../dist/workspace/config-file.js';

const RUNS = { numRuns: 500 };
const FILE = 'fuzz/data.mlv';

/** Runs fn; an MlvError means "rejected" (undefined), any other exception fails the property. */
function parseOrReject<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MlvError) return undefined;
    throw err;
  }
}

// ---- generators ---------------------------------------------------------------------------

/** Characters that stress the grammars (line separators, quotes, escapes, surrogates, BOM). */
const NASTY = ['"', '\\', '/', ':', ' ', '\t', '\n', '\r', '\0', '\u0001', '\u007f', '#', ';', '=', '[', ']', '.', '-', '_', 'u', 'd', '0', '1', '9', 'a', 'e', 'f', 'x', 'é', '😀', '\uFEFF', '\u00a0', '\u2028', '\ud800', '\udc00', '\uFFFD'];
const nastyChar = fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }));
const nastyString = (maxLength: number) => fc.string({ unit: nastyChar, maxLength });

const isGoodName = (n: string) => badNameReason(n) === undefined;
const nameArb = fc
  .oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
    fc.string({ unit: fc.constantFrom('a', 'b', 'A', '.', '-', ' ', '"', 'é', '😀', '\uFFFD', 'g', 'i', 't', 'm', 'l', 'v'), minLength: 1, maxLength: 6 }),
  )
  .filter(isGoodName);
/** Pointer paths must also not look like a drive letter. */
const pointerNameArb = nameArb.filter((n) => !/^[A-Za-z]:/.test(n));
const idArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex') as ObjectId);
const sizeArb = fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(0));
const descriptionArb = fc
  .oneof(
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\t', '\r', '\u0000', 'a', ' ', 'é', '😀', '\u007f'), maxLength: 20 }),
  );

const pointerArb: fc.Arbitrary<Pointer> = fc
  .record({
    path: pointerNameArb,
    kind: fc.constantFrom('file' as const, 'dir' as const),
    id: idArb,
    size: sizeArb,
    files: sizeArb,
    executable: fc.boolean(),
    description: fc.option(descriptionArb, { nil: undefined }),
  })
  .map((r) => {
    const p: Pointer = { path: r.path, kind: r.kind, id: r.id, size: r.size };
    if (r.kind === 'dir') p.files = r.files;
    if (r.kind === 'file' && r.executable) p.executable = true;
    if (r.description !== undefined) p.description = r.description;
    return p;
  });

const entryArb: fc.Arbitrary<TreeEntry> = fc
  .record({ name: nameArb, kind: fc.constantFrom('file' as const, 'dir' as const), exec: fc.boolean(), id: idArb, size: sizeArb })
  .map((e) => ({ ...e, exec: e.kind === 'file' && e.exec }));
const entriesArb = fc.uniqueArray(entryArb, { selector: (e) => e.name, maxLength: 8 });

/** A text mutation: a list of edits applied in order. */
type Edit =
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; count: number }
  | { op: 'replace'; at: number; text: string }
  | { op: 'dupLine'; at: number }
  | { op: 'dropLine'; at: number }
  | { op: 'swapLines'; at: number; with: number }
  | { op: 'truncate'; at: number };
const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: nastyString(4) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), text: nastyString(2) }),
  fc.record({ op: fc.constant('dupLine' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('dropLine' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swapLines' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);
function applyEdits(text: string, edits: Edit[]): string {
  let s = text;
  for (const e of edits) {
    const at = s.length === 0 ? 0 : 'at' in e ? e.at % (s.length + 1) : 0;
    const lines = s.split('\n');
    const li = lines.length === 0 ? 0 : ('at' in e ? e.at : 0) % lines.length;
    switch (e.op) {
      case 'insert':
        s = s.slice(0, at) + e.text + s.slice(at);
        break;
      case 'delete':
        s = s.slice(0, at) + s.slice(at + e.count);
        break;
      case 'replace':
        s = s.slice(0, at) + e.text + s.slice(at + e.text.length);
        break;
      case 'dupLine':
        lines.splice(li, 0, lines[li]!);
        s = lines.join('\n');
        break;
      case 'dropLine':
        lines.splice(li, 1);
        s = lines.join('\n');
        break;
      case 'swapLines': {
        const lj = e.with % lines.length;
        [lines[li], lines[lj]] = [lines[lj]!, lines[li]!];
        s = lines.join('\n');
        break;
      }
      case 'truncate':
        s = s.slice(0, at);
        break;
    }
  }
  return s;
}

/** Byte-level mutations for tree objects (which may then be invalid UTF-8). */
type ByteEdit = { op: 'flip'; at: number; bit: number } | { op: 'insert'; at: number; byte: number } | { op: 'delete'; at: number };
const byteEditArb: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
);
function applyByteEdits(bytes: Buffer, edits: ByteEdit[]): Buffer {
  let b = Buffer.from(bytes);
  for (const e of edits) {
    const at = e.at % (b.length + (e.op === 'insert' ? 1 : 0) || 1);
    if (e.op === 'flip' && b.length > 0) b[at]! ^= 1 << e.bit;
    else if (e.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([e.byte]), b.subarray(at)]);
    else if (e.op === 'delete' && b.length > 0) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
  }
  return b;
}

// ---- pointers -----------------------------------------------------------------------------

/** Either rejected with an MlvError, or parses to a pointer that survives format + parse. */
function checkPointerText(text: string, expectedPath?: string): void {
  const p = parseOrReject(() => parsePointer(text, FILE, expectedPath));
  if (p === undefined) return;
  const formatted = formatPointer(p);
  expect(parsePointer(formatted, FILE, expectedPath)).toEqual(p);
  expect(formatPointer(parsePointer(formatted, FILE))).toBe(formatted);
}

describe('pointer fuzzing', () => {
  it('random strings are rejected with MlvError or round-trip', () => {
    fc.assert(fc.property(nastyString(200), (s) => checkPointerText(s)), RUNS);
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => checkPointerText(s)), RUNS);
  });

  it('random key: value line soups are rejected with MlvError or round-trip', () => {
    const junkValue = fc.oneof(
      fc.constantFrom('1', '2', 'blake3', 'file', 'dir', 'true', 'false', '0', '12', '"x"', '"a\\"b"', '"\\ud800"', '"../x"', '".git"', '"C:x"', '01', '1e3', '-1', '9007199254740992', ''),
      idArb,
      nastyString(8),
    );
    /** Mostly a valid value for the key, sometimes junk, sometimes left out. */
    const field = (key: string, valid: fc.Arbitrary<string>, optional: boolean) =>
      fc
        .oneof(
          { arbitrary: valid, weight: 20 },
          { arbitrary: junkValue, weight: 1 },
          { arbitrary: fc.constant(undefined), weight: optional ? 20 : 1 },
        )
        .map((v) => (v === undefined ? [] : [`${key}: ${v}`]));
    const soupArb = fc
      .tuple(
        field('version', fc.constant('1'), false),
        field('hash', fc.constant('blake3'), false),
        field('kind', fc.constantFrom('file', 'dir'), false),
        field('path', pointerNameArb.map((n) => JSON.stringify(n)), false),
        field('id', idArb, false),
        field('size', sizeArb.map(String), false),
        field('files', sizeArb.map(String), true),
        field('executable', fc.constant('true'), true),
        field('description', descriptionArb.map((d) => JSON.stringify(d)), true),
        fc.array(
          fc.oneof(
            { arbitrary: fc.constantFrom('', '# comment', '#'), weight: 8 },
            { arbitrary: fc.constantFrom('size: 1', 'other: 1', ' ', '#\r'), weight: 1 },
            { arbitrary: nastyString(10), weight: 1 },
          ),
          { maxLength: 2 },
        ),
      )
      .map((parts) => parts.flat())
      .chain((lines) => fc.shuffledSubarray(lines, { minLength: lines.length, maxLength: lines.length }));
    fc.assert(
      fc.property(soupArb, fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 }), (lines, newline) => checkPointerText(lines.join('\n') + (newline ? '\n' : ''))),
      { numRuns: 1000 },
    );
  });

  it('generated pointers round-trip exactly', () => {
    fc.assert(
      fc.property(pointerArb, (p) => {
        const text = formatPointer(p);
        expect(parsePointer(text, FILE, p.path)).toEqual(p);
        expect(formatPointer(parsePointer(text, FILE))).toBe(text);
      }),
      RUNS,
    );
  });

  it('mutations of valid pointer texts are rejected with MlvError or round-trip', () => {
    fc.assert(
      fc.property(pointerArb, fc.array(editArb, { minLength: 1, maxLength: 4 }), fc.boolean(), (p, edits, withExpected) => {
        checkPointerText(applyEdits(formatPointer(p), edits), withExpected ? p.path : undefined);
      }),
      { numRuns: 1000 },
    );
  });
});

// ---- trees --------------------------------------------------------------------------------

/** Either rejected with an MlvError, or canonical: re-encoding gives back the same bytes. */
function checkTreeBytes(bytes: Buffer): void {
  const entries = parseOrReject(() => parseTree(bytes));
  if (entries === undefined) {
    // Also rejected when the expected id matches, and CORRUPT_OBJECT when it does not.
    const err = (() => {
      try {
        parseTree(bytes, hashBytes(bytes));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(MlvError);
    return;
  }
  expect(formatTree(entries).equals(bytes)).toBe(true);
  const { bytes: again, id } = encodeTree(entries);
  expect(again.equals(bytes)).toBe(true);
  expect(parseTree(again, id)).toEqual(entries);
}

describe('tree fuzzing', () => {
  it('random bytes and strings are rejected with MlvError or are canonical', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => checkTreeBytes(Buffer.from(b))), RUNS);
    fc.assert(fc.property(nastyString(200), (s) => checkTreeBytes(Buffer.from('mlv-tree 1\n' + s))), RUNS);
  });

  it('random entry-line soups are rejected with MlvError or are canonical', () => {
    const lineArb = fc
      .tuple(
        fc.constantFrom('f', 'x', 'd', 'F', 'l', ''),
        fc.oneof(idArb, fc.constantFrom('A'.repeat(64), 'a'.repeat(63), '')),
        fc.oneof(sizeArb.map(String), fc.constantFrom('01', '-1', '9007199254740992', '1.5', '')),
        fc.oneof(nameArb.map((n) => JSON.stringify(n)), nastyString(6).map((s) => `"${s}"`), fc.constantFrom('"a"', '"b"', '"\\u0061"', '"."', '".GIT"')),
        fc.constantFrom(' ', '  ', '\t'),
      )
      .map(([k, id, size, name, sep]) => [k, id, size, name].join(sep));
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 6 }), fc.boolean(), (lines, sortThem) => {
        const body = sortThem ? [...lines].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))) : lines;
        checkTreeBytes(Buffer.from(['mlv-tree 1', ...body].join('\n') + '\n'));
      }),
      { numRuns: 1000 },
    );
  });

  it('generated trees round-trip, and only their own id verifies them', () => {
    fc.assert(
      fc.property(entriesArb, idArb, (entries, otherId) => {
        const { id, bytes, sorted } = encodeTree(entries);
        expect(parseTree(bytes, id)).toEqual(sorted);
        expect(encodeTree([...entries].reverse()).id).toBe(id);
        if (otherId !== id) {
          try {
            parseTree(bytes, otherId);
            throw new Error('accepted a wrong id');
          } catch (err) {
            expect(err).toBeInstanceOf(MlvError);
            expect((err as MlvError).code).toBe('CORRUPT_OBJECT');
          }
        }
      }),
      RUNS,
    );
  });

  it('byte mutations of valid trees are rejected with MlvError or are canonical', () => {
    fc.assert(
      fc.property(entriesArb, fc.array(byteEditArb, { minLength: 1, maxLength: 4 }), (entries, edits) => {
        checkTreeBytes(applyByteEdits(encodeTree(entries).bytes, edits));
      }),
      { numRuns: 1000 },
    );
  });

  it('text mutations of valid trees are rejected with MlvError or are canonical', () => {
    fc.assert(
      fc.property(entriesArb, fc.array(editArb, { minLength: 1, maxLength: 4 }), (entries, edits) => {
        checkTreeBytes(Buffer.from(applyEdits(encodeTree(entries).bytes.toString('utf8'), edits)));
      }),
      RUNS,
    );
  });
});

// ---- config -------------------------------------------------------------------------------

const CONFIG_FILE = '/fuzz/.mlv/config';
const VALID_CONFIG = [
  '# comment',
  '[core]',
  '\tlink = reflink,copy # why',
  '\tjobs=4',
  '; other comment',
  '[remote "origin"]',
  '\turl = s3://bucket/x',
  '\tnote = "a \\"quoted\\" \\\\ value\\n"',
  '[remote "a.b"]',
  '\turl = x',
].join('\n') + '\n';

/** Either rejected with an MlvError, or re-parses from its own text to the same entries. */
function checkConfigText(text: string): void {
  const c = parseOrReject(() => ConfigFile.parse(text, CONFIG_FILE));
  if (c === undefined) return;
  const out = c.toString();
  const again = ConfigFile.parse(out, CONFIG_FILE);
  expect(again.entries()).toEqual(c.entries());
  expect(again.toString()).toBe(out);
  for (const [k, v] of c.entries()) expect(c.get(k)).toBe(v);
}

describe('config fuzzing', () => {
  it('random strings are rejected with MlvError or round-trip', () => {
    fc.assert(fc.property(nastyString(150), (s) => checkConfigText(s)), RUNS);
  });

  it('random line soups are rejected with MlvError or round-trip', () => {
    const lineArb = fc.oneof(
      fc.constantFrom('[core]', '[remote "origin"]', '[remote "a\\"b"]', '[remote "x.y"]', '[Core]', '[remote origin]', '[core', '', '# c', '; c', '  # c'),
      fc
        .tuple(
          fc.constantFrom('link', 'jobs', 'url', 'a_1', 'Bad', '1x', 'a-b'),
          fc.constantFrom(' = ', '=', ' =', '= ', '  =  '),
          fc.oneof(fc.constantFrom('copy', '"q"', '"a\\"b"', '"a\\nb"', 'x # c', 'x;y', '"open', 'C:\\x', '', '""'), nastyString(6)),
          fc.constantFrom('', '\t', '  '),
        )
        .map(([k, eq, v, indent]) => `${indent}${k}${eq}${v}`),
      nastyString(10),
    );
    fc.assert(fc.property(fc.array(lineArb, { maxLength: 10 }), (lines) => checkConfigText(lines.join('\n') + '\n')), { numRuns: 1000 });
  });

  it('mutations of a valid config are rejected with MlvError or round-trip', () => {
    fc.assert(fc.property(fc.array(editArb, { minLength: 1, maxLength: 4 }), (edits) => checkConfigText(applyEdits(VALID_CONFIG, edits))), {
      numRuns: 1000,
    });
  });

  it('set/unset sequences keep every other line and agree with a simple model', () => {
    const section = fc.constantFrom('core', 'remote.origin', 'remote.a b', 'remote.q"x', 'remote.b\\s', 'remote.x.y', 'extra');
    const name = fc.constantFrom('link', 'jobs', 'url', 'a1', 'b_2', 'note');
    const value = fc.string({
      unit: fc.oneof(
        fc.constantFrom('"', '\\', '#', ';', ' ', '\t', '\n', '\r', '\0', '\u2028', '\u2029', '=', '[', ']', 'a', 'é', '😀', '\u00a0', '\uFEFF', '\u0001'),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
      ),
      maxLength: 12,
    });
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), section, name, value }),
      fc.record({ kind: fc.constant('unset' as const), section, name }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 15 }), (ops) => {
        const c = ConfigFile.parse(VALID_CONFIG, CONFIG_FILE);
        const model = new Map(c.entries());
        for (const o of ops) {
          const key = `${o.section}.${o.name}`;
          if (o.kind === 'set') {
            c.set(key, o.value);
            model.set(key, o.value);
          } else {
            expect(c.unset(key)).toBe(model.delete(key));
          }
        }
        const reparsed = ConfigFile.parse(c.toString(), CONFIG_FILE);
        expect(new Map(reparsed.entries())).toEqual(model);
        for (const [k, v] of model) expect(reparsed.get(k)).toBe(v);
        const lines = c.toString().split('\n');
        for (const comment of ['# comment', '; other comment']) expect(lines).toContain(comment);
      }),
      RUNS,
    );
  });

  it('validateConfigValue accepts or throws a USAGE MlvError for any key and value', () => {
    const keyArb = fc.oneof(
      fc.constantFrom(...Object.keys(CONFIG_KEYS)),
      fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty'),
      nastyString(12),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(keyArb, nastyString(20), (key, value) => {
        try {
          validateConfigValue(key, value);
        } catch (err) {
          expect(err).toBeInstanceOf(MlvError);
          expect((err as MlvError).code).toBe('USAGE');
        }
      }),
      { numRuns: 1000 },
    );
  });
});
