/* frame.ts - finds where one MessagePack object ends in a byte buffer,
 * without decoding it and without touching a socket: bytes in, a length out.
 * The connection uses it to cut the reply stream into whole messages before
 * handing each one to the decoder. */

/** The bytes are not MessagePack, or declare more than the limit allows. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/** Largest message accepted from the server by default: far above any reply
 * noormd builds, small enough that a corrupt length cannot make us buffer
 * gigabytes. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;

function readLen(buf: Uint8Array, at: number, size: number): number {
  if (size === 1) return buf[at]!;
  if (size === 2) return (buf[at]! << 8) | buf[at + 1]!;
  return ((buf[at]! << 24) >>> 0) + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
}

/**
 * Returns the length of the MessagePack object starting at `start`, or 0 when
 * `buf` does not hold all of it yet. Throws FrameError for the reserved byte
 * 0xc1 or an object larger than `limit` bytes.
 *
 * It keeps one counter of objects still to read instead of a stack: a map of
 * n pairs adds 2n, an array of n adds n.
 */
export function frameLength(buf: Uint8Array, start: number, limit: number = DEFAULT_MAX_FRAME): number {
  const end = buf.length;
  let pos = start;
  let todo = 1;
  while (todo > 0) {
    if (pos >= end) return 0;
    const b = buf[pos]!;
    let head = 1; // type byte plus length/type fields
    let body = 0; // payload bytes
    let items = 0; // nested objects that follow
    let lenAt = 0; // bytes of the length field after the type byte (0: none)
    if (b <= 0x7f || b >= 0xe0) {
      // positive or negative fixint
    } else if (b <= 0x8f) {
      items = (b & 0x0f) * 2;
    } else if (b <= 0x9f) {
      items = b & 0x0f;
    } else if (b <= 0xbf) {
      body = b & 0x1f;
    } else {
      switch (b) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          break;
        case 0xc1:
          throw new FrameError('reserved type byte 0xc1 in a message from noormd');
        case 0xc4: case 0xc5: case 0xc6: // bin 8/16/32
          lenAt = 1 << (b - 0xc4);
          break;
        case 0xc7: case 0xc8: case 0xc9: // ext 8/16/32: length, then the type byte
          lenAt = 1 << (b - 0xc7);
          head = 1 + lenAt + 1;
          break;
        case 0xca: body = 4; break; // float 32
        case 0xcb: body = 8; break; // float 64
        case 0xcc: case 0xcd: case 0xce: case 0xcf: // uint 8..64
          body = 1 << (b - 0xcc);
          break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: // int 8..64
          body = 1 << (b - 0xd0);
          break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: // fixext 1..16
          head = 2;
          body = 1 << (b - 0xd4);
          break;
        case 0xd9: case 0xda: case 0xdb: // str 8/16/32
          lenAt = 1 << (b - 0xd9);
          break;
        case 0xdc: case 0xdd: // array 16/32
          lenAt = b === 0xdc ? 2 : 4;
          break;
        case 0xde: case 0xdf: // map 16/32
          lenAt = b === 0xde ? 2 : 4;
          break;
      }
    }
    if (lenAt > 0) {
      if (pos + 1 + lenAt > end) return 0;
      const n = readLen(buf, pos + 1, lenAt);
      if (head === 1) head = 1 + lenAt;
      if (b >= 0xdc && b <= 0xdf) items = b >= 0xde ? n * 2 : n;
      else body = n;
    }
    // Every nested object takes at least one byte: a count beyond the limit
    // is refused before it is waited for.
    if (body + items > limit || pos + head + body - start > limit)
      throw new FrameError(`a message from noormd is larger than ${limit} bytes`);
    pos += head + body;
    if (pos > end) return 0;
    todo += items - 1;
  }
  return pos - start;
}
