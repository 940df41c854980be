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
 * queue, not per request). And a pair per base the dashboard is mounted
 * under: bull-board's adapter has one base path, which it writes into its
 * page (<base href>, the logo, the links), so a request under another prefix
 * needs its own board. The boards are built when a base is first seen;
 * a host's mount path can hold a parameter ('/:tenant/conveyor'), so a
 * client could invent bases: at most MAX_BOARDS are kept, the least recently
 * used is dropped (and rebuilt if asked for again).
 *
 * Its page gets Conveyor's navigation bar and a small script that adds the
 * CSRF token to bull-board's own API calls.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Inspector } from '../shared/queue/inspector.ts';
import type { QueueSet } from '../shared/queue/queue-set.ts';
import type { Logger } from '../shared/log.ts';
import { esc } from './pages/format.ts';
import { stateOf } from './mount.ts';
import type { SignIn } from './context.ts';

export const BOARD_PATH = '/queues';
const MAX_BOARDS = 16;

export interface BoardDeps {
  queues: QueueSet;
  inspector: Inspector;
  logger: Logger;
  /** How stale the queue list may be when a request arrives (default 1000 ms). */
  refreshMs?: number;
  /** Who signs users in: the navigation bar names the user (not the local admin), with a logout button for Conveyor's own login. */
  signIn: SignIn;
}

export interface Board {
  /** bull-board for this request's base and role. */
  router: RequestHandler;
  /** Runs before the board: brings its queue list up to date. */
  refresher: RequestHandler;
  /** Reloads the queue list now; resolves with the Conveyor queue names shown. */
  refresh(): Promise<string[]>;
}

interface OneBoard {
  board: ReturnType<typeof createBullBoard>;
  router: Router;
  readOnly: boolean;
}

function oneBoard(base: string, readOnly: boolean): OneBoard {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(`${base}${BOARD_PATH}`);
  const icon = `${base}/assets/favicon.svg`;
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'Conveyor',
        boardLogo: { path: icon, width: 22, height: 22 },
        favIcon: { default: icon, alternative: icon },
        miscLinks: [{ text: 'Conveyor overview', url: `${base}/` }],
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

  // Adapters per Conveyor queue and role, built once and shared by the boards of every base.
  const adapters = new Map<string, [BullMQAdapter[], BullMQAdapter[]]>();
  const build = (name: string, readOnly: boolean): BullMQAdapter[] => [
    new BullMQAdapter(deps.queues.source(name), { displayName: name, readOnlyMode: readOnly }),
    // Dead letters are replayed and dropped through Conveyor (its dead-letter
    // page, API, CLI), which keeps ids, names and data; bull-board's retry and
    // clean would not, so the dead-letter queue is read-only here.
    new BullMQAdapter(deps.queues.dead(name), {
      displayName: `${name} (dead letters)`,
      description: `Jobs of "${name}" that used up their attempts. Replay or drop them on Conveyor's Dead letters page, the API or the CLI.`,
      readOnlyMode: true,
    }),
  ];
  const adaptersOf = (name: string) => {
    let pair = adapters.get(name);
    if (!pair) adapters.set(name, (pair = [build(name, false), build(name, true)]));
    return pair;
  };
  const queuesFor = (names: string[], readOnly: boolean) => names.flatMap((n) => adaptersOf(n)[readOnly ? 1 : 0]);

  let shown: string[] = [];
  let lastRefresh = 0;
  let inFlight: Promise<string[]> | undefined;

  // Insertion order is use order: a hit moves to the end, the first is the least recently used.
  const boards = new Map<string, OneBoard>();
  const boardFor = (base: string, readOnly: boolean): OneBoard => {
    const key = `${readOnly ? 'read' : 'admin'} ${base}`;
    let b = boards.get(key);
    if (b) {
      boards.delete(key);
    } else {
      b = oneBoard(base, readOnly);
      b.board.replaceQueues(queuesFor(shown, readOnly));
      if (boards.size >= MAX_BOARDS) boards.delete(boards.keys().next().value!);
    }
    boards.set(key, b);
    return b;
  };

  const refresh = (): Promise<string[]> => {
    inFlight ??= (async () => {
      try {
        const names = await deps.inspector.queueNames();
        for (const b of boards.values()) b.board.replaceQueues(queuesFor(names, b.readOnly));
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
    const { base, session } = stateOf(res);
    injectBridge(req, res, deps.signIn);
    boardFor(base, session?.role !== 'admin').router(req, res, next);
  };

  return { router, refresher, refresh };
}

/**
 * bull-board's page is its own app; Conveyor adds to its <head> the base, the
 * CSRF token, who is looking, its navigation bar (bull-board-bridge.js draws
 * it) and the bridge's stylesheet. Only HTML pages are touched, never the API
 * or the assets.
 */
function injectBridge(req: Request, res: Response, signIn: SignIn): void {
  if (req.method !== 'GET' || /^\/(api|static)\//.test(req.path)) return;
  const send = res.send.bind(res);
  const { base, csrf, session } = stateOf(res);
  const user = signIn === 'none' ? '' : (session?.user ?? '');
  res.send = ((body: unknown) => {
    if (typeof body === 'string' && body.includes('</head>')) {
      const b = esc(base);
      const head = `<meta name="conveyor-base" content="${b}"><meta name="conveyor-csrf" content="${esc(csrf ?? '')}"><meta name="conveyor-user" content="${esc(user)}" data-role="${esc(session?.role ?? '')}"${signIn === 'login' ? ' data-logout' : ''}><link rel="stylesheet" href="${b}/assets/bull-board-bridge.css"><script src="${b}/assets/bull-board-bridge.js"></script>`;
      body = body.replace('</head>', `${head}</head>`);
    }
    return send(body);
  }) as Response['send'];
}
