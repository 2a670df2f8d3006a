// A binary min-heap of objects that remember their position (heapIndex), so that re-keying or
// removing one is O(log n) with no search and no allocation: the virtual clock's timers and the
// TCP engine's per-connection deadlines both live in one.
export interface HeapEntry {
  /** Position in the heap, -1 when not in it. */
  heapIndex: number;
}

export class IndexedHeap<T extends HeapEntry> {
  private readonly items: T[] = [];

  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number { return this.items.length; }

  /** The smallest entry, or undefined. */
  peek(): T | undefined { return this.items[0]; }

  push(t: T): void {
    t.heapIndex = this.items.length;
    this.items.push(t);
    this.siftUp(t.heapIndex);
  }

  /** Restores order after t's key changed. */
  update(t: T): void {
    this.siftUp(t.heapIndex);
    this.siftDown(t.heapIndex);
  }

  remove(t: T): void {
    const i = t.heapIndex;
    if (i < 0) return;
    const h = this.items;
    const last = h.pop()!;
    t.heapIndex = -1;
    if (i === h.length) return;
    h[i] = last;
    last.heapIndex = i;
    this.update(last);
  }

  private siftUp(i: number): void {
    const h = this.items;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private siftDown(i: number): void {
    const h = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(i: number, j: number): void {
    const h = this.items;
    const a = h[i]!;
    const b = h[j]!;
    h[i] = b; b.heapIndex = i;
    h[j] = a; a.heapIndex = j;
  }
}
