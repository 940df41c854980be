/**
 * How deeply a parsed JSON value nests. A request body of a few megabytes can
 * nest a million levels: JSON.parse copes, but JSON.stringify, structured
 * clone and most validators recurse and overflow the stack (a 500). Measured
 * without recursion, and stops as soon as the limit is passed.
 */

/** Nesting depth of a JSON value: 0 for a scalar, 1 for {} or [], 2 for {"a": []}, ... */
export function jsonDepth(value: unknown, stopAbove = Infinity): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    const depth = d + 1;
    if (depth > max) {
      max = depth;
      if (max > stopAbove) return max;
    }
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const c of children) if (typeof c === 'object' && c !== null) stack.push([c, depth]);
  }
  return max;
}

/** Is the value nested at most maxDepth levels deep? */
export function withinDepth(value: unknown, maxDepth: number): boolean {
  return jsonDepth(value, maxDepth) <= maxDepth;
}
