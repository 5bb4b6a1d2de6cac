/** Object ids are BLAKE3-256 digests written as 64 lower-case hex characters. */
export type ObjectId = string & { readonly __objectId: unique symbol };

export const ID_HEX_LENGTH = 64;
const ID_PATTERN = /^[0-9a-f]{64}$/;

export function isObjectId(value: string): value is ObjectId {
  return ID_PATTERN.test(value);
}

export function asObjectId(value: string): ObjectId {
  if (!isObjectId(value)) throw new TypeError(`not an object id: ${JSON.stringify(value)}`);
  return value;
}

/** Sharded relative location of an object: `ab/cdef...` (2 + 62 characters), shared by cache and remotes. */
export function objectRelPath(id: ObjectId): string {
  return `${id.slice(0, 2)}/${id.slice(2)}`;
}

/** Describes why a candidate id is malformed, for error messages. */
export function describeBadId(value: string): string {
  if (value.length !== ID_HEX_LENGTH) return `expected ${ID_HEX_LENGTH} hex characters, found ${value.length}`;
  if (/[A-F]/.test(value)) return 'upper-case hex is not allowed';
  return 'only the characters 0-9 and a-f are allowed';
}
