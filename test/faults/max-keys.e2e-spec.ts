import { KvCluster } from '../support/cluster';
import { expectAck, expectError, expectValue } from '../support/expectations';
import { scenarioCluster, summary } from '../support/faults';

/** KV_MAX_KEYS: the key limit under concurrent creates. */

describe('KV_MAX_KEYS=5', () => {
  let kv: KvCluster;

  scenarioCluster(
    { workers: 2, env: { KV_MAX_KEYS: '5' } },
    (started) => (kv = started),
  );

  it('507 for a new key past the limit; updates and deletes work; a delete frees a slot; concurrent creates never overshoot', async () => {
    let full = 0;
    for (let i = 0; i < 3; i++)
      expectAck(await kv.write('PUT', `/mk-${i}`, String(i)), `mk-${i}`);

    // Two slots left: 20 concurrent creates of new keys race for them.
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        kv.write('PUT', `/mk-race-${i}`, String(i)),
      ),
    );
    const won = responses.filter((r) => r.status === 200).length;
    for (const response of responses)
      if (response.status !== 200) {
        expect(expectError(response, 507).error).toBe('store_full');
        full++;
      }
    expect(won).toBe(2);
    expect((await kv.stats()).keys).toBe(5);
    for (const [i, response] of responses.entries())
      if (response.status === 507)
        expectError(await kv.get(`/mk-race-${i}?consistency=strong`), 404);

    // At the limit: new keys are refused whatever the method, nothing is stored.
    const before = (await kv.stats()).revision;
    expect(expectError(await kv.write('PUT', '/mk-new', '1'), 507).error).toBe(
      'store_full',
    );
    expect(expectError(await kv.write('POST', '/mk-new', '1'), 507).error).toBe(
      'store_full',
    );
    expectError(await kv.write('PUT', '/mk-new/60000', '1'), 507);
    full += 3;
    expectError(await kv.get('/mk-new?consistency=strong'), 404);
    expect((await kv.stats()).revision).toBe(before);

    // Updates of present keys and deletes still work.
    const updated = expectAck(
      await kv.write('PUT', '/mk-0?consistency=strong', '"updated"'),
      'mk-0',
    );
    expectValue(await kv.get('/mk-0'), '"updated"', updated);
    expectAck(await kv.delete('/mk-1?consistency=strong'), 'mk-1');
    expectError(await kv.get('/mk-1'), 404);

    // The freed slot takes exactly one new key.
    const created = expectAck(
      await kv.write('POST', '/mk-new?consistency=strong', '"fits"'),
      'mk-new',
    );
    expectValue(await kv.get('/mk-new'), '"fits"', created);
    expectError(await kv.write('PUT', '/mk-another', '1'), 507);
    full++;
    expect((await kv.stats()).keys).toBe(5);
    summary('max-keys', {
      writesAcknowledged: 3 + won + 3,
      writesLost: 0,
      refused507: full,
      keys: 5,
    });
  });
});
