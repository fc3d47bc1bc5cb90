<?php

declare(strict_types=1);

namespace Cachekit\Internal;

use Cachekit\Exception\BackendException;
use Cachekit\Exception\CachekitException;
use Cachekit\Exception\ConfigurationException;
use Cachekit\Exception\EncryptionException;
use Cachekit\Exception\LibraryException;
use Cachekit\Exception\SerializationException;

/**
 * Loads the core (libcachekit.so) once per process and checks its ABI version.
 *
 * Where things come from:
 * - the library: CACHEKIT_LIBRARY, else lib/libcachekit.so of this package
 *   (the Composer package carries it), else the repository's target/debug
 *   then target/release (a checkout);
 * - the declarations: FFI scope "cachekit" when preload.php loaded it
 *   (php-fpm with ffi.enable=preload), else CACHEKIT_PHP_HEADER, else
 *   lib/cachekit.ffi.h of this package (made with the bundled library, so
 *   the two match) unless CACHEKIT_HEADER names another C header, else
 *   build/cachekit.ffi.h regenerated from the C header (CACHEKIT_HEADER,
 *   else the package's include/cachekit.h, else the repository's) whenever
 *   it changes.
 *
 * @internal
 */
final class Ffi
{
    /** The ABI version this package is written for (CK_ABI_VERSION). */
    public const ABI_VERSION = 1;

    public const SCOPE = 'cachekit';

    private static ?\FFI $ffi = null;

    public static function get(): \FFI
    {
        return self::$ffi ??= self::load();
    }

    public static function packageDir(): string
    {
        return \dirname(__DIR__, 2);
    }

    public static function repoDir(): string
    {
        return \dirname(__DIR__, 4);
    }

    public static function libraryPath(): string
    {
        $env = getenv('CACHEKIT_LIBRARY');
        if (\is_string($env) && $env !== '') {
            return $env;
        }
        $name = PHP_OS_FAMILY === 'Darwin' ? 'libcachekit.dylib' : 'libcachekit.so';
        $candidates = [
            self::packageDir() . '/lib/' . $name,
            self::repoDir() . '/target/debug/' . $name,
            self::repoDir() . '/target/release/' . $name,
        ];
        foreach ($candidates as $c) {
            if (is_file($c)) {
                return $c;
            }
        }
        throw new LibraryException(
            'cachekit: the core library was not found (looked in ' . implode(', ', $candidates) . '). '
            . 'Install the Composer package (it carries the library), build it with `cargo build --lib` in the repository, '
            . 'or set CACHEKIT_LIBRARY to a libcachekit.so.',
        );
    }

    /** The PHP-flavoured declarations, regenerated when include/cachekit.h changed. */
    public static function declarations(): string
    {
        $explicit = getenv('CACHEKIT_PHP_HEADER');
        if (\is_string($explicit) && $explicit !== '') {
            $d = @file_get_contents($explicit);
            if ($d === false) {
                throw new LibraryException("cachekit: cannot read CACHEKIT_PHP_HEADER={$explicit}");
            }
            return $d;
        }
        $cHeader = getenv('CACHEKIT_HEADER');
        if (!\is_string($cHeader) || $cHeader === '') {
            $packaged = self::packageDir() . '/lib/cachekit.ffi.h';
            if (is_file($packaged)) {
                return (string) file_get_contents($packaged);
            }
            $cHeader = self::packageDir() . '/include/cachekit.h';
            if (!is_file($cHeader)) {
                $cHeader = self::repoDir() . '/include/cachekit.h';
            }
        }
        $generated = self::packageDir() . '/build/cachekit.ffi.h';
        if (is_file($generated) && (!is_file($cHeader) || filemtime($generated) >= filemtime($cHeader))) {
            return (string) file_get_contents($generated);
        }
        return Header::generate($cHeader, $generated);
    }

    private static function load(): \FFI
    {
        if (!\extension_loaded('ffi')) {
            throw new LibraryException('cachekit: the PHP FFI extension is not loaded (Debian: it is part of php8.2-cli/php8.2-common; check `php -m`)');
        }
        try {
            // Preloaded by preload.php (php-fpm): declarations and library are already bound.
            $ffi = \FFI::scope(self::SCOPE);
            self::checkAbi($ffi, 'the preloaded FFI scope "cachekit"');
            return $ffi;
        } catch (\FFI\Exception) {
            // Not preloaded: load it here (CLI, or ffi.enable=true).
        }
        $lib = self::libraryPath();
        if (!is_file($lib)) {
            throw new LibraryException("cachekit: the core library {$lib} does not exist; build it with `cargo build --lib` or fix CACHEKIT_LIBRARY");
        }
        try {
            // The version first, alone: a library of another ABI may lack
            // functions the full declarations name, and that error would not
            // say what is wrong.
            self::checkAbi(\FFI::cdef('uint32_t ck_abi_version(void);', $lib), $lib);
            return \FFI::cdef(self::declarations(), $lib);
        } catch (\FFI\Exception $e) {
            $hint = \PHP_SAPI !== 'cli' && ini_get('ffi.enable') === 'preload'
                ? ' Outside the CLI, FFI needs preloading: set opcache.preload to bindings/php/preload.php (see bindings/php/README.md).'
                : '';
            throw new LibraryException("cachekit: cannot load the core library {$lib}: {$e->getMessage()}.{$hint}", '', $e);
        }
    }

    private static function checkAbi(\FFI $ffi, string $what): void
    {
        $found = (int) $ffi->ck_abi_version();
        if ($found !== self::ABI_VERSION) {
            throw new LibraryException(sprintf(
                'cachekit: %s has ABI version %d, but this PHP package needs ABI version %d. '
                . 'Point CACHEKIT_LIBRARY at a matching build of the core (or update the PHP package).',
                $what,
                $found,
                self::ABI_VERSION,
            ));
        }
    }

    /** The message of the last failed call on this thread. */
    public static function lastError(): string
    {
        // FFI converts a `const char *` return value into a PHP string.
        return (string) self::get()->ck_last_error();
    }

    /** The exception for a failed call: the status names the class, the core's message says why. */
    public static function error(int $status, string $what): CachekitException
    {
        $name = (string) self::get()->ck_status_name($status);
        $msg = "cachekit: {$what}: " . self::lastError();
        return match ($status) {
            1, 2, 3 => new ConfigurationException($msg, $name),
            4 => new SerializationException($msg, $name),
            5 => new EncryptionException($msg, $name),
            6 => new BackendException($msg, $name),
            default => new LibraryException($msg, $name),
        };
    }
}
