/**
 * Redis (RESP2) options of `ringleader stress`: commands from templates
 * (`command`, e.g. `SET key:__rand__ __data__`) or redis-benchmark's named
 * tests (`tests`, e.g. `ping,set,get`), the key space and the payload size.
 *
 * Pure validation. The engine compiles each command (engine/proto/
 * template.h rl_tpl_compile_resp: `__rand__`/`__rand_int__` become a
 * 12-digit key number in [0, keyspace), `__data__` becomes `dataSize`
 * bytes) and checks each reply's kind against `expect` (engine/proto/
 * resp.h: a test's, or a known command's, COMMAND_REPLIES); an error reply
 * always counts as an error.
 */
import { conflicting, int, invalidType, outOfRange } from './validate.js';

/** Placeholders of a command template (the engine knows the same three). */
export const COMMAND_PLACEHOLDERS: readonly string[] = ['rand', 'rand_int', 'data'];

/** What a reply may be; the engine has one bit for each (RL_RESP_T_* in engine/proto/resp.h). */
export type ReplyKind = 'simple' | 'error' | 'integer' | 'bulk' | 'null-bulk' | 'array' | 'null-array';

export interface RedisCommand {
  /** How it is reported: the test name (`set`) or the command's first word (`SET`). */
  name: string;
  /** The arguments, sent as a RESP array of bulk strings... */
  args?: Buffer[];
  /** ...or the bytes of an inline command (redis-benchmark's PING_INLINE). */
  inline?: Buffer;
  /** The reply kinds that count as success; null: any reply that is not an error. */
  expect: ReplyKind[] | null;
  /** The first word a simple-string reply must have (`OK`, `PONG`), or null. */
  word: string | null;
}

interface Test {
  args?: string[];
  inline?: string;
  expect: ReplyKind[];
  word?: string;
}

const BULK: ReplyKind[] = ['bulk', 'null-bulk'];
const lrange = (n: number): Test => ({ args: ['LRANGE', 'mylist', '0', String(n - 1)], expect: ['array'] });

/** redis-benchmark's tests, with the keys it uses (its `{tag}` is empty outside a cluster). */
export const REDIS_TESTS: Readonly<Record<string, Test>> = {
  ping_inline: { inline: 'PING\r\n', expect: ['simple'], word: 'PONG' },
  ping_mbulk: { args: ['PING'], expect: ['simple'], word: 'PONG' },
  set: { args: ['SET', 'key:__rand_int__', '__data__'], expect: ['simple'], word: 'OK' },
  get: { args: ['GET', 'key:__rand_int__'], expect: BULK },
  incr: { args: ['INCR', 'counter:__rand_int__'], expect: ['integer'] },
  lpush: { args: ['LPUSH', 'mylist', '__data__'], expect: ['integer'] },
  rpush: { args: ['RPUSH', 'mylist', '__data__'], expect: ['integer'] },
  lpop: { args: ['LPOP', 'mylist'], expect: BULK },
  rpop: { args: ['RPOP', 'mylist'], expect: BULK },
  sadd: { args: ['SADD', 'myset', 'element:__rand_int__'], expect: ['integer'] },
  hset: { args: ['HSET', 'myhash', 'element:__rand_int__', '__data__'], expect: ['integer'] },
  spop: { args: ['SPOP', 'myset'], expect: BULK },
  zadd: { args: ['ZADD', 'myzset', '0', 'element:__rand_int__'], expect: ['integer'] },
  zpopmin: { args: ['ZPOPMIN', 'myzset'], expect: ['array'] },
  lrange_100: lrange(100),
  lrange_300: lrange(300),
  lrange_500: lrange(500),
  lrange_600: lrange(600),
  mset: { args: ['MSET', ...Array.from({ length: 10 }, () => ['key:__rand_int__', '__data__']).flat()], expect: ['simple'], word: 'OK' },
};

const ARRAY: ReplyKind[] = ['array', 'null-array'];
const INTEGER: ReplyKind[] = ['integer'];

/**
 * The replies a --command template's reply is checked against, by its
 * command (the RESP2 replies Redis documents for it); a command not listed
 * here is checked only for error replies. Where options change the reply
 * (SET ... GET, LPOP key count) every documented form is allowed.
 */
