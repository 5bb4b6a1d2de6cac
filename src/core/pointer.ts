/**
 * Pointer files (`data.mlv`): a strict subset of YAML, one `key: value` per line. The grammar is
 * specified in docs/pointer-format.md; anything outside it is an error naming the file and line.
 */
import { MlvError } from './errors.js';
import { describeBadId, isObjectId, type ObjectId } from './id.js';
import { badNameReason } from './paths.js';
import { hasLoneSurrogate, quote } from './quoted.js';

export const POINTER_VERSION = 1;
export const POINTER_SUFFIX = '.mlv';
export const MAX_POINTER_BYTES = 64 * 1024;
const MAX_DESCRIPTION_CHARS = 4096;

export type TargetKind = 'file' | 'dir';

export interface Pointer {
  /** The tracked file or folder, relative to the folder holding the pointer: a single name. */
  path: string;
  kind: TargetKind;
  id: ObjectId;
  /** Bytes of the file, or of all files below the folder. */
  size: number;
  /** Number of files below the folder (folders only). */
  files?: number;
  /** Executable bit (files only; absent means false). */
  executable?: boolean;
  description?: string;
}

const KEY_ORDER = ['version', 'hash', 'kind', 'path', 'id', 'size', 'files', 'executable', 'description'] as const;
type Key = (typeof KEY_ORDER)[number];
const KNOWN_KEYS = new Set<string>(KEY_ORDER);

export function formatPointer(p: Pointer): string {
  const lines = [
    '# mlv pointer file: commit it to Git. Format: docs/pointer-format.md',
    `version: ${POINTER_VERSION}`,
    'hash: blake3',
    `kind: ${p.kind}`,
    `path: ${quote(p.path)}`,
    `id: ${p.id}`,
    `size: ${p.size}`,
  ];
  if (p.kind === 'dir') lines.push(`files: ${p.files ?? 0}`);
  if (p.kind === 'file' && p.executable) lines.push('executable: true');
  if (p.description !== undefined) lines.push(`description: ${quote(p.description)}`);
  return lines.join('\n') + '\n';
}

/** The pointer file name for a target name: `data` -> `data.mlv`. */
export function pointerNameFor(targetName: string): string {
  return targetName + POINTER_SUFFIX;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of a pointer file's bytes, refusing invalid UTF-8 (naming the line) instead of replacing it. */
function decodePointer(bytes: Uint8Array, fail: (line: number, message: string) => never): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i === bytes.length || bytes[i] === 0x0a) {
        try {
          strictUtf8.decode(bytes.subarray(start, i));
        } catch {
          break;
        }
        line++;
        start = i + 1;
      }
    }
    return fail(line, 'not valid UTF-8');
  }
}

/**
 * Parses a pointer file: its bytes (as read from disk or Git: invalid UTF-8 is an error) or its
 * text. `file` names the pointer in errors; `expectedPath`, when given, is the target name implied
 * by the pointer's own file name, which the `path` key must equal.
 */
