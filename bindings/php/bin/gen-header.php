<?php

declare(strict_types=1);

// Writes the headers FFI reads, derived from include/cachekit.h (the
// package's own copy when installed with Composer, else the repository's; or
// the C header given as the first argument):
//   build/cachekit.ffi.h      declarations for FFI::cdef (loaded per process)
//   build/cachekit.preload.h  the same with FFI_SCOPE "cachekit" and FFI_LIB
//                             (the library CACHEKIT_LIBRARY or the default
//                             names now), for php.ini `ffi.preload=` (php-fpm)
// Nothing is rewritten when it is up to date.
//
//   php bindings/php/bin/gen-header.php [path/to/cachekit.h]

require __DIR__ . '/../autoload.php';

use Cachekit\Internal\Ffi as CoreFfi;
use Cachekit\Internal\Header;

$c = $argv[1] ?? (getenv('CACHEKIT_HEADER') ?: (is_file(CoreFfi::packageDir() . '/include/cachekit.h')
    ? CoreFfi::packageDir() . '/include/cachekit.h'   // the Composer package's copy
    : CoreFfi::repoDir() . '/include/cachekit.h'));
$build = CoreFfi::packageDir() . '/build';
try {
    $decls = Header::generate($c, "{$build}/cachekit.ffi.h");
    $preload = Header::preload($decls, CoreFfi::libraryPath());
} catch (Cachekit\Exception\LibraryException $e) {
    fwrite(STDERR, $e->getMessage() . "\n");
    exit(1);
}
foreach (["{$build}/cachekit.ffi.h" => $decls, "{$build}/cachekit.preload.h" => $preload] as $path => $want) {
    if (@file_get_contents($path) !== $want && file_put_contents($path, $want) === false) {
        fwrite(STDERR, "cachekit: cannot write {$path}\n");
        exit(1);
    }
}
echo "cachekit: {$build}/cachekit.ffi.h and cachekit.preload.h are up to date with {$c}\n";
