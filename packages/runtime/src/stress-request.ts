/**
 * The request modes' part of a client ring's options: a resolved protocol
 * (stress-protocol.ts) as the engine takes it (engine/client_req.h, through
 * the binding's `request` option). Every ring gets the same spec; the
 * engine builds, compiles and checks it (and refuses what its builders
 * refuse, which the validation in stress-http/redis/custom catches first).
 */
import type { NativeRequestSpec } from '@ringleader/core-native';
import type { ResolvedProtocol } from './stress-protocol.js';

/** Status codes 0..599 have a flag each (RL_HTTP_STATUS_SLOTS). */
const STATUS_SLOTS = 600;

export function requestSpec(p: ResolvedProtocol): NativeRequestSpec {
  switch (p.mode) {
    case 'http': {
      const statusOk = new Uint8Array(STATUS_SLOTS);
      for (const [lo, hi] of p.http.expectStatus) statusOk.fill(1, lo, hi + 1);
      const requests = p.targets.map((t) => ({ method: p.http.method, target: t.path, host: t.hostHeader, headers: p.http.headers, body: p.http.body }));
      return { http: { requests, statusOk } };
    }
    case 'redis':
      return {
        redis: {
          commands: p.redis.commands.map((c) => ({ args: c.args, inline: c.inline, expect: c.expect, word: c.word })),
          keyspace: p.redis.keyspace,
          dataSize: p.redis.dataSize,
        },
      };
    case 'custom':
      return { custom: { send: p.custom.send, framing: p.custom.framing, expect: p.custom.expect } };
  }
}
