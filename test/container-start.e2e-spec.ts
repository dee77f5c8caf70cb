/**
 * The container's start-up, checked without a Docker engine: the Dockerfile's CMD is run here,
 * on the host, with the image's ENV and the compose file's environment for `kv`, a temporary
 * directory standing in for the /data volume. It must serve /_/health, stop with exit code 0
 * on SIGTERM, as `docker stop` asks it to, and find its keys again when started once more on
 * the same directory. The image's HEALTHCHECK command is run against it too. The compose file
 * is checked for its services, profiles and settings, and validated by `docker-compose
 * config` where that binary exists (.ci/run installs it). The monitoring files in deploy/ are
 * checked against the series a running server exports, and by `promtool` where it exists.
 *
 * Needs a build first: `npm run build && npx jest --config ./test/jest-e2e.json --runInBand
 * test/container-start`.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { delay, request } from './support/http';
import { freePort, isAlive } from './support/launcher';

const ROOT = join(__dirname, '..');

// ---------------------------------------------------------------------------------------------
// A Dockerfile reader: enough for this project's Dockerfile (continuations, comments, stages).

interface Instruction {
  keyword: string;
  args: string;
}

/** The instructions of each build stage, in order; a stage starts at each FROM. */
function readDockerfile(path: string): Instruction[][] {
  const stages: Instruction[][] = [];
  let pending = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    // Comment lines are dropped, even inside a continuation, as Docker does.
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const match = /^(\S+)\s*(.*)$/.exec(full)!;
    const instruction = { keyword: match[1]!.toUpperCase(), args: match[2]! };
    if (instruction.keyword === 'FROM') stages.push([]);
    if (stages.length === 0)
      throw new Error(`${instruction.keyword} before any FROM in ${path}`);
    stages.at(-1)!.push(instruction);
  }
  return stages;
}

function only(stage: Instruction[], keyword: string): Instruction[] {
  return stage.filter((i) => i.keyword === keyword);
}

/** The last instruction of a kind in a stage: the one that takes effect. */
function last(stage: Instruction[], keyword: string): string {
  const found = only(stage, keyword).at(-1);
  if (found === undefined) throw new Error(`the stage has no ${keyword}`);
  return found.args;
}

/** An exec-form (JSON array) argument: the only form through which signals reach the process. */
function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (
    !Array.isArray(parsed) ||
    parsed.length === 0 ||
    !parsed.every((part) => typeof part === 'string')
  )
    throw new Error(`not an exec-form JSON array of strings: ${args}`);
  return parsed;
}

/** The variables set by a stage's ENV lines (`ENV A=1 B="two words"`, or `ENV A value`). */
function envOf(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of only(stage, 'ENV')) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
      const [name, ...value] = args.split(/\s+/);
      env[name!] = value.join(' ');
      continue;
    }
    const pair = /([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|'([^']*)'|(\S*))/g;
    for (const m of args.matchAll(pair)) env[m[1]!] = m[2] ?? m[3] ?? m[4]!;
  }
  return env;
}

/** A HEALTHCHECK's command, exec form, after its --options. */
function healthCommand(args: string): string[] {
  const match = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(args);
  if (match === null)
    throw new Error(`HEALTHCHECK is not "[--options] CMD [json]": ${args}`);
  return execForm(match[1]!);
}

// ---------------------------------------------------------------------------------------------
// A tiny YAML reader for the subset the compose and Prometheus files use: block mappings and
// sequences by indentation (`- key: value` items too), flow sequences `[a, b]`, and plain, single- or double-quoted
// one-line scalars. Anything else throws, so a change of style shows up here.

type Yaml = string | Yaml[] | { [key: string]: Yaml };

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!)))
      return line.slice(0, i);
  }
  return line;
}

function scalar(text: string): Yaml {
  const t = text.trim();
  if (t.startsWith('"')) return JSON.parse(t) as string;
  if (t.startsWith("'")) return t.slice(1, -1).replace(/''/g, "'");
  if (t.startsWith('[')) {
    if (!t.endsWith(']')) throw new Error(`unsupported YAML: ${t}`);
    const inner = t.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((part) => scalar(part));
  }
  if (t === '{}') return {};
  if (t.startsWith('{') || t.startsWith('|') || t.startsWith('>'))
    throw new Error(`unsupported YAML: ${t}`);
  return t;
}

