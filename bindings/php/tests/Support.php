<?php

declare(strict_types=1);

namespace Cachekit\Tests;

use Cachekit\Cache;
use Cachekit\Client;
use PHPUnit\Framework\Assert;

/** What the tests share: the test Redis, unique namespaces, child processes. */
final class Support
{
    /** The throwaway Redis of the test run; a test that needs it fails (never skips) without it. */
    public static function redisUrl(): string
    {
        $url = getenv('CACHEKIT_TEST_REDIS_URL');
        if (!\is_string($url) || $url === '') {
            Assert::fail('CACHEKIT_TEST_REDIS_URL is not set: start a redis-server (ci/redis.sh start php) and export its URL, or run bindings/php/ci.sh');
        }
        return $url;
    }

    public static function client(): Client
    {
        return Client::shared(['redis_url' => self::redisUrl()]);
    }

    /** A namespace no other test (or earlier run) uses. */
    public static function ns(string $prefix): string
    {
        return $prefix . '-' . bin2hex(random_bytes(6));
    }

    /** @param array<string, mixed> $options */
    public static function cache(string $prefix, array $options = []): Cache
    {
        return new Cache(self::ns($prefix), $options, self::client());
    }

    /** A direct phpredis connection to the test Redis, to look at what the core stored. */
    public static function redis(?string $url = null): \Redis
    {
        $p = parse_url($url ?? self::redisUrl());
        $r = new \Redis();
        $r->connect($p['host'] ?? '127.0.0.1', (int) ($p['port'] ?? 6379), 2.0);
        return $r;
    }

    public static function freePort(): int
    {
        $s = stream_socket_server('tcp://127.0.0.1:0');
        Assert::assertNotFalse($s);
        $name = stream_socket_get_name($s, false);
        fclose($s);
        return (int) substr((string) $name, strrpos((string) $name, ':') + 1);
    }

    /**
     * Runs `$command` with extra environment; returns [exit code, stdout, stderr].
     *
     * @param list<string>          $command
     * @param array<string, string> $env
     *
     * @return array{0: int, 1: string, 2: string}
     */
    public static function run(array $command, array $env = [], ?string $stdin = null): array
    {
        $p = proc_open($command, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, array_merge(getenv(), $env));
        Assert::assertIsResource($p, 'cannot start ' . implode(' ', $command));
        fwrite($pipes[0], $stdin ?? '');
        fclose($pipes[0]);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        return [proc_close($p), (string) $out, (string) $err];
    }

    public static function library(): string
    {
        return \Cachekit\Internal\Ffi::libraryPath();
    }
}
