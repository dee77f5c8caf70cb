import { requestIdGenerator } from './request-ids';

describe('requestIdGenerator', () => {
  it('makes distinct ids in the UUID layout', () => {
    const next = requestIdGenerator();
    const ids = Array.from({ length: 1000 }, next);
    for (const id of ids)
      expect(id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('draws a different prefix for each generator, as each process has its own', () => {
    const a = requestIdGenerator()();
    const b = requestIdGenerator()();
    expect(a.slice(0, 24)).not.toBe(b.slice(0, 24));
  });
});
