<?php

declare(strict_types=1);

namespace Cachekit\Internal;

use Cachekit\Exception\LibraryException;

/**
 * Turns include/cachekit.h (cbindgen output) into declarations FFI::cdef can
 * parse. The C header stays the only one anybody edits; this derives the PHP
 * flavour from it every time it changes.
 *
 * FFI::cdef understands plain C declarations only, so: preprocessor lines go
 * (the `#ifdef __cplusplus` blocks with their contents), comments go, and
 * byte buffers (`uint8_t *`) become `char *`, because PHP passes a string's
 * bytes without a copy only where the declaration says `char *`.
 *
 * @internal
 */
final class Header
{
    /**
     * @return array{0: string, 1: int} the PHP-flavoured declarations and the
     *                                   header's CK_ABI_VERSION
     */
    public static function fromC(string $c): array
    {
        if (!preg_match('/^#define\s+CK_ABI_VERSION\s+(\d+)\s*$/m', $c, $m)) {
            throw new LibraryException('cachekit: the C header has no CK_ABI_VERSION define; is it include/cachekit.h?');
        }
        $abi = (int) $m[1];

        $c = preg_replace('~/\*.*?\*/~s', '', $c) ?? $c;
        $out = [];
        $skipDepth = 0; // inside `#ifdef __cplusplus ... #endif`
        $depth = 0;
        foreach (preg_split('/\R/', $c) ?: [] as $line) {
            $line = preg_replace('~//.*$~', '', $line) ?? $line;
            $t = trim($line);
            if ($t !== '' && $t[0] === '#') {
                if (preg_match('/^#\s*if/', $t)) {
                    $depth++;
                    if ($skipDepth === 0 && preg_match('/^#\s*ifdef\s+__cplusplus\b/', $t)) {
                        $skipDepth = $depth;
                    }
                } elseif (preg_match('/^#\s*endif/', $t)) {
                    if ($skipDepth === $depth) {
                        $skipDepth = 0;
                    }
                    $depth--;
                }
                continue;
            }
            if ($skipDepth !== 0 || $t === '') {
                continue;
            }
            $out[] = rtrim($line);
        }
        $decls = implode("\n", $out) . "\n";
        // Byte buffers: `const uint8_t *` / `uint8_t *` (and `**`) -> char.
        $decls = preg_replace('/\buint8_t(\s*\*)/', 'char$1', $decls) ?? $decls;
        return ["/* Generated from include/cachekit.h by bindings/php (Cachekit\\Internal\\Header): do not edit. */\n" . $decls, $abi];
    }

    /**
     * The header for php.ini `ffi.preload`: the declarations under FFI scope
     * "cachekit", bound to `$library` (FFI reads these two defines itself).
     */
    public static function preload(string $decls, string $library): string
    {
        return '#define FFI_SCOPE "' . Ffi::SCOPE . "\"\n"
            . '#define FFI_LIB "' . addcslashes($library, '"\\') . "\"\n"
            . $decls;
    }

    /**
     * Writes the PHP header for `$cHeader` to `$target` unless it is already
     * up to date (same source bytes); returns the declarations.
     */
    public static function generate(string $cHeader, string $target): string
    {
        $c = @file_get_contents($cHeader);
        if ($c === false) {
            throw new LibraryException("cachekit: cannot read the C header {$cHeader}; set CACHEKIT_HEADER to include/cachekit.h or CACHEKIT_PHP_HEADER to a generated PHP header");
        }
        [$decls, $abi] = self::fromC($c);
        if ($abi !== Ffi::ABI_VERSION) {
            throw new LibraryException(sprintf(
                'cachekit: %s declares ABI version %d, but this PHP package is written for ABI version %d; use a matching checkout of the core',
                $cHeader,
                $abi,
                Ffi::ABI_VERSION,
            ));
        }
        if (@file_get_contents($target) === $decls) {
            @touch($target); // up to date: newer than the C header again, so it is not re-derived per load
        } else {
            $dir = \dirname($target);
            if ((is_dir($dir) || @mkdir($dir, 0o777, true)) && is_writable($dir)) {
                // Write then rename, so a concurrent reader never sees half a header.
                $tmp = $target . '.' . getmypid() . '.tmp';
                if (@file_put_contents($tmp, $decls) !== false) {
                    @rename($tmp, $target);
                }
            }
        }
        return $decls;
    }
}
