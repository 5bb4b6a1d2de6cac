import { describe, expect, it } from 'vitest';
import { MlvError } from '../../dist/core/errors.js';
import { MAX_POINTER_BYTES, formatPointer, parsePointer, pointerNameFor, type Pointer } from '../../dist/core/pointer.js';

const ID = '3f'.repeat(32);
const FILE = 'models/sub dir/data.bin.mlv';
const HEADER = '# mlv pointer file: commit it to Git. Format: docs/pointer-format.md';

/** Lines of a valid file pointer; line numbers are index + 1. */
function fileLines(): string[] {
  return [HEADER, 'version: 1', 'hash: blake3', 'kind: file', 'path: "data.bin"', `id: ${ID}`, 'size: 1234'];
}
function dirLines(): string[] {
  return [HEADER, 'version: 1', 'hash: blake3', 'kind: dir', 'path: "data"', `id: ${ID}`, 'size: 99', 'files: 3'];
}
const text = (lines: string[]) => lines.join('\n') + '\n';
/** Replaces the line starting with `key:` by `line` (or removes it when line is undefined). */
function withLine(lines: string[], key: string, line?: string): string[] {
  const i = lines.findIndex((l) => l.startsWith(`${key}:`));
  if (i === -1) throw new Error(`no ${key} line`);
  const out = [...lines];
  if (line === undefined) out.splice(i, 1);
  else out[i] = line;
  return out;
}

function parseError(input: string, file = FILE, expectedPath?: string): MlvError {
  try {
    parsePointer(input, file, expectedPath);
  } catch (err) {
    expect(err).toBeInstanceOf(MlvError);
    return err as MlvError;
  }
  throw new Error(`expected ${JSON.stringify(input.slice(0, 200))} to be rejected`);
}

/** Asserts an INVALID_POINTER error naming `file:line:` and mentioning `fragment`. */
function expectRejected(input: string, line: number, fragment?: string | RegExp, file = FILE, expectedPath?: string): MlvError {
  const err = parseError(input, file, expectedPath);
  expect(err.code).toBe('INVALID_POINTER');
  expect(err.exitCode).toBe(6);
  expect(err.message.startsWith(`${file}:${line}: `)).toBe(true);
  expect(err.details).toEqual({ file, line });
  if (typeof fragment === 'string') expect(err.message).toContain(fragment);
  else if (fragment) expect(err.message).toMatch(fragment);
  return err;
}