function parseYaml(source: string): Yaml {
  const lines = source
    .split('\n')
    .map((raw) => stripComment(raw).trimEnd())
    .filter((line) => line.trim() !== '')
    .map((line) => ({
      indent: line.length - line.trimStart().length,
      text: line.trim(),
    }));
  let i = 0;
  const isItem = (text: string): boolean =>
    text === '-' || text.startsWith('- ');

  function block(indent: number): Yaml {
    return isItem(lines[i]!.text) ? sequence(indent) : mapping(indent);
  }

  function sequence(indent: number): Yaml[] {
    const out: Yaml[] = [];
    while (
      i < lines.length &&
      lines[i]!.indent === indent &&
      isItem(lines[i]!.text)
    ) {
      const { text } = lines[i]!;
      const rest = text.slice(1).trim();
      if (/^[A-Za-z_][\w.-]*:(\s|$)/.test(rest)) {
        // `- key: value` opens a mapping whose keys line up with `key`.
        const column = indent + text.length - rest.length;
        lines[i] = { indent: column, text: rest };
        out.push(mapping(column));
        continue;
      }
      i++;
      if (rest === '') out.push(block(lines[i]!.indent));
      else out.push(scalar(rest));
    }
    return out;
  }

  function mapping(indent: number): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    while (i < lines.length && lines[i]!.indent === indent) {
      const { text } = lines[i]!;
      const match = /^("[^"]*"|'[^']*'|[^\s'"][^:]*?):(?:\s+(.*))?$/.exec(text);
      if (match === null || isItem(text))
        throw new Error(`unsupported YAML line: ${text}`);
      const key = scalar(match[1]!) as string;
      i++;
      if (match[2] !== undefined) out[key] = scalar(match[2]);
      else if (i < lines.length && lines[i]!.indent > indent)
        out[key] = block(lines[i]!.indent);
      else if (
        i < lines.length &&
        lines[i]!.indent === indent &&
        isItem(lines[i]!.text)
      )
        out[key] = sequence(indent);
      else out[key] = '';
    }
    return out;
  }

  const doc = block(0);
  if (i < lines.length)
    throw new Error(`unsupported YAML near: ${lines[i]!.text}`);
  return doc;
}

/** A value at a path of keys and indexes; throws naming the path when it is missing. */
function at(value: Yaml, ...path: Array<string | number>): Yaml {
  let node: Yaml | undefined = value;
  for (const step of path) {
    node =
      typeof node === 'object'
        ? (node as Record<string, Yaml>)[step as string]
        : undefined;
    if (node === undefined) throw new Error(`no ${path.join('.')} in the YAML`);
  }
  return node;
}

/** Compose's `${VAR}`, `${VAR:-default}` and `${VAR-default}` with `vars` as the shell. */
function interpolate(text: string, vars: Record<string, string> = {}): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}/g,
    (_all, name: string, colon: string | undefined, fallback?: string) => {
      const value = vars[name];
      if (value === undefined || (colon === ':' && value === ''))
        return fallback ?? '';
      return value;
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Process helpers.

interface Answer {
  status: number;
  body: string;
  etag: string | undefined;
}

async function httpCall(
  port: number,
  method: 'GET' | 'PUT',
  path: string,
  body?: string,
): Promise<Answer> {
  const response = await request(port, method, path, {
    body,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    timeoutMs: 5000,
  });
  return {
    status: response.status,
    body: response.body,
    etag: response.headers.etag,
  };
}

const httpGet = (port: number, path: string) => httpCall(port, 'GET', path);

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when the process exits, or with undefined after `ms`. */
function exitWithin(
  exited: Promise<Exit>,
  ms: number,
): Promise<Exit | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    exited,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The HEALTHCHECK command, run here the way Docker runs it in the container. */
function runHealthcheck(command: string[], port: number): number | null {
  const [program, ...args] = command;
  return spawnSync(program === 'node' ? process.execPath : program!, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    timeout: 10_000,
    stdio: 'ignore',
  }).status;
}

