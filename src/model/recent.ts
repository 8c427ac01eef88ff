// A small cache keyed by object identity that holds its last few keys strongly. Pure: no I/O.
//
// The model's per-object caches (per-architecture constants, plans, thermal responses, bandwidth)
// used WeakMaps. V8's young-generation collector keeps a WeakMap value alive until the next full
// (mark-compact) collection even when its key is already dead, so callers that build fresh design
// objects for every evaluation (a cold search, a worker decoding points) made every cached value
// survive several scavenges: measured, the scavenges then took 10-15 ms each and the GC took a third
// of the time. A cache of the last few keys lets dead entries die young; a key that comes back after
// falling out is recomputed (the caches are pure, so only time changes).

export class RecentCache<K extends object, V> {
  private readonly keys: (K | null)[];
  private readonly values: (V | null)[];
  /** Slot the next new key replaces (round robin: the oldest insertion). */
  private next = 0;

  constructor(readonly capacity: number) {
    this.keys = new Array<K | null>(capacity).fill(null);
    this.values = new Array<V | null>(capacity).fill(null);
  }

  get(key: K): V | undefined {
    const ks = this.keys;
    for (let i = 0; i < ks.length; i++) if (ks[i] === key) return this.values[i]!;
    return undefined;
  }

  set(key: K, value: V): void {
    const ks = this.keys;
    for (let i = 0; i < ks.length; i++)
      if (ks[i] === key) {
        this.values[i] = value;
        return;
      }
    ks[this.next] = key;
    this.values[this.next] = value;
    this.next = (this.next + 1) % ks.length;
  }
}