describe('formatPointer / parsePointer round trips', () => {
  const cases: Array<[string, Pointer]> = [
    ['a plain file', { path: 'data.bin', kind: 'file', id: ID as Pointer['id'], size: 1234 }],
    ['an empty file', { path: 'empty', kind: 'file', id: ID as Pointer['id'], size: 0 }],
    ['the largest safe size', { path: 'big', kind: 'file', id: ID as Pointer['id'], size: Number.MAX_SAFE_INTEGER }],
    ['a folder with its file count', { path: 'data', kind: 'dir', id: ID as Pointer['id'], size: 99, files: 3 }],
    ['an empty folder', { path: 'data', kind: 'dir', id: ID as Pointer['id'], size: 0, files: 0 }],
    ['an executable file', { path: 'run.sh', kind: 'file', id: ID as Pointer['id'], size: 5, executable: true }],
    [
      'a description with quotes, backslashes, newlines, tabs and unicode',
      {
        path: 'data.bin',
        kind: 'file',
        id: ID as Pointer['id'],
        size: 7,
        description: 'say "hi"\\ \n second line\tTab — ünïcødé 日本語 😀 \u0001 \r',
      },
    ],
    ['an empty description', { path: 'x', kind: 'dir', id: ID as Pointer['id'], size: 1, files: 1, description: '' }],
    ['a name with spaces, quotes and unicode', { path: 'my "best" modèle 😀.pt', kind: 'file', id: ID as Pointer['id'], size: 1 }],
    ['a name starting with a dot', { path: '.hidden', kind: 'file', id: ID as Pointer['id'], size: 1 }],
    ['a name that merely starts with .git', { path: '.github', kind: 'dir', id: ID as Pointer['id'], size: 1, files: 1 }],
    ['a 4096-character description', { path: 'd', kind: 'file', id: ID as Pointer['id'], size: 1, description: 'é'.repeat(4096) }],
  ];

  it.each(cases)('round-trips %s', (_label, p) => {
    const formatted = formatPointer(p);
    expect(formatted.endsWith('\n')).toBe(true);
    expect(parsePointer(formatted, FILE)).toEqual(p);
    expect(parsePointer(formatted, FILE, p.path)).toEqual(p);
    expect(formatPointer(parsePointer(formatted, FILE))).toBe(formatted);
  });

  it('writes the documented canonical text', () => {
    expect(formatPointer({ path: 'data', kind: 'dir', id: ID as Pointer['id'], size: 99, files: 3, description: 'a "b"' })).toBe(
      `${HEADER}\nversion: 1\nhash: blake3\nkind: dir\npath: "data"\nid: ${ID}\nsize: 99\nfiles: 3\ndescription: "a \\"b\\""\n`,
    );
    expect(formatPointer({ path: 'f', kind: 'file', id: ID as Pointer['id'], size: 1, executable: true })).toBe(
      `${HEADER}\nversion: 1\nhash: blake3\nkind: file\npath: "f"\nid: ${ID}\nsize: 1\nexecutable: true\n`,
    );
  });

  it('omits executable when false and files for files; writes files: 0 for a folder without a count', () => {
    const f = formatPointer({ path: 'f', kind: 'file', id: ID as Pointer['id'], size: 1, executable: false });
    expect(f).not.toContain('executable');
    expect(f).not.toContain('files');
    expect(parsePointer(f, FILE)).toEqual({ path: 'f', kind: 'file', id: ID, size: 1 });
    const d = formatPointer({ path: 'd', kind: 'dir', id: ID as Pointer['id'], size: 1 });
    expect(d).toContain('files: 0\n');
    expect(d).not.toContain('executable');
  });

  it('ignores comments and blank lines and accepts keys in any order', () => {
    const lines = ['# first', '', 'size: 1234', '# middle', `id: ${ID}`, 'path: "data.bin"', '', 'kind: file', 'hash: blake3', 'version: 1', '# end'];
    expect(parsePointer(text(lines), FILE)).toEqual({ path: 'data.bin', kind: 'file', id: ID, size: 1234 });
  });

  it('accepts JSON escapes, including a valid surrogate pair, and decodes them', () => {
    const p = parsePointer(text(withLine(fileLines(), 'path', 'path: "caf\\u00e9 \\ud83d\\ude00"')), FILE);
    expect(p.path).toBe('café 😀');
  });

  it('pointerNameFor appends .mlv', () => {
    expect(pointerNameFor('data')).toBe('data.mlv');
    expect(pointerNameFor('model.pt')).toBe('model.pt.mlv');
  });

  it('accepts a pointer of exactly the maximum size', () => {
    const base = text(fileLines());
    const padding = '#' + 'x'.repeat(MAX_POINTER_BYTES - Buffer.byteLength(base) - 2) + '\n';
    const input = padding + base;
    expect(Buffer.byteLength(input)).toBe(MAX_POINTER_BYTES);
    expect(parsePointer(input, FILE).size).toBe(1234);
  });

  // Regression (fixed): JSON.stringify leaves U+2028 / U+2029 unescaped, but the parser's /^([a-z]+): (\S.*)$/
  // cannot match them ("." excludes line terminators), so mlv writes pointers it cannot read.
  // A file named "f\u2028g" is accepted by `mlv add`, then `mlv status` reports the pointer invalid.
  it('round-trips names and descriptions containing U+2028 / U+2029', () => {
    const p: Pointer = { path: 'a\u2028b', kind: 'file', id: ID as Pointer['id'], size: 1, description: 'x\u2029y' };
    expect(parsePointer(formatPointer(p), FILE)).toEqual(p);
  });
});

