#!/usr/bin/env node
import { KvClient } from '../client';
import { parseInvocation, USAGE, UsageError } from './args';
import {
  describeError,
  EXIT_ERROR,
  EXIT_OK,
  exitCodeOf,
  runCommand,
  Terminal,
} from './commands';

/**
 * `fanout-kv`: the command-line client (package.json `bin`). Sets the exit code and lets the
 * process end by itself, so that everything written to stdout is flushed first.
 */
async function main(): Promise<number> {
  const stdout = process.stdout;
  // A reader that went away (`fanout-kv ls | head`) is no error of ours.
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_OK);
    throw error;
  });
  const terminal: Terminal = {
    out: (text) =>
      new Promise((resolve) => {
        if (stdout.write(text)) resolve();
        else stdout.once('drain', resolve);
      }),
    err: (text) => process.stderr.write(text),
    stdin: async () => {
      if (process.stdin.isTTY) return undefined;
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };

  let invocation;
  try {
    invocation = parseInvocation(
      process.argv.slice(2),
      process.env,
      stdout.isTTY === true,
    );
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    terminal.err(describeError(error, false));
    return EXIT_ERROR;
  }
  if (invocation === undefined) {
    await terminal.out(USAGE);
    return EXIT_OK;
  }

  const client = new KvClient({ url: invocation.url, token: invocation.token });
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  try {
    return await runCommand(invocation, client, terminal, stop.signal);
  } catch (error) {
    terminal.err(describeError(error, invocation.output === 'json'));
    return exitCodeOf(error);
  } finally {
    client.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`fanout-kv: ${String(error)}\n`);
    process.exitCode = EXIT_ERROR;
  },
);