const COMMAND_REPLIES: Readonly<Record<string, { expect: ReplyKind[]; word?: string }>> = {
  SET: { expect: ['simple', ...BULK] },
  MSET: { expect: ['simple'], word: 'OK' },
  ECHO: { expect: ['bulk'] },
  ...Object.fromEntries(['GET', 'GETDEL', 'GETSET', 'HGET', 'LINDEX'].map((c) => [c, { expect: BULK }])),
  ...Object.fromEntries(['LPOP', 'RPOP', 'SPOP'].map((c) => [c, { expect: [...BULK, ...ARRAY] }])),
  ...Object.fromEntries(['LRANGE', 'ZRANGE', 'SMEMBERS', 'KEYS', 'MGET', 'HGETALL', 'HMGET', 'ZPOPMIN', 'ZPOPMAX'].map((c) => [c, { expect: ARRAY }])),
  ...Object.fromEntries(
    [
      'INCR',
      'DECR',
      'INCRBY',
      'DECRBY',
      'HINCRBY',
      'LPUSH',
      'RPUSH',
      'SADD',
      'SREM',
      'HSET',
      'HDEL',
      'ZADD',
      'ZREM',
      'DEL',
      'UNLINK',
      'EXISTS',
      'LLEN',
      'SCARD',
      'HLEN',
      'ZCARD',
      'STRLEN',
      'APPEND',
      'SETNX',
      'EXPIRE',
      'PUBLISH',
    ].map((c) => [c, { expect: INTEGER }]),
  ),
};

/** What a --command template's reply must be: PING alone answers +PONG, PING msg a bulk string; a listed command its documented kinds */
function commandReply(args: Buffer[]): { expect: ReplyKind[] | null; word: string | null } {
  const cmd = args[0].toString('latin1').toUpperCase();
  if (cmd === 'PING') return args.length === 1 ? { expect: ['simple'], word: 'PONG' } : { expect: ['bulk'], word: null };
  const known = COMMAND_REPLIES[cmd];
  return known ? { expect: known.expect, word: known.word ?? null } : { expect: null, word: null };
}

/** Names that select several tests, as in redis-benchmark. */
const TEST_GROUPS: Readonly<Record<string, string[]>> = {
  ping: ['ping_inline', 'ping_mbulk'],
  lrange: ['lrange_100', 'lrange_300', 'lrange_500', 'lrange_600'],
};

export interface RedisOptions {
  /** Command templates, e.g. `SET key:__rand__ __data__` (quotes group words, as in redis-cli). */
  command?: string | string[];
  /** redis-benchmark tests: `ping,set,get`, or an array of names. */
  tests?: string | string[];
  /** `__rand__` draws keys from [0, keyspace). Default 1 (one key, as redis-benchmark without -r). */
  keyspace?: number;
  /** `__data__` is this many bytes. Default 3 (redis-benchmark's -d). */
  dataSize?: number;
}

export interface ResolvedRedis {
  /** Run one after another, as redis-benchmark does, or mixed: the runner decides. */
  commands: RedisCommand[];
  /** the redis-benchmark test names the commands are (`set`, or `ping_inline,ping_mbulk` mixed); null for command templates */
  tests: string | null;
  keyspace: number;
  dataSize: number;
}

/** 10^12: what the 12 digits of a `__rand__` key hold (RL_TPL_KEYSPACE_MAX). */
export const MAX_KEYSPACE = 1e12;
/** Redis's own limit on a bulk string (proto-max-bulk-len). */
export const MAX_DATA_SIZE = 512 << 20;

const QUOTED_ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07', '"': '"', '\\': '\\' };

/**
 * A command line split into arguments as redis-cli splits it: blanks
 * separate words; "double quotes" take \n \r \t \b \a \" \\ and \xHH
 * escapes; 'single quotes' are literal except \'; a closing quote must end
 * the word.
 */