/** A compose duration such as `15s` or `1m30s`, in milliseconds. */
function durationMs(text: string): number {
  const units: Record<string, number> = {
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  let total = 0;
  const rest = text.replace(
    /(\d+(?:\.\d+)?)(ms|s|m|h)/g,
    (_all, n: string, unit: string) => {
      total += Number(n) * units[unit]!;
      return '';
    },
  );
  if (rest !== '' || text === '') throw new Error(`not a duration: ${text}`);
  return total;
}

// ---------------------------------------------------------------------------------------------
// PromQL, as far as the checks below need it: the names of the series an expression reads.

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);

/** Series names in `expr`: identifiers that are not functions, keywords, labels or durations. */
function seriesNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(
      /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g,
      '',
    );
  return [...bare.matchAll(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()/g)]
    .map((m) => m[0])
    .filter((name) => !PROMQL_KEYWORDS.has(name));
}

/** The names of the series in a Prometheus text exposition. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (match !== null) names.add(match[1]!);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------

const stages = readDockerfile(join(ROOT, 'Dockerfile'));
const runtime = stages.at(-1)!;
const compose = parseYaml(
  readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'),
);
const services = at(compose, 'services') as Record<string, Yaml>;
const kvService = services.kv as Record<string, Yaml>;
const health = healthCommand(last(runtime, 'HEALTHCHECK'));
// Where the image keeps its data, and compose mounts the kv-data volume.
const VOLUME_PATH = '/data';

/** Every environment variable src/config/config.ts reads: the server's settings. */
function serverSettings(): string[] {
  const source = readFileSync(join(ROOT, 'src', 'config', 'config.ts'), 'utf8');
  const names = new Set<string>();
  for (const m of source.matchAll(
    /\benv\.([A-Z][A-Z0-9_]*)|\b(?:int|onOff|oneOf)\(\s*'([A-Z][A-Z0-9_]*)'/g,
  ))
    names.add(m[1] ?? m[2]!);
  return [...names].sort();
}

const tempDirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null)
      child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kv-container-e2e-'));
  tempDirs.push(dir);
  return dir;
}

interface Container {
  readonly port: number;
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  output(): string;
}

/**
 * Runs the image's CMD here with what the container sees: the image's ENV, then the compose
 * service's environment as `docker compose up` resolves it with nothing set in the shell, and
 * `dataDir` standing in for the /data volume. The port is a free one, and two workers keep the
 * test light on any machine. Resolves once /_/health answers 200.
 */
