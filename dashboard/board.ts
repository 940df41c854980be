/**
 * bull-board at /queues, showing every Conveyor queue and its dead-letter queue.
 *
 * bull-board keeps a fixed list of queues; Conveyor's queues appear whenever a
 * producer first uses a name. So the list is refreshed from the registry set
 * (one SMEMBERS) when a request reaches the board and the last refresh is older
 * than refreshMs; concurrent requests share one refresh. A Redis outage during a
 * refresh keeps the previous list rather than failing the board.
 *
 * Two boards share the adapters' queues: one for admins, and one with every
 * queue read-only for read-only users (bull-board's read-only mode is per
 * queue, not per request). Its page gets Conveyor's navigation bar and a small
 * script that adds the CSRF token to bull-board's own API calls.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Inspector } from '../shared/queue/inspector.ts';
import type { QueueSet } from '../shared/queue/queue-set.ts';
import type { Logger } from '../shared/log.ts';
import { esc } from './pages/format.ts';

export const BOARD_PATH = '/queues';

export interface BoardDeps {
  queues: QueueSet;
  inspector: Inspector;
  logger: Logger;
  /** How stale the queue list may be when a request arrives (default 1000 ms). */
  refreshMs?: number;
}

export interface Board {
  /** bull-board for this request's role. */
  router: RequestHandler;
  /** Runs before the board: brings its queue list up to date. */
  refresher: RequestHandler;
  /** Reloads the queue list now; resolves with the Conveyor queue names shown. */
  refresh(): Promise<string[]>;
}

function oneBoard(readOnly: boolean) {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'Conveyor',
        boardLogo: { path: '/assets/favicon.svg', width: 22, height: 22 },
        favIcon: { default: '/assets/favicon.svg', alternative: '/assets/favicon.svg' },
        miscLinks: [{ text: 'Conveyor overview', url: '/' }],
        hideDocsLink: true,
        // bull-board runs CLIENT LIST per queue on every poll to show workers;
        // managed Redis services often forbid it, and the Workers page shows
        // the fleet from heartbeats instead.
        showWorkers: false,
      },
    },
  });
  return { board, router: serverAdapter.getRouter() as Router, readOnly };
}

export function createBoard(deps: BoardDeps): Board {
  const refreshMs = deps.refreshMs ?? 1000;
  const boards = [oneBoard(false), oneBoard(true)] as const;

  // Adapters per Conveyor queue and board, built once.
  const adapters = new Map<string, [BullMQAdapter[], BullMQAdapter[]]>();
  const build = (name: string, readOnly: boolean): BullMQAdapter[] => [
    new BullMQAdapter(deps.queues.source(name), { displayName: name, readOnlyMode: readOnly }),
    // Dead letters are replayed and dropped through Conveyor (its dead-letter
    // page, API, CLI), which keeps ids, names and data; bull-board's retry and
    // clean would not, so the dead-letter queue is read-only here.
    new BullMQAdapter(deps.queues.dead(name), {
      displayName: `${name} (dead letters)`,
      description: `Jobs of "${name}" that used up their attempts. Replay or drop them on Conveyor's Dead letters page (/dead), the API or the CLI.`,
      readOnlyMode: true,
    }),
  ];
  const adaptersOf = (name: string) => {
    let pair = adapters.get(name);
    if (!pair) adapters.set(name, (pair = [build(name, false), build(name, true)]));
    return pair;
  };

  let shown: string[] = [];
  let lastRefresh = 0;
  let inFlight: Promise<string[]> | undefined;

  const refresh = (): Promise<string[]> => {
    inFlight ??= (async () => {
      try {
        const names = await deps.inspector.queueNames();
        boards[0].board.replaceQueues(names.flatMap((n) => adaptersOf(n)[0]));
        boards[1].board.replaceQueues(names.flatMap((n) => adaptersOf(n)[1]));
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

  const router: RequestHandler = (req, res, next) => {
    injectBridge(req, res);
    const role = (res.locals.session as { role?: string } | undefined)?.role;
    (role === 'admin' ? boards[0] : boards[1]).router(req, res, next);
  };

  return { router, refresher, refresh };
}

/**
 * bull-board's page is its own app; Conveyor adds to its <head> the CSRF
 * token, its navigation bar (bull-board-bridge.js draws it) and the bridge's
 * stylesheet. Only HTML pages are touched, never the API or the assets.
 */
function injectBridge(req: Request, res: Response): void {
  if (req.method !== 'GET' || /^\/(api|static)\//.test(req.path)) return;
  const send = res.send.bind(res);
  const csrf = String(res.locals.csrf ?? '');
  const session = res.locals.session as { user?: string; role?: string } | undefined;
  res.send = ((body: unknown) => {
    if (typeof body === 'string' && body.includes('</head>')) {
      const head = `<meta name="conveyor-csrf" content="${esc(csrf)}"><meta name="conveyor-user" content="${esc(session?.user ?? '')}" data-role="${esc(session?.role ?? '')}"><link rel="stylesheet" href="/assets/bull-board-bridge.css"><script src="/assets/bull-board-bridge.js"></script>`;
      body = body.replace('</head>', `${head}</head>`);
    }
    return send(body);
  }) as Response['send'];
}
