<?php

declare(strict_types=1);

namespace Cachekit\Internal;

use Cachekit\Arg\BigInt;
use Cachekit\Arg\Bytes;
use Cachekit\Arg\Set;
use Cachekit\Arg\Uuid;
use Cachekit\Exception\SerializationException;

/**
 * PHP values to MessagePack and back, for argument arrays (keys) and values.
 *
 * The common case, data made of null, bool, int, float, UTF-8 strings, lists
 * and string-keyed arrays, is packed by php-msgpack in one call. What
 * php-msgpack cannot write goes through the small packer below, which writes
 * only standard MessagePack:
 * - a string that is not valid UTF-8 becomes `bin` (the core refuses a `str`
 *   that is not UTF-8; php-msgpack has no `bin`);
 * - integer keys of a non-list array become strings (keys must be strings
 *   in keys and in interop values, and PHP turns "5" back into 5 on read);
 * - DateTimeInterface: in arguments the standard timestamp (ext -1, as
 *   Python sends an aware datetime), in values the marker map
 *   `{"__datetime__": true, "value": ISO 8601}` of the protocol;
 * - in arguments only: Arg\Bytes (bin), Arg\Set (ext 1), Arg\Uuid and
 *   Symfony/ramsey UUID objects (ext 2), Arg\BigInt (uint64).
 * The core canonicalises arguments (widths, key order, 2.0 == 2, sets) before
 * hashing, so nothing here has to be canonical.
 *
 * @internal
 */
final class Codec
{
    /** Encodes the argument list of one call (the key's input). */
    public static function args(array $args): string
    {
        if (self::plain($args)) {
            return msgpack_pack($args);
        }
        $out = '';
        self::pack($out, $args, true, 0);
        return $out;
    }

    /** Encodes a value to store. */
    public static function value(mixed $value): string
    {
        if (self::plain($value)) {
            return msgpack_pack($value);
        }
        $out = '';
        self::pack($out, $value, false, 0);
        return $out;
    }

    /**
     * Decodes a stored value. Throws \UnexpectedValueException for bytes
     * php-msgpack cannot read (the caller discards the entry).
     */
    public static function decode(string $bytes): mixed
    {
        // The core has verified the document, so a failure here is rare; the
        // warning php-msgpack would print is silenced and turned into an exception.
        $v = @msgpack_unpack($bytes);
        if ($v === false && $bytes !== "\xc2") {
            throw new \UnexpectedValueException('php-msgpack cannot decode the stored value');
        }
        if (\is_array($v) && str_contains($bytes, '__')) {
            $v = self::markers($v);
        }
        return $v;
    }

    /** Whether php-msgpack writes `$v` exactly as the protocol wants it. */
    private static function plain(mixed $v): bool
    {
        if (\is_string($v)) {
            return preg_match('//u', $v) === 1;
        }
        if (\is_array($v)) {
            $list = array_is_list($v);
            foreach ($v as $k => $x) {
                if ((!$list && \is_int($k)) || !self::plain($x)) {
                    return false;
                }
            }
            return true;
        }
        return \is_int($v) || \is_float($v) || \is_bool($v) || $v === null;
    }

    private static function pack(string &$out, mixed $v, bool $args, int $depth): void
    {
        if ($depth > 512) {
            throw new SerializationException('cachekit: the value is nested more than 512 levels deep');
        }
        switch (true) {
            case $v === null:
                $out .= "\xc0";
                return;
            case \is_bool($v):
                $out .= $v ? "\xc3" : "\xc2";
                return;
            case \is_int($v):
                self::int($out, $v);
                return;
            case \is_float($v):
                $out .= "\xcb" . pack('E', $v);
                return;
            case \is_string($v):
                if (preg_match('//u', $v) === 1) {
                    self::str($out, $v);
                } else {
                    self::bin($out, $v);
                }
                return;
            case \is_array($v):
                if (array_is_list($v)) {
                    self::header($out, \count($v), "\x90", 0xf, "\xdc", "\xdd");
                    foreach ($v as $x) {
                        self::pack($out, $x, $args, $depth + 1);
                    }
                } else {
                    self::header($out, \count($v), "\x80", 0xf, "\xde", "\xdf");
                    foreach ($v as $k => $x) {
                        self::str($out, (string) $k);
                        self::pack($out, $x, $args, $depth + 1);
                    }
                }
                return;
            case $v instanceof \DateTimeInterface:
                if ($args) {
                    // timestamp 96: nanoseconds (u32) then seconds (i64).
                    $out .= "\xc7\x0c\xff" . pack('NJ', ((int) $v->format('u')) * 1000, (int) $v->format('U'));
                } else {
                    $out .= "\x82";
                    self::str($out, '__datetime__');
                    $out .= "\xc3";
                    self::str($out, 'value');
                    self::str($out, self::iso($v));
                }
                return;
        }
        if ($args) {
            if ($v instanceof Bytes) {
                self::bin($out, $v->bytes);
                return;
            }
            if ($v instanceof BigInt) {
                if (\is_int($v->value)) {
                    self::int($out, $v->value);
                } else {
                    $out .= "\xcf" . pack('NN', $v->value[0], $v->value[1]);
                }
                return;
            }
            if ($v instanceof Set) {
                $payload = '';
                self::pack($payload, $v->elements, true, $depth + 1);
                self::ext($out, 1, $payload);
                return;
            }
            $uuid = self::uuidBytes($v);
            if ($uuid !== null) {
                self::ext($out, 2, $uuid);
                return;
            }
        }
        throw new SerializationException(sprintf(
            'cachekit: a %s cannot be %s (supported: null, bool, int, float, string, array, DateTimeInterface%s)',
            get_debug_type($v),
            $args ? 'part of a cache key' : 'cached as language-neutral MessagePack',
            $args ? ', Cachekit\\Arg\\Bytes, Set, Uuid, BigInt' : '; convert objects to arrays first',
        ));
    }