async function startContainer(dataDir: string): Promise<Container> {
  expect(existsSync(join(ROOT, 'dist', 'main.js'))).toBe(true); // npm run build first
  const port = await freePort();
  const [program, ...args] = execForm(last(runtime, 'CMD'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    ...envOf(runtime),
  };
  for (const [name, value] of Object.entries(at(kvService, 'environment')))
    env[name] = interpolate(value as string);
  expect(env.HOST).toBe('0.0.0.0');
  expect(env.KV_DATA_DIR).toBe(VOLUME_PATH);
  Object.assign(env, {
    PORT: String(port),
    KV_WORKERS: '2',
    KV_DATA_DIR: dataDir,
  });

  const child = spawn(program === 'node' ? process.execPath : program!, args, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const exited = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

  // Bound to every interface like in the container; asked through loopback only. A busy
  // machine may take a while to start it: the deadline is generous.
  let answer: Answer | undefined;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    answer = await httpGet(port, '/_/health').catch(() => undefined);
    if (answer?.status === 200) break;
    await delay(100);
  }
  if (answer?.status !== 200)
    throw new Error(`/_/health never answered 200; output:\n${output}`);
  expect(JSON.parse(answer.body)).toEqual({ status: 'ok' });
  return { port, child, exited, output: () => output };
}

/**
 * Sends SIGTERM, as `docker stop` does, and expects exit code 0 before compose's
 * stop_grace_period, after which Docker would SIGKILL it.
 */
async function stopContainer(container: Container): Promise<void> {
  container.child.kill('SIGTERM');
  const grace = durationMs(kvService.stop_grace_period as string);
  const exit = await exitWithin(container.exited, grace);
  if (exit === undefined)
    throw new Error(
      `no exit within ${grace} ms of SIGTERM; output:\n${container.output()}`,
    );
  expect(exit).toEqual({ code: 0, signal: null });
}

describe('Dockerfile', () => {
  it('builds in one stage and runs dist/ alone, as node, on port 3000, under tini', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]![0]!.args).toMatch(/^node:20-bookworm-slim\s+AS\s+\S+/i);
    expect(runtime[0]!.args).toMatch(/^node:20-bookworm-slim(\s|$)/);
    const buildRuns = only(stages[0]!, 'RUN').map((i) => i.args);
    expect(buildRuns.some((r) => r.includes('npm ci'))).toBe(true);
    expect(buildRuns.some((r) => r.includes('npm run build'))).toBe(true);
    const runs = only(runtime, 'RUN').map((i) => i.args);
    expect(runs.some((r) => /npm ci .*--omit=dev/.test(r))).toBe(true);
    const copies = only(runtime, 'COPY').map((i) => i.args);
    expect(copies.some((c) => /^--from=\S+\s+\S*dist\/?\s/.test(c))).toBe(true);
    expect(copies.some((c) => /\bsrc\b/.test(c))).toBe(false);
    expect(last(runtime, 'USER')).toBe('node');
    expect(last(runtime, 'EXPOSE')).toBe('3000');
    expect(envOf(runtime)).toMatchObject({
      HOST: '0.0.0.0',
      PORT: '3000',
      NODE_ENV: 'production',
    });
    const entrypoint = execForm(last(runtime, 'ENTRYPOINT'));
    expect(entrypoint[0]).toBe('/usr/bin/tini');
    expect(entrypoint.at(-1)).toBe('--');
    expect(runs.some((r) => /apt-get install .*\btini\b/.test(r))).toBe(true);
    expect(execForm(last(runtime, 'CMD'))).toEqual(['node', 'dist/main.js']);
    expect(health[0]).toBe('node');
  });

  it('keeps its data in /data: made for node before it is declared a volume, and KV_DATA_DIR', () => {
    expect(envOf(runtime).KV_DATA_DIR).toBe(VOLUME_PATH);
    const volume = runtime.findIndex(
      (i) =>
        i.keyword === 'VOLUME' &&
        (i.args === VOLUME_PATH || i.args === JSON.stringify([VOLUME_PATH])),
    );
    expect(volume).toBeGreaterThan(0);
    // Docker drops what a RUN changes in a volume once it is declared: the directory and its
    // owner must come first, and the server must not run as root to write it.
    const made = runtime.findIndex(
      (i) =>
        i.keyword === 'RUN' &&
        /\bmkdir\b.*\/data\b/.test(i.args) &&
        /\bchown\s+node(:node)?\s+\/data\b/.test(i.args),
    );
    expect(made).toBeGreaterThan(0);
    expect(made).toBeLessThan(volume);
    const user = runtime.findLastIndex((i) => i.keyword === 'USER');
    expect(user).toBeGreaterThan(made);
  });

  describe('its CMD, run on the host with the image ENV, the compose environment and a data directory', () => {
    it('serves /_/health, passes the HEALTHCHECK, and exits 0 on SIGTERM within the stop grace period', async () => {
      const container = await startContainer(tempDir());
      expect(runHealthcheck(health, container.port)).toBe(0);

      const stats = JSON.parse(
        (await httpGet(container.port, '/_/stats')).body,
      ) as {
        workers: Array<{ pid: number }>;
      };
      const workerPids = stats.workers.map((w) => w.pid);
      expect(workerPids).toHaveLength(2);

      await stopContainer(container);
      // The primary waits for its workers: none is left behind.
      const gone = Date.now() + 5000;
      while (workerPids.some(isAlive) && Date.now() < gone) await delay(50);
      expect(workerPids.filter(isAlive)).toEqual([]);
      expect(runHealthcheck(health, container.port)).toBe(1);
    }, 120_000);

    it('keeps a key across a restart on the same data directory, as the kv-data volume does', async () => {
      const dir = tempDir();
      const first = await startContainer(dir);
      const put = await httpCall(
        first.port,
        'PUT',
        '/container-restart',
        '{"kept":true}',
      );
      expect(put.status).toBe(200);
      const { revision } = JSON.parse(put.body) as { revision: number };
      await stopContainer(first);
      expect(readdirSync(dir).some((name) => name.endsWith('.aof'))).toBe(true);

      const second = await startContainer(dir);
      expect(second.output()).toContain('data loaded');
      const got = await httpCall(
        second.port,
        'GET',
        '/container-restart?consistency=strong',
      );
      expect(got).toEqual({
        status: 200,
        body: '{"kept":true}',
        etag: `"${revision}"`,
      });
      await stopContainer(second);
    }, 180_000);
  });
});

