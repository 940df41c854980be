/**
 * A workflow's graph, checked before anything is written: step names, the
 * steps each one runs after, no unknown or missing step, no cycle. A bad
 * graph is WORKFLOW_INVALID (422) naming the step (details.step) and, for a
 * cycle, the steps around it. Pure: no Redis, no BullMQ.
 */
import { ConveyorError } from '../errors.ts';

/** Steps one workflow may have. */
export const WORKFLOW_MAX_STEPS = 10_000;
/** Dependencies one step may have. */
export const WORKFLOW_MAX_AFTER = 1_000;

const STEP_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function isValidStepName(name: unknown): name is string {
  return typeof name === 'string' && STEP_NAME.test(name);
}

export interface GraphStep {
  name: string;
  /** The steps this one runs after (their results are its inputs). */
  after: string[];
}

export interface Graph {
  /** The steps in an order where each comes after its dependencies. */
  order: string[];
  /** Step → the steps that run after it. */
  dependents: Map<string, string[]>;
}

function invalid(step: string | undefined, message: string, extra: Record<string, unknown> = {}): ConveyorError {
  return new ConveyorError('WORKFLOW_INVALID', message, { ...(step !== undefined ? { step, path: `steps.${step}` } : {}), ...extra });
}

/**
 * Checks the graph: every `after` names a step, none twice, none itself, and
 * no cycle. Returns a topological order (ties in the order given).
 */
export function checkGraph(steps: readonly GraphStep[]): Graph {
  if (steps.length === 0) throw invalid(undefined, 'steps: a workflow needs at least one step');
  if (steps.length > WORKFLOW_MAX_STEPS) throw invalid(undefined, `steps: ${steps.length} steps; a workflow has at most ${WORKFLOW_MAX_STEPS}`);
  const byName = new Map<string, GraphStep>();
  for (const s of steps) {
    if (!isValidStepName(s.name)) throw invalid(undefined, `steps: step name ${JSON.stringify(s.name)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -`);
    if (byName.has(s.name)) throw invalid(s.name, `steps.${s.name}: the step is defined twice`);
    byName.set(s.name, s);
  }
  const dependents = new Map<string, string[]>(steps.map((s) => [s.name, []]));
  for (const s of steps) {
    if (s.after.length > WORKFLOW_MAX_AFTER) throw invalid(s.name, `steps.${s.name}.after: ${s.after.length} dependencies; a step has at most ${WORKFLOW_MAX_AFTER}`);
    const seen = new Set<string>();
    for (const d of s.after) {
      if (d === s.name) throw invalid(s.name, `steps.${s.name}.after: the step depends on itself`, { cycle: [s.name, s.name] });
      if (!byName.has(d)) throw invalid(s.name, `steps.${s.name}.after: "${d}" is not a step of this workflow (steps: ${[...byName.keys()].slice(0, 20).join(', ')})`, { missing: d });
      if (seen.has(d)) throw invalid(s.name, `steps.${s.name}.after: "${d}" is named twice`);
      seen.add(d);
      dependents.get(d)!.push(s.name);
    }
  }
  // Kahn's algorithm, in the order given; what is left is on a cycle (or after one).
  const indegree = new Map(steps.map((s) => [s.name, s.after.length]));
  const ready = steps.filter((s) => s.after.length === 0).map((s) => s.name);
  const order: string[] = [];
  for (let i = 0; i < ready.length; i++) {
    const n = ready[i]!;
    order.push(n);
    for (const m of dependents.get(n)!) {
      const left = indegree.get(m)! - 1;
      indegree.set(m, left);
      if (left === 0) ready.push(m);
    }
  }
  if (order.length < steps.length) {
    const cycle = findCycle(byName, new Set(steps.map((s) => s.name).filter((n) => !order.includes(n))));
    throw invalid(cycle[0], `steps.${cycle[0]}: the steps ${cycle.join(' → ')} form a cycle`, { cycle });
  }
  return { order, dependents };
}

/** A cycle among the left-over steps, as a path that starts and ends at the same step. */
function findCycle(byName: Map<string, GraphStep>, left: Set<string>): string[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 'visiting');
    stack.push(n);
    for (const d of byName.get(n)!.after) {
      if (!left.has(d)) continue;
      if (state.get(d) === 'visiting') return [...stack.slice(stack.indexOf(d)), d].reverse();
      if (!state.has(d)) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of left) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return [...left];
}
