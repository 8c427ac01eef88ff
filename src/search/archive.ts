// The Pareto archive (DESIGN 3.3). Values are maximised. Ties are broken by point id so the answer is
// unique whatever the order of work: a point is in the front iff no point dominates it and no point
// with an equal vector has a smaller id. With one objective the front is the single optimum.
// It imports nothing: the worker process merges its own results into its front with it, without
// loading the search modules.

/** a dominates b (maximising every component; objective.ts makes every objective one to maximise):
 *  >= everywhere, > somewhere. */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let strict = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return false;
    if (a[i]! > b[i]!) strict = true;
  }
  return strict;
}

export function equalVec(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface Entry {
  id: bigint;
  values: number[];
}

/**
 * What a subspace search starts from (a snapshot of the coordinator's state): the Pareto front it
 * prunes against, and the entries of the global top-K lists. Seeding the local top-K with them means a
 * subspace returns only the designs that can still enter the global top-K (the global K-th entry only
 * improves), so a worker does not serialise and send designs the coordinator would drop.
 */
export interface Incumbents {
  front: Entry[];
  top: Entry[];
}

export class ParetoArchive {
  entries: Entry[] = [];

  constructor(entries: Entry[] = []) {
    for (const e of entries) this.insert(e);
  }

  /** Inserts a candidate; returns true if it is now in the front. */
  insert(c: Entry): boolean {
    for (const m of this.entries) {
      if (dominates(m.values, c.values)) return false;
      if (equalVec(m.values, c.values) && m.id <= c.id) return false;
    }
    this.entries = this.entries.filter((m) => !(dominates(c.values, m.values) || equalVec(c.values, m.values)));
    this.entries.push(c);
    return true;
  }

  /**
   * True when no point of a subspace whose points all have values <= `ideal` and ids >= `firstId`
   * can enter the front: some member is >= the ideal everywhere and either better somewhere or
   * earlier in id order.
   */
  covers(ideal: readonly number[], firstId: bigint): boolean {
    for (const m of this.entries) {
      let ge = true;
      let strict = false;
      for (let i = 0; i < ideal.length; i++) {
        if (m.values[i]! < ideal[i]!) {
          ge = false;
          break;
        }
        if (m.values[i]! > ideal[i]!) strict = true;
      }
      if (ge && (strict || m.id < firstId)) return true;
    }
    return false;
  }

  /** The front in canonical order (by id). */
  sorted(): Entry[] {
    return [...this.entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  clone(): ParetoArchive {
    const a = new ParetoArchive();
    a.entries = this.entries.map((e) => ({ id: e.id, values: [...e.values] }));
    return a;
  }
}

/** Best K entries of one objective (value desc, id asc). */
export class TopK {
  items: Entry[] = [];
  constructor(
    readonly k: number,
    readonly objective: number,
  ) {}

  private better(a: Entry, b: Entry): boolean {
    const va = a.values[this.objective]!;
    const vb = b.values[this.objective]!;
    return va > vb || (va === vb && a.id < b.id);
  }

  insert(e: Entry): boolean {
    if (this.k === 0) return false;
    if (this.items.length === this.k && !this.better(e, this.items[this.items.length - 1]!)) return false;
    if (this.items.some((x) => x.id === e.id)) return false;
    let i = this.items.length;
    while (i > 0 && this.better(e, this.items[i - 1]!)) i--;
    this.items.splice(i, 0, e);
    if (this.items.length > this.k) this.items.pop();
    return true;
  }
}
