/**
 * Custom request/response options of `ringleader stress` (what tcpkali and
 * memtier users reach for): the request (`send`, with `{seq}` and `{conn}`
 * placeholders), how a response ends (`expectBytes`, `expectDelimiter`,
 * `lengthPrefix`), and optionally the exact response (`expect`).
 *
 * Pure validation: the engine compiles the results (engine/proto/template.h
 * rl_tpl_compile_raw for `send`, engine/proto/frame.h for the framing),
 * and refuses the same inconsistencies; checking them here first gives a
 * message that names the options. Errors are TypeError/RangeError naming
 * the option, as everywhere in the runtime.
 */
import { readFileSync } from 'node:fs';
import { conflicting, int, invalidType, oneOf, outOfRange } from './validate.js';

/** The placeholders of a `send` template (engine/proto/template.c knows the same two). */
export const SEND_PLACEHOLDERS: readonly string[] = ['seq', 'conn'];

export const LENGTH_PREFIXES = ['u8', 'u16be', 'u16le', 'u32be', 'u32le'] as const;
export type LengthPrefix = (typeof LENGTH_PREFIXES)[number];
const PREFIX_BYTES: Record<LengthPrefix, number> = { u8: 1, u16be: 2, u16le: 2, u32be: 4, u32le: 4 };

/** The longest delimiter the engine looks for (RL_FRAME_DELIM_MAX). */
export const MAX_DELIMITER = 16;
/** Default bound on a delimited or length-prefixed response. */
export const DEFAULT_MAX_FRAME = 16 << 20;
const MAX_LENGTH = 2 ** 32;

/** Where one response ends. */
export type Framing = { kind: 'bytes'; bytes: number } | { kind: 'delimiter'; delimiter: Buffer; maxFrame: number } | { kind: 'prefix'; prefix: LengthPrefix; inclusive: boolean; maxFrame: number };

export interface CustomOptions {
  /** The request: text (escapes \r \n \t \0 \\ \xHH), `hex:...` or `@FILE`; `{seq}` and `{conn}` are replaced. */
  send?: string;
  /** Every response is exactly this many bytes. */
  expectBytes?: number;
  /** A response ends with these bytes (1 to 16; text with escapes, or `hex:...`). */
  expectDelimiter?: string;
  /** A response starts with its length: `u8`, `u16be`, `u16le`, `u32be`, `u32le`. */
  lengthPrefix?: string;
  /** The length prefix counts itself too. Default false. */
  lengthIncludesPrefix?: boolean;
  /** The longest delimited or length-prefixed response. Default 16 MiB. */
  maxFrame?: number;
  /** Every response must be exactly these bytes (text with escapes, `hex:...` or `@FILE`). */
  expect?: string;
}

export interface ResolvedCustom {
  /** The template, compiled by the engine (placeholders still in it). */
  send: Buffer;
  framing: Framing;
  expect: Buffer | null;
}

/**
 * A byte argument as people type it: `hex:48 65 6c` (hex digits, blanks
 * allowed between pairs), `@FILE` (the file's bytes), or text, in which
 * `\r \n \t \0 \\ \xHH` are escapes (a shell passes `\r\n` as four
 * characters). `text` says which it was: placeholders are only checked
 * strictly in text, where a typo is likely; a file may contain braces.
 */