describe('docker-compose.yml', () => {
  it('runs kv by default, k6 under the bench profile, prometheus and grafana under monitoring', () => {
    expect(Object.keys(services).sort()).toEqual([
      'grafana',
      'k6',
      'kv',
      'prometheus',
    ]);
    expect(kvService.profiles).toBeUndefined();
    expect(kvService.build).toBe('.');
    expect(kvService.init).toBe('true');
    expect(kvService.restart).toBe('unless-stopped');
    expect(kvService.stop_grace_period).toBe('15s');
    // Host port 3000 by default (on the host's loopback unless KV_PUBLISH_ADDRESS says).
    const ports = (kvService.ports as string[]).map((p) => interpolate(p));
    expect(ports).toHaveLength(1);
    expect(ports[0]).toMatch(/(^|:)3000:3000$/);
    // Compose's health check is the image's own.
    expect(at(kvService, 'healthcheck', 'test')).toEqual(['CMD', ...health]);

    expect(at(services, 'k6', 'profiles')).toEqual(['bench']);
    expect(at(services, 'k6', 'depends_on', 'kv', 'condition')).toBe(
      'service_healthy',
    );
    expect(at(services, 'k6', 'volumes')).toContain('./k6:/scripts:ro');
    expect(at(services, 'k6', 'environment', 'BASE_URL')).toBe(
      'http://kv:3000',
    );
    const command = interpolate(at(services, 'k6', 'command') as string);
    expect(command).toBe('run /scripts/smoke.ts');
    for (const script of ['smoke.ts', 'mixed.ts', 'seed.ts'])
      expect(existsSync(join(ROOT, 'k6', script))).toBe(true);

    expect(at(services, 'prometheus', 'profiles')).toEqual(['monitoring']);
    expect(at(services, 'prometheus', 'volumes')).toEqual([
      './deploy/prometheus:/etc/prometheus:ro',
    ]);
    expect(at(services, 'grafana', 'profiles')).toEqual(['monitoring']);
    expect(at(services, 'grafana', 'depends_on')).toEqual(['prometheus']);
    expect(at(services, 'grafana', 'volumes')).toEqual([
      './deploy/grafana/provisioning:/etc/grafana/provisioning:ro',
      './deploy/grafana/dashboards:/etc/grafana/dashboards:ro',
    ]);
    // Grafana listens on 3000 in its container; on the host it takes 3001, beside kv.
    const grafanaPorts = (at(services, 'grafana', 'ports') as string[]).map(
      (p) => interpolate(p),
    );
    expect(grafanaPorts).toEqual(['127.0.0.1:3001:3000']);
  });

  it('keeps the data directory on the named volume kv-data', () => {
    expect(kvService.volumes).toEqual([`kv-data:${VOLUME_PATH}`]);
    expect(Object.keys(at(compose, 'volumes'))).toEqual(['kv-data']);
    expect(at(compose, 'volumes', 'kv-data', 'name')).toBe('fanout-kv-data');
    expect(at(kvService, 'environment', 'KV_DATA_DIR')).toBe(VOLUME_PATH);
  });

  it('passes every server setting through from the shell, but where it listens and keeps data', () => {
    const environment = at(kvService, 'environment') as Record<string, string>;
    const settings = serverSettings();
    expect(settings.length).toBeGreaterThanOrEqual(25);
    expect(Object.keys(environment).sort()).toEqual(settings);
    const fixed = { HOST: '0.0.0.0', PORT: '3000', KV_DATA_DIR: VOLUME_PATH };
    for (const name of settings) {
      if (name in fixed)
        expect([name, environment[name]]).toEqual([
          name,
          fixed[name as keyof typeof fixed],
        ]);
      else expect(environment[name]).toMatch(new RegExp(`^\\$\\{${name}:-`));
    }
    // With nothing set in the shell, every passed setting is the server's own default, but
    // the log level, which compose sets to info.
    const resolved = Object.entries(environment)
      .filter(([name]) => !(name in fixed))
      .map(([name, value]) => [name, interpolate(value)]);
    expect(resolved.filter(([, value]) => value !== '')).toEqual([
      ['LOG_LEVEL', 'info'],
    ]);
  });

  const composeBinary = spawnSync('docker-compose', ['version'], {
    stdio: 'ignore',
  });
  const haveCompose = composeBinary.error === undefined;
  const runCompose = (...args: string[]) =>
    spawnSync('docker-compose', args, { cwd: ROOT, encoding: 'utf8' });

  (haveCompose ? it : it.skip)(
    haveCompose
      ? 'is valid for `docker-compose config -q`, profiles, volume and health condition included'
      : 'is valid for `docker-compose config -q` (SKIPPED: no docker-compose binary here; .ci/run installs it)',
    () => {
      const quiet = runCompose('config', '-q');
      expect({ status: quiet.status, stderr: quiet.stderr }).toMatchObject({
        status: 0,
      });
      const profiles = runCompose('config', '--profiles');
      expect(profiles.stdout.trim().split('\n').sort()).toEqual([
        'bench',
        'monitoring',
      ]);
      // The normalized output: the profiles, the volume and the health condition survived.
      const normalized = parseYaml(runCompose('config').stdout);
      expect(at(normalized, 'services', 'k6', 'profiles')).toEqual(['bench']);
      for (const service of ['prometheus', 'grafana'])
        expect(at(normalized, 'services', service, 'profiles')).toEqual([
          'monitoring',
        ]);
      expect(
        (at(normalized, 'services', 'kv') as Record<string, Yaml>).profiles,
      ).toBeUndefined();
      expect(
        at(normalized, 'services', 'k6', 'depends_on', 'kv', 'condition'),
      ).toBe('service_healthy');
      expect(at(normalized, 'services', 'kv', 'volumes', 0)).toMatch(
        /^kv-data:\/data(:rw)?$/,
      );
      expect(at(normalized, 'volumes', 'kv-data', 'name')).toBe(
        'fanout-kv-data',
      );
    },
  );
});

