/**
 * Installable packages (issue 9): pack the workspace as `pnpm -r pack` does,
 * install the tarballs with plain npm into a fresh project, with a PATH on
 * which the compilers, make and pkg-config fail, and use them as a user
 * would, on Node 20, 22 and 24 (the ones this machine lacks come from the registry's
 * `node@N` package, cached in .cache/node/ of the checkout). Then take the
 * addon away and check what the CLI and the install script still say.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import test from 'ava';
import { type CliRun, ROOT, runProcess } from './helpers.js';

const VERSIONS = [20, 22, 24];
const PACKAGES = ['@ringleader/core-native', '@ringleader/runtime', 'ringleader'];
const FIXTURES = join(ROOT, 'test', 'fixtures', 'install');
const TOOLS = ['cc', 'c++', 'gcc', 'g++', 'make', 'pkg-config'];

const work = mkdtempSync(join(tmpdir(), 'ringleader-install-'));
const packs = join(work, 'packs');
const shims = join(work, 'no-compiler');
/** the user's project: the packs installed with plain npm (Node-API: one install serves every Node version) */
const project = join(work, 'project');

test.after.always(() => rmSync(work, { recursive: true, force: true }));

/** The environment of a user's shell: no npm/pnpm run variables, the shims and `nodeDir` first on PATH. */
function userEnv(nodeDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm|pnpm)_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  env.PATH = [shims, nodeDir, process.env.PATH].join(delimiter);
  return env;
}

function show(r: CliRun): string {
  return `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

/** The `node` binary of `major`: this one, or the registry's node@major cached in .cache/node/. */
async function nodeBinary(major: number): Promise<string> {
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  const dir = join(ROOT, '.cache', 'node', String(major));
  const bin = join(dir, 'node_modules', '.bin', 'node');
  if (existsSync(bin)) {
    const v = await runProcess(bin, ['--version']);
    if (v.code === 0 && v.stdout.startsWith(`v${major}.`)) return bin;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "private": true }\n');
  const r = await runProcess('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `node@${major}`], { cwd: dir, timeoutMs: 120_000 });
  if (r.code !== 0 || !existsSync(bin)) throw new Error(`npm install node@${major} failed: ${show(r)}`);
  return bin;
}

test.before(async () => {
  mkdirSync(shims);
  for (const tool of TOOLS) writeFileSync(join(shims, tool), `#!/bin/sh\necho "${tool}: not on this machine (install.test.ts)" >&2\nexit 127\n`, { mode: 0o755 });
  // prepack builds the prebuild when it is older than the sources
  const r = await runProcess('pnpm', ['-r', 'pack', '--pack-destination', packs], { cwd: ROOT, timeoutMs: 170_000 });
  if (r.code !== 0) throw new Error(`pnpm -r pack failed: ${show(r)}`);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{ "name": "consumer", "private": true, "type": "module" }\n');
  for (const f of ['smoke.mjs', 'require.cjs', 'consumer.mts']) copyFileSync(join(FIXTURES, f), join(project, f));
  const inst = await runProcess('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs()], { cwd: project, env: userEnv(dirname(process.execPath)), timeoutMs: 120_000 });
  if (inst.code !== 0) throw new Error(`npm install of the packs failed: ${show(inst)}`);
});

function tarballs(): string[] {
  return readdirSync(packs)
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => join(packs, f));
}

async function tarList(tgz: string): Promise<string[]> {
  const r = await runProcess('tar', ['tzf', tgz]);
  return r.stdout.split('\n').filter(Boolean);
}

test.serial('the packs: one per package, with real dependency versions, LICENSE, README, metadata and the prebuild', async (t) => {
  t.is(tarballs().length, PACKAGES.length);
  for (const tgz of tarballs()) {
    const files = await tarList(tgz);
    const pkg = JSON.parse((await runProcess('tar', ['xzf', tgz, '-O', 'package/package.json'])).stdout);
    t.true(PACKAGES.includes(pkg.name), pkg.name);
    for (const f of ['package/LICENSE', 'package/README.md']) t.true(files.includes(f), `${pkg.name} ships ${f}`);
    t.is(pkg.license, 'MIT');
    t.truthy(pkg.repository?.url, `${pkg.name} repository`);
    t.true(Array.isArray(pkg.keywords) && pkg.keywords.length > 0, `${pkg.name} keywords`);
    t.is(pkg.engines?.node, '>=20.19');
    for (const [dep, range] of Object.entries<string>(pkg.dependencies ?? {})) t.false(range.startsWith('workspace:'), `${pkg.name} -> ${dep}@${range}`);
    // what users install needs no build tooling; node-addon-api's headers come
    // along so that `npm rebuild` (what the CLI advises where no prebuild loads) can build
    for (const dep of ['node-gyp', 'prebuildify']) t.false(dep in (pkg.dependencies ?? {}), `${pkg.name} depends on ${dep}`);
    if (pkg.name === '@ringleader/core-native') t.truthy(pkg.dependencies?.['node-addon-api'], 'core-native brings node-addon-api for a source build');
    if (pkg.name === '@ringleader/core-native')
      t.true(
        files.some((f) => /^package\/prebuilds\/linux-x64\/.*\.node$/.test(f)),
        'core-native ships a linux-x64 prebuild',
      );
  }
});

