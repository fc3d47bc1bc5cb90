<?php

declare(strict_types=1);

namespace Cachekit\Tests;

use Cachekit\Cache;
use Cachekit\Exception\EncryptionException;
use PHPUnit\Framework\TestCase;

/** AES-256-GCM per namespace: a round trip, ciphertext in Redis, a wrong key is a miss. */
final class EncryptionTest extends TestCase
{
    private const KEY = '6161616161616161616161616161616161616161616161616161616161616161';
    private const OTHER_KEY = '6262626262626262626262626262626262626262626262626262626262626262';

    public function testAnEncryptedValueRoundTripsAndRedisHoldsCiphertext(): void
    {
        $ns = Support::ns('secret');
        $c = new Cache($ns, ['encryption' => true, 'master_key' => self::KEY], Support::client());
        $c->set('card', ['pan' => '4111-1111-1111-1111']);
        $this->assertSame(['pan' => '4111-1111-1111-1111'], $c->get('card'));
        Support::client()->flush();
        $raw = Support::redis()->get($c->redisKey('card'));
        $this->assertIsString($raw);
        $this->assertStringNotContainsString('4111', $raw, 'Redis holds ciphertext');
        $fresh = new Cache($ns, ['encryption' => true, 'master_key' => self::KEY, 'l1_enabled' => false], Support::client());
        $this->assertSame(['pan' => '4111-1111-1111-1111'], $fresh->get('card'), 'decrypted from Redis');
        $this->assertNotEmpty($c->health()['encryption'], 'health reports the key fingerprint');
    }

    public function testAWrongKeyIsAMissAndTheValueIsRecomputed(): void
    {
        $ns = Support::ns('secret');
        $writer = new Cache($ns, ['encryption' => true, 'master_key' => self::KEY], Support::client());
        $f = $writer->wrap($ns, 'balance', static fn (int $account) => ['balance' => 100]);
        $this->assertSame(['balance' => 100], $f(7));
        Support::client()->flush();

        $reader = new Cache($ns, ['encryption' => true, 'master_key' => self::OTHER_KEY], Support::client());
        $calls = 0;
        $g = $reader->wrap($ns, 'balance', static function (int $account) use (&$calls) {
            $calls++;
            return ['balance' => 'recomputed'];
        });
        $this->assertSame(['balance' => 'recomputed'], $g(7));
        $this->assertSame(1, $calls, 'the entry it cannot decrypt is a miss, not an exception or a wrong value');
    }

    public function testEncryptionWithoutAMasterKeyIsRefused(): void
    {
        $this->expectException(EncryptionException::class);
        new Cache(Support::ns('secret'), ['encryption' => true], Support::client());
    }
}