describe('deploy/', () => {
  const promDir = join(ROOT, 'deploy', 'prometheus');
  const prometheus = parseYaml(
    readFileSync(join(promDir, 'prometheus.yml'), 'utf8'),
  );
  const alertsFile = at(prometheus, 'rule_files', 0) as string;
  const alerts = parseYaml(readFileSync(join(promDir, alertsFile), 'utf8'));
  const rules = (at(alerts, 'groups') as Yaml[]).flatMap(
    (group) => at(group, 'rules') as Array<Record<string, Yaml>>,
  );
  const grafanaDir = join(ROOT, 'deploy', 'grafana');
  const datasources = parseYaml(
    readFileSync(
      join(grafanaDir, 'provisioning', 'datasources', 'prometheus.yml'),
      'utf8',
    ),
  );
  const providers = parseYaml(
    readFileSync(
      join(grafanaDir, 'provisioning', 'dashboards', 'fanout-kv.yml'),
      'utf8',
    ),
  );
  const dashboard = JSON.parse(
    readFileSync(join(grafanaDir, 'dashboards', 'fanout-kv.json'), 'utf8'),
  ) as {
    uid: string;
    panels: Array<{
      id: number;
      type: string;
      datasource?: { type: string; uid: string };
      targets?: Array<{ expr: string; datasource: { uid: string } }>;
    }>;
  };
  const queries = dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => target.expr),
  );

  it('has Prometheus scrape kv:3000 at /_/metrics and load the alert rules beside it', () => {
    const jobs = at(prometheus, 'scrape_configs') as Yaml[];
    expect(jobs).toHaveLength(1);
    expect(at(jobs[0]!, 'job_name')).toBe('fanout-kv');
    expect(at(jobs[0]!, 'metrics_path')).toBe('/_/metrics');
    expect(at(jobs[0]!, 'static_configs', 0, 'targets')).toEqual(['kv:3000']);
    expect(at(prometheus, 'rule_files')).toEqual(['alerts.yml']);
  });

  it('has alert rules with an expression, a severity, a summary and a description each', () => {
    expect(rules.length).toBeGreaterThanOrEqual(8);
    const names = rules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of rules) {
      expect(rule.alert).toMatch(/^FanoutKv[A-Za-z0-9]+$/);
      expect(typeof rule.expr).toBe('string');
      expect(['warning', 'critical']).toContain(at(rule, 'labels', 'severity'));
      expect(typeof at(rule, 'annotations', 'summary')).toBe('string');
      expect(typeof at(rule, 'annotations', 'description')).toBe('string');
    }
  });

  it('provisions Grafana with the Prometheus service and the fanout-kv dashboard', () => {
    const source = at(datasources, 'datasources', 0);
    expect(at(source, 'type')).toBe('prometheus');
    expect(at(source, 'url')).toBe('http://prometheus:9090');
    const uid = at(source, 'uid');
    const provider = at(providers, 'providers', 0);
    expect(at(provider, 'type')).toBe('file');
    // The provider reads the folder compose mounts deploy/grafana/dashboards at.
    expect(at(services, 'grafana', 'volumes')).toContain(
      `./deploy/grafana/dashboards:${at(provider, 'options', 'path') as string}:ro`,
    );
    expect(dashboard.uid).toBe('fanout-kv');
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const graphs = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(graphs.length).toBeGreaterThanOrEqual(10);
    for (const panel of graphs) {
      expect(panel.datasource?.uid).toBe(uid);
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets!)
        expect(target.datasource.uid).toBe(uid);
    }
  });

  it('alerts on and charts only series the server exports', async () => {
    const container = await startContainer(tempDir());
    // A write and a read, so that the labelled series have a child. The write is strong: the
    // read may land on the other worker.
    expect(
      (
        await httpCall(
          container.port,
          'PUT',
          '/container-metrics?consistency=strong',
          '1',
        )
      ).status,
    ).toBe(200);
    expect((await httpGet(container.port, '/container-metrics')).status).toBe(
      200,
    );
    const metrics = await httpGet(container.port, '/_/metrics');
    expect(metrics.status).toBe(200);
    await stopContainer(container);
    // `up` is Prometheus's own, for each target it scrapes.
    const exported = new Set([...exposedNames(metrics.body), 'up']);
    const used = [...rules.map((rule) => rule.expr as string), ...queries];
    const unknown = used.flatMap((expr) =>
      seriesNames(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${name} in ${expr}`),
    );
    expect(unknown).toEqual([]);
    // The check reads something: most of what the server exports of its own is used.
    const usedNames = new Set(used.flatMap(seriesNames));
    expect(
      [...exported].filter((n) => n.startsWith('kv_') && usedNames.has(n))
        .length,
    ).toBeGreaterThanOrEqual(12);
  }, 120_000);

  const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' });
  const havePromtool = promtool.error === undefined;
  (havePromtool ? it : it.skip)(
    havePromtool
      ? 'passes `promtool check config` (the rules included)'
      : 'passes `promtool check config` (SKIPPED: no promtool here; apt-get install prometheus)',
    () => {
      const check = spawnSync(
        'promtool',
        ['check', 'config', join(promDir, 'prometheus.yml')],
        { encoding: 'utf8' },
      );
      expect({
        status: check.status,
        output: check.stdout + check.stderr,
      }).toMatchObject({ status: 0 });
      expect(check.stdout).toContain(`${rules.length} rules found`);
    },
  );
});
