/** Appends `src` to `dst` in place: `dst.push(...src)` overflows the stack past ~100k items. */
export function append<T>(dst: T[], src: readonly T[]): void {
  for (let i = 0; i < src.length; i++) dst.push(src[i]!);
}
