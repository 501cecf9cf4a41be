// Helpers for sparse page maps (Map<pageIndex, page>): the RAM namespace
// store and write cache on the device, rnull's page trees on the host. A
// range over a sparse map can be far larger than the map (a 1 TiB deallocate
// over a few written pages), so range walks pick the shorter of the two.

/**
 * Call `visit(key, value)` for every entry of `map` whose key is in
 * [first, last], walking whichever is shorter: the key range or the map.
 * Keys in the range come in ascending order when the range is walked and in
 * insertion order otherwise. `visit` may delete the entry it is given (and
 * any other visited one); it must not add entries.
 */
export function forEachInRange<V>(map: Map<number, V>, first: number, last: number, visit: (key: number, value: V) => void): void {
  if (last < first || map.size === 0) return;
  if (last - first + 1 <= map.size) {
    for (let k = first; k <= last; k++) {
      const v = map.get(k);
      if (v !== undefined) visit(k, v);
    }
    return;
  }
  // Snapshot first: `visit` may delete, and a Map walked while shrinking
  // would still be correct but is easy to break by a later edit.
  for (const [k, v] of [...map]) if (k >= first && k <= last) visit(k, v);
}
