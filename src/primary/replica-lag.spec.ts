import type { Config } from '../config/config';
import { AuthoritativeStore, batchEnd, WriteOp } from '../store';
import { ReplicaLag } from './replica-lag';
import { ReplicaSet } from './replica-set';
import { addLiveReplica, quietReplicaSet } from './replica-set.spec-support';

const config = {
  maxReplicaLag: 3,
  maxReplicaBacklogBytes: 1 << 20,
} as Config;

describe('ReplicaLag', () => {
  let store: AuthoritativeStore;
  let replicas: ReplicaSet;
  let lag: ReplicaLag;

  /** Commits `writes` puts and publishes them as one batch, as the reconcile loop does. */
  function publish(writes: number): void {
    for (let i = 0; i < writes; i++)
      store.execute({ op: WriteOp.Put, key: `k${i}`, value: '1', ttl: 0 });
    lag.recordPublished(batchEnd(store.takeBatch()!));
  }

  beforeEach(() => {
    jest.useFakeTimers();
    store = new AuthoritativeStore({ clock: Date.now, maxKeys: undefined });
    replicas = quietReplicaSet(config);
    lag = new ReplicaLag(store, replicas, config);
  });

  afterEach(() => jest.useRealTimers());

  it('measures lag from the first batch a replica has not applied, 0 once caught up', () => {
    const replica = addLiveReplica(replicas, 1);
    publish(2); // revisions 1 and 2
    jest.advanceTimersByTime(30);
    publish(1); // revision 3
    jest.advanceTimersByTime(20);
    expect(lag.lagMs(replica.link)).toBe(50);

    replica.link.applied = 1;
    expect(lag.lagMs(replica.link)).toBe(50);
    replica.link.applied = 2;
    expect(lag.lagMs(replica.link)).toBe(20);
    replica.link.applied = 3;
    expect(lag.lagMs(replica.link)).toBe(0);
  });

  it('recycles live replicas more than maxReplicaLag revisions behind, and only those', () => {
    const behind = addLiveReplica(replicas, 1);
    const atLimit = addLiveReplica(replicas, 2);
    const loading = addLiveReplica(replicas, 3);
    loading.link.live = false;
    publish(5);
    atLimit.link.applied = 2;
    behind.link.applied = 1;

    lag.recycleLaggards();
    expect(behind.signals).toEqual(['SIGKILL']);
    expect(atLimit.signals).toEqual([]);
    expect(loading.signals).toEqual([]);
    expect([...replicas.all()]).toEqual([atLimit.link, loading.link]);
  });
});
