// Object-shape priming for V8. Pure: no I/O.
//
// V8 gives each field of an object literal the representation of the first value stored in it:
// small integer, double, or tagged (any value). A double-represented field keeps every value in a
// box of its own (one allocation per field per object), and when a field later receives a value
// its representation cannot hold (a fraction or a number past 2^31 in a small-integer field), the
// shape is deprecated and objects already made with it migrate on their next access. The model's
// hot objects (operators, per-operator results) are built by one literal each, many per
// evaluation, from values that start small and grow. Calling that literal's function once at load
// time with non-numbers for its numeric arguments makes those fields tagged from the start: the
// representation never changes again, small integers are stored inline, and copying a field
// copies a pointer. Only speed depends on this; values are the same either way.

/** Calls `make` once with null for every argument after the first `leading` ones (kept as given)
 *  and drops the result. */
export function primeShape<A extends unknown[]>(make: (...args: A) => unknown, ...leading: unknown[]): void {
  const args = new Array<unknown>(make.length).fill(null);
  for (let i = 0; i < leading.length; i++) args[i] = leading[i];
  make(...(args as A));
}
