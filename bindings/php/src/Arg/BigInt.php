<?php

declare(strict_types=1);

namespace Cachekit\Arg;

use Cachekit\Exception\SerializationException;

/**
 * An integer beyond PHP_INT_MAX and up to 2^64-1 in a cache key (such as an
 * unsigned 64-bit snowflake id held as a string), so it hashes as the
 * integer Python, Go and Rust see. Given as a decimal string; a value that
 * fits a PHP int is just that int. The protocol allows [-2^63, 2^64-1]:
 * anything else is refused here.
 */
final class BigInt
{
    /** @var int|array{0: int, 1: int} a PHP int, or the high and low 32 bits of an unsigned 64-bit value */
    public readonly int|array $value;

    public function __construct(public readonly string $decimal)
    {
        if (!preg_match('/^-?[0-9]+$/D', $decimal)) {
            throw new SerializationException("cachekit: BigInt needs a decimal integer, got '{$decimal}'");
        }
        $digits = ltrim($decimal, '-');
        $digits = ltrim($digits, '0');
        $negative = $decimal[0] === '-' && $digits !== '';
        if ($digits === '') {
            $this->value = 0;
            return;
        }
        $int = filter_var(($negative ? '-' : '') . $digits, FILTER_VALIDATE_INT);
        if ($int !== false) {
            $this->value = $int;
            return;
        }
        if ($negative) {
            throw new SerializationException("cachekit: integer {$decimal} is below -2^63, the smallest a cache key can hold");
        }
        // Unsigned 64 bits in two 32-bit halves: PHP ints are signed.
        $hi = 0;
        $lo = 0;
        foreach (str_split($digits) as $d) {
            $lo = $lo * 10 + (int) $d;
            $hi = $hi * 10 + ($lo >> 32);
            $lo &= 0xFFFFFFFF;
            if ($hi > 0xFFFFFFFF) {
                throw new SerializationException("cachekit: integer {$decimal} is above 2^64-1, the largest a cache key can hold");
            }
        }
        $this->value = [$hi, $lo];
    }
}