export function parseBytes(name: string, v: unknown): { bytes: Buffer; text: boolean } {
  if (typeof v !== 'string' || v.length === 0) throw invalidType(name, 'a non-empty string (text, "hex:..." or "@FILE")', v);
  let bytes: Buffer;
  let text = false;
  if (v.startsWith('hex:')) {
    const hex = v.slice(4).replace(/[\s:]/g, '');
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw outOfRange(name, '"hex:" followed by pairs of hex digits', v);
    bytes = Buffer.from(hex, 'hex');
  } else if (v.startsWith('@')) {
    try {
      bytes = readFileSync(v.slice(1));
    } catch (e) {
      throw outOfRange(name, `"@" followed by a readable file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, v);
    }
  } else {
    bytes = decodeEscapes(name, v);
    text = true;
  }
  if (!bytes.length) throw outOfRange(name, 'at least one byte', v);
  return { bytes, text };
}

const ESCAPES: Record<string, number> = { r: 13, n: 10, t: 9, '0': 0, '\\': 92 };

/** text with backslash escapes -> bytes (UTF-8 for everything else) */
function decodeEscapes(name: string, v: string): Buffer {
  const out: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== '\\') continue;
    out.push(Buffer.from(v.slice(from, i), 'utf8'));
    const c = v[i + 1];
    if (c === 'x' && /^[0-9a-fA-F]{2}$/.test(v.slice(i + 2, i + 4))) {
      out.push(Buffer.from([parseInt(v.slice(i + 2, i + 4), 16)]));
      i += 3;
    } else if (c !== undefined && c in ESCAPES) {
      out.push(Buffer.from([ESCAPES[c]]));
      i += 1;
    } else {
      throw outOfRange(name, 'text whose escapes are \\r \\n \\t \\0 \\\\ \\xHH', v);
    }
    from = i + 1;
  }
  out.push(Buffer.from(v.slice(from), 'utf8'));
  return Buffer.concat(out);
}

/** `{word}` in text must be one of `known`, so `{sequence}` is caught rather than sent */
export function checkPlaceholders(name: string, text: string, known: readonly string[]): void {
  for (const m of text.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    if (!known.includes(m[1])) {
      throw outOfRange(name, `a template whose placeholders are ${known.map((k) => `{${k}}`).join(' and ')}`, m[0]);
    }
  }
}

/** the value of a length prefix at the start of b */
function prefixValue(prefix: LengthPrefix, b: Buffer): number {
  switch (prefix) {
    case 'u8':
      return b.readUInt8(0);
    case 'u16be':
      return b.readUInt16BE(0);
    case 'u16le':
      return b.readUInt16LE(0);
    case 'u32be':
      return b.readUInt32BE(0);
    case 'u32le':
      return b.readUInt32LE(0);
  }
}

const FRAMINGS = ['expectBytes', 'expectDelimiter', 'lengthPrefix'] as const;

/** Validate the custom-mode options; `send` is required. */
export function resolveCustom(o: CustomOptions): ResolvedCustom {
  if (o.send === undefined) throw invalidType('send', 'the request to send (text, "hex:..." or "@FILE")', undefined);
  const send = parseBytes('send', o.send);
  if (send.text) checkPlaceholders('send', send.bytes.toString('latin1'), SEND_PLACEHOLDERS);
  const expect = o.expect === undefined ? null : parseBytes('expect', o.expect).bytes;

  const given = FRAMINGS.filter((k) => o[k] !== undefined);
  if (given.length > 1) throw conflicting(given[0], given[1], 'a response is delimited one way');
  if (o.lengthIncludesPrefix !== undefined && o.lengthPrefix === undefined) {
    throw outOfRange('lengthIncludesPrefix', 'left out without option "lengthPrefix"', o.lengthIncludesPrefix);
  }
  if (o.lengthIncludesPrefix !== undefined && typeof o.lengthIncludesPrefix !== 'boolean') {
    throw invalidType('lengthIncludesPrefix', 'a boolean', o.lengthIncludesPrefix);
  }
  if (o.maxFrame !== undefined && o.expectDelimiter === undefined && o.lengthPrefix === undefined) {
    throw outOfRange('maxFrame', 'left out without option "expectDelimiter" or "lengthPrefix"', o.maxFrame);
  }
  const maxFrame = int('maxFrame', o.maxFrame, DEFAULT_MAX_FRAME, 1, MAX_LENGTH);

  let framing: Framing;
  if (o.expectBytes !== undefined) {
    const bytes = int('expectBytes', o.expectBytes, 0, 1, MAX_LENGTH);
    if (expect && expect.length !== bytes) {
      throw conflicting('expect', 'expectBytes', `the expected response is ${expect.length} bytes, not ${bytes}`);
    }
    framing = { kind: 'bytes', bytes };
  } else if (o.expectDelimiter !== undefined) {
    const delimiter = parseBytes('expectDelimiter', o.expectDelimiter).bytes;
    if (delimiter.length > MAX_DELIMITER) throw outOfRange('expectDelimiter', `1 to ${MAX_DELIMITER} bytes`, o.expectDelimiter);
    if (maxFrame < delimiter.length) throw outOfRange('maxFrame', `at least the delimiter's ${delimiter.length} bytes`, o.maxFrame);
    if (expect) {
      const at = expect.indexOf(delimiter);
      if (at < 0 || at + delimiter.length !== expect.length) {
        throw conflicting('expect', 'expectDelimiter', 'the expected response must end with the delimiter, and contain it only there');
      }
      if (expect.length > maxFrame) throw conflicting('expect', 'maxFrame', `the expected response is longer than ${maxFrame} bytes`);
    }
    framing = { kind: 'delimiter', delimiter, maxFrame };
  } else if (o.lengthPrefix !== undefined) {
    const prefix = oneOf('lengthPrefix', o.lengthPrefix, 'u32be', LENGTH_PREFIXES);
    const inclusive = o.lengthIncludesPrefix ?? false;
    const pl = PREFIX_BYTES[prefix];
    if (maxFrame < pl) throw outOfRange('maxFrame', `at least the prefix's ${pl} bytes`, o.maxFrame);
    if (expect) {
      const own = expect.length >= pl ? prefixValue(prefix, expect) + (inclusive ? 0 : pl) : -1;
      if (own !== expect.length) {
        throw conflicting('expect', 'lengthPrefix', `the expected response's own ${prefix} prefix must give its length (${expect.length} bytes)`);
      }
      if (expect.length > maxFrame) throw conflicting('expect', 'maxFrame', `the expected response is longer than ${maxFrame} bytes`);
    }
    framing = { kind: 'prefix', prefix, inclusive, maxFrame };
  } else if (expect) {
    framing = { kind: 'bytes', bytes: expect.length }; /* the expected response says how long one is */
  } else {
    throw outOfRange('send', 'given with a response framing: option "expectBytes", option "expectDelimiter", option "lengthPrefix" or option "expect"', o.send);
  }
  return { send: send.bytes, framing, expect };
}
