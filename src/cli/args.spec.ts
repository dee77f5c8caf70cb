import { DEFAULT_URL } from '../client';
import { parseInvocation, UsageError } from './args';

describe('parseInvocation', () => {
  const parse = (
    argv: string[],
    env: NodeJS.ProcessEnv = {},
    terminal = false,
  ) => parseInvocation(argv, env, terminal);

  it('connects to the default URL without a token unless told otherwise', () => {
    expect(parse(['health'])).toMatchObject({
      url: DEFAULT_URL,
      token: undefined,
    });
    expect(DEFAULT_URL).toBe('http://127.0.0.1:3000');
  });

  it('takes --url and --token before KV_URL and KV_AUTH_TOKEN', () => {
    const env = { KV_URL: 'http://env:1', KV_AUTH_TOKEN: 'env-token' };
    expect(parse(['stats'], env)).toMatchObject({
      url: 'http://env:1',
      token: 'env-token',
    });
    expect(
      parse(['stats', '--url', 'https://flag:2', '--token', 't'], env),
    ).toMatchObject({ url: 'https://flag:2', token: 't' });
  });

  it('prints text on a terminal and JSON otherwise, unless --output says', () => {
    expect(parse(['health'], {}, true)?.output).toBe('text');
    expect(parse(['health'], {}, false)?.output).toBe('json');
    expect(parse(['health', '-o', 'json'], {}, true)?.output).toBe('json');
    expect(parse(['health', '--output', 'text'])?.output).toBe('text');
  });

  it('reads the options of each command', () => {
    expect(
      parse(['put', 'k', '1', '--ttl', '500', '--if-match', '7', '--strong']),
    ).toMatchObject({
      command: 'put',
      args: ['k', '1'],
      ttl: 500,
      ifMatch: 7,
      strong: true,
    });
    expect(parse(['del', 'k', '--if-match', '*'])?.ifMatch).toBe('*');
    expect(
      parse(['ls', 'p', '--values', '--limit', '3', '--page-size', '1000']),
    ).toMatchObject({
      args: ['p'],
      values: true,
      limit: 3,
      pageSize: 1000,
    });
    expect(parse(['watch', '--from', '0', '--no-values'])).toMatchObject({
      from: 0,
      values: false,
    });
    expect(parse(['put', 'k', '--', '-1'])?.args).toEqual(['k', '-1']);
    expect(parse(['--help'])).toBeUndefined();
    expect(parse(['get', 'k', '-h'])).toBeUndefined();
  });

  it.each([
    [[], /no command/],
    [['nope'], /unknown command "nope"/],
    [['get'], /get takes 1 argument/],
    [['put'], /put takes 1 to 2 argument/],
    [['stats', 'x'], /stats takes 0 argument/],
    [['get', 'k', '--ttl', '1'], /--ttl does not apply to get/],
    [['watch', '--values'], /--values does not apply to watch/],
    [['put', 'k', '1', '--ttl', '0'], /--ttl must be an integer from 1 to/],
    [
      ['ls', '--page-size', '1001'],
      /--page-size must be an integer from 1 to 1000/,
    ],
    [['put', 'k', '1', '--ttl', '1.5'], /--ttl must be an integer/],
    [['ls', '--limit', '-1'], /limit/],
    [['put', 'k', '1', '--if-match', 'W/"1"'], /--if-match must be/],
    [['health', '-o', 'yaml'], /--output must be json or text/],
    [['health', '--url', 'localhost:3000'], /must start with http/],
    [['health', '--bogus'], /bogus/],
  ])('refuses %j', (argv, message) => {
    expect(() => parse(argv)).toThrow(UsageError);
    expect(() => parse(argv)).toThrow(message);
  });
});
