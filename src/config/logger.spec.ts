import { formatRecord } from './logger';

// 2024-05-06T07:08:09.012 in the machine's own time zone.
const TIME = new Date(2024, 4, 6, 7, 8, 9, 12).getTime();

const record = (fields: Record<string, unknown>): string =>
  `${JSON.stringify({ level: 30, time: TIME, role: 'primary', pid: 4711, ...fields })}\n`;

describe('formatRecord', () => {
  it('writes time of day, level, role, pid, message and fields on one line', () => {
    expect(
      formatRecord(
        record({ hostname: 'h', msg: 'data loaded', keys: 10, dir: '/data' }),
      ),
    ).toBe('07:08:09.012 INFO  primary[4711] data loaded keys=10 dir=/data\n');
  });

  it('names every pino level', () => {
    const levels = [10, 20, 30, 40, 50, 60].map(
      (level) => formatRecord(record({ level, msg: 'm' })).split(' ')[1],
    );
    expect(levels).toEqual([
      'TRACE',
      'DEBUG',
      'INFO',
      'WARN',
      'ERROR',
      'FATAL',
    ]);
  });

  it('quotes strings with spaces, quotes or =, and writes objects as JSON', () => {
    expect(
      formatRecord(
        record({
          msg: 'm',
          reason: 'a gap in batches',
          eq: 'a=b',
          empty: '',
          nested: { a: [1, 2] },
          none: null,
          ok: true,
        }),
      ),
    ).toBe(
      '07:08:09.012 INFO  primary[4711] m reason="a gap in batches" eq="a=b" empty="" ' +
        'nested={"a":[1,2]} none=null ok=true\n',
    );
  });

  it("puts an error's stack on indented lines after the record", () => {
    const err = {
      type: 'Error',
      message: 'boom',
      stack: 'Error: boom\n    at f (x.js:1:2)',
    };
    expect(formatRecord(record({ level: 60, msg: 'stopping', err }))).toBe(
      '07:08:09.012 FATAL primary[4711] stopping\n    Error: boom\n        at f (x.js:1:2)\n',
    );
  });

  it('passes a line that is not a JSON object through', () => {
    expect(formatRecord('plain text\n')).toBe('plain text\n');
    expect(formatRecord('42\n')).toBe('42\n');
  });
});
