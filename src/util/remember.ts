/** Sets `map[key]` as its newest entry; beyond `max` entries the oldest goes (a bounded memory of recent things). */
export function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}
