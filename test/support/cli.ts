import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './cluster';

/** The built CLI, as package.json `bin` names it. */
export const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Environment beside PATH and HOME: KV_URL, KV_AUTH_TOKEN... (none from the runner's). */
  readonly env?: Record<string, string>;
  /** Piped to stdin; stdin is closed at once when undefined. */
  readonly stdin?: string;
  readonly timeoutMs?: number;
}

/** Starts `node dist/cli/main.js args...`, stdout and stderr piped (so not a terminal). */
export function startCli(
  args: readonly string[],
  options: CliOptions = {},
): ChildProcess {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: run "npm run build" first`);
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin?.end(options.stdin);
  return child;
}

/** Runs the CLI to its end and returns its exit code and output. */
export function runCli(
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  const child = startCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `fanout-kv ${args.join(' ')} did not end in time; stdout: ${stdout}; stderr: ${stderr}`,
        ),
      );
    }, options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Throws, with both outputs, unless the CLI exited with `code`; returns the result. */
export function expectExit(result: CliResult, code: number): CliResult {
  if (result.code !== code)
    throw new Error(
      `expected exit ${code}, got ${result.code}; stdout: ${result.stdout}; stderr: ${result.stderr}`,
    );
  return result;
}