export function splitCommand(name: string, line: string): Buffer[] {
  const args: Buffer[] = [];
  const bad = (why: string) => outOfRange(name, `a command line (${why})`, line);
  let i = 0;
  for (;;) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length) break;
    const parts: Buffer[] = [];
    let plain = '';
    const flush = () => {
      if (plain) parts.push(Buffer.from(plain, 'utf8'));
      plain = '';
    };
    while (i < line.length && !/\s/.test(line[i])) {
      const q = line[i];
      if (q !== '"' && q !== "'") {
        plain += line[i++];
        continue;
      }
      i++;
      for (;;) {
        if (i >= line.length) throw bad(`unterminated ${q === '"' ? 'double' : 'single'} quote`);
        const c = line[i];
        if (c === q) {
          i++;
          break;
        }
        if (c === '\\' && q === '"') {
          const e = line[i + 1];
          const hex = line.slice(i + 2, i + 4);
          if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(hex)) {
            flush();
            parts.push(Buffer.from([parseInt(hex, 16)]));
            i += 4;
          } else if (e !== undefined && e in QUOTED_ESCAPES) {
            plain += QUOTED_ESCAPES[e];
            i += 2;
          } else {
            plain += c;
            i++;
          }
        } else if (c === '\\' && q === "'" && line[i + 1] === "'") {
          plain += "'";
          i += 2;
        } else {
          plain += c;
          i++;
        }
      }
      if (i < line.length && !/\s/.test(line[i])) throw bad('a closing quote must end its word');
    }
    flush();
    args.push(Buffer.concat(parts));
  }
  if (!args.length) throw bad('no words');
  return args;
}

/** `__word__` in an argument must be a known placeholder, so a typo is caught rather than sent */
export function checkCommandPlaceholders(name: string, args: Buffer[]): void {
  for (const a of args) {
    for (const m of a.toString('latin1').matchAll(/__([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)__/g)) {
      if (!COMMAND_PLACEHOLDERS.includes(m[1])) {
        throw outOfRange(name, 'a command whose placeholders are __rand__ (or __rand_int__) and __data__', m[0]);
      }
    }
  }
}

/** redis-benchmark test names (a comma list or an array; `ping` and `lrange` select groups) -> tests */
export function parseTests(name: string, v: string | string[]): RedisCommand[] {
  const names = (Array.isArray(v) ? v : [v]).flatMap((p) => {
    if (typeof p !== 'string') throw invalidType(name, 'a comma list of test names such as "ping,set,get"', p);
    return p.split(',').map((s) => s.trim().toLowerCase());
  });
  const known = [...Object.keys(TEST_GROUPS), ...Object.keys(REDIS_TESTS)];
  const out: RedisCommand[] = [];
  for (const n of names) {
    if (!n) throw outOfRange(name, 'a comma list of test names without empty entries', v);
    const group = TEST_GROUPS[n] ?? (n in REDIS_TESTS ? [n] : null);
    if (!group) throw outOfRange(name, `test names from: ${known.join(', ')}`, n);
    for (const g of group) {
      if (out.some((c) => c.name === g)) continue;
      const t = REDIS_TESTS[g];
      out.push({
        name: g,
        args: t.args?.map((a) => Buffer.from(a)),
        inline: t.inline === undefined ? undefined : Buffer.from(t.inline),
        expect: t.expect,
        word: t.word ?? null,
      });
    }
  }
  return out;
}

/**
 * `-t` is wrk's thread count and redis-benchmark's test list: a number is
 * threads, anything else is tests (the command line decides with this).
 */
export function threadsOrTests(v: string): { threads: number } | { tests: string } {
  return /^\s*\d+\s*$/.test(v) ? { threads: Number(v) } : { tests: v };
}

/** Validate the Redis options. With neither `command` nor `tests` the load is PING (`ping_mbulk`). */
export function resolveRedis(o: RedisOptions): ResolvedRedis {
  if (o.command !== undefined && o.tests !== undefined) throw conflicting('command', 'tests', 'give commands or tests, not both');
  let commands: RedisCommand[];
  if (o.command !== undefined) {
    const list = Array.isArray(o.command) ? o.command : [o.command];
    if (!list.length) throw outOfRange('command', 'at least one command', o.command);
    commands = list.map((c) => {
      if (typeof c !== 'string') throw invalidType('command', 'a command line such as "SET key:__rand__ __data__"', c);
      const args = splitCommand('command', c);
      checkCommandPlaceholders('command', args);
      return { name: args[0].toString('utf8').toUpperCase(), args, ...commandReply(args) };
    });
  } else {
    commands = parseTests('tests', o.tests ?? 'ping_mbulk');
  }
  return {
    commands,
    tests: o.command === undefined ? commands.map((c) => c.name).join(',') : null,
    keyspace: int('keyspace', o.keyspace, 1, 1, MAX_KEYSPACE),
    dataSize: int('dataSize', o.dataSize, 3, 0, MAX_DATA_SIZE),
  };
}