describe('parsePointer rejections', () => {
  describe('version and hash algorithm', () => {
    it.each(['2', '0', '01', '1.0', '"1"', 'one'])('rejects version %s on its line', (v) => {
      expectRejected(text(withLine(fileLines(), 'version', `version: ${v}`)), 2, 'unsupported pointer version');
    });
    it.each(['sha256', 'BLAKE3', 'blake2b', '"blake3"'])('rejects hash algorithm %s on its line', (h) => {
      expectRejected(text(withLine(fileLines(), 'hash', `hash: ${h}`)), 3, 'unsupported hash algorithm');
    });
    it.each(['folder', 'File', '"file"', 'symlink'])('rejects kind %s', (k) => {
      expectRejected(text(withLine(fileLines(), 'kind', `kind: ${k}`)), 4, 'kind must be');
    });
  });

  describe('id', () => {
    it.each([
      ['63 characters', ID.slice(1), 'found 63'],
      ['65 characters', ID + 'a', 'found 65'],
      ['upper case', ID.toUpperCase(), 'upper-case'],
      ['a non-hex character', 'g' + ID.slice(1), '0-9 and a-f'],
      ['a quoted id', `"${ID.slice(2)}"`, 'only the characters'],
    ])('rejects an id with %s', (_label, id, fragment) => {
      expectRejected(text(withLine(fileLines(), 'id', `id: ${id}`)), 6, fragment);
    });
  });

  describe('size and files counts', () => {
    it.each([
      ['negative', '-1'],
      ['fractional', '1.5'],
      ['an exponent', '1e3'],
      ['a leading zero', '0123'],
      ['a plus sign', '+5'],
      ['hexadecimal', '0x10'],
      ['not a number', 'lots'],
      ['quoted', '"5"'],
      ['above 2^53 - 1', '9007199254740992'],
      ['far above 2^53 - 1', '99999999999999999999999'],
    ])('rejects a size that is %s', (_label, v) => {
      expectRejected(text(withLine(fileLines(), 'size', `size: ${v}`)), 7, /^.*:7: size: /);
    });

    it('accepts 0 and 2^53 - 1 as sizes', () => {
      expect(parsePointer(text(withLine(fileLines(), 'size', 'size: 0')), FILE).size).toBe(0);
      expect(parsePointer(text(withLine(fileLines(), 'size', 'size: 9007199254740991')), FILE).size).toBe(9007199254740991);
    });

    it('rejects an empty size value as a malformed line', () => {
      expectRejected(text(withLine(fileLines(), 'size', 'size: ')), 7, 'expected "key: value"');
    });

    it.each(['-3', '1e1', '03', '9007199254740992', 'three'])('rejects files: %s', (v) => {
      expectRejected(text(withLine(dirLines(), 'files', `files: ${v}`)), 8, /:8: files: /);
    });
  });

  describe('keys', () => {
    it('rejects a duplicate key on the second occurrence', () => {
      expectRejected(text([...fileLines(), 'size: 1234']), 8, 'duplicate key "size"');
      const lines = fileLines();
      lines.splice(3, 0, 'hash: blake3');
      expectRejected(text(lines), 4, 'duplicate key "hash"');
    });

    it('rejects an unknown key', () => {
      expectRejected(text([...fileLines(), 'color: "red"']), 8, 'unknown key "color"');
      expectRejected(text([...fileLines().slice(0, 2), 'owner: "me"', ...fileLines().slice(2)]), 3, 'unknown key "owner"');
    });

    it.each(['version', 'hash', 'kind', 'path', 'id', 'size'])('rejects a pointer missing %s, naming the last line', (key) => {
      const lines = withLine(fileLines(), key);
      expectRejected(text(lines), lines.length, `missing key "${key}"`);
    });

    it('rejects files on a file pointer, on the files line', () => {
      const lines = [...fileLines().slice(0, 5), 'files: 2', ...fileLines().slice(5)];
      expectRejected(text(lines), 6, '"files" is only allowed for kind: dir');
    });

    it('rejects a folder pointer without files, naming the last line', () => {
      const lines = withLine(dirLines(), 'files');
      expectRejected(text(lines), lines.length, 'missing key "files"');
    });

    it('rejects executable on a folder and any executable value but true', () => {
      expectRejected(text([...dirLines(), 'executable: true']), 9, '"executable" is only allowed for kind: file');
      expectRejected(text([...fileLines(), 'executable: false']), 8, 'executable must be "true"');
      expectRejected(text([...fileLines(), 'executable: yes']), 8, 'executable must be "true"');
    });

    it.each([
      ['no space after the colon', 'size:1234'],
      ['two spaces after the colon', 'size:  1234'],
      ['a space before the colon', 'size : 1234'],
      ['an upper-case key', 'Size: 1234'],
      ['a key with an underscore', 'file_count: 3'],
      ['indentation', '  size: 1234'],
      ['an indented comment', '  # size: 1234'],
      ['no colon', 'size 1234'],
    ])('rejects a line with %s', (_label, line) => {
      expectRejected(text(withLine(fileLines(), 'size', line)), 7, 'expected "key: value"');
    });
  });

  describe('text encoding and layout', () => {
    it('rejects CRLF line endings on the first line that has one', () => {
      expectRejected(fileLines().join('\r\n') + '\r\n', 1, 'carriage return');
      const lines = fileLines();
      lines[3] += '\r';
      expectRejected(text(lines), 4, 'carriage return');
    });

    it('rejects a byte-order mark', () => {
      expectRejected('\uFEFF' + text(fileLines()), 1, 'byte-order mark');
    });

    it('rejects NUL bytes, even inside comments', () => {
      const lines = fileLines();
      lines[4] = 'path: "data\u0000.bin"';
      expectRejected(text(lines), 5, 'NUL');
      expectRejected(text([...fileLines(), '# a\u0000b']), 8, 'NUL');
    });

    it('rejects a missing final newline, naming the last line', () => {
      expectRejected(fileLines().join('\n'), 7, 'must end with a newline');
      expectRejected(dirLines().join('\n'), 8, 'must end with a newline');
    });

    it('rejects an empty file and a file with only blank lines', () => {
      expectRejected('', 1, 'empty pointer file');
      expectRejected('\n', 1, 'missing key "version"');
      expectRejected('# just a comment\n\n', 2, 'missing key "version"');
    });

    it.each([
      ['a space', 'size: 1234 ', 7],
      ['a tab', 'kind: file\t', 4],
      ['a no-break space', 'hash: blake3\u00a0', 3],
    ])('rejects trailing whitespace (%s)', (_label, line, n) => {
      const key = line.split(':')[0]!;
      expectRejected(text(withLine(fileLines(), key, line)), n, 'trailing whitespace');
    });

    it('rejects a pointer larger than 64 KiB', () => {
      const base = text(fileLines());
      const padding = '#' + 'x'.repeat(MAX_POINTER_BYTES - Buffer.byteLength(base) - 1) + '\n';
      expect(Buffer.byteLength(padding + base)).toBe(MAX_POINTER_BYTES + 1);
      expectRejected(padding + base, 1, 'larger than 65536 bytes');
      expectRejected('#' + 'y'.repeat(10 * 1024 * 1024) + '\n', 1, 'larger than');
    });

    it('counts bytes, not characters, against the size limit', () => {
      const base = text(fileLines());
      // 2-byte characters: fewer than 64 Ki characters but more than 64 KiB.
      const padding = '#' + 'é'.repeat(Math.ceil(MAX_POINTER_BYTES / 2)) + '\n';
      expect((padding + base).length).toBeLessThan(MAX_POINTER_BYTES);
      expectRejected(padding + base, 1, 'larger than');
    });

    it('rejects a description longer than 4096 characters', () => {
      expectRejected(text([...fileLines(), `description: ${JSON.stringify('d'.repeat(4097))}`]), 8, 'longer than 4096');
    });
  });

  describe('path', () => {
    it.each([
      ['../x', 'escapes the repository'],
      ['..', 'escapes the repository'],
      ['a/../../b', 'escapes the repository'],
      ['..\\x', 'escapes the repository'],
      ['/etc/passwd', 'escapes the repository'],
      ['C:\\x', 'escapes the repository'],
      ['c:x', 'escapes the repository'],
      ['a/b', 'not a plain file or folder name'],
      ['a\\b', 'not a plain file or folder name'],
      ['.', 'not a plain file or folder name'],
      ['', 'not a plain file or folder name'],
      ['a\u0001b', 'control characters'],
      ['a\nb', 'control characters'],
      ['x'.repeat(256), 'at most 255 bytes'],
      ['é'.repeat(128), 'at most 255 bytes'],
    ])('rejects the path %j', (p, fragment) => {
      const err = expectRejected(text(withLine(fileLines(), 'path', `path: ${JSON.stringify(p)}`)), 5, fragment);
      expect(err.message).toContain(JSON.stringify(p));
    });

    it.each(['.git', '.mlv', '.GIT', '.Git', '.MLV', '.Mlv'])('rejects the reserved name %s', (p) => {
      expectRejected(text(withLine(fileLines(), 'path', `path: "${p}"`)), 5, 'is reserved');
    });

    it('rejects a path that does not match the name implied by the pointer file name', () => {
      const input = text(fileLines());
      expectRejected(input, 5, 'does not match the pointer\'s file name (expected "other.bin")', 'x/other.bin.mlv', 'other.bin');
      expectRejected(input, 5, 'does not match', FILE, 'Data.bin');
      expect(parsePointer(input, FILE, 'data.bin').path).toBe('data.bin');
    });

    it.each([
      ['unquoted', 'path: data.bin'],
      ['single-quoted', "path: 'data.bin'"],
      ['opened but not closed', 'path: "data.bin'],
      ['closed but not opened', 'path: data.bin"'],
      ['a lone quote', 'path: "'],
      ['two strings', 'path: "a" "b"'],
      ['an escaped closing quote', 'path: "data\\"'],
      ['an unknown escape', 'path: "d\\x41"'],
      ['a raw tab inside the quotes', 'path: "a\tb"'],
      ['a short unicode escape', 'path: "\\u12"'],
    ])('rejects a path that is %s', (_label, line) => {
      expectRejected(text(withLine(fileLines(), 'path', line)), 5, 'path: ');
    });

    it('rejects an unquoted or malformed description', () => {
      expectRejected(text([...fileLines(), 'description: hello world']), 8, 'description: expected a double-quoted string');
      expectRejected(text([...fileLines(), 'description: "a\\qb"']), 8, 'description: malformed');
    });

    it.each([
      ['a lone high surrogate', '"\\ud800"'],
      ['a lone low surrogate', '"\\udc00x"'],
      ['a high surrogate followed by a letter', '"a\\ud83dz"'],
      ['reversed surrogates', '"\\ude00\\ud83d"'],
    ])('rejects %s in the path or description', (_label, quoted) => {
      expectRejected(text(withLine(fileLines(), 'path', `path: ${quoted}`)), 5, 'lone surrogate');
      expectRejected(text([...fileLines(), `description: ${quoted}`]), 8, 'lone surrogate');
    });
  });

  it('names the pointer file exactly as given, whatever it is', () => {
    expectRejected(text(withLine(fileLines(), 'version', 'version: 9')), 2, undefined, 'C:\\weird path\\ä.mlv');
  });

  it('reports the first problem in file order before checking values', () => {
    // Line 3 has an unknown key and line 6 a bad id: the syntax error on line 3 wins.
    const lines = fileLines();
    lines.splice(2, 0, 'bogus: 1');
    lines[6] = 'id: nope';
    expectRejected(text(lines), 3, 'unknown key');
  });
});
