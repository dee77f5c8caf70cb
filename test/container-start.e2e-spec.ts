/**
 * The container's start-up, checked without a Docker engine: the Dockerfile's CMD is run here,
 * on the host, with the image's ENV and the compose file's environment for `kv`, and must
 * serve /_/health and stop with exit code 0 on SIGTERM, as `docker stop` asks it to. The
 * image's HEALTHCHECK command is run against it too. The compose file is checked for its
 * services and profiles, and validated by `docker-compose config` where that binary exists
 * (.ci/run installs it).
 *
 * Needs a build first: `npm run build && npx jest --config ./test/jest-e2e.json --runInBand
 * test/container-start`.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';

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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Answer {
  status: number;
  body: string;
}

function httpGet(port: number, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = get(
      { host: '127.0.0.1', port, path, timeout: 2000, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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

// ---------------------------------------------------------------------------------------------

const stages = readDockerfile(join(ROOT, 'Dockerfile'));
const runtime = stages.at(-1)!;
const compose = parseYaml(
  readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'),
);

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
    expect(healthCommand(last(runtime, 'HEALTHCHECK'))[0]).toBe('node');
  });

  describe('its CMD, run on the host with the image ENV and the compose environment', () => {
    let child: ChildProcess | undefined;
    let exited: Promise<Exit>;
    let output = '';
    let port = 0;
    const health = healthCommand(last(runtime, 'HEALTHCHECK'));

    afterAll(() => {
      if (child?.exitCode === null && child.signalCode === null)
        child.kill('SIGKILL');
    });

    it('serves /_/health, passes the HEALTHCHECK, and exits 0 within 10 s of SIGTERM', async () => {
      expect(existsSync(join(ROOT, 'dist', 'main.js'))).toBe(true); // npm run build first
      port = await freePort();
      const [program, ...args] = execForm(last(runtime, 'CMD'));
      // What the container sees: the image's ENV, then the compose service's environment as
      // `docker compose up` resolves it with nothing set in the shell. The port is a free one,
      // and two workers keep the test light on any machine.
      const composeEnv = at(compose, 'services', 'kv', 'environment');
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '',
        ...envOf(runtime),
      };
      for (const [name, value] of Object.entries(composeEnv))
        env[name] = interpolate(value as string);
      Object.assign(env, { PORT: String(port), KV_WORKERS: '2' });
      expect(env.HOST).toBe('0.0.0.0');

      child = spawn(program === 'node' ? process.execPath : program!, args, {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const started = child;
      exited = new Promise((resolve) =>
        started.on('exit', (code, signal) => resolve({ code, signal })),
      );
      started.stdout!.on(
        'data',
        (chunk: Buffer) => (output += chunk.toString()),
      );
      started.stderr!.on(
        'data',
        (chunk: Buffer) => (output += chunk.toString()),
      );

      // Bound to every interface like in the container; asked through loopback only.
      let answer: Answer | undefined;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && started.exitCode === null) {
        answer = await httpGet(port, '/_/health').catch(() => undefined);
        if (answer?.status === 200) break;
        await sleep(100);
      }
      if (answer?.status !== 200)
        throw new Error(`/_/health never answered 200; output:\n${output}`);
      expect(JSON.parse(answer.body)).toEqual({ status: 'ok' });
      expect(runHealthcheck(health, port)).toBe(0);

      const stats = JSON.parse((await httpGet(port, '/_/stats')).body) as {
        workers: Array<{ pid: number }>;
      };
      const workerPids = stats.workers.map((w) => w.pid);
      expect(workerPids).toHaveLength(2);

      started.kill('SIGTERM');
      const exit = await exitWithin(exited, 10_000);
      if (exit === undefined)
        throw new Error(`no exit within 10 s of SIGTERM; output:\n${output}`);
      expect(exit).toEqual({ code: 0, signal: null });

      // The primary waits for its workers: none is left behind.
      const gone = Date.now() + 2000;
      while (workerPids.some(isAlive) && Date.now() < gone) await sleep(50);
      expect(workerPids.filter(isAlive)).toEqual([]);
      expect(runHealthcheck(health, port)).toBe(1);
    }, 60_000);
  });
});

describe('docker-compose.yml', () => {
  const services = at(compose, 'services') as Record<string, Yaml>;

  it('runs kv by default, k6 under the bench profile and prometheus under monitoring', () => {
    expect(Object.keys(services).sort()).toEqual(['k6', 'kv', 'prometheus']);
    const kv = services.kv as Record<string, Yaml>;
    expect(kv.profiles).toBeUndefined();
    expect(kv.build).toBe('.');
    expect(kv.init).toBe('true');
    expect(kv.restart).toBe('unless-stopped');
    expect(kv.stop_grace_period).toBe('15s');
    // Host port 3000 by default (on the host's loopback unless KV_PUBLISH_ADDRESS says).
    const ports = (kv.ports as string[]).map((p) => interpolate(p));
    expect(ports).toHaveLength(1);
    expect(ports[0]).toMatch(/(^|:)3000:3000$/);
    // Compose's health check is the image's own.
    expect(at(kv, 'healthcheck', 'test')).toEqual([
      'CMD',
      ...healthCommand(last(runtime, 'HEALTHCHECK')),
    ]);

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
    const mount = (at(services, 'prometheus', 'volumes') as string[]).find(
      (v) => v.startsWith('./deploy/prometheus.yml:'),
    );
    expect(mount).toBe(
      './deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
    );
  });

  it('has Prometheus scrape kv:3000 at /_/metrics', () => {
    const prometheus = parseYaml(
      readFileSync(join(ROOT, 'deploy', 'prometheus.yml'), 'utf8'),
    );
    const jobs = at(prometheus, 'scrape_configs') as Yaml[];
    expect(jobs).toHaveLength(1);
    expect(at(jobs[0]!, 'metrics_path')).toBe('/_/metrics');
    expect(at(jobs[0]!, 'static_configs', 0, 'targets')).toEqual(['kv:3000']);
  });

  const composeBinary = spawnSync('docker-compose', ['version'], {
    stdio: 'ignore',
  });
  const haveCompose = composeBinary.error === undefined;
  const runCompose = (...args: string[]) =>
    spawnSync('docker-compose', args, { cwd: ROOT, encoding: 'utf8' });

  (haveCompose ? it : it.skip)(
    haveCompose
      ? 'is valid for `docker-compose config -q`, profiles and health condition included'
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
      // The normalized output: the profiles and the health condition survived validation.
      const normalized = parseYaml(runCompose('config').stdout);
      expect(at(normalized, 'services', 'k6', 'profiles')).toEqual(['bench']);
      expect(at(normalized, 'services', 'prometheus', 'profiles')).toEqual([
        'monitoring',
      ]);
      expect(
        (at(normalized, 'services', 'kv') as Record<string, Yaml>).profiles,
      ).toBeUndefined();
      expect(
        at(normalized, 'services', 'k6', 'depends_on', 'kv', 'condition'),
      ).toBe('service_healthy');
    },
  );
});