test.serial('the install: no compiler was run, the addon is the prebuild and links no liburing, the types pass tsc --strict', async (t) => {
  const env = userEnv(dirname(process.execPath));
  t.not((await runProcess('cc', ['--version'], { env })).code, 0, 'cc fails on this PATH');
  const pkgDir = join(project, 'node_modules', '@ringleader', 'core-native');
  t.false(existsSync(join(pkgDir, 'build')), 'nothing was built from source');
  const prebuilds = join(pkgDir, 'prebuilds', 'linux-x64');
  const ldd = await runProcess('ldd', [join(prebuilds, readdirSync(prebuilds)[0])], { env });
  t.is(ldd.code, 0, show(ldd));
  t.notRegex(ldd.stdout, /liburing/, 'liburing is linked into the addon, not loaded at run time');
  // the workspace's typescript and @types/node, the consumer's own strict config
  const tsconfig = {
    compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] },
    files: ['consumer.mts'],
  };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
  const tsc = await runProcess(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, env, timeoutMs: 90_000 });
  t.is(tsc.code, 0, show(tsc));
});

for (const major of VERSIONS) {
  test.serial(`Node ${major}: npx ringleader --version, doctor, demo; ESM, CJS, import('ringleader'); 2,000 verified echoes`, async (t) => {
    const node = await nodeBinary(major);
    const env = userEnv(dirname(node));
    const v = await runProcess('node', ['--version'], { env });
    t.true(v.stdout.startsWith(`v${major}.`), `node on PATH is ${v.stdout.trim()}`);

    const npx = (args: string[], timeoutMs = 30_000) => runProcess('npx', ['--no-install', 'ringleader', ...args], { cwd: project, env, timeoutMs });
    const version = await npx(['--version']);
    t.is(version.code, 0, show(version));
    t.is(version.stdout.trim(), '0.1.0');
    const doctor = await npx(['doctor']);
    t.is(doctor.code, 0, show(doctor));
    t.regex(doctor.stdout, /native addon\s+prebuilt/);
    t.regex(doctor.stdout, /verdict: ready/);
    // npx runs the installed command through its first line: node without the memory reducer
    t.regex(doctor.stdout, /V8 memory reducer\s+off/);
    const demo = await npx(['demo', '-d', '1s', '-w', '2', '-c', '8', '--json'], 60_000);
    t.is(demo.code, 0, show(demo));
    const d = JSON.parse(demo.stdout);
    t.true(d.messages > 0 && d.verifyFailures === 0 && d.errors === 0, demo.stdout);

    const smoke = await runProcess('node', ['smoke.mjs'], { cwd: project, env, timeoutMs: 60_000 });
    t.is(smoke.code, 0, show(smoke));
    t.deepEqual(JSON.parse(smoke.stdout), { ok: true, verified: 2000, failures: 0, errors: 0, forced: 0 });

    const cjs = await runProcess('node', ['require.cjs'], { cwd: project, env });
    t.is(cjs.code, 0, show(cjs));
    t.deepEqual(JSON.parse(cjs.stdout), { createServer: 'function', runStress: 'function', main: 'function' });

    // importing the CLI package runs nothing: it returns, and the process goes on
    const imp = await runProcess('node', ['--input-type=module', '-e', "const m = await import('ringleader'); console.log(Object.keys(m).sort().join(','), 'still running')"], { cwd: project, env });
    t.is(imp.code, 0, show(imp));
    t.is(imp.stdout.trim(), 'diagnose,main,printReport still running');
  });
}

test.serial('without the addon: --help, --version and doctor answer, other commands print one line, the install script says what is missing', async (t) => {
  const env = userEnv(dirname(process.execPath));
  const pkgDir = join(project, 'node_modules', '@ringleader', 'core-native');
  const aside = join(work, 'prebuilds-aside');
  renameSync(join(pkgDir, 'prebuilds'), aside);
  try {
    const npx = (args: string[]) => runProcess('npx', ['--no-install', 'ringleader', ...args], { cwd: project, env });
    const help = await npx(['--help']);
    t.is(help.code, 0, show(help));
    t.regex(help.stdout, /^Usage: ringleader/);
    t.regex(help.stdout, /doctor/);
    t.regex(help.stdout, /Only doctor works here: the native addon is missing: no prebuild for linux-x64/);
    const version = await npx(['-v']);
    t.is(version.code, 0, show(version));
    t.is(version.stdout.trim(), '0.1.0');
    const doctor = await npx(['doctor']);
    t.is(doctor.code, 1, show(doctor));
    t.regex(doctor.stdout, /\[FAIL\] native addon\s+missing/);
    t.regex(doctor.stdout, /native addon: the native addon is missing: .*npm rebuild @ringleader\/core-native/);
    for (const args of [
      ['echo', '--port', '0'],
      ['stress', '--help'],
    ]) {
      const r = await npx(args);
      t.is(r.code, 1, show(r));
      t.is(r.stdout, '');
      t.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      t.regex(r.stderr, new RegExp(`^ringleader: ${args[0]} cannot run: the native addon is missing: .*apt-get install liburing-dev`));
    }
    const imp = await runProcess('node', ['--input-type=module', '-e', "await import('ringleader'); console.log('still running')"], { cwd: project, env });
    t.is(imp.stdout.trim(), 'still running', show(imp));
    // no prebuild and no compiler: the install script names what is missing in one line, and fails
    const install = await runProcess('node', ['scripts/install.mjs'], { cwd: pkgDir, env });
    t.is(install.code, 1, show(install));
    t.is(install.stderr.trim().split('\n').length, 1, `one line: ${install.stderr}`);
    t.regex(
      install.stderr,
      /^ringleader: no prebuilt addon for linux-x64 \(glibc\) works here, and building it from source needs pkg-config, a C compiler, a C\+\+ compiler, make.*: apt-get install pkg-config gcc g\+\+ make/,
    );
  } finally {
    renameSync(aside, join(pkgDir, 'prebuilds'));
  }
});
