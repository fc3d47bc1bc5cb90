<?php

declare(strict_types=1);

namespace Cachekit\Internal;

use Cachekit\Client;

/**
 * End-of-request work, in order: deferred refreshes (a stale value was
 * served and its recomputation waits until the response is out), then a
 * flush of every live client, so that writes made behind callers land
 * before the process exits (the core sends them at once and reads their
 * reply later; ck_flush waits for the replies).
 *
 * @internal
 */
final class Shutdown
{
    /** @var list<\WeakReference<Client>> */
    private static array $clients = [];

    /** @var list<callable(): void> */
    private static array $deferred = [];

    private static bool $registered = false;

    public static function track(Client $client): void
    {
        self::register();
        self::$clients = array_values(array_filter(self::$clients, static fn (\WeakReference $r) => $r->get() !== null));
        self::$clients[] = \WeakReference::create($client);
    }

    /** @param callable(): void $task */
    public static function defer(callable $task): void
    {
        self::register();
        self::$deferred[] = $task;
    }

    public static function run(): void
    {
        if (self::$deferred !== [] && \function_exists('fastcgi_finish_request')) {
            // php-fpm: send the response first; the refresh is not the user's wait.
            fastcgi_finish_request();
        }
        while (($task = array_shift(self::$deferred)) !== null) {
            try {
                $task();
            } catch (\Throwable $e) {
                error_log('cachekit: a deferred refresh failed: ' . $e->getMessage());
            }
        }
        foreach (self::$clients as $ref) {
            try {
                $ref->get()?->flush();
            } catch (\Throwable $e) {
                error_log('cachekit: flush at shutdown failed: ' . $e->getMessage());
            }
        }
    }

    private static function register(): void
    {
        if (!self::$registered) {
            self::$registered = true;
            register_shutdown_function([self::class, 'run']);
        }
    }
}