    /** ISO 8601 as Python's isoformat() writes it (microseconds only when not zero). */
    private static function iso(\DateTimeInterface $v): string
    {
        return $v->format('u') === '000000' ? $v->format('Y-m-d\TH:i:sP') : $v->format('Y-m-d\TH:i:s.uP');
    }

    private static function uuidBytes(mixed $v): ?string
    {
        if ($v instanceof Uuid) {
            return $v->bytes;
        }
        if ($v instanceof \Symfony\Component\Uid\AbstractUid) {
            return $v->toBinary();
        }
        if ($v instanceof \Ramsey\Uuid\UuidInterface) {
            return $v->getBytes();
        }
        return null;
    }

    private static function int(string &$out, int $v): void
    {
        if ($v >= 0) {
            if ($v < 0x80) {
                $out .= \chr($v);
            } elseif ($v <= 0xff) {
                $out .= "\xcc" . \chr($v);
            } elseif ($v <= 0xffff) {
                $out .= "\xcd" . pack('n', $v);
            } elseif ($v <= 0xffffffff) {
                $out .= "\xce" . pack('N', $v);
            } else {
                $out .= "\xcf" . pack('J', $v);
            }
        } elseif ($v >= -32) {
            $out .= \chr($v & 0xff);
        } elseif ($v >= -128) {
            $out .= "\xd0" . \chr($v & 0xff);
        } elseif ($v >= -32768) {
            $out .= "\xd1" . pack('n', $v & 0xffff);
        } elseif ($v >= -2147483648) {
            $out .= "\xd2" . pack('N', $v & 0xffffffff);
        } else {
            $out .= "\xd3" . pack('J', $v);
        }
    }

    private static function header(string &$out, int $n, string $fix, int $fixMax, string $h16, string $h32): void
    {
        if ($n <= $fixMax) {
            $out .= \chr(\ord($fix) | $n);
        } elseif ($n <= 0xffff) {
            $out .= $h16 . pack('n', $n);
        } else {
            $out .= $h32 . pack('N', $n);
        }
    }

    private static function str(string &$out, string $s): void
    {
        $n = \strlen($s);
        if ($n < 32) {
            $out .= \chr(0xa0 | $n);
        } elseif ($n <= 0xff) {
            $out .= "\xd9" . \chr($n);
        } elseif ($n <= 0xffff) {
            $out .= "\xda" . pack('n', $n);
        } else {
            $out .= "\xdb" . pack('N', $n);
        }
        $out .= $s;
    }

    private static function bin(string &$out, string $b): void
    {
        $n = \strlen($b);
        if ($n <= 0xff) {
            $out .= "\xc4" . \chr($n);
        } elseif ($n <= 0xffff) {
            $out .= "\xc5" . pack('n', $n);
        } else {
            $out .= "\xc6" . pack('N', $n);
        }
        $out .= $b;
    }

    private static function ext(string &$out, int $type, string $payload): void
    {
        $t = \chr($type & 0xff);
        $n = \strlen($payload);
        $fixed = [1 => "\xd4", 2 => "\xd5", 4 => "\xd6", 8 => "\xd7", 16 => "\xd8"];
        if (isset($fixed[$n])) {
            $out .= $fixed[$n] . $t . $payload;
        } elseif ($n <= 0xff) {
            $out .= "\xc7" . \chr($n) . $t . $payload;
        } elseif ($n <= 0xffff) {
            $out .= "\xc8" . pack('n', $n) . $t . $payload;
        } else {
            $out .= "\xc9" . pack('N', $n) . $t . $payload;
        }
    }

    /** Date and time marker maps back to DateTimeImmutable, at any depth. */
    private static function markers(array $v): mixed
    {
        if (\count($v) === 2 && isset($v['value']) && \is_string($v['value'])) {
            if (($v['__datetime__'] ?? null) === true) {
                return self::parse($v['value'], 'datetime');
            }
            if (($v['__date__'] ?? null) === true) {
                // A date has no zone: midnight UTC of that day.
                return self::parse($v['value'] . 'T00:00:00+00:00', 'date');
            }
            if (($v['__time__'] ?? null) === true) {
                // A time of day: on 1970-01-01, UTC unless the value has an offset.
                $t = $v['value'];
                $zoned = preg_match('/(Z|[+-]\d\d:?\d\d)$/', $t) === 1;
                return self::parse('1970-01-01T' . $t . ($zoned ? '' : '+00:00'), 'time');
            }
        }
        foreach ($v as $k => $x) {
            if (\is_array($x)) {
                $v[$k] = self::markers($x);
            }
        }
        return $v;
    }

    private static function parse(string $iso, string $what): \DateTimeImmutable
    {
        try {
            return new \DateTimeImmutable($iso);
        } catch (\Exception $e) {
            throw new \UnexpectedValueException("stored {$what} marker '{$iso}' is not ISO 8601", 0, $e);
        }
    }
}
