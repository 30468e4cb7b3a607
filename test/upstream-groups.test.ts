/**
 * Proxy upstream groups: groups in priority order, as HAProxy's backup
 * servers or Envoy's priorities. A new connection goes to the first group
 * with an upstream up; the next group serves only while every upstream of
 * the ones before it is down; when the primary comes back after its
 * back-off, new connections return to it.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '@ringleader/runtime';
import { echoOnce, runCli, sleep, waitFor } from './helpers.js';
import { jsonCli, taggedUpstream } from './ops-helpers.js';

test('the backup group serves, byte-exact, only while the primary is down; new connections return to the primary after its back-off', async (t) => {
  let primary = await taggedUpstream();
  const backup = await taggedUpstream();
  const primaryPort = primary.port;
  const server = createServer({
    port: 0,
    workers: 1,
    handler: 'proxy',
    upstreamGroups: [
      { name: 'primary', upstreams: [`127.0.0.1:${primaryPort}`] },
      { name: 'backup', upstreams: [`127.0.0.1:${backup.port}`] },
    ],
    upstreamMaxFails: 1,
    upstreamBackoff: 300,
    upstreamBackoffMax: 300,
    admin: '127.0.0.1:0',
  });
  const { port } = await server.listen();
  // listen() probed each upstream once
  await sleep(100);
  const p0 = primary.connections;
  const b0 = backup.connections;
  const exact = async (tag: string) => {
    const payload = Buffer.from(`${tag} ${'x'.repeat(3000)}\n`);
    const r = await echoOnce(port, payload, 5000);
    t.is(r.error, undefined, tag);
    t.is(r.received, r.sent, `${tag}: byte-exact`);
    t.is(r.bytes, payload.length);
  };
  try {
    for (let i = 0; i < 5; i++) await exact(`up ${i}`);
    t.is(primary.connections - p0, 5, 'all go to the primary while it is up');
    t.is(backup.connections - b0, 0, 'the backup takes nothing while the primary is up');
    const groups = server.stats().upstreams?.map((u) => [u.group, u.address]);
    t.deepEqual(groups, [
      ['primary', `127.0.0.1:${primaryPort}`],
      ['backup', `127.0.0.1:${backup.port}`],
    ]);

    await primary.close();
    for (let i = 0; i < 10; i++) await exact(`down ${i}`);
    t.is(backup.connections - b0, 10, 'with the primary down every connection reached the backup');
    t.is(server.stats().upstreams?.[0].down, 1, 'the primary is marked down');
    // /metrics labels each upstream with its group
    const metrics = await (await fetch(`http://127.0.0.1:${server.adminAddress()!.port}/metrics`)).text();
    const state = metrics.split('\n').filter((l) => l.startsWith('ringleader_upstream_state{'));
    t.true(
      state.some((l) => l.includes(`upstream="127.0.0.1:${primaryPort}"`) && l.includes('group="primary"') && l.includes('state="down"') && l.endsWith(' 1')),
      state.join('\n'),
    );
    t.true(
      state.some((l) => l.includes('group="backup"') && l.includes('state="up"') && l.endsWith(' 1')),
      state.join('\n'),
    );

    primary = await taggedUpstream(primaryPort);
    await sleep(400); // its back-off passes
    for (let i = 0; i < 5; i++) await exact(`back ${i}`);
    t.is(primary.connections, 5, 'new connections return to the primary');
    t.is(backup.connections - b0, 10);
    t.is(server.stats().upstreams?.[0].down, 0);
  } finally {
    await server.close({ timeout: 500 });
    await primary.close();
    await backup.close();
  }
});

test('upstream group options: bad ones are errors naming the key path', (t) => {
  const proxy = (o: object) => () => createServer({ handler: 'proxy', ...o });
  t.throws(
    proxy({
      upstreamGroups: [
        { name: 'a', upstreams: ['127.0.0.1:1'] },
        { name: 'b', upstreams: ['nope'] },
      ],
    }),
    {
      message: /option "upstreamGroups\[1\]\.upstreams\[0\]"/,
    },
  );
  t.throws(
    proxy({
      upstreamGroups: [
        { name: 'a', upstreams: ['127.0.0.1:1'] },
        { name: 'a', upstreams: ['127.0.0.1:2'] },
      ],
    }),
    { message: /upstreamGroups\[1\]\.name.*no other group/ },
  );
  t.throws(proxy({ upstreamGroups: [{ name: 'a', upstreams: [] }] }), { message: /upstreamGroups\[0\]\.upstreams/ });
  t.throws(proxy({ upstreamGroups: [{ name: 'a', upstreams: ['127.0.0.1:1'], weight: 2 }] }), { message: /upstreamGroups\[0\]\.weight/ });
  const nine = Array.from({ length: 9 }, (_, i) => ({ name: `g${i}`, upstreams: [`127.0.0.1:${i + 1}`] }));
  t.throws(proxy({ upstreamGroups: nine }), { message: /at most 8 groups/ });
  t.throws(() => createServer({ handler: 'echo', upstreamGroups: [] }), { message: /upstreamGroups/ });
});

test('CLI: --backup and upstreamGroups in --config; a bad group exits 2 naming the file and key path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rl-groups-'));
  try {
    const file = join(dir, 'proxy.yaml');
    writeFileSync(file, 'upstreamGroups:\n  - name: primary\n    upstreams: ["127.0.0.1:1"]\n  - name: backup\n    upstreams: ["127.0.0.1:2", "nope"]\n');
    const bad = await runCli(['proxy', '--config', file, '--port', '0']);
    t.is(bad.code, 2, bad.stderr);
    t.regex(bad.stderr, /--config .*proxy\.yaml: upstreamGroups\[1\]\.upstreams\[1\]: must be/);
    const backup = await runCli(['proxy', '-u', '127.0.0.1:1', '--backup', 'nope', '--port', '0']);
    t.is(backup.code, 2, backup.stderr);
    t.regex(backup.stderr, /--backup/);
    const onlyBackup = await runCli(['proxy', '--backup', '127.0.0.1:2', '--port', '0']);
    t.is(onlyBackup.code, 2);
    t.regex(onlyBackup.stderr, /--upstream HOST:PORT is required.*--backup/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: upstream groups from a YAML --config serve; the primary going down is an upstream-down event naming its group, and the backup answers', async (t) => {
  const primary = await taggedUpstream();
  const backup = await taggedUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'rl-groups-'));
  const file = join(dir, 'proxy.yaml');
  writeFileSync(
    file,
    `upstreamGroups:\n  - name: primary\n    upstreams: ["127.0.0.1:${primary.port}"]\n  - name: standby\n    upstreams: ["127.0.0.1:${backup.port}"]\nworkers: 1\nupstream-max-fails: 1\n`,
  );
  const cli = jsonCli(['proxy', '--config', file, '--port', '0', '--interval', '200ms']);
  try {
    const { port } = (await cli.line('listening')) as { port: number };
    const p0 = primary.connections;
    const r = await echoOnce(port, Buffer.from('to the primary'));
    t.is(r.received, r.sent);
    t.is(primary.connections, p0 + 1);
    await primary.close();
    const b0 = backup.connections;
    const r2 = await echoOnce(port, Buffer.from('to the standby'));
    t.is(r2.received, r2.sent);
    t.is(backup.connections, b0 + 1);
    const down = await cli.line('upstream-down', 5000);
    t.like(down, { upstream: `127.0.0.1:${primary.port}`, group: 'primary' });
    t.true(await waitFor(() => cli.lines.some((l) => l.event === 'stats'), 3000));
    const st = cli.lines.filter((l) => l.event === 'stats').at(-1) as { upstreams: { group: string }[] };
    t.deepEqual(
      st.upstreams.map((u) => u.group),
      ['primary', 'standby'],
    );
  } finally {
    cli.p.kill('SIGTERM');
    await cli.exited;
    rmSync(dir, { recursive: true, force: true });
    await backup.close();
  }
});
