/**
 * bull-board at /queues, showing every Conveyor queue and its dead-letter queue.
 *
 * bull-board keeps a fixed list of queues; Conveyor's queues appear whenever a
 * producer first uses a name. So the list is refreshed from the registry set
 * (one SMEMBERS) when a request reaches the board and the last refresh is older
 * than refreshMs; concurrent requests share one refresh. A Redis outage during a
 * refresh keeps the previous list rather than failing the board.
 */
import type { RequestHandler, Router } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Inspector } from '#shared/queue/inspector.ts';
import type { QueueSet } from '#shared/queue/queue-set.ts';
import type { Logger } from '#shared/log.ts';

export const BOARD_PATH = '/queues';

export interface BoardDeps {
  queues: QueueSet;
  inspector: Inspector;
  logger: Logger;
  /** How stale the queue list may be when a request arrives (default 1000 ms). */
  refreshMs?: number;
}

export interface Board {
  router: Router;
  /** Runs before the board: brings its queue list up to date. */
  refresher: RequestHandler;
  /** Reloads the queue list now; resolves with the Conveyor queue names shown. */
  refresh(): Promise<string[]>;
}

export function createBoard(deps: BoardDeps): Board {
  const refreshMs = deps.refreshMs ?? 1000;
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'Conveyor',
        miscLinks: [{ text: 'Conveyor overview', url: '/' }],
        hideDocsLink: true,
      },
    },
  });

  // One pair of adapters per Conveyor queue, built once.
  const adapters = new Map<string, BullMQAdapter[]>();
  const adaptersOf = (name: string): BullMQAdapter[] => {
    let pair = adapters.get(name);
    if (!pair) {
      pair = [
        new BullMQAdapter(deps.queues.source(name), { displayName: name }),
        // Dead letters are replayed and dropped through Conveyor (API, CLI, its own
        // pages), which keeps ids, names and data; bull-board's retry/clean would
        // not, so the dead-letter queue is read-only here.
        new BullMQAdapter(deps.queues.dead(name), {
          displayName: `${name} (dead letters)`,
          description: `Jobs of "${name}" that used up their attempts. Replay or drop them with the API (/v1/queues/${name}/dead) or the CLI.`,
          readOnlyMode: true,
        }),
      ];
      adapters.set(name, pair);
    }
    return pair;
  };

  let shown: string[] = [];
  let lastRefresh = 0;
  let inFlight: Promise<string[]> | undefined;

  const refresh = (): Promise<string[]> => {
    inFlight ??= (async () => {
      try {
        const names = await deps.inspector.queueNames();
        board.replaceQueues(names.flatMap(adaptersOf));
        for (const n of adapters.keys()) if (!names.includes(n)) adapters.delete(n);
        shown = names;
        lastRefresh = Date.now();
      } catch (err) {
        deps.logger.warn({ err: (err as Error).message }, 'could not refresh the board\'s queue list; showing the previous one');
      } finally {
        inFlight = undefined;
      }
      return shown;
    })();
    return inFlight;
  };

  const refresher: RequestHandler = async (_req, _res, next) => {
    if (Date.now() - lastRefresh >= refreshMs) await refresh();
    next();
  };

  return { router: serverAdapter.getRouter() as Router, refresher, refresh };
}
