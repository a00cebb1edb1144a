/**
 * A binary min-heap of (time, item) for the endpoint's timers, with lazy invalidation: the endpoint
 * records each item's current deadline elsewhere and skips entries that no longer match it. So
 * re-scheduling is one push (O(log n)) and `nextDeadline()` no longer walks every SA: with thousands of
 * SAs that walk, done after every datagram, was the largest cost of the responder after Diffie-Hellman.
 * Stale entries still reference their item, so the owner rebuilds the heap from its live deadlines when
 * they outnumber the live ones (see IkeEndpoint.flush): a deleted SA is not kept alive until its old
 * deadline (up to its lifetime) comes round.
 */
export interface HeapEntry<T> {
  at: number;
  item: T;
}

export class DeadlineHeap<T> {
  private readonly entries: HeapEntry<T>[] = [];

  get size(): number {
    return this.entries.length;
  }

  push(at: number, item: T): void {
    const a = this.entries;
    a.push({ at, item });
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = a[parent] as HeapEntry<T>;
      const c = a[i] as HeapEntry<T>;
      if (p.at <= c.at) break;
      a[parent] = c;
      a[i] = p;
      i = parent;
    }
  }

  peek(): HeapEntry<T> | undefined {
    return this.entries[0];
  }

  pop(): HeapEntry<T> | undefined {
    const a = this.entries;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    a[0] = last;
    this.siftDown(0);
    return top;
  }

  clear(): void {
    this.entries.length = 0;
  }

  /** Replaces the contents with `items` (heapified in O(n)). */
  rebuild(items: Iterable<[T, number]>): void {
    const a = this.entries;
    a.length = 0;
    for (const [item, at] of items) a.push({ at, item });
    for (let i = (a.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftDown(start: number): void {
    const a = this.entries;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && (a[l] as HeapEntry<T>).at < (a[m] as HeapEntry<T>).at) m = l;
      if (r < a.length && (a[r] as HeapEntry<T>).at < (a[m] as HeapEntry<T>).at) m = r;
      if (m === i) return;
      const t = a[m] as HeapEntry<T>;
      a[m] = a[i] as HeapEntry<T>;
      a[i] = t;
      i = m;
    }
  }
}