export function parsePointer(input: string | Uint8Array, file: string, expectedPath?: string): Pointer {
  const fail = (line: number, message: string): never => {
    throw new MlvError('INVALID_POINTER', `${file}:${line}: ${message}`, {
      hint: 'restore the pointer from Git (git checkout -- <file>) or re-create it with mlv add',
      details: { file, line },
    });
  };
  if (typeof input !== 'string' && input.length > MAX_POINTER_BYTES) fail(1, `pointer file is larger than ${MAX_POINTER_BYTES} bytes`);
  const text = typeof input === 'string' ? input : decodePointer(input, fail);
  if (Buffer.byteLength(text) > MAX_POINTER_BYTES) fail(1, `pointer file is larger than ${MAX_POINTER_BYTES} bytes`);
  if (text.startsWith('\uFEFF')) fail(1, 'byte-order mark is not allowed');
  if (text.length === 0) fail(1, 'empty pointer file');
  if (!text.endsWith('\n')) fail(text.split('\n').length, 'the last line must end with a newline');

  const values = new Map<Key, { value: string; line: number }>();
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.includes('\r')) fail(line, 'carriage return (CRLF line ending) is not allowed');
    if (raw.includes('\0')) fail(line, 'NUL byte is not allowed');
    if (raw === '' || raw.startsWith('#')) return;
    const match = /^([a-z]+): (\S.*)$/s.exec(raw);
    if (!match) fail(line, `expected "key: value", found ${JSON.stringify(truncate(raw))}`);
    const [, key, value] = match as unknown as [string, string, string];
    if (!KNOWN_KEYS.has(key)) fail(line, `unknown key "${key}"`);
    if (values.has(key as Key)) fail(line, `duplicate key "${key}"`);
    if (/\s$/.test(value)) fail(line, 'trailing whitespace is not allowed');
    values.set(key as Key, { value, line });
  });

  const required = (key: Key): { value: string; line: number } => {
    const v = values.get(key);
    if (!v) fail(lines.length, `missing key "${key}"`);
    return v as { value: string; line: number };
  };

  const version = required('version');
  if (version.value !== String(POINTER_VERSION)) {
    fail(version.line, `unsupported pointer version ${JSON.stringify(version.value)} (this mlv reads version ${POINTER_VERSION}; upgrade mlv?)`);
  }
  const algo = required('hash');
  if (algo.value !== 'blake3') fail(algo.line, `unsupported hash algorithm ${JSON.stringify(algo.value)} (expected blake3)`);

  const kindV = required('kind');
  if (kindV.value !== 'file' && kindV.value !== 'dir') fail(kindV.line, `kind must be "file" or "dir", found ${JSON.stringify(kindV.value)}`);
  const kind = kindV.value as TargetKind;

  const pathV = required('path');
  const path = parseQuoted(pathV.value, (m) => fail(pathV.line, `path: ${m}`));
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path) || path.split(/[\\/]/).includes('..')) {
    fail(pathV.line, `path ${JSON.stringify(path)} escapes the repository`);
  }
  const nameProblem = badNameReason(path);
  if (nameProblem) fail(pathV.line, `path ${JSON.stringify(path)} is not a plain file or folder name: ${nameProblem}`);
  if (expectedPath !== undefined && path !== expectedPath) {
    fail(pathV.line, `path ${JSON.stringify(path)} does not match the pointer's file name (expected ${JSON.stringify(expectedPath)})`);
  }

  const idV = required('id');
  if (!isObjectId(idV.value)) fail(idV.line, `malformed id: ${describeBadId(idV.value)}`);

  const sizeV = required('size');
  const size = parseCount(sizeV.value, (m) => fail(sizeV.line, `size: ${m}`));

  const pointer: Pointer = { path, kind, id: idV.value as ObjectId, size };
  const filesV = values.get('files');
  if (kind === 'dir') {
    if (!filesV) fail(lines.length, 'missing key "files" (required for kind: dir)');
    pointer.files = parseCount(filesV!.value, (m) => fail(filesV!.line, `files: ${m}`));
  } else if (filesV) {
    fail(filesV.line, '"files" is only allowed for kind: dir');
  }
  const execV = values.get('executable');
  if (execV) {
    if (kind !== 'file') fail(execV.line, '"executable" is only allowed for kind: file');
    if (execV.value !== 'true') fail(execV.line, 'executable must be "true" (omit the key for false)');
    pointer.executable = true;
  }
  const descV = values.get('description');
  if (descV) {
    const description = parseQuoted(descV.value, (m) => fail(descV.line, `description: ${m}`));
    if (description.length > MAX_DESCRIPTION_CHARS) fail(descV.line, `description is longer than ${MAX_DESCRIPTION_CHARS} characters`);
    pointer.description = description;
  }
  return pointer;
}

function parseCount(value: string, fail: (message: string) => never): number {
  if (!/^(0|[1-9][0-9]*)$/.test(value)) fail(`expected a non-negative integer in decimal, found ${JSON.stringify(truncate(value))}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) fail(`${value} is larger than 2^53 - 1`);
  return n;
}

/** A YAML double-quoted scalar restricted to JSON string syntax. */
function parseQuoted(value: string, fail: (message: string) => never): string {
  if (!value.startsWith('"') || !value.endsWith('"') || value.length < 2) {
    fail('expected a double-quoted string');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    fail('malformed double-quoted string (JSON escapes only: \\" \\\\ \\n \\t \\uXXXX)');
  }
  if (typeof parsed !== 'string') fail('expected a double-quoted string');
  if (hasLoneSurrogate(parsed as string)) {
    fail('lone surrogate escapes are not allowed');
  }
  return parsed as string;
}

function truncate(s: string): string {
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}
