/**
 * Redis ACL users for tests, written either as redis-server command-line
 * arguments (`--user alice on >secret ~* &* +@all`) or as quoted redis.conf /
 * sentinel.conf lines. Managed services (ElastiCache RBAC, Memorystore) hand
 * out a user name and password rather than a bare requirepass; tests of
 * `redis://user:password@host` need a server that knows such a user.
 */

export interface AclUser {
  name: string;
  password: string;
  /** ACL rules after `on >password`; default: every key, channel and command. */
  rules?: string[];
}

export const ALL_PERMISSIONS = ['~*', '&*', '+@all'];

/** The tokens of one `user` directive: name, on, >password, rules... */
export function aclTokens(user: AclUser): string[] {
  if (!/^[^\s"'\\]+$/.test(user.name)) throw new Error(`ACL user name "${user.name}" has whitespace or quotes`);
  return [user.name, 'on', `>${user.password}`, ...(user.rules ?? ALL_PERMISSIONS)];
}

/**
 * redis-server arguments. Each token is its own argv element: Redis 7 quotes
 * every element when it turns the command line into config, so a password with
 * spaces survives.
 */
export function aclArgs(users: readonly AclUser[]): string[] {
  return users.flatMap((u) => ['--user', ...aclTokens(u)]);
}

/** A double-quoted config token (sdssplitargs rules: \\ and \" escaped). */
export function confQuote(token: string): string {
  return `"${token.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** `user "alice" "on" ">secret" "~*" ...` lines for a config file. */
export function aclConfLines(users: readonly AclUser[]): string[] {
  return users.map((u) => `user ${aclTokens(u).map(confQuote).join(' ')}`);
}

/** redis://user:password@127.0.0.1:port with the user's credentials escaped. */
export function urlWithUser(url: string, user: Pick<AclUser, 'name' | 'password'>): string {
  return url.replace(/^([a-z-]+:\/\/)(?:[^@/]*@)?/i, `$1${encodeURIComponent(user.name)}:${encodeURIComponent(user.password)}@`);
}
