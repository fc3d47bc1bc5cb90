// Compiled by ci.sh with tsc --noEmit: the declarations users see.
import { cache, createClient, float, CachedFunction, CachekitError } from 'cachekit';

async function getUser(id: number, opts: { full: boolean }): Promise<{ id: number; name: string }> {
  return { id, name: String(opts.full) };
}

const cached: CachedFunction<[number, { full: boolean }], { id: number; name: string }> = cache(getUser, { ttl: 60, namespace: 'users' });
const p: Promise<{ id: number; name: string }> = cached(1, { full: true });
const k: string = cached.key(1, { full: false });
const sync = cache((a: string) => a.length, { operation: 'len' });
const n: Promise<number> = sync('abc');
const client = createClient({ redisUrl: null, defaultTtl: 30 });
const c2 = client.cache(async (x: number) => x * 2, { operation: 'double', breaker: { failureThreshold: 3 }, l1: { maxSizeMb: 10 } });
c2(float(2).value).then((v: number) => v);
c2.invalidate(1).then((b: boolean) => b);
const e = new CachekitError();
const code: string = e.code;
// @ts-expect-error: wrong argument type
cached('x', { full: true });
// @ts-expect-error: unknown option
cache(getUser, { tll: 5 });
export { p, k, n, code };
